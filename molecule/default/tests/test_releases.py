"""Zero-downtime releases, proven under load (side effects on the converged hosts).

Each step runs the real playbook against both hosts at once while the project's load generator
(scripts/loadgen.py) sends GETs and POSTs through nginx over TLS to each host's 127.0.0.1-published
port. For every step: 0 failed GET and 0 failed POST, versions switch once (or never, for the
broken cases) and p99 during the step within 3x the steady-state p99 of the same run. testinfra
then checks the host: the right release is current, one colour runs, releases are pruned, data
written before the step is still there. The steps run in order and leave the hosts as converged.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import sys
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import testinfra  # type: ignore[import-untyped]
import yaml
from conftest import PROJECT, published_port, record_result, results_dir, run_playbook

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


def _inventory_hosts() -> list[str]:
    inventory = Path(os.environ["MOLECULE_INVENTORY_FILE"])
    loaded = yaml.safe_load(inventory.read_text())
    return sorted(loaded["app"]["hosts"])


@pytest.fixture(scope="module")
def nodes(tmp_path_factory: pytest.TempPathFactory) -> list[Node]:
    """Each host with its published HTTPS port and the root CA of its Pebble (the trust anchor).

    Tests run once for all hosts (no ``host`` fixture): each step drives every host at once.
    """
    found = []
    for name in _inventory_hosts():
        host = testinfra.get_host(f"docker://{name}")
        root = host.check_output(
            "curl -sS --fail --cacert /etc/pebble/https-ca.pem https://localhost:15000/roots/0"
            f" | tee {PEBBLE_ROOT}"
        )
        cafile = tmp_path_factory.mktemp(name) / "pebble-root.pem"
        cafile.write_text(root + "\n")
        found.append(Node(name, host, published_port(name, 443), str(cafile)))
    return found


def _copy_source(tmp: Path, mutate: Callable[[Path], None]) -> Path:
    """A copy of the reference app's project, changed by ``mutate`` (so its wheel differs)."""
    source = tmp / f"source-{uuid.uuid4().hex[:8]}"
    source.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy2(PROJECT / name, source / name)
    shutil.copytree(PROJECT / "app", source / "app", ignore=shutil.ignore_patterns("__pycache__"))
    mutate(source)
    return source


def _new_feature(source: Path) -> None:
    (source / "app" / "release_note.py").write_text(f'NOTE = "release {uuid.uuid4().hex}"\n')


def _broken_at_startup(source: Path) -> None:
    main = source / "app" / "main.py"
    main.write_text(
        main.read_text() + '\nraise RuntimeError("broken release for the zero-downtime test")\n'
    )


@dataclass
class StepResult:
    output: str
    returncode: int
    seconds: float
    reports: dict[str, loadgen.Report]


def _under_load(
    nodes: list[Node],
    step: str,
    *args: str,
    expect_failure: bool = False,
    mix: tuple[tuple[str, str, dict[str, str]], ...] = loadgen.MIX,
) -> StepResult:
    """Run a playbook while every node takes load (``mix``); record the figures of the run."""
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
    result = run_playbook(*args, check=False)
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
        assert result.returncode == 0, f"{' '.join(args)} exited {result.returncode}:\n{tail}"
    return StepResult(result.stdout + result.stderr, result.returncode, seconds, reports)


def _assert_no_failures_and_p99(report: loadgen.Report, name: str) -> None:
    steady, step = report.phase("steady"), report.phase("step")
    for phase in report.phases:
        assert phase.failed == 0, f"{name}: {phase.line()}"
        assert phase.requests > 0, f"{name}: no requests in {phase.name}"
    assert step.p99_ms <= P99_FACTOR * steady.p99_ms, (
        f"{name}: p99 during the step {step.p99_ms:.1f} ms > "
        f"{P99_FACTOR}x steady {steady.p99_ms:.1f} ms"
    )


def _task_output(output: str, task: str) -> str:
    """The part of a playbook's output that one task printed (all hosts)."""
    start = output.find(f"TASK [app : {task}")
    if start < 0:
        return ""
    end = output.find("TASK [", start + 1)
    return output[start : end if end > 0 else len(output)]


def _versions(report: loadgen.Report) -> tuple[list[str], int]:
    return loadgen.version_sequence(report.samples)


def _create_item(node: Node, name: str) -> int:
    body = json.dumps({"name": name})
    created = json.loads(
        node.curl("/v1/items", "-H 'Content-Type: application/json'", f"-d '{body}'")
    )
    assert created["name"] == name
    return int(created["id"])


def _item_name(node: Node, item_id: int) -> str:
    """The name of item ``item_id`` (ids are consecutive and nothing is deleted)."""
    found = json.loads(node.curl(f"/v1/items?offset={item_id - 1}&limit=1"))
    assert found
    assert found[0]["id"] == item_id
    return str(found[0]["name"])


def _assert_host_runs(node: Node, release: str) -> None:
    """One colour runs the release, the other is stopped; at most KEEP_RELEASES releases."""
    assert node.current_release() == release
    active, idle = node.active(), "green" if node.active() == "blue" else "blue"
    assert node.host.service(f"{APP}@{active}.service").is_running
    assert not node.host.service(f"{APP}@{idle}.service").is_running
    assert not node.host.service(f"{APP}@{idle}.socket").is_running
    assert node.host.file(f"/srv/{APP}/{active}").linked_to.endswith(f"/{release}")
    releases = node.host.check_output(f"ls -1 /srv/{APP}/releases").split()
    assert release in releases
    assert len(releases) <= KEEP_RELEASES
    assert json.loads(node.curl("/version"))["version"] == release
    upstream = node.host.file(f"/etc/nginx/upstreams/{APP}.conf").content_string
    assert f"unix:/run/{APP}/{active}.sock" in upstream


