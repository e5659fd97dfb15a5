#!/usr/bin/env python3
"""Make the wheels the app's container image installs, on this machine (the controller).

The Dockerfile's builder stage installs from these wheels with ``--no-index`` when it finds any,
so the image builds where containers cannot reach a package index. The wheels are those the
Ansible app role ships to VMs (``roles/app/files/build_wheelhouse.py`` chooses them): binary
wheels of the app's dependencies, pinned by constraints.txt, for the base image's Python
version, architecture and glibc (asked from the image itself), plus setuptools, the build
backend of the app's own wheel. The app's wheel is not among them: the builder makes it from
the source, in a later layer, so a code change does not invalidate the dependency layer.

    scripts/image_wheels.py --base python:3.12-slim --out .cache/image-wheels

The directory is left alone when it already holds the wheels for the same target and pins.
"""

from __future__ import annotations

import argparse
import hashlib
import importlib.util
import os
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path
from types import ModuleType

ROOT = Path(__file__).resolve().parents[1]
BUILDER = ROOT / "roles/app/files/build_wheelhouse.py"
BUILD_BACKEND = "setuptools>=69"
KEY_FILE = ".key"
PROBE = (
    "import platform, sys; "
    "print(f'{sys.version_info[0]}.{sys.version_info[1]}', platform.machine(), "
    "platform.libc_ver()[1])"
)


class WheelError(RuntimeError):
    """The base image cannot be asked, or a dependency has no wheel for it."""


def _builder() -> ModuleType:
    spec = importlib.util.spec_from_file_location("build_wheelhouse", BUILDER)
    if spec is None or spec.loader is None:
        raise WheelError(f"cannot load {BUILDER}")
    module = importlib.util.module_from_spec(spec)
    sys.modules["build_wheelhouse"] = module
    spec.loader.exec_module(module)
    return module


def probe_base(base: str, name: str) -> tuple[str, str, str]:
    """(python version, machine, glibc version) of the base image, from a throwaway container."""
    result = subprocess.run(
        [
            *("docker", "run", "--rm", "--name", name, "--network", "none"),
            *("--entrypoint", "python3", base, "-c", PROBE),
        ],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    fields = result.stdout.split()
    if result.returncode != 0 or len(fields) != 3:
        raise WheelError(f"cannot run python3 in {base}: {result.stderr.strip()[-500:]}")
    python, machine, glibc = fields
    return python, machine, glibc


def dependencies(pyproject: Path) -> list[str]:
    project = tomllib.loads(pyproject.read_text())["project"]
    return [str(requirement) for requirement in project["dependencies"]]


def make_wheels(
    out: Path, target_args: list[str], requirements: list[str], constraints: Path, key: str
) -> bool:
    """Download the wheels into ``out`` unless it holds them for ``key``; True when it did."""
    key_file = out / KEY_FILE
    if key_file.is_file() and key_file.read_text() == key:
        return False
    staging = out.with_name(out.name + ".partial")
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    pip = [sys.executable, "-m", "pip", "download", "--quiet", "--dest", str(staging)]
    for command in (
        [*pip, *target_args, "--constraint", str(constraints), *requirements],
        [*pip, "--only-binary=:all:", "--no-deps", BUILD_BACKEND],
    ):
        result = subprocess.run(command, capture_output=True, text=True, timeout=900, check=False)
        if result.returncode != 0:
            tail = "\n".join((result.stdout + result.stderr).strip().splitlines()[-15:])
            raise WheelError(f"pip download failed:\n{tail}")
    (staging / KEY_FILE).write_text(key)
    shutil.rmtree(out, ignore_errors=True)
    staging.rename(out)
    return True


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--base", required=True, help="the image's base image")
    parser.add_argument("--out", type=Path, required=True, help="directory for the wheels")
    parser.add_argument(
        "--probe-name",
        default=f"{os.environ.get('KIT_INSTANCE_PREFIX', 'fastapi-kit')}-image-probe-{os.getpid()}",
        help="name of the throwaway container that asks the base image",
    )
    args = parser.parse_args(argv)
    builder = _builder()
    constraints = ROOT / "constraints.txt"
    try:
        python, machine, glibc = probe_base(args.base, args.probe_name)
        target = builder.Target(python, machine, glibc)
        requirements = dependencies(ROOT / "pyproject.toml")
        inputs = [target.key(), BUILD_BACKEND, *requirements, constraints.read_text()]
        key = hashlib.sha256("\n".join(inputs).encode()).hexdigest()
        made = make_wheels(args.out, target.pip_args(), requirements, constraints, key)
    except (WheelError, subprocess.TimeoutExpired) as error:
        print(f"image_wheels: {error}", file=sys.stderr)
        return 1
    state = "made" if made else "up to date"
    count = len(list(args.out.glob("*.whl")))
    print(f"image_wheels: {count} wheels for {target.key()} in {args.out} ({state})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
