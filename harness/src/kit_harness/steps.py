"""Zero-downtime steps under load, shared by the Molecule scenarios' testinfra tests.

A step runs one of the project's playbooks while two loads go through nginx over TLS to each
node's 127.0.0.1-published HTTPS port: ``loadgen``, paced, records every request (latency,
status, which release answered), and ``fullspeed`` (wrk) saturates the stack on kept-alive
connections, counting every non-2xx answer and socket error. Every load loop is bounded. It
returns the playbook's output with both reports per node. molecule/default's release and
secret tests and molecule/cluster's rolling tests use it.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from kit_harness import loadgen
from kit_harness.fullspeed import FullSpeed, FullSpeedReport, assert_clean
from kit_harness.playbooks import run_playbook
from kit_harness.project import PROJECT
from kit_harness.results import record_result, results_dir

APP = "app"
SERVER_NAME = "app.kit.test"
STEADY_SECONDS = 10.0
SETTLE_SECONDS = 2.0
# After a step, the paced load goes on until each client has this many answers.
SETTLE_REQUESTS = 10
# The paced load's bound in time (a step under it takes minutes, at most 90 s at full speed).
LOAD_MAX_SECONDS = 1800
P99_FACTOR = float(os.environ.get("KIT_P99_FACTOR", "3.0"))
# Requests per second per host: steady traffic that leaves the 2-core test machine room to deploy.
LOAD_RATE = 25.0
# A request of the paced load fails when unanswered after this. Errors are what the steps count,
# not latency (the p99 check compares the step with its own steady phase): on a 2-core machine
# running two scenarios at full speed, an answer can take seconds, and that is not an error.
CLIENT_TIMEOUT = 30.0
KEEP_RELEASES = 5
PEBBLE_ROOT = "/run/kit-pebble-root.pem"


@dataclass
class Node:
    name: str
    host: Any
    port: int
    cafile: str

    def state(self) -> dict[str, Any]:
        loaded: dict[str, Any] = json.loads(
            self.host.file(f"/var/lib/{APP}/deploy.json").content_string
        )
        return loaded

    def active(self) -> str:
        colour: str = self.state()["active"]
        return colour

    def current_release(self) -> str:
        return str(self.host.file(f"/srv/{APP}/current").linked_to).rsplit("/", 1)[1]

    def main_pid(self) -> int:
        unit = f"{APP}@{self.active()}.service"
        return int(self.host.check_output(f"systemctl show --property MainPID --value {unit}"))

    def curl(self, path: str, *args: str) -> str:
        command = " ".join(
            [
                "curl --silent --show-error --fail --max-time 10",
                f"--resolve {SERVER_NAME}:443:127.0.0.1 --cacert {PEBBLE_ROOT}",
                *args,
                f"https://{SERVER_NAME}{path}",
            ]
        )
        return str(self.host.check_output(command))


def copy_source(tmp: Path, mutate: Callable[[Path], None]) -> Path:
    """A copy of the reference app's project, changed by ``mutate`` (so its wheel differs)."""
    source = tmp / f"source-{uuid.uuid4().hex[:8]}"
    source.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy2(PROJECT / name, source / name)
    shutil.copytree(PROJECT / "app", source / "app", ignore=shutil.ignore_patterns("__pycache__"))
    mutate(source)
    return source


def new_feature(source: Path) -> None:
    (source / "app" / "release_note.py").write_text(f'NOTE = "release {uuid.uuid4().hex}"\n')


@dataclass
class StepResult:
    output: str
    returncode: int
    seconds: float
    reports: dict[str, loadgen.Report]
    # wrk's counts per node (steady phase and step).
    full_speed: dict[str, FullSpeedReport]
    # Worker recycles (max_requests) during the step, per app host that had to see them.
    recycles: dict[str, int]


def worker_recycles(host: Any, since: float) -> int:
    """How many gunicorn workers of the app recycled (max_requests) on ``host`` since ``since``."""
    out = host.check_output(
        f"journalctl --unit '{APP}@*.service' --since @{int(since)} --output cat --no-pager"
        " | grep -c 'Maximum request limit' || true"
    )
    return int(out.strip() or 0)


