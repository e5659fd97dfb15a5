"""One bounded load run with wrk or h2load inside the container, parsed."""

from __future__ import annotations

import math
import urllib.parse
import uuid
from dataclasses import dataclass

from bench.parse import LoadResult, parse_h2load, parse_wrk
from bench.remote import Runner

THREADS = 2


@dataclass(frozen=True)
class Load:
    """How hard and how long: keep-alive connections and seconds (every run is bounded)."""

    connections: int = 64
    seconds: float = 3.0


@dataclass(frozen=True)
class ConnectTo:
    """Connect to ``address`` instead of the URL's name, which stays the name sent (SNI, Host):
    wrk through ``script`` (bench/connect.lua where the tool runs), h2load with --connect-to."""

    address: str
    script: str


def whole_seconds(seconds: float) -> int:
    """wrk takes whole seconds only (``-d0.5s`` is refused): at least 1, rounded up."""
    return max(1, math.ceil(seconds))


def wrk_argv(url: str, load: Load, connect: ConnectTo | None = None) -> list[str]:
    redirect = ["env", f"KIT_BENCH_CONNECT={connect.address}"] if connect else []
    return [
        *redirect,
        "wrk",
        f"-t{THREADS}",
        f"-c{load.connections}",
        f"-d{whole_seconds(load.seconds)}s",
        "--latency",
        "--timeout",
        "5s",
        *(["--script", connect.script] if connect else []),
        url,
    ]


def _port(url: str) -> int:
    parsed = urllib.parse.urlsplit(url)
    return parsed.port or (443 if parsed.scheme == "https" else 80)


def h2load_argv(
    url: str, load: Load, log: str, h1: bool, connect: ConnectTo | None = None
) -> list[str]:
    return [
        "h2load",
        f"--clients={load.connections}",
        f"--threads={THREADS}",
        f"--duration={whole_seconds(load.seconds)}",
        f"--log-file={log}",
        *(["--h1"] if h1 else []),
        *([f"--connect-to={connect.address}:{_port(url)}"] if connect else []),
        url,
    ]


def wrk(container: Runner, url: str, load: Load, connect: ConnectTo | None = None) -> LoadResult:
    result = container.run(*wrk_argv(url, load, connect), timeout=load.seconds + 30)
    return parse_wrk(result.stdout)


def h2load(
    container: Runner,
    url: str,
    load: Load,
    h1: bool = False,
    log_dir: str = "/tmp",  # noqa: S108
    connect: ConnectTo | None = None,
) -> LoadResult:
    # log_dir: in the container, its own /tmp (a tmpfs); the smoke test passes a private one.
    log = f"{log_dir}/bench-h2load-{uuid.uuid4().hex[:8]}.log"
    try:
        result = container.run(*h2load_argv(url, load, log, h1, connect), timeout=load.seconds + 30)
        return parse_h2load(result.stdout, container.read(log))
    finally:
        container.run("rm", "-f", log, check=False)
