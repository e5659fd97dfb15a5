"""Commands inside the bench container (``docker exec``), each bounded by a timeout."""

from __future__ import annotations

import shlex
import shutil
import subprocess
from collections.abc import Sequence
from typing import Protocol


class RemoteError(RuntimeError):
    """A command in the container failed or timed out."""


def _docker() -> str:
    found = shutil.which("docker")
    if found is None:
        raise RemoteError("docker is not installed (make platform installs it)")
    return found


def _run(
    command: list[str], argv: tuple[str, ...], timeout: float, check: bool, stdin: str | None
) -> subprocess.CompletedProcess[str]:
    try:
        result = subprocess.run(
            command, input=stdin, capture_output=True, text=True, timeout=timeout, check=False
        )
    except subprocess.TimeoutExpired as error:
        raise RemoteError(f"{shlex.join(argv)} timed out after {timeout:.0f}s") from error
    if check and result.returncode != 0:
        raise RemoteError(
            f"{shlex.join(argv)} exited {result.returncode}:\n"
            f"{result.stdout[-1500:]}{result.stderr[-1500:]}"
        )
    return result


class Runner(Protocol):
    """Where the load tools run: the bench container, or this machine (the smoke test)."""

    def run(
        self, *argv: str, timeout: float = 60.0, check: bool = True, stdin: str | None = None
    ) -> subprocess.CompletedProcess[str]: ...

    def read(self, path: str) -> str: ...


class Local:
    """This machine: the smoke test runs the same wrk and h2load code paths against a local
    server."""

    def run(
        self, *argv: str, timeout: float = 60.0, check: bool = True, stdin: str | None = None
    ) -> subprocess.CompletedProcess[str]:
        program = shutil.which(argv[0])
        if program is None:
            raise RemoteError(f"{argv[0]} is not installed")
        return _run([program, *argv[1:]], argv, timeout, check, stdin)

    def read(self, path: str) -> str:
        with open(path, encoding="utf-8") as handle:
            return handle.read()


class Container:
    """A running container reached with ``docker exec`` as root."""

    def __init__(self, name: str) -> None:
        self.name = name

    def run(
        self,
        *argv: str,
        timeout: float = 60.0,
        check: bool = True,
        stdin: str | None = None,
    ) -> subprocess.CompletedProcess[str]:
        command = [_docker(), "exec", *(["-i"] if stdin is not None else []), self.name, *argv]
        return _run(command, argv, timeout, check, stdin)

    def sh(self, script: str, timeout: float = 60.0, check: bool = True) -> str:
        """A bash script (set -euo pipefail); its stdout."""
        return self.run(
            "bash", "-c", f"set -euo pipefail\n{script}", timeout=timeout, check=check
        ).stdout

    def read(self, path: str) -> str:
        return self.run("cat", path).stdout

    def write(self, path: str, content: str, mode: str = "0644") -> None:
        quoted = shlex.quote(path)
        self.run(
            "bash",
            "-c",
            f"mkdir -p $(dirname {quoted}) && cat >{quoted} && chmod {mode} {quoted}",
            stdin=content,
        )

    def cpu_ticks(self, units: Sequence[str]) -> int:
        """CPU time (clock ticks) of every process in the units' cgroups, reaped children
        included: a counter that only grows, even across recycled workers."""
        script = (
            'total=0\nfor unit in "$@"; do\n'
            '  cgroup=$(systemctl show --property ControlGroup --value "$unit")\n'
            '  [ -n "$cgroup" ] || continue\n'
            '  for pid in $(cat "/sys/fs/cgroup/systemd$cgroup/cgroup.procs" 2>/dev/null); do\n'
            "    ticks=$(awk '{sub(/^.*\\) /, \"\"); print $12 + $13 + $14 + $15}' "
            '"/proc/$pid/stat" 2>/dev/null) || continue\n'
            "    total=$((total + ${ticks:-0}))\n"
            "  done\n"
            'done\necho "$total"'
        )
        return int(self.run("bash", "-c", script, "cpu_ticks", *units).stdout.strip() or 0)

    def loadavg(self) -> list[float]:
        """The 1, 5 and 15 minute load averages (the kernel is the host's: all its load)."""
        return [float(v) for v in self.read("/proc/loadavg").split()[:3]]