def worker_count(host: Any) -> int:
    """The workers of each app instance on ``host`` (its gunicorn configuration's ``workers``)."""
    out = host.check_output(
        f"grep -h '^workers = ' /etc/{APP}/*/gunicorn.conf.py | sort -u | head -n 1"
    )
    return int(out.removeprefix("workers = ").strip() or 1)


@dataclass(frozen=True)
class Window:
    """Where a step's full-speed windows are, in its playbook's output: a window opens at a line
    that starts with one of ``starts`` and may close at one that starts with one of ``ends`` (or
    at the end), ``after_seconds`` later at the earliest."""

    starts: tuple[str, ...]
    ends: tuple[str, ...]
    after_seconds: float = 0.0


# The full-speed phases of a step: the steady phase before it (so the paced p99 of the steady phase
# and of the step are measured under the same kind of load), and each window of the step where
# traffic can be lost: from a host's new colour starting (its gate) to its old colour stopped and
# the switch recorded (or the new colour stopped, its gate failed), at least FULL_SPEED_MIN_SECONDS
# each, and on until every worker has recycled twice in the step (app_max_requests of the test
# scenarios is small for that).
# The rest of a step (installing the release, rendering the configuration) goes on under the
# paced load: on this 2-core machine a saturating load would only stretch it.
SWITCH_WINDOW = Window(
    ("TASK [app : Start the new instance on its own socket]",),
    ("TASK [app : Write the deploy state]", "TASK [app : Stop the new instance (traffic never"),
)
# Certificate steps: where nginx reloads. In proxy.yml: the tls role's handler reloads nginx
# before certbot runs (the window closes as certbot starts: the ACME exchange runs under the
# paced load), the site role's "Test nginx and reload" after it, up to the check of what nginx
# loaded (or the run's end); a renewal: certbot.service, whose deploy hook reloads. A window goes
# on a few seconds after the reload, while nginx's old workers exit.
RELOAD_WINDOW = Window(
    (
        "RUNNING HANDLER [site : Test nginx and reload]",
        "RUNNING HANDLER [tls : Reload nginx so that it serves",
        "TASK [tls : Start certbot.service",
    ),
    (
        "RUNNING HANDLER [tls : ",
        "TASK [nginx : Check that the configuration on disk passes nginx -t]",
        "TASK [tls : Remove the forced renewal again]",
        "PLAY RECAP",
    ),
    after_seconds=5.0,
)
FULL_SPEED_MIN_SECONDS = 12.0
# A window goes on after its minimum until every worker of each host has recycled this many times
# in the step (counted from the app's journal), for FULL_SPEED_MAX_SECONDS at most.
RECYCLES_EACH = 2
FULL_SPEED_MAX_SECONDS = 90.0

Action = Callable[[Callable[[], None], Callable[[], None]], subprocess.CompletedProcess[str]]
"""A step: runs something, and calls its first argument when a full-speed window is to start,
its second when the window may end (after FULL_SPEED_MIN_SECONDS at least)."""


def under_load(
    nodes: list[Node],
    step: str,
    *args: str,
    expect_failure: bool = False,
    mix: tuple[tuple[str, str, dict[str, str]], ...] = loadgen.MIX,
    keepalive: bool = True,
    window: Window = SWITCH_WINDOW,
    recycling: dict[str, Any] | None = None,
) -> StepResult:
    """Run a playbook while every node takes load (``mix``), at full speed in each ``window``;
    record the figures of the run."""
    starts, ends = window.starts, window.ends

    def run(
        open_window: Callable[[], None], close_window: Callable[[], None]
    ) -> subprocess.CompletedProcess[str]:
        def on_line(line: str) -> None:
            if line.startswith(starts):
                open_window()
            elif ends and line.startswith(ends):
                close_window()

        return run_playbook(*args, check=False, nice=False, on_line=on_line)

    return during_load(
        nodes,
        step,
        run,
        expect_failure=expect_failure,
        mix=mix,
        what=" ".join(args),
        keepalive=keepalive,
        recycling=recycling,
        after_seconds=window.after_seconds,
    )


