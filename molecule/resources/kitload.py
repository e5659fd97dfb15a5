"""Zero-downtime steps under load, shared by the Molecule scenarios' testinfra tests.

A step runs one of the project's playbooks while scripts/loadgen.py sends GETs and POSTs through
nginx over TLS to each node's 127.0.0.1-published HTTPS port (every load loop is bounded), and
returns the playbook's output with one loadgen report per node. molecule/default's release and
secret tests and molecule/cluster's rolling tests use it; import it after putting this directory
on sys.path (``conftest`` is the scenario's own, found by pytest).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from conftest import PROJECT, record_result, results_dir, run_playbook

sys.path.insert(0, str(PROJECT / "scripts"))

import loadgen

APP = "app"
SERVER_NAME = "app.kit.test"
STEADY_SECONDS = 15.0
SETTLE_SECONDS = 2.0
P99_FACTOR = float(os.environ.get("KIT_P99_FACTOR", "3.0"))
# Requests per second per host: steady traffic that leaves the 2-core test machine room to deploy.
LOAD_RATE = 25.0
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


def under_load(
    nodes: list[Node],
    step: str,
    *args: str,
    expect_failure: bool = False,
    mix: tuple[tuple[str, str, dict[str, str]], ...] = loadgen.MIX,
) -> StepResult:
    """Run a playbook while every node takes load (``mix``); record the figures of the run."""
    return during_load(
        nodes,
        step,
        lambda: run_playbook(*args, check=False),
        expect_failure=expect_failure,
        mix=mix,
        what=" ".join(args),
    )


def during_load(
    nodes: list[Node],
    step: str,
    action: Callable[[], subprocess.CompletedProcess[str]],
    *,
    expect_failure: bool = False,
    mix: tuple[tuple[str, str, dict[str, str]], ...] = loadgen.MIX,
    what: str = "",
) -> StepResult:
    """Run ``action`` (a playbook, a container stop) while every node takes load (``mix``)."""
    loads = {
        node.name: loadgen.LoadGenerator(
            loadgen.Target("127.0.0.1", node.port, SERVER_NAME, node.cafile),
            workers=4,
            rate=LOAD_RATE,
            max_seconds=600,
            max_requests=200_000,
            mix=mix,
        )
        for node in nodes
    }
    for load in loads.values():
        load.start()
    time.sleep(STEADY_SECONDS)
    for load in loads.values():
        load.mark("step")
    started = time.monotonic()
    result = action()
    seconds = time.monotonic() - started
    log = results_dir() / f"{step.replace(' ', '-')}.log"
    log.write_text(result.stdout + result.stderr, encoding="utf-8")
    for load in loads.values():
        load.mark("settle")
    time.sleep(SETTLE_SECONDS)
    reports = {name: load.stop() for name, load in loads.items()}
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
    return StepResult(result.stdout + result.stderr, result.returncode, seconds, reports)


def assert_no_failures_and_p99(report: loadgen.Report, name: str) -> None:
    steady, step = report.phase("steady"), report.phase("step")
    for phase in report.phases:
        assert phase.failed == 0, f"{name}: {phase.line()}"
        assert phase.requests > 0, f"{name}: no requests in {phase.name}"
    assert step.p99_ms <= P99_FACTOR * steady.p99_ms, (
        f"{name}: p99 during the step {step.p99_ms:.1f} ms > "
        f"{P99_FACTOR}x steady {steady.p99_ms:.1f} ms"
    )
