#!/usr/bin/env python3
"""Build the wheels of an ASGI project for a target host, on the controller.

The host never needs PyPI: the project's own wheel is built from its source, and so is the kit's
runtime (fastapi-vm-kit-runtime: the gunicorn worker every release runs, and the server versions
the kit is tested with); every dependency of both is downloaded as a binary wheel for the host's
Python version, architecture and glibc, pinned by the project's constraints file when it has one.
The wheel set is cached by target and content, and named by a release id derived from the built
wheels' bytes and the resolved versions, so building an unchanged project gives the same id (a
no-op deploy).

Prints one JSON object: release_id, wheelhouse (a directory holding the wheels and wheels.tar,
the same wheels in one archive), distribution, version, requirements (what a release installs:
the project and the runtime, pinned), wheels.
"""

from __future__ import annotations

import argparse
import fcntl
import fnmatch
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path

# Reproducible wheel bytes: zip entries carry this timestamp instead of the files' mtimes.
SOURCE_DATE_EPOCH = "315532800"
ARCHIVE = "wheels.tar"
IGNORED: tuple[str, ...] = (
    ".git",
    ".venv",
    "venv",
    ".cache",
    "__pycache__",
    "*.pyc",
    "*.egg-info",
    "build",
    "dist",
    ".tox",
    ".mypy_cache",
    ".pytest_cache",
    ".ruff_cache",
    "molecule",
    "node_modules",
)


@dataclass(frozen=True)
class Target:
    python: str  # "3.11"
    arch: str  # "x86_64", "aarch64"
    glibc: str  # "2.36"

    def key(self) -> str:
        return f"cp{self.python.replace('.', '')}-{self.arch}-glibc{self.glibc}"

    def pip_args(self) -> list[str]:
        """pip download options selecting binary wheels this host can install."""
        major, minor = (int(x) for x in self.glibc.split(".")[:2])
        platforms = [f"manylinux_{major}_{m}_{self.arch}" for m in range(minor, 4, -1)]
        platforms += [f"manylinux2014_{self.arch}", f"manylinux2010_{self.arch}"]
        platforms += [f"manylinux1_{self.arch}"]
        args = ["--only-binary=:all:", "--implementation", "cp", "--python-version", self.python]
        args += ["--abi", f"cp{self.python.replace('.', '')}", "--abi", "abi3", "--abi", "none"]
        for platform in platforms:
            args += ["--platform", platform]
        return args


@dataclass(frozen=True)
class Wheelhouse:
    release_id: str
    wheelhouse: str
    distribution: str
    version: str
    requirements: list[str]
    wheels: list[str]


class BuildError(RuntimeError):
    """The project or a dependency cannot be turned into wheels for the target."""


def _run(command: list[str], **kwargs: object) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(command, capture_output=True, text=True, check=False, **kwargs)  # type: ignore[call-overload]
    if result.returncode != 0:
        tail = "\n".join((result.stdout + result.stderr).strip().splitlines()[-15:])
        raise BuildError(f"{' '.join(command[:4])} ... failed:\n{tail}")
    return result  # type: ignore[no-any-return]


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def parse_wheel_name(filename: str) -> tuple[str, str]:
    """(normalized distribution name, version) of a wheel file name."""
    name, version = filename.split("-")[:2]
    return name.lower().replace("_", "-").replace(".", "-"), version


def build_project_wheel(source: Path, out_dir: Path) -> Path:
    """Build the project's wheel from a copy of its source; the source tree stays untouched.

    ``out_dir`` must hold no other wheel.
    """
    if not (source / "pyproject.toml").is_file() and not (source / "setup.py").is_file():
        raise BuildError(f"{source} has no pyproject.toml or setup.py: not a Python project")
    with tempfile.TemporaryDirectory(prefix="kit-src-") as scratch:
        copy = Path(scratch) / "src"
        shutil.copytree(source, copy, ignore=shutil.ignore_patterns(*IGNORED), symlinks=True)
        env = {**os.environ, "SOURCE_DATE_EPOCH": SOURCE_DATE_EPOCH, "PYTHONHASHSEED": "0"}
        _run(
            [sys.executable, "-m", "pip", "wheel", "--no-deps", "--quiet", "-w", str(out_dir), "."],
            cwd=copy,
            env=env,
        )
    wheels = sorted(out_dir.glob("*.whl"))
    if len(wheels) != 1:
        raise BuildError(f"expected one project wheel, got {[w.name for w in wheels]}")
    return wheels[0]


def _source_files(root: Path) -> list[Path]:
    """The files a build of ``root`` reads: every file but the IGNORED ones (at any depth)."""
    found: list[Path] = []
    for directory, dirs, files in os.walk(root):
        dirs[:] = [d for d in dirs if not any(fnmatch.fnmatch(d, p) for p in IGNORED)]
        for name in files:
            if not any(fnmatch.fnmatch(name, p) for p in IGNORED):
                found.append(Path(directory) / name)
    return sorted(found)


