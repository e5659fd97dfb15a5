"""One release of the project for one target: the shipped tree, the wheels, and how it installs.

The story: detect the project; refuse a Python the host cannot meet; copy the files that ship into a
scratch tree and run the pre-build command there (the operator's tree stays untouched); archive the
tree; build the project's wheel (a project that cannot build one runs from its tree); read the
project's pins and check them; download every wheel for the host; name the release."""

from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from . import locks, project, wheels
from .errors import BuildError


@dataclass(frozen=True)
class Release:
    release_id: str
    wheelhouse: str
    distribution: str
    version: str
    # What the host installs from the wheelhouse (pip, --no-index).
    requirements: list[str]
    wheels: list[str]
    # package (the project's wheel) or tree (its source tree with its dependencies).
    mode: str
    # The shipped tree (a tar), unpacked into <release>/src on the host.
    source_archive: str
    notes: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class Options:
    python: str
    arch: str
    glibc: str
    cache: Path
    runtime: Path | None = None
    constraints: Path | None = None
    exclude: list[str] = field(default_factory=list)
    prebuild: list[str] = field(default_factory=list)


def _prebuild(tree: Path, command: list[str]) -> None:
    env = {**os.environ, "SOURCE_DATE_EPOCH": wheels.SOURCE_DATE_EPOCH}
    wheels.run(command, f"app_prebuild_command {command}", cwd=tree, env=env)


def _shipped_tree(source: Path, options: Options, scratch: Path) -> tuple[Path, list[str], str]:
    """The tree that ships (after the pre-build), its file names and its digest."""
    tree = scratch / "tree"
    wheels.copy_tree(source, project.shipped_files(source, options.exclude), tree)
    if options.prebuild:
        _prebuild(tree, options.prebuild)
    names = project.shipped_files(tree, options.exclude)
    return tree, names, wheels.tree_digest(tree, names)


def _archive(tree: Path, names: list[str], digest: str, cache: Path) -> Path:
    archive = cache / "trees" / f"{digest[:24]}.tar"
    if not archive.is_file():
        archive.parent.mkdir(parents=True, exist_ok=True)
        partial = archive.with_suffix(f".{digest[:8]}.partial")
        wheels.archive_tree(tree, names, partial)
        partial.rename(archive)
    return archive


def build(source: Path, options: Options) -> Release:
    found = project.detect(source)
    target = wheels.Target(options.python, options.arch, options.glibc)
    project.check_python(found.requires_python, options.python, f"{found.root}")
    environment = locks.marker_environment(options.python, options.arch)
    notes: list[str] = []
    options.cache.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="kit-release-", dir=options.cache) as scratch_dir:
        scratch = Path(scratch_dir)
        tree, names, digest = _shipped_tree(found.root, options, scratch)
        archive = _archive(tree, names, digest, options.cache)
        mode = found.mode
        built: list[Path] = []
        if mode == "package":
            try:
                built.append(wheels.cached_wheel(tree, names, options.cache))
            except BuildError as error:
                if not (
                    found.dependencies
                    or (found.lock_root and (found.lock_root / "poetry.lock").is_file())
                ):
                    raise
                mode = "tree"
                last = wheels.cause(str(error))
                notes.append(
                    f"{found.name} does not build a wheel ({last}): it runs from its source tree"
                )
        members = []
        for member in found.members:
            member_names = project.shipped_files(member, options.exclude)
            members.append(wheels.cached_wheel(member, member_names, options.cache))
        runtime = None
        server: list[str] = []
        if options.runtime is not None:
            runtime = wheels.cached_wheel(
                options.runtime, project.shipped_files(options.runtime, []), options.cache
            )
            server = locks.runtime_requirements(options.runtime)
        lock = locks.find_lock(found.lock_root or found.root, environment)
        locks.check_matches(lock, found.dependencies, environment)
        locks.check_server(lock.pins, server, str(lock.path))
        constraint_files: list[Path] = []
        if options.constraints is not None:
            locks.check_server(
                locks.read_requirements_pins(options.constraints).pins,
                server,
                str(options.constraints),
            )
            constraint_files.append(options.constraints)
        member_names_set = {wheels.parse_wheel_name(m.name)[0] for m in members}
        pins = [
            line for line in lock.constraint_lines() if line.split("==")[0] not in member_names_set
        ]
        if pins:
            pinned = scratch / "lock-constraints.txt"
            pinned.write_text("\n".join(pins) + "\n")
            constraint_files.append(pinned)
        requirement_files: list[Path] = []
        if mode == "package":
            requested: list[str] = []
        elif found.requirements_file is not None:
            requirement_files.append(tree / found.requirements_file.relative_to(found.root))
            requested = []
        elif found.dependencies:
            requested = list(found.dependencies)
        else:
            requested = [f"{name}=={version}" for name, version in sorted(lock.main.items())]
        # The wheels built here that the host installs by name (project, runtime), and all of them.
        installed_wheels = built + ([runtime] if runtime else [])
        own = installed_wheels + members
        content = "".join(wheels.sha256(w) for w in own) + target.key() + digest + mode
        content += "".join(p.read_text() for p in constraint_files + requirement_files) + "\n".join(
            requested
        )
        house = options.cache / target.key() / hashlib.sha256(content.encode()).hexdigest()[:16]
        if not (house / ".complete").exists():
            shutil.rmtree(house, ignore_errors=True)
            staging = scratch / "house"
            staging.mkdir()
            for wheel in own:
                shutil.copy2(wheel, staging / wheel.name)
            links = scratch / "members"
            links.mkdir()
            for wheel in members:
                shutil.copy2(wheel, links / wheel.name)
            wheels.download(
                target,
                staging,
                requested + [str(staging / w.name) for w in installed_wheels],
                constraint_files,
                [links],
                requirement_files,
            )
            wheels.pack(staging)
            (staging / ".complete").write_text("")
            house.parent.mkdir(parents=True, exist_ok=True)
            try:
                staging.rename(house)
            except OSError:
                # Another host of the same platform built the same wheelhouse meanwhile.
                if not (house / ".complete").exists():
                    raise
    found_wheels = sorted(p.name for p in house.glob("*.whl"))
    if mode == "package":
        distribution, version = wheels.parse_wheel_name(built[0].name)
        installed = [wheels.parse_wheel_name(w.name) for w in installed_wheels]
    else:
        distribution, version = found.name, "tree"
        installed = [wheels.parse_wheel_name(w) for w in found_wheels]
    return Release(
        release_id=wheels.release_id([house / w.name for w in own], digest, found_wheels),
        wheelhouse=str(house),
        distribution=distribution,
        version=version,
        requirements=[f"{name}=={pinned}" for name, pinned in installed],
        wheels=found_wheels,
        mode=mode,
        source_archive=str(archive),
        notes=notes,
    )
