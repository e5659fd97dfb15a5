"""Zero-downtime releases, proven under load (side effects on the converged hosts).

Each step runs the real playbook against both hosts at once while the project's load generator
(kit_harness.loadgen) sends GETs and POSTs through nginx over TLS to each host's 127.0.0.1-published
port. For every step: 0 failed GET and 0 failed POST, versions switch once (or never, for the
broken cases) and p99 during the step within 3x the steady-state p99 of the same run. testinfra
then checks the host: the right release is current, one colour runs, releases are pruned, data
written before the step is still there. The steps run in order and leave the hosts as converged.
"""

from __future__ import annotations

import json
import re
import uuid
from pathlib import Path
from typing import Any

import pytest
from kit_harness import loadgen
from kit_harness.playbooks import task_output
from kit_harness.steps import (
    APP,
    KEEP_RELEASES,
    Node,
    StepResult,
)
from kit_harness.steps import assert_no_failures_and_p99 as _assert_no_failures_and_p99
from kit_harness.steps import copy_source as _copy_source
from kit_harness.steps import new_feature as _new_feature
from kit_harness.steps import under_load as _under_load


def _broken_at_startup(source: Path) -> None:
    main = source / "app" / "main.py"
    main.write_text(
        main.read_text() + '\nraise RuntimeError("broken release for the zero-downtime test")\n'
    )


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
    # nginx picks the colour per request by the live marker (no reload).
    assert node.host.file(f"/srv/{APP}/green.live").exists == (active == "green")


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
    hook = task_output(step.output, "Run the migration hook of release")
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
    assert task_output(step.output, "Run the migration hook of release") == ""
    _assert_untouched(nodes, history, step, before)
