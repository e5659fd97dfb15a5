#!/usr/bin/env python3
"""The kit's load generator: steady GETs and POSTs through nginx while a deploy step runs.

Every request is recorded (start, end, status or connection error, and for ``GET /version`` the
release that answered), so a step can be judged on exact counts rather than sampled rates:

* failed requests: any status outside 2xx, or any connection/TLS/protocol error;
* versions: which releases answered, and whether an old one answered a request that started
  after a new one had already answered (flapping);
* latency percentiles of the steady phase and of the step, to compare within one run.

Standard library only, so it also runs inside a host or container with just ``python3``.
Each worker thread opens a new TLS connection per request (``Connection: close``), the way a
fleet of independent clients arrives: a reused client connection that nginx closes during a
reload would fail for reasons unrelated to the server switch under test. TLS sessions are
resumed to keep the handshake cost low. Load is bounded by ``max_seconds`` and
``max_requests``; nothing runs unbounded.

Library use (the Molecule side effects)::

    load = LoadGenerator(Target("127.0.0.1", 32768, "app.kit.test", cafile), workers=4)
    load.start()
    load.wait(8)            # steady state
    load.mark("step")       # the step starts
    ...                     # run the playbook
    load.mark("settle")     # the step ended
    load.wait(2)
    report = load.stop()    # Report: report.phase("step"), report.summary()

CLI: ``python -m kit_harness.loadgen --port 443 --server-name app.kit.test --seconds 30``.
"""

from __future__ import annotations

import argparse
import http.client
import json
import socket
import ssl
import sys
import threading
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from itertools import count, pairwise
from typing import Any

MIX: tuple[tuple[str, str, dict[str, str]], ...] = (
    ("GET", "/v1/items?limit=5", {}),
    ("POST", "/v1/items", {}),
    ("GET", "/version", {}),
)
"""Each worker cycles through these (method, path, extra headers): a read that touches the
database, a write, the release. A caller may give its own mix (a bearer token per request)."""


@dataclass(frozen=True)
class Target:
    """Where requests go: an address and port, and the name for SNI, Host and verification."""

    address: str
    port: int
    server_name: str
    cafile: str | None = None
    insecure: bool = False


@dataclass(frozen=True)
class Sample:
    method: str
    path: str
    start: float
    end: float
    status: int | None
    error: str | None
    version: str | None

    @property
    def ok(self) -> bool:
        return self.error is None and self.status is not None and 200 <= self.status < 300

    @property
    def latency(self) -> float:
        return self.end - self.start