class _Windows:
    """The full-speed windows of a step: wrk on every node while a window is open. A window
    closes FULL_SPEED_MIN_SECONDS after it opened and ``after_seconds`` after it was asked to at
    the earliest, and once ``enough()`` says the step has seen enough
    (FULL_SPEED_MAX_SECONDS after it opened at the latest)."""

    def __init__(
        self,
        nodes: list[Node],
        client_timeout: float,
        keepalive: bool,
        enough: Callable[[], bool] = lambda: True,
        after_seconds: float = 0.0,
    ) -> None:
        self.nodes = nodes
        self.client_timeout = client_timeout
        self.keepalive = keepalive
        self.enough = enough
        self.after_seconds = after_seconds
        self.lock = threading.Lock()
        self.running: dict[str, FullSpeed] = {}
        self.opened = 0.0
        self.first_opened = 0.0
        self.closer: threading.Thread | None = None
        self.cancel_close = threading.Event()
        self.reports: dict[str, list[FullSpeedReport]] = {node.name: [] for node in nodes}
        self.seconds = 0.0

    def open(self) -> None:
        with self.lock:
            if self.closer is not None:  # a window closing soon goes on instead
                self.cancel_close.set()
                self.closer = None
            if self.running:
                return
            self.opened = time.time()
            self.first_opened = self.first_opened or self.opened
            self.running = {
                node.name: FullSpeed(
                    node.port,
                    SERVER_NAME,
                    timeout_seconds=max(30, int(self.client_timeout)),
                    keepalive=self.keepalive,
                ).start()
                for node in self.nodes
            }

    def close(self) -> None:
        """Close the open window when it has lasted long enough (see the class)."""
        with self.lock:
            if not self.running or self.closer is not None:
                return
            self.cancel_close = threading.Event()
            earliest = max(self.opened + FULL_SPEED_MIN_SECONDS, time.time() + self.after_seconds)
            self.closer = threading.Thread(
                target=self._close_when_done,
                args=(self.cancel_close, self.opened, earliest),
                daemon=True,
            )
            self.closer.start()

    def _close_when_done(self, cancelled: threading.Event, opened: float, earliest: float) -> None:
        if cancelled.wait(max(0.0, earliest - time.time())):
            return
        while time.time() < opened + FULL_SPEED_MAX_SECONDS and not self.enough():
            if cancelled.wait(1.0):
                return
        self._stop(cancelled)

    def _stop(self, cancelled: threading.Event | None = None) -> None:
        with self.lock:
            if cancelled is not None and cancelled.is_set():
                return  # the window was opened again meanwhile: it goes on
            self.closer = None
            for name, load in self.running.items():
                self.reports[name].append(load.stop())
            if self.running:
                self.seconds += time.time() - self.opened
            self.running = {}

    def finish(self) -> None:
        """After the step: a step that opened no window gets one now; the open one closes."""
        if not self.first_opened:
            self.open()
        self.close()
        closer = self.closer
        if closer is not None:
            closer.join()


