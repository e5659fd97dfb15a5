"""The app role's controller-side build: turns the operator's project into what a release installs.

Run by the role as ``python -m kit_build`` (PYTHONPATH is the role's files/ directory):

- ``project``: what the project is (a package with a wheel, or a source tree with requirements),
  its Python requirement, and the files that travel with the release;
- ``locks``: the project's own pins (uv.lock, poetry.lock, requirements.txt, constraints.txt) and
  their checks (the lock matches the manifest, no pin conflicts with the kit's server);
- ``wheels``: the wheels for the host's platform (pip download; hosts never need an index), cached
  by content, and the release id;
- ``__main__``: the command line; prints one JSON object, or one clear error naming the setting.
"""