def _assert_untouched(
    nodes: list[Node], history: dict[str, Any], step: StepResult, before: dict[str, int]
) -> None:
    """The step left every host on the release it had, with the same process, under load."""
    for node in nodes:
        report = step.reports[node.name]
        _assert_no_failures_and_p99(report, node.name)
        original = history["original"][node.name]
        assert _versions(report) == ([original], 0), report.summary()
        _assert_host_runs(node, original)
        assert node.main_pid() == before[node.name]
        assert _item_name(node, history["items"][node.name]) == history["item"]


@pytest.fixture(scope="module")
def history(nodes: list[Node]) -> dict[str, Any]:
    """What the steps share: the release each host started from, and an item written before."""
    marker = f"before-releases-{uuid.uuid4().hex[:8]}"
    items = {node.name: _create_item(node, marker) for node in nodes}
    return {
        "original": {n.name: n.current_release() for n in nodes},
        "item": marker,
        "items": items,
    }


def test_deploy_of_a_new_release_under_load(
    nodes: list[Node], history: dict[str, Any], tmp_path_factory: pytest.TempPathFactory
) -> None:
    source = _copy_source(tmp_path_factory.mktemp("new"), _new_feature)
    step = _under_load(nodes, "deploy", "playbooks/deploy.yml", "-v", "-e", f"app_source={source}")
    history["new"] = {}
    for node in nodes:
        report = step.reports[node.name]
        _assert_no_failures_and_p99(report, node.name)
        old = history["original"][node.name]
        new = node.current_release()
        assert new != old
        assert _versions(report) == ([old, new], 0), report.summary()
        _assert_host_runs(node, new)
        assert _item_name(node, history["items"][node.name]) == history["item"]
        history["new"][node.name] = new
    # The migration hook ran once per host, with the new release, before the switch.
    hook = _task_output(step.output, "Run the migration hook of release")
    assert sorted(re.findall(r"^changed: \[(\S+)\]", hook, re.MULTILINE)) == sorted(history["new"])
    for new in history["new"].values():
        assert f"app-migrate: release {new}: schema" in hook


def test_rollback_under_load(nodes: list[Node], history: dict[str, Any]) -> None:
    step = _under_load(nodes, "rollback", "playbooks/rollback.yml")
    for node in nodes:
        report = step.reports[node.name]
        _assert_no_failures_and_p99(report, node.name)
        original, new = history["original"][node.name], history["new"][node.name]
        assert _versions(report) == ([new, original], 0), report.summary()
        _assert_host_runs(node, original)
        # The rolled-back-from release stays installed for a roll forward.
        assert node.host.file(f"/srv/{APP}/releases/{new}/.installed").exists
        assert _item_name(node, history["items"][node.name]) == history["item"]


def test_a_release_that_fails_at_startup_never_takes_traffic(
    nodes: list[Node], history: dict[str, Any], tmp_path_factory: pytest.TempPathFactory
) -> None:
    source = _copy_source(tmp_path_factory.mktemp("broken"), _broken_at_startup)
    before = {node.name: node.main_pid() for node in nodes}
    step = _under_load(
        nodes,
        "broken release",
        "playbooks/deploy.yml",
        "-e",
        f"app_source={source}",
        "-e",
        "app_ready_timeout=16",
        expect_failure=True,
    )
    assert step.returncode != 0
    assert "did not answer /health/ready" in step.output
    # The journal's last lines name the cause.
    assert "broken release for the zero-downtime test" in step.output
    _assert_untouched(nodes, history, step, before)


def test_a_release_that_never_gets_ready_never_takes_traffic(
    nodes: list[Node], history: dict[str, Any]
) -> None:
    """Same code, but its database path is unwritable: it starts, /health/ready stays 503."""
    before = {node.name: node.main_pid() for node in nodes}
    step = _under_load(
        nodes,
        "not-ready release",
        "playbooks/deploy.yml",
        "-e",
        json.dumps(
            {
                "app_env": {"DATABASE_PATH": f"/srv/{APP}/releases/unwritable/app.sqlite3"},
                "app_migrate_command": [],
                "app_ready_timeout": 12,
            }
        ),
        expect_failure=True,
    )
    assert step.returncode != 0
    assert "did not answer /health/ready" in step.output
    assert "not ready, the database cannot be opened" in step.output
    _assert_untouched(nodes, history, step, before)


def test_a_deploy_without_changes_is_a_no_op(nodes: list[Node], history: dict[str, Any]) -> None:
    before = {node.name: node.main_pid() for node in nodes}
    step = _under_load(nodes, "no-op deploy", "playbooks/deploy.yml", "-v")
    recap = re.findall(r"^(\S+)\s+: ok=\d+\s+changed=(\d+)", step.output, re.MULTILINE)
    assert {name: int(changed) for name, changed in recap} == {node.name: 0 for node in nodes}
    assert _task_output(step.output, "Run the migration hook of release") == ""
    _assert_untouched(nodes, history, step, before)
