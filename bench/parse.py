"""Parsers of the load tools' output: wrk (``--latency``) and h2load (summary + ``--log-file``)."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

_UNITS_MS = {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60_000.0, "h": 3_600_000.0}
_WRK_SUMMARY = re.compile(r"^\s*(\d+) requests in ([\d.]+)(us|ms|s|m|h),", re.MULTILINE)
_WRK_RPS = re.compile(r"^Requests/sec:\s+([\d.]+)", re.MULTILINE)
_WRK_PERCENTILE = re.compile(r"^\s+(50|75|90|99)%\s+([\d.]+)(us|ms|s|m|h)\s*$", re.MULTILINE)
_WRK_MAX = re.compile(r"^\s+Latency\s+\S+\s+\S+\s+([\d.]+)(us|ms|s|m|h)", re.MULTILINE)
_WRK_SOCKET_ERRORS = re.compile(
    r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)"
)
_WRK_NON_2XX = re.compile(r"Non-2xx or 3xx responses: (\d+)")

_H2_FINISHED = re.compile(r"^finished in ([\d.]+)(us|ms|s|m|h), ([\d.]+) req/s", re.MULTILINE)
_H2_REQUESTS = re.compile(
    r"^requests: (\d+) total, (\d+) started, (\d+) done, (\d+) succeeded, (\d+) failed, "
    r"(\d+) errored, (\d+) timeout",
    re.MULTILINE,
)
_H2_STATUS = re.compile(r"^status codes: (\d+) 2xx, (\d+) 3xx, (\d+) 4xx, (\d+) 5xx", re.MULTILINE)
_H2_REQUEST_TIME = re.compile(
    r"^time for request:\s+([\d.]+)(us|ms|s)\s+([\d.]+)(us|ms|s)\s+([\d.]+)(us|ms|s)",
    re.MULTILINE,
)
_H2_PROTOCOL = re.compile(r"^Application protocol: (\S+)", re.MULTILINE)


class ParseError(ValueError):
    """The tool's output lacks a figure the bench needs (it failed, or its format changed)."""


@dataclass(frozen=True)
class LoadResult:
    """One bounded load run: throughput, latency and everything that was not a 2xx answer."""

    tool: str
    requests: int
    seconds: float
    rps: float
    p50_ms: float
    p99_ms: float
    max_ms: float
    errors: int
    protocol: str = ""
    # CPU time the server side (nginx and/or gunicorn, never the client) spent per request;
    # 0 when not measured. Far less sensitive to other load on the machine than req/s.
    server_cpu_us: float = 0.0

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def _ms(value: str, unit: str) -> float:
    return float(value) * _UNITS_MS[unit]


def _need(pattern: re.Pattern[str], text: str, what: str) -> re.Match[str]:
    found = pattern.search(text)
    if found is None:
        raise ParseError(f"no {what} in the output:\n{text[-2000:]}")
    return found


def parse_wrk(text: str) -> LoadResult:
    """wrk 4 output run with ``--latency``; errors = socket errors + non-2xx/3xx answers."""
    summary = _need(_WRK_SUMMARY, text, "'N requests in' line")
    rps = _need(_WRK_RPS, text, "'Requests/sec' line")
    percentiles = {m[1]: _ms(m[2], m[3]) for m in _WRK_PERCENTILE.finditer(text)}
    if "50" not in percentiles or "99" not in percentiles:
        raise ParseError(f"no latency distribution (run wrk with --latency):\n{text[-2000:]}")
    latency_max = _need(_WRK_MAX, text, "latency line")
    errors = 0
    socket_errors = _WRK_SOCKET_ERRORS.search(text)
    if socket_errors:
        errors += sum(int(n) for n in socket_errors.groups())
    non_2xx = _WRK_NON_2XX.search(text)
    if non_2xx:
        errors += int(non_2xx[1])
    return LoadResult(
        tool="wrk",
        requests=int(summary[1]),
        seconds=_ms(summary[2], summary[3]) / 1000,
        rps=float(rps[1]),
        p50_ms=percentiles["50"],
        p99_ms=percentiles["99"],
        max_ms=_ms(latency_max[1], latency_max[2]),
        errors=errors,
        protocol="http/1.1",
    )


def percentile(values: Sequence[float], fraction: float) -> float:
    """Nearest-rank percentile (0 for no values), as the kit's load generator computes it."""
    if not values:
        return 0.0
    ordered = sorted(values)
    rank = max(1, min(len(ordered), -int(-fraction * len(ordered) // 1)))
    return ordered[rank - 1]


def parse_h2load_log(text: str) -> tuple[list[float], int]:
    """``--log-file`` lines (start us, status, duration us): latencies in ms of 2xx answers, and
    how many requests were not 2xx (status 0 means the request failed before an answer)."""
    latencies: list[float] = []
    failed = 0
    for line in text.splitlines():
        fields = line.split("\t")
        if len(fields) != 3:
            continue
        status, duration_us = int(fields[1]), int(fields[2])
        if 200 <= status < 300:
            latencies.append(duration_us / 1000)
        else:
            failed += 1
    return latencies, failed


def parse_h2load(text: str, log: str | None = None) -> LoadResult:
    """h2load summary; with its ``--log-file`` content the percentiles come from every request,
    without it p50 is the mean and p99 the max (marked by a tool name of ``h2load-summary``)."""
    finished = _need(_H2_FINISHED, text, "'finished in' line")
    requests = _need(_H2_REQUESTS, text, "'requests:' line")
    status = _need(_H2_STATUS, text, "'status codes:' line")
    request_time = _need(_H2_REQUEST_TIME, text, "'time for request' line")
    protocol = _H2_PROTOCOL.search(text)
    done, succeeded = int(requests[3]), int(requests[4])
    not_2xx = int(status[2]) + int(status[3]) + int(status[4])
    errors = int(requests[5]) + int(requests[6]) + int(requests[7]) + not_2xx
    latency_max = _ms(request_time[3], request_time[4])
    tool = "h2load"
    if log:
        latencies, _ = parse_h2load_log(log)
        p50, p99 = percentile(latencies, 0.50), percentile(latencies, 0.99)
        latency_max = max(latencies, default=latency_max)
    else:
        tool = "h2load-summary"
        p50, p99 = _ms(request_time[5], request_time[6]), latency_max
    return LoadResult(
        tool=tool,
        requests=succeeded if succeeded else done,
        seconds=_ms(finished[1], finished[2]) / 1000,
        rps=float(finished[3]),
        p50_ms=p50,
        p99_ms=p99,
        max_ms=latency_max,
        errors=errors,
        protocol=protocol[1] if protocol else "",
    )