def percentile(values: Sequence[float], fraction: float) -> float:
    """Nearest-rank percentile (0 for no values)."""
    if not values:
        return 0.0
    ordered = sorted(values)
    rank = max(1, min(len(ordered), int(-(-fraction * len(ordered) // 1))))
    return ordered[rank - 1]


@dataclass
class PhaseReport:
    """What happened between two marks."""

    name: str
    seconds: float
    requests: int
    gets: int
    posts: int
    failed_gets: int
    failed_posts: int
    errors: dict[str, int]
    p50_ms: float
    p99_ms: float
    max_ms: float
    versions: list[str]
    late_old_answers: int

    @property
    def failed(self) -> int:
        return self.failed_gets + self.failed_posts

    def line(self) -> str:
        return (
            f"{self.name}: {self.requests} requests in {self.seconds:.1f}s "
            f"({self.gets} GET, {self.posts} POST), failed GET {self.failed_gets}, "
            f"failed POST {self.failed_posts}, p50 {self.p50_ms:.1f} ms, p99 {self.p99_ms:.1f} ms, "
            f"max {self.max_ms:.1f} ms, versions {' -> '.join(self.versions) or '-'}"
            + (f", late old answers {self.late_old_answers}" if self.late_old_answers else "")
            + (f", errors {self.errors}" if self.errors else "")
        )


def summarise(name: str, samples: Sequence[Sample], start: float, end: float) -> PhaseReport:
    """Counts, latencies and the version sequence of the samples that started in [start, end)."""
    chosen = [s for s in samples if start <= s.start < end]
    errors: dict[str, int] = {}
    for sample in chosen:
        if not sample.ok:
            key = sample.error or f"HTTP {sample.status}"
            errors[key] = errors.get(key, 0) + 1
    latencies = [s.latency * 1000 for s in chosen]
    versions, late = version_sequence(chosen)
    return PhaseReport(
        name=name,
        seconds=end - start,
        requests=len(chosen),
        gets=sum(s.method == "GET" for s in chosen),
        posts=sum(s.method == "POST" for s in chosen),
        failed_gets=sum(s.method == "GET" and not s.ok for s in chosen),
        failed_posts=sum(s.method == "POST" and not s.ok for s in chosen),
        errors=errors,
        p50_ms=percentile(latencies, 0.50),
        p99_ms=percentile(latencies, 0.99),
        max_ms=max(latencies, default=0.0),
        versions=versions,
        late_old_answers=late,
    )


def version_sequence(samples: Sequence[Sample]) -> tuple[list[str], int]:
    """Releases in the order they first answered, and how many answers came late from an old one.

    An answer is late when it came from an earlier release although the request started after
    a later release had already answered a request (a client that saw the new release would
    then see the old one again: flapping). Requests in flight across the switch may finish on
    the old release; that is not late.
    """
    answered = sorted((s for s in samples if s.version is not None), key=lambda s: s.start)
    order: list[str] = []
    first_end: dict[str, float] = {}
    for sample in answered:
        assert sample.version is not None
        if sample.version not in order:
            order.append(sample.version)
        first_end[sample.version] = min(first_end.get(sample.version, sample.end), sample.end)
    late = 0
    for sample in answered:
        assert sample.version is not None
        newer = order[order.index(sample.version) + 1 :]
        if any(first_end[v] <= sample.start for v in newer):
            late += 1
    return order, late


@dataclass
class Report:
    samples: list[Sample]
    marks: list[tuple[str, float]]
    started: float
    stopped: float
    phases: list[PhaseReport] = field(default_factory=list)

    def __post_init__(self) -> None:
        bounds = [("steady", self.started), *self.marks, ("end", self.stopped)]
        self.phases = [
            summarise(name, self.samples, begin, finish)
            for (name, begin), (_, finish) in pairwise(bounds)
        ]

    def phase(self, name: str) -> PhaseReport:
        for phase in self.phases:
            if phase.name == name:
                return phase
        raise KeyError(name)

    def summary(self) -> str:
        return "\n".join(phase.line() for phase in self.phases)

    def timeline(self) -> list[tuple[float, float, str, int | None, str | None]]:
        """Every request as (start offset s, latency ms, method, status, error), for plots."""
        rows = []
        for s in self.samples:
            offset, latency = round(s.start - self.started, 4), round(s.latency * 1000, 2)
            rows.append((offset, latency, s.method, s.status, s.error))
        return rows

    def to_json(self) -> dict[str, Any]:
        return {
            "phases": [asdict(phase) for phase in self.phases],
            "requests": len(self.samples),
        }


class LoadGenerator:
    """Worker threads sending the request mix until stopped or a bound is reached."""

    def __init__(
        self,
        target: Target,
        workers: int = 4,
        max_seconds: float = 300.0,
        max_requests: int = 100_000,
        timeout: float = 10.0,
        rate: float = 0.0,
        mix: Sequence[tuple[str, str, dict[str, str]]] = MIX,
    ) -> None:
        self.target = target
        self.mix = tuple(mix)
        self.workers = workers
        # Requests per second across all workers (0: as fast as the server answers). A paced load
        # measures the server's latency under a known load instead of saturating the machine.
        self.interval = workers / rate if rate > 0 else 0.0
        self.max_seconds = max_seconds
        self.max_requests = max_requests
        self.timeout = timeout
        self._context = self._tls_context()
        self._samples: list[Sample] = []
        self._marks: list[tuple[str, float]] = []
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._sequence = count()
        self._started = 0.0
        self._deadline = 0.0

    def _tls_context(self) -> ssl.SSLContext:
        context = ssl.create_default_context(cafile=self.target.cafile)
        if self.target.insecure:
            context.check_hostname = False
            context.verify_mode = ssl.CERT_NONE
        return context

    def start(self) -> None:
        self._started = time.monotonic()
        self._deadline = self._started + self.max_seconds
        for index in range(self.workers):
            thread = threading.Thread(target=self._work, args=(index,), daemon=True)
            thread.start()
            self._threads.append(thread)

    def mark(self, name: str) -> None:
        with self._lock:
            self._marks.append((name, time.monotonic()))

    def wait(self, seconds: float) -> None:
        """Sleep while the load runs (returns early when a bound stopped it)."""
        self._stop.wait(seconds)

    def answered_since(self, mark: str) -> int:
        """Requests started after the last mark named ``mark`` that have ended (any outcome)."""
        with self._lock:
            since = max(at for name, at in self._marks if name == mark)
            return sum(1 for sample in self._samples if sample.start >= since)

    def wait_for(self, mark: str, requests: int, seconds: float) -> bool:
        """Wait until ``requests`` started after ``mark`` have ended, for ``seconds`` at most
        (less when a bound stops the load); whether they have."""
        deadline = time.monotonic() + seconds
        while self.answered_since(mark) < requests:
            if time.monotonic() >= deadline or self._stop.wait(0.2):
                return self.answered_since(mark) >= requests
        return True

    def stop(self) -> Report:
        stopped = time.monotonic()
        self._stop.set()
        for thread in self._threads:
            thread.join(self.timeout + 5)
        with self._lock:
            samples = sorted(self._samples, key=lambda s: s.start)
            marks = list(self._marks)
        # Requests in flight when stop() was called belong to the last phase.
        last = max([stopped, *(s.start for s in samples)]) + 1e-6
        return Report(samples=samples, marks=marks, started=self._started, stopped=last)

    def _work(self, index: int) -> None:
        session: ssl.SSLSession | None = None
        step = index
        # Workers start spread over one interval, then each keeps its own schedule; a worker that
        # falls behind starts its next request at once but never bursts to catch up.
        due = time.monotonic() + self.interval * index / max(self.workers, 1)
        while not self._stop.is_set() and time.monotonic() < self._deadline:
            if self.interval:
                if self._stop.wait(max(0.0, due - time.monotonic())):
                    break
                due = max(due + self.interval, time.monotonic())
            number = next(self._sequence)
            if number >= self.max_requests:
                self._stop.set()
                break
            method, path, extra = self.mix[step % len(self.mix)]
            step += 1
            sample, session = self._request(method, path, number, session, extra)
            with self._lock:
                self._samples.append(sample)

    def _request(
        self,
        method: str,
        path: str,
        number: int,
        session: ssl.SSLSession | None,
        extra: dict[str, str] | None = None,
    ) -> tuple[Sample, ssl.SSLSession | None]:
        body = None
        headers = {"Host": self.target.server_name, "Connection": "close", **(extra or {})}
        if method == "POST":
            body = json.dumps({"name": f"load-{number}", "description": "loadgen"}).encode()
            headers["Content-Type"] = "application/json"
        start = time.monotonic()
        status: int | None = None
        error: str | None = None
        version: str | None = None
        try:
            raw = socket.create_connection(
                (self.target.address, self.target.port), timeout=self.timeout
            )
            try:
                tls = self._context.wrap_socket(
                    raw, server_hostname=self.target.server_name, session=session
                )
            except BaseException:
                raw.close()
                raise
            with tls:
                connection = http.client.HTTPConnection(self.target.server_name)
                connection.sock = tls
                connection.request(method, path, body=body, headers=headers)
                response = connection.getresponse()
                payload = response.read()
                status = response.status
                session = tls.session
            if path == "/version" and status == 200:
                version = str(json.loads(payload)["version"])
        except (OSError, http.client.HTTPException, ValueError, KeyError) as exc:
            error = type(exc).__name__
            session = None
        end = time.monotonic()
        return Sample(method, path, start, end, status, error, version), session


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m kit_harness.loadgen", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument("--address", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=443)
    parser.add_argument("--server-name", required=True, help="SNI, Host header and cert name")
    parser.add_argument("--cafile", help="CA bundle that signed the server's certificate")
    parser.add_argument("--insecure", action="store_true", help="do not verify the certificate")
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument("--seconds", type=float, default=30.0, help="how long to run (bounded)")
    parser.add_argument("--max-requests", type=int, default=100_000)
    parser.add_argument("--rate", type=float, default=0.0, help="requests/s in all (0: no pacing)")
    parser.add_argument("--json", help="write the report as JSON to this file")
    args = parser.parse_args(argv)

    target = Target(args.address, args.port, args.server_name, args.cafile, args.insecure)
    load = LoadGenerator(
        target,
        workers=args.workers,
        max_seconds=args.seconds,
        max_requests=args.max_requests,
        rate=args.rate,
    )
    load.start()
    load.wait(args.seconds)
    report = load.stop()
    print(report.summary())
    if args.json:
        with open(args.json, "w", encoding="utf-8") as handle:
            json.dump(report.to_json(), handle, indent=2)
    return 0 if all(phase.failed == 0 for phase in report.phases) else 1


if __name__ == "__main__":
    sys.exit(main())