def during_load(
    nodes: list[Node],
    step: str,
    action: Action,
    *,
    expect_failure: bool = False,
    mix: tuple[tuple[str, str, dict[str, str]], ...] = loadgen.MIX,
    what: str = "",
    full_speed_must_be_clean: bool = True,
    client_timeout: float = CLIENT_TIMEOUT,
    keepalive: bool = True,
    recycling: dict[str, Any] | None = None,
    after_seconds: float = 0.0,
) -> StepResult:
    """Run ``action`` (a playbook, a container stop) while every node takes load: the paced
    ``mix`` throughout, and wrk at full speed during the steady phase and in the windows
    ``action`` opens. Unless ``full_speed_must_be_clean`` is off, every full-speed request must
    be answered 2xx with no socket error.

    ``recycling`` names the app hosts (name: testinfra host; default: each node's own) whose
    every worker must recycle RECYCLES_EACH times during the step: the windows go on until they
    have (FULL_SPEED_MAX_SECONDS at most), and the step fails when they have not."""
    recycling = {node.name: node.host for node in nodes} if recycling is None else recycling
    since = time.time()
    wanted = {name: RECYCLES_EACH * worker_count(host) for name, host in recycling.items()}

    def recycled() -> dict[str, int]:
        return {name: worker_recycles(host, since) for name, host in recycling.items()}

    def enough() -> bool:
        counted = recycled()
        return all(counted[name] >= n for name, n in wanted.items())

    loads = {
        node.name: loadgen.LoadGenerator(
            loadgen.Target("127.0.0.1", node.port, SERVER_NAME, node.cafile),
            workers=4,
            rate=LOAD_RATE,
            max_seconds=LOAD_MAX_SECONDS,
            max_requests=200_000,
            mix=mix,
            timeout=client_timeout,
        )
        for node in nodes
    }
    steady = _Windows(nodes, client_timeout, keepalive)
    steady.open()
    for load in loads.values():
        load.start()
    time.sleep(STEADY_SECONDS)
    steady._stop()
    for load in loads.values():
        load.mark("step")
    windows = _Windows(nodes, client_timeout, keepalive, enough, after_seconds)
    started = time.monotonic()
    result = action(windows.open, windows.close)
    seconds = time.monotonic() - started
    windows.finish()
    recycles = recycled()
    log = results_dir() / f"{step.replace(' ', '-')}.log"
    log.write_text(result.stdout + result.stderr, encoding="utf-8")
    for load in loads.values():
        load.mark("settle")
    time.sleep(SETTLE_SECONDS)
    # On a busy machine the paced clients may all still wait on answers to requests sent during
    # the step: the settle phase goes on until each has had answers to requests sent after it.
    for load in loads.values():
        load.wait_for("settle", SETTLE_REQUESTS, client_timeout + SETTLE_SECONDS)
    reports = {name: load.stop() for name, load in loads.items()}
    full_speed_reports = {}
    for node in nodes:
        steady_counts = steady.reports[node.name]
        step_counts = windows.reports[node.name]
        full_speed_reports[node.name] = FullSpeedReport(
            [stream for counted in steady_counts + step_counts for stream in counted.streams]
        )
        record_result(
            "full-speed",
            {
                "step": step,
                "host": node.name,
                "seconds": round(seconds, 1),
                "rc": result.returncode,
                "windows": len(step_counts),
                "window_seconds": round(windows.seconds, 1),
                "steady": FullSpeedReport([s for c in steady_counts for s in c.streams]).to_json(),
                "switch": FullSpeedReport([s for c in step_counts for s in c.streams]).to_json(),
                "recycles": recycles,
            },
        )
    for name, report in reports.items():
        samples = results_dir() / f"{step.replace(' ', '-')}-{name}.samples.json"
        samples.write_text(json.dumps(report.timeline()), encoding="utf-8")
        record_result(
            "zero-downtime",
            {
                "step": step,
                "host": name,
                "seconds": round(seconds, 1),
                "rc": result.returncode,
                "phases": report.to_json()["phases"],
            },
        )
    if not expect_failure:
        tail = "\n".join((result.stdout + result.stderr).splitlines()[-60:])
        assert result.returncode == 0, f"{what or step} exited {result.returncode}:\n{tail}"
    if full_speed_must_be_clean:
        for name, counted in full_speed_reports.items():
            assert_clean(counted, f"{step} ({name})")
    for name, count in wanted.items():
        assert recycles[name] >= count, (
            f"{step}: the workers of {name} recycled {recycles[name]} times, fewer than "
            f"{count} ({RECYCLES_EACH} each) in {FULL_SPEED_MAX_SECONDS:.0f} s of full speed"
        )
    return StepResult(
        result.stdout + result.stderr,
        result.returncode,
        seconds,
        reports,
        full_speed_reports,
        recycles,
    )


def assert_no_failures_and_p99(report: loadgen.Report, name: str) -> None:
    steady, step = report.phase("steady"), report.phase("step")
    for phase in report.phases:
        assert phase.failed == 0, f"{name}: {phase.line()}"
        assert phase.requests > 0, f"{name}: no requests in {phase.name}"
    assert step.p99_ms <= P99_FACTOR * steady.p99_ms, (
        f"{name}: p99 during the step {step.p99_ms:.1f} ms > "
        f"{P99_FACTOR}x steady {steady.p99_ms:.1f} ms"
    )
