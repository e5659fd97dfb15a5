"""The FastAPI VM kit's test harness: what the Molecule scenarios' tests, ``make bench`` and
``make image`` share.

Modules: ``project`` (the kit's checkout), ``playbooks`` (the project's playbooks run against a
scenario's hosts), ``results`` (measured figures, one JSON line each), ``hosts`` (small helpers on
testinfra hosts and docker containers), ``loadgen`` (the paced load generator), ``fullspeed`` (wrk
at full speed), ``steps`` (zero-downtime steps under both loads), ``molecule_failures`` (what
failed in a molecule log), ``image_wheels`` (the wheels of the app's container image).
"""
