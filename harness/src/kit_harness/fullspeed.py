"""Full-speed load beside the paced one: wrk, keep-alive connections, every answer counted.

The paced load generator (kit_harness.loadgen) measures latency and version switches at a known
rate; this one saturates the stack the way a busy client does, so worker recycling, keep-alive
reuse and the proxy tier's passive health are all exercised. One wrk process per method
(fullspeed.lua): GETs on most connections, POSTs on the rest, every status counted per method and
every socket error (connect, read, write, timeout) counted. Bounded by time (wrk -d, a subprocess
timeout) and by a request cap per process.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

# Package data beside this module (in harness/src/kit_harness/ with an editable install).
SCRIPT = Path(__file__).with_name("fullspeed.lua")
RESULT_PREFIX = "KIT_WRK_RESULT "


@dataclass(frozen=True)
class Stream:
    """One wrk process: a method and path on some connections."""

    method: str
    path: str
    connections: int


# 16 connections in all: reads on 12, writes (the reference app's POST /v1/items) on 4.
MIX = (Stream("GET", "/v1/items?limit=5", 12), Stream("POST", "/v1/items", 4))


@dataclass
class StreamResult:
    """What one wrk process counted."""

    method: str
    path: str
    connections: int
    statuses: dict[str, int]
    requests: int
    seconds: float
    errors: dict[str, int]
    p50_ms: float
    p99_ms: float
    max_ms: float

    @property
    def rps(self) -> float:
        return self.requests / self.seconds if self.seconds > 0 else 0.0

    @property
    def non_2xx(self) -> int:
        return sum(n for status, n in self.statuses.items() if not status.startswith("2"))

    @property
    def socket_errors(self) -> int:
        return sum(self.errors.values())

    def line(self) -> str:
        statuses = ", ".join(f"{s} x{n}" for s, n in sorted(self.statuses.items()))
        errors = ", ".join(f"{kind} {n}" for kind, n in self.errors.items() if n) or "none"
        return (
            f"{self.method} {self.path}: {self.requests} requests in {self.seconds:.1f} s "
            f"({statuses}); socket errors {errors}; p50 {self.p50_ms:.1f} ms, "
            f"p99 {self.p99_ms:.1f} ms, max {self.max_ms:.1f} ms"
        )


def parse_result(output: str, stream: Stream) -> StreamResult:
    """The JSON line fullspeed.lua prints at the end of wrk's output."""
    for line in reversed(output.splitlines()):
        if line.startswith(RESULT_PREFIX):
            data: dict[str, Any] = json.loads(line[len(RESULT_PREFIX) :])
            return StreamResult(
                method=stream.method,
                path=stream.path,
                connections=stream.connections,
                statuses={str(k): int(v) for k, v in data["statuses"].items()},
                requests=int(data["requests"]),
                seconds=float(data["seconds"]),
                errors={str(k): int(v) for k, v in data["errors"].items()},
                p50_ms=float(data["p50_ms"]),
                p99_ms=float(data["p99_ms"]),
                max_ms=float(data["max_ms"]),
            )
    raise AssertionError(f"wrk printed no result line:\n{output[-2000:]}")


@dataclass
class FullSpeedReport:
    streams: list[StreamResult] = field(default_factory=list)

    @property
    def rps(self) -> float:
        return sum(s.rps for s in self.streams)

    @property
    def requests(self) -> int:
        return sum(s.requests for s in self.streams)

    @property
    def non_2xx(self) -> int:
        return sum(s.non_2xx for s in self.streams)

    @property
    def socket_errors(self) -> int:
        return sum(s.socket_errors for s in self.streams)

    def stream(self, method: str) -> StreamResult:
        return next(s for s in self.streams if s.method == method)

    def lines(self) -> list[str]:
        return [s.line() for s in self.streams]

    def to_json(self) -> dict[str, Any]:
        return {
            "requests": self.requests,
            "non_2xx": self.non_2xx,
            "socket_errors": self.socket_errors,
            "streams": [
                {
                    "method": s.method,
                    "requests": s.requests,
                    "rps": round(s.rps, 1),
                    "statuses": s.statuses,
                    "errors": s.errors,
                    "p50_ms": s.p50_ms,
                    "p99_ms": s.p99_ms,
                    "max_ms": s.max_ms,
                }
                for s in self.streams
            ],
        }


class FullSpeed:
    """wrk at full speed on ``127.0.0.1:port`` with ``server_name`` for SNI and Host, until stop().

    With ``keepalive`` off each request opens its own connection: for steps that reload nginx
    (a certificate, a name), where an old nginx worker closes the kept-alive client connections
    that are idle when it exits, and a client sending on one at that moment must retry it (RFC
    9112, 9.3.1): nginx's behaviour on every reload, not something a server can avoid.
    """

    def __init__(
        self,
        port: int,
        server_name: str,
        *,
        mix: tuple[Stream, ...] = MIX,
        max_seconds: int = 900,
        max_requests: int = 5_000_000,
        timeout_seconds: int = 90,
        keepalive: bool = True,
    ) -> None:
        self.port = port
        self.server_name = server_name
        self.mix = mix
        self.max_seconds = max_seconds
        self.max_requests = max_requests
        self.timeout_seconds = timeout_seconds
        self.keepalive = keepalive
        self._processes: list[tuple[Stream, subprocess.Popen[str]]] = []
        self.started = 0.0

    def start(self) -> FullSpeed:
        wrk = shutil.which("wrk")
        assert wrk, "wrk is not installed (the CI installs Debian's wrk)"
        env = {**os.environ, "KIT_WRK_ADDRESS": "127.0.0.1"}
        for stream in self.mix:
            # At nice 19: on this 2-core machine the load generator, the hosts and the deploy's
            # controller share the CPU. wrk sends as fast as it can whenever the deploy leaves a
            # cycle, and the deploy is not starved by the client that loads it (in production
            # neither runs on the servers).
            command = [
                "nice",
                "-n",
                "19",
                wrk,
                "--threads",
                "1",
                "--connections",
                str(stream.connections),
                "--duration",
                f"{self.max_seconds}s",
                "--timeout",
                f"{self.timeout_seconds}s",
                "--script",
                str(SCRIPT),
                f"https://{self.server_name}:{self.port}/",
                "--",
                stream.method,
                stream.path,
                str(self.max_requests),
                *([] if self.keepalive else ["close"]),
            ]
            process = subprocess.Popen(
                command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env
            )
            self._processes.append((stream, process))
        self.started = time.monotonic()
        return self

    def stop(self) -> FullSpeedReport:
        """SIGINT (wrk then prints its totals), and the counts of every process."""
        report = FullSpeedReport()
        for _, process in self._processes:
            if process.poll() is None:
                process.send_signal(signal.SIGINT)
        for stream, process in self._processes:
            try:
                output, _ = process.communicate(timeout=self.timeout_seconds + 30)
            except subprocess.TimeoutExpired:
                process.kill()
                output, _ = process.communicate()
            report.streams.append(parse_result(output, stream))
        self._processes = []
        return report


def assert_clean(report: FullSpeedReport, what: str) -> None:
    """Every request answered 2xx, no socket error."""
    assert report.requests > 0, f"{what}: no full-speed request"
    failed = f"{what}: full-speed load failed:\n" + "\n".join(report.lines())
    assert report.non_2xx == 0, failed
    assert report.socket_errors == 0, failed
