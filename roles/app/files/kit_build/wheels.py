"""Wheels for the target host, built and downloaded on the controller, cached by content.

The host never needs PyPI: the project's wheel (and its uv workspace members') is built from its
shipped files, so is the kit's runtime (the server every release runs); every dependency is
downloaded as a binary wheel for the host's Python, architecture and glibc, under the project's
pins. The release id is derived from the built wheels' bytes, the shipped tree and the resolved
versions: building an unchanged project gives the same id (a no-op deploy)."""

from __future__ import annotations

import fcntl
import hashlib
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from .errors import BuildError

# Reproducible wheel bytes: zip entries carry this timestamp instead of the files' mtimes.
SOURCE_DATE_EPOCH = "315532800"
ARCHIVE = "wheels.tar"


@dataclass(frozen=True)
class Target:
    python: str  # "3.11" or "3.11.2"
    arch: str  # "x86_64", "aarch64"
    glibc: str  # "2.36"

    @property
    def minor(self) -> str:
        return ".".join(self.python.split(".")[:2])

    def key(self) -> str:
        return f"cp{self.minor.replace('.', '')}-{self.arch}-glibc{self.glibc}"

    def pip_args(self) -> list[str]:
        """pip download options selecting binary wheels this host can install."""
        major, minor = (int(x) for x in self.glibc.split(".")[:2])
        platforms = [f"manylinux_{major}_{m}_{self.arch}" for m in range(minor, 4, -1)]
        platforms += [f"manylinux2014_{self.arch}", f"manylinux2010_{self.arch}"]
        platforms += [f"manylinux1_{self.arch}"]
        tag = self.minor.replace(".", "")
        args = ["--only-binary=:all:", "--implementation", "cp", "--python-version", self.minor]
        args += ["--abi", f"cp{tag}", "--abi", "abi3", "--abi", "none"]
        for platform in platforms:
            args += ["--platform", platform]
        return args


def run(command: Sequence[str], what: str, **kwargs: object) -> subprocess.CompletedProcess[str]:
    """Run ``command``; a failure is a BuildError naming ``what`` with the output's last lines."""
    try:
        result = subprocess.run(
            list(command), capture_output=True, text=True, check=False, **kwargs
        )  # type: ignore[call-overload]
    except OSError as error:
        raise BuildError(f"{what}: {error}") from error
    if result.returncode != 0:
        tail = "\n".join((result.stdout + result.stderr).strip().splitlines()[-15:])
        raise BuildError(f"{what} failed (exit {result.returncode}):\n{tail}")
    return result  # type: ignore[no-any-return]


def cause(output: str) -> str:
    """The line of a failed build's output that says why: the last exception or error line that
    is not pip's own summary."""
    lines = [line.strip() for line in output.splitlines() if line.strip()]
    for line in reversed(lines):
        if ("Error" in line or "error:" in line) and not line.startswith(
            ("ERROR: Failed", "note:")
        ):
            return line
    return lines[-1] if lines else "no output"


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def parse_wheel_name(filename: str) -> tuple[str, str]:
    """(normalized distribution name, version) of a wheel file name."""
    name, version = filename.split("-")[:2]
    return name.lower().replace("_", "-").replace(".", "-"), version


def tree_digest(root: Path, names: list[str]) -> str:
    """Same names and bytes (links: same targets): same digest."""
    digest = hashlib.sha256()
    for name in names:
        path = root / name
        digest.update(name.encode() + b"\0")
        content = os.readlink(path).encode() if path.is_symlink() else path.read_bytes()
        digest.update(hashlib.sha256(content).digest())
    return digest.hexdigest()


def copy_tree(root: Path, names: list[str], dest: Path) -> None:
    for name in names:
        target = dest / name
        target.parent.mkdir(parents=True, exist_ok=True)
        source = root / name
        if source.is_symlink():
            target.symlink_to(os.readlink(source))
        else:
            shutil.copy2(source, target)


def archive_tree(root: Path, names: list[str], archive: Path) -> None:
    """A reproducible tar of ``names``: root-owned, fixed times, modes 0644 (0755 if executable)."""
    with tarfile.open(archive, "w") as tar:
        for name in names:
            info = tar.gettarinfo(str(root / name), arcname=name)
            info.uid = info.gid = 0
            info.uname = info.gname = "root"
            info.mtime = int(SOURCE_DATE_EPOCH)
            if info.isfile():
                info.mode = 0o755 if info.mode & 0o100 else 0o644
                with (root / name).open("rb") as handle:
                    tar.addfile(info, handle)
            else:
                tar.addfile(info)


def build_wheel(source: Path, out_dir: Path) -> Path:
    """Build the wheel of the project in ``source`` (a scratch copy: the build may write there)."""
    env = {**os.environ, "SOURCE_DATE_EPOCH": SOURCE_DATE_EPOCH, "PYTHONHASHSEED": "0"}
    run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--quiet", "-w", str(out_dir), "."],
        f"building the wheel of {source.name}",
        cwd=source,
        env=env,
    )
    wheels = sorted(out_dir.glob("*.whl"))
    if len(wheels) != 1:
        raise BuildError(f"expected one wheel from {source.name}, got {[w.name for w in wheels]}")
    return wheels[0]


def cached_wheel(tree: Path, names: list[str], cache: Path) -> Path:
    """The wheel of the project whose shipped files are ``names`` in ``tree``, built once per
    content (hosts of every platform share it; a host building at the same time waits on a lock)."""
    home = cache / "built" / tree_digest(tree, names)[:24]
    home.mkdir(parents=True, exist_ok=True)
    with (home / ".lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        ready = sorted(home.glob("*.whl"))
        if len(ready) == 1:
            return ready[0]
        with tempfile.TemporaryDirectory(prefix="kit-build-", dir=home) as scratch:
            copy = Path(scratch) / "src"
            copy_tree(tree, names, copy)
            out = Path(scratch) / "out"
            out.mkdir()
            wheel = build_wheel(copy, out)
            return wheel.rename(home / wheel.name)


def download(
    target: Target,
    dest: Path,
    requirements: list[str],
    constraints: list[Path],
    find_links: list[Path],
    requirement_files: list[Path],
) -> None:
    """Every wheel ``requirements`` need on the target, under ``constraints``, into ``dest``."""
    if not requirements and not requirement_files:
        return
    command = [
        sys.executable,
        "-m",
        "pip",
        "download",
        "--quiet",
        "--dest",
        str(dest),
        *target.pip_args(),
    ]
    for path in constraints:
        command += ["--constraint", str(path)]
    for path in find_links:
        command += ["--find-links", str(path)]
    for path in requirement_files:
        command += ["--requirement", str(path)]
    run(
        [*command, *requirements],
        "downloading the release's dependencies for the host (pip download)",
    )


def release_id(built: list[Path], tree: str, wheels: list[str]) -> str:
    """Same built wheels, shipped tree and resolved versions: same id, whatever the target."""
    digest = hashlib.sha256("".join(sha256(wheel) for wheel in built).encode() + tree.encode())
    for name, version in sorted(parse_wheel_name(w) for w in wheels):
        digest.update(f"\n{name}=={version}".encode())
    return digest.hexdigest()[:12]


def pack(staging: Path) -> None:
    """One archive of the wheels: a single transfer to each host instead of one per wheel."""
    with tarfile.open(staging / ARCHIVE, "w") as archive:
        for wheel in sorted(staging.glob("*.whl")):
            archive.add(wheel, arcname=wheel.name)
