#!/usr/bin/env python3
"""Make the wheels the app's container image installs, on this machine (the controller).

The Dockerfile's builder stage installs from these wheels with ``--no-index`` when it finds any,
so the image builds where containers cannot reach a package index. The wheels are those the
Ansible app role ships to VMs (``roles/app/files/kit_build`` chooses them): binary
wheels of the app's dependencies, pinned by constraints.txt, for the base image's Python
version, architecture and glibc (asked from the image itself), plus setuptools, the build
backend of the app's own wheel. The app's wheel is not among them: the builder makes it from
the source, in a later layer, so a code change does not invalidate the dependency layer.

    python -m kit_harness.image_wheels --base python:3.12-slim --out .cache/image-wheels

The wheels are kept in a cache by target and pins (``--cache``) and linked into ``--out``, which
``make image`` removes after the build: a later plain ``docker build .`` (for another base,
perhaps) then finds no wheels and uses the package index instead of wheels made for another
Python.
"""

from __future__ import annotations

import argparse
import hashlib
import importlib
import os
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path
from types import ModuleType

from kit_harness.project import PROJECT

BUILDER = PROJECT / "roles/app/files/kit_build"
BUILD_BACKEND = "setuptools>=69"
COMPLETE = ".complete"
PROBE = (
    "import platform, sys; "
    "print(f'{sys.version_info[0]}.{sys.version_info[1]}', platform.machine(), "
    "platform.libc_ver()[1])"
)


class WheelError(RuntimeError):
    """The base image cannot be asked, or a dependency has no wheel for it."""


def _builder() -> ModuleType:
    """The app role's build package (roles/app/files/kit_build): its wheels module picks the same
    binary wheels for the image as for a VM. The Makefile puts the role's files/ on PYTHONPATH."""
    try:
        return importlib.import_module("kit_build.wheels")
    except ImportError as error:
        raise WheelError(
            f"cannot import kit_build (PYTHONPATH must hold {BUILDER.parent}): {error}"
        ) from error


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


def set_name(target_key: str, requirements: list[str], constraints: Path) -> str:
    """The cache entry of a wheel set: the target, then a digest of everything that picks wheels."""
    inputs = [target_key, BUILD_BACKEND, *requirements, constraints.read_text()]
    digest = hashlib.sha256("\n".join(inputs).encode()).hexdigest()[:16]
    return f"{target_key}-{digest}"


def cached_wheels(
    cache: Path, target_key: str, target_args: list[str], requirements: list[str], constraints: Path
) -> tuple[Path, bool]:
    """The cache directory holding the wheels for these inputs, and whether it was just made.

    A new set replaces the older ones of the same target; a failed download leaves no set.
    """
    house = cache / set_name(target_key, requirements, constraints)
    if (house / COMPLETE).is_file():
        return house, False
    staging = cache / f".{house.name}.partial"
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    pip = [sys.executable, "-m", "pip", "download", "--quiet", "--dest", str(staging)]
    for command in (
        [*pip, *target_args, "--constraint", str(constraints), *requirements],
        [*pip, "--only-binary=:all:", "--no-deps", BUILD_BACKEND],
    ):
        result = subprocess.run(command, capture_output=True, text=True, timeout=900, check=False)
        if result.returncode != 0:
            shutil.rmtree(staging, ignore_errors=True)
            tail = "\n".join((result.stdout + result.stderr).strip().splitlines()[-15:])
            raise WheelError(f"pip download failed:\n{tail}")
    (staging / COMPLETE).write_text("")
    for older in cache.glob(f"{target_key}-*"):
        shutil.rmtree(older, ignore_errors=True)
    shutil.rmtree(house, ignore_errors=True)
    staging.rename(house)
    return house, True


def publish(house: Path, out: Path) -> int:
    """Put the wheels of ``house`` (and nothing else) in ``out``: hard links, else copies."""
    shutil.rmtree(out, ignore_errors=True)
    out.mkdir(parents=True)
    wheels = sorted(house.glob("*.whl"))
    for wheel in wheels:
        try:
            os.link(wheel, out / wheel.name)
        except OSError:
            shutil.copy2(wheel, out / wheel.name)
    return len(wheels)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m kit_harness.image_wheels",
        description=__doc__.splitlines()[0] if __doc__ else None,
    )
    parser.add_argument("--base", required=True, help="the image's base image")
    parser.add_argument("--out", type=Path, required=True, help="directory for the wheels")
    parser.add_argument(
        "--cache",
        type=Path,
        default=PROJECT / ".cache" / "image-wheels-cache",
        help="where wheel sets are kept between builds (default: .cache/image-wheels-cache)",
    )
    parser.add_argument(
        "--probe-name",
        default=f"{os.environ.get('KIT_INSTANCE_PREFIX', 'fastapi-kit')}-image-probe-{os.getpid()}",
        help="name of the throwaway container that asks the base image",
    )
    args = parser.parse_args(argv)
    builder = _builder()
    constraints = PROJECT / "constraints.txt"
    try:
        python, machine, glibc = probe_base(args.base, args.probe_name)
        target = builder.Target(python, machine, glibc)
        requirements = dependencies(PROJECT / "pyproject.toml")
        house, made = cached_wheels(
            args.cache, target.key(), target.pip_args(), requirements, constraints
        )
    except (WheelError, subprocess.TimeoutExpired) as error:
        print(f"image_wheels: {error}", file=sys.stderr)
        return 1
    count = publish(house, args.out)
    state = "downloaded" if made else "cached"
    print(f"image_wheels: {count} wheels for {target.key()} ({state}) in {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
