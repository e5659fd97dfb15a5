"""The project's own pins: uv.lock, poetry.lock, a pinned requirements.txt, constraints.txt.

Every lock becomes pins (name == version) that pip's resolver must keep (``--constraint``), so the
host gets exactly the versions the project locked. Two checks come first: the lock lists every
dependency the manifest declares (else it is stale), and no pin contradicts the server the kit
installs into every release (gunicorn, uvicorn-worker, uvicorn)."""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

from packaging.markers import InvalidMarker, Marker
from packaging.requirements import InvalidRequirement, Requirement
from packaging.utils import canonicalize_name
from packaging.version import InvalidVersion, Version

from .errors import BuildError

PIN = re.compile(r"^\s*([A-Za-z0-9][A-Za-z0-9._-]*)(?:\[[^\]]*\])?\s*==\s*([^\s;#]+)")


@dataclass(frozen=True)
class Lock:
    """The pins of one lock file."""

    path: Path | None
    # Registry packages: canonical name -> version.
    pins: dict[str, str] = field(default_factory=dict)
    # Pins a source-tree project installs (Poetry's main group, for this platform).
    main: dict[str, str] = field(default_factory=dict)
    # Every package name the lock knows (workspace members included).
    names: frozenset[str] = frozenset()

    def constraint_lines(self) -> list[str]:
        return [f"{name}=={version}" for name, version in sorted(self.pins.items())]


def marker_environment(python: str, arch: str) -> dict[str, str]:
    """The PEP 508 environment of the target host (Linux, CPython ``python``, ``arch``)."""
    return {
        "implementation_name": "cpython",
        "platform_python_implementation": "CPython",
        "os_name": "posix",
        "sys_platform": "linux",
        "platform_system": "Linux",
        "platform_machine": arch,
        "python_version": ".".join(python.split(".")[:2]),
        "python_full_version": python if python.count(".") == 2 else f"{python}.0",
        "extra": "",
    }


def _applies(marker: str | dict[str, str], environment: dict[str, str]) -> bool:
    """Whether a lock entry's markers (Poetry: a string, or one per group) select the host."""
    if isinstance(marker, dict):
        marker = marker.get("main", "")
    if not marker:
        return True
    try:
        return Marker(str(marker)).evaluate(environment)
    except InvalidMarker:
        return True


def read_uv_lock(path: Path) -> Lock:
    """uv.lock: every package from a registry is pinned; workspace members (editable, virtual or
    directory sources) are built from their source instead."""
    data = tomllib.loads(path.read_text(encoding="utf-8"))
    pins: dict[str, str] = {}
    names: set[str] = set()
    for package in data.get("package", []):
        name = canonicalize_name(package["name"])
        names.add(name)
        if "registry" in package.get("source", {}) and "version" in package:
            pins[name] = str(package["version"])
    return Lock(path, pins, dict(pins), frozenset(names))


def read_poetry_lock(path: Path, environment: dict[str, str]) -> Lock:
    """poetry.lock: every package from an index is pinned; ``main`` holds those of the main group
    that apply to the host (a source-tree project installs exactly these)."""
    data = tomllib.loads(path.read_text(encoding="utf-8"))
    pins: dict[str, str] = {}
    main: dict[str, str] = {}
    names: set[str] = set()
    for package in data.get("package", []):
        name = canonicalize_name(package["name"])
        names.add(name)
        if package.get("source", {}).get("type") in {"git", "directory", "file", "url"}:
            continue
        pins[name] = str(package["version"])
        groups = package.get("groups") or [package.get("category", "main")]
        if "main" in groups and _applies(package.get("markers", ""), environment):
            main[name] = str(package["version"])
    return Lock(path, pins, main, frozenset(names))


def read_requirements_pins(path: Path) -> Lock:
    """A requirements file's ``name==version`` lines (other lines are pip's to read)."""
    pins: dict[str, str] = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        match = PIN.match(line)
        if match:
            pins[canonicalize_name(match.group(1))] = match.group(2)
    return Lock(path, pins, dict(pins), frozenset(pins))


def find_lock(lock_root: Path, environment: dict[str, str]) -> Lock:
    """The lock of the project whose lock lives in ``lock_root``: uv.lock, else poetry.lock,
    else a requirements.txt's pins, else none."""
    if (lock_root / "uv.lock").is_file():
        return read_uv_lock(lock_root / "uv.lock")
    if (lock_root / "poetry.lock").is_file():
        return read_poetry_lock(lock_root / "poetry.lock", environment)
    if (lock_root / "requirements.txt").is_file():
        return read_requirements_pins(lock_root / "requirements.txt")
    return Lock(None)


def check_matches(lock: Lock, dependencies: list[str], environment: dict[str, str]) -> None:
    """Every dependency the manifest declares (that applies to the host) is in the lock."""
    if lock.path is None or lock.path.name == "requirements.txt":
        return
    missing = []
    for line in dependencies:
        try:
            requirement = Requirement(line)
        except InvalidRequirement as error:
            raise BuildError(
                f"app_source: dependency {line!r} of pyproject.toml is not valid: {error}"
            ) from error
        if requirement.marker is not None and not requirement.marker.evaluate(environment):
            continue
        if canonicalize_name(requirement.name) not in lock.names:
            missing.append(requirement.name)
    if missing:
        tool = "uv lock" if lock.path.name == "uv.lock" else "poetry lock"
        raise BuildError(
            f"app_source: {lock.path} does not match pyproject.toml: it has no "
            f"{', '.join(sorted(missing))}. Run `{tool}` and commit the lock; nothing changed."
        )


def check_server(pins: dict[str, str], server: list[str], where: str) -> None:
    """No pin contradicts the server the kit installs (the runtime's requirements)."""
    for line in server:
        requirement = Requirement(line)
        pinned = pins.get(canonicalize_name(requirement.name))
        if pinned is None:
            continue
        try:
            version = Version(pinned)
        except InvalidVersion:
            continue
        if not requirement.specifier.contains(version, prereleases=True):
            raise BuildError(
                f"{where} pins {requirement.name}=={pinned}, but the kit serves every release "
                f"with {requirement.name}{requirement.specifier} (the versions it is tested with). "
                "Drop the pin (the kit brings gunicorn, uvicorn-worker and uvicorn) or move it "
                "into that range; nothing changed."
            )


def runtime_requirements(runtime: Path) -> list[str]:
    """The server requirements of the kit's runtime project (its pyproject's dependencies)."""
    data = tomllib.loads((runtime / "pyproject.toml").read_text(encoding="utf-8"))
    return [str(d) for d in data.get("project", {}).get("dependencies", [])]