def source_digest(root: Path) -> str:
    """Same names and bytes (links: same targets) in the built tree: same digest."""
    digest = hashlib.sha256()
    for path in _source_files(root):
        digest.update(path.relative_to(root).as_posix().encode() + b"\0")
        content = os.readlink(path).encode() if path.is_symlink() else path.read_bytes()
        digest.update(hashlib.sha256(content).digest())
    return digest.hexdigest()


def cached_project_wheel(source: Path, cache: Path) -> Path:
    """The wheel of ``source``, built once per content: hosts of every platform share it (the
    kit's runtime and most projects are pure Python), and a second build of the same tree, or
    a host building at the same moment (a lock), finds it ready."""
    home = cache / "built" / source_digest(source)[:24]
    home.mkdir(parents=True, exist_ok=True)
    with (home / ".lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        ready = sorted(home.glob("*.whl"))
        if len(ready) == 1:
            return ready[0]
        with tempfile.TemporaryDirectory(prefix="kit-build-", dir=home) as out:
            wheel = build_project_wheel(source, Path(out))
            return wheel.rename(home / wheel.name)


def release_id(project_wheels: list[Path], wheels: list[str]) -> str:
    """Same built wheels (project, runtime) and resolved versions: same id, whatever the target."""
    digest = hashlib.sha256("".join(_sha256(wheel) for wheel in project_wheels).encode())
    for name, version in sorted(parse_wheel_name(w) for w in wheels):
        digest.update(f"\n{name}=={version}".encode())
    return digest.hexdigest()[:12]


def build(
    source: Path, target: Target, cache: Path, constraints: Path | None, runtime: Path | None = None
) -> Wheelhouse:
    cache.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="kit-wheel-", dir=cache) as scratch:
        project_wheel = cached_project_wheel(source, cache)
        built = [project_wheel]
        if runtime is not None:
            built.append(cached_project_wheel(runtime, cache))
        content = "".join(_sha256(wheel) for wheel in built) + target.key()
        if constraints is not None:
            content += constraints.read_text()
        house = cache / target.key() / hashlib.sha256(content.encode()).hexdigest()[:16]
        if not (house / ".complete").exists():
            shutil.rmtree(house, ignore_errors=True)
            staging = Path(scratch) / "house"
            staging.mkdir()
            for wheel in built:
                shutil.copy2(wheel, staging / wheel.name)
            command = [sys.executable, "-m", "pip", "download", "--quiet", "--dest", str(staging)]
            command += target.pip_args()
            if constraints is not None:
                command += ["--constraint", str(constraints)]
            _run([*command, *(str(staging / wheel.name) for wheel in built)])
            # One archive to ship: a single transfer to each host instead of one per wheel.
            with tarfile.open(staging / ARCHIVE, "w") as archive:
                for wheel in sorted(staging.glob("*.whl")):
                    archive.add(wheel, arcname=wheel.name)
            (staging / ".complete").write_text("")
            house.parent.mkdir(parents=True, exist_ok=True)
            try:
                staging.rename(house)
            except OSError:
                # Another host of the same platform built the same wheelhouse meanwhile.
                if not (house / ".complete").exists():
                    raise
    wheels = sorted(p.name for p in house.glob("*.whl"))
    distribution, version = parse_wheel_name(project_wheel.name)
    pins = [parse_wheel_name(wheel.name) for wheel in built]
    return Wheelhouse(
        release_id=release_id([house / wheel.name for wheel in built], wheels),
        wheelhouse=str(house),
        distribution=distribution,
        version=version,
        requirements=[f"{name}=={pinned}" for name, pinned in pins],
        wheels=wheels,
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--source", type=Path, required=True, help="the project to build")
    parser.add_argument("--python", required=True, help="the host's Python, e.g. 3.11")
    parser.add_argument("--arch", required=True, help="the host's machine, e.g. x86_64")
    parser.add_argument("--glibc", required=True, help="the host's glibc, e.g. 2.36")
    parser.add_argument("--cache", type=Path, required=True, help="wheelhouse cache directory")
    parser.add_argument(
        "--runtime",
        type=Path,
        help="the kit's runtime project, built and installed beside the project",
    )
    parser.add_argument(
        "--constraints",
        type=Path,
        help="pins for the dependencies (default: <source>/constraints.txt when present)",
    )
    args = parser.parse_args(argv)
    constraints = args.constraints
    if constraints is None and (args.source / "constraints.txt").is_file():
        constraints = args.source / "constraints.txt"
    try:
        house = build(
            args.source.resolve(),
            Target(args.python, args.arch, args.glibc),
            args.cache.resolve(),
            constraints,
            args.runtime.resolve() if args.runtime else None,
        )
    except BuildError as error:
        print(f"build_wheelhouse: {error}", file=sys.stderr)
        return 1
    print(json.dumps(asdict(house)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
