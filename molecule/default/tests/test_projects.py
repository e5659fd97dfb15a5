"""Any ASGI project as it is: the test projects of tests/projects deployed as the app of the
converged hosts, under load (side effects; the reference app serves again at the end).

Each project lists only its framework (the kit brings gunicorn and the uvicorn workers), has its
own health routes and a migration that creates the table its ready route reads. Each round is one
real deploy.yml run in which every host gets another project (the settings each shape needs are
given per host: extra variables templated on inventory_hostname), while the load generator sends
GETs and POSTs through nginx: 0 failed requests, one version switch per host. With the scenario's
two hosts, two rounds deploy the four shapes, each on one Debian release. The last step rolls back
to the reference app's release while the settings name another module, ready route and
migration: the release starts the way it was deployed.
"""

from __future__ import annotations

import json
import re
import shutil
from typing import Any

import pytest
from kit_harness import loadgen
from kit_harness.playbooks import task_output
from kit_harness.project import PROJECT
from kit_harness.steps import APP, Node
from kit_harness.steps import assert_no_failures_and_p99 as _assert_no_failures_and_p99
from kit_harness.steps import under_load as _under_load

PROJECTS = PROJECT / "tests" / "projects"

# name: (directory to copy, app_source inside the copy, settings, /version's project field).
SHAPES: dict[str, tuple[str, str, dict[str, Any], str]] = {
    "factory": (
        "factory",
        ".",
        {
            "app_module": "kitdemo_factory.app:create_app()",
            "app_health_live_path": "/livez",
            "app_health_ready_path": "/readyz",
            "app_migrate_command": ["kitdemo-factory-migrate"],
        },
        "factory",
    ),
    "requirements": (
        "requirements",
        ".",
        {
            "app_module": "main:app",
            "app_health_live_path": "/health/live",
            "app_health_ready_path": "/api/health",
            "app_migrate_command": ["python", "migrate.py"],
        },
        "requirements",
    ),
    "poetry": (
        "poetry",
        ".",
        {
            "app_module": "service.main:app",
            "app_health_live_path": "/status/live",
            "app_health_ready_path": "/status/ready",
            "app_migrate_command": ["python", "-m", "service.migrate"],
        },
        "poetry",
    ),
    "uv workspace": (
        "uv-workspace",
        "packages/api",
        {
            "app_module": "kitdemo_api.main:app",
            "app_health_live_path": "/api/v1/utils/live",
            "app_health_ready_path": "/api/v1/utils/health-check/",
            "app_migrate_command": ["alembic", "upgrade", "head"],
        },
        "kitdemo/api",
    ),
}


def _serving(node: Node) -> dict[str, str]:
    answer: dict[str, str] = json.loads(node.curl("/version"))
    return answer


# Round r deploys ROUNDS[r][i % 2] to the i-th host.
ROUNDS: list[tuple[str, str]] = [("factory", "requirements"), ("poetry", "uv workspace")]
# What a shape's settings set, for every host of a round (an extra variable is set on all hosts).
SETTINGS = (
    "app_source",
    "app_module",
    "app_health_live_path",
    "app_health_ready_path",
    "app_migrate_command",
)


def per_host(chosen: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """Extra variables giving each host its own settings: ``chosen`` (host: settings) under
    kit_test_settings, and each setting templated on inventory_hostname."""
    extra: dict[str, Any] = {"kit_test_settings": chosen}
    for name in SETTINGS:
        extra[name] = f"{{{{ kit_test_settings[inventory_hostname].{name} }}}}"
    return extra


@pytest.fixture(scope="module")
def journey(nodes: list[Node]) -> dict[str, Any]:
    """What the steps share: the reference app's release on each host before the first step,
    and the shape and release each host ran last."""
    return {"original": {n.name: n.current_release() for n in nodes}, "last": {}}


@pytest.mark.parametrize("shapes", ROUNDS, ids=[" and ".join(r) for r in ROUNDS])
def test_projects_of_these_shapes_deploy_as_they_are_under_load(
    nodes: list[Node],
    journey: dict[str, Any],
    shapes: tuple[str, str],
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    chosen: dict[str, dict[str, Any]] = {}
    assigned: dict[str, str] = {}
    for index, node in enumerate(nodes):
        shape = shapes[index % len(shapes)]
        directory, inner, settings, _ = SHAPES[shape]
        copy = tmp_path_factory.mktemp(directory) / directory
        shutil.copytree(PROJECTS / directory, copy, ignore=shutil.ignore_patterns("__pycache__"))
        chosen[node.name] = {**settings, "app_source": str(copy / inner)}
        assigned[node.name] = shape
    before = {node.name: node.current_release() for node in nodes}
    step = _under_load(
        nodes,
        f"deploy {' and '.join(shapes)}",
        "playbooks/deploy.yml",
        "-e",
        json.dumps(per_host(chosen)),
    )
    for node in nodes:
        shape = assigned[node.name]
        report = step.reports[node.name]
        _assert_no_failures_and_p99(report, node.name)
        new = node.current_release()
        assert new != before[node.name]
        assert loadgen.version_sequence(report.samples) == ([before[node.name], new], 0), (
            report.summary()
        )
        assert _serving(node) == {"version": new, "project": SHAPES[shape][3]}
        # Its own ready route, through nginx: the table its migration created is there.
        node.curl(chosen[node.name]["app_health_ready_path"])
        # The project's files travel with the release.
        assert node.host.file(f"/srv/{APP}/releases/{new}/src").is_directory
        journey["last"][node.name] = (shape, new)
    hook = task_output(step.output, "Run the migration hook of release")
    assert sorted(re.findall(r"^changed: \[(\S+)\]", hook, re.MULTILINE)) == sorted(before)


def test_a_rollback_starts_a_release_as_it_was_deployed(
    nodes: list[Node], journey: dict[str, Any]
) -> None:
    """Back to the reference app's release while the settings (given with -e) still name each
    host's last project's module, ready route and migration: the release's record wins."""
    assert len(journey["last"]) == len(nodes), "the project deploys ran first"
    chosen = {}
    for node in nodes:
        shape, _ = journey["last"][node.name]
        original = journey["original"][node.name]
        assert node.host.file(f"/srv/{APP}/releases/{original}/.installed").exists
        chosen[node.name] = {**SHAPES[shape][2], "app_source": "/nonexistent"}
    # One release id for both hosts: the reference app builds the same on both.
    assert len(set(journey["original"].values())) == 1
    extra = {**per_host(chosen), "app_rollback_release": next(iter(journey["original"].values()))}
    step = _under_load(
        nodes, "rollback across projects", "playbooks/rollback.yml", "-v", "-e", json.dumps(extra)
    )
    for node in nodes:
        report = step.reports[node.name]
        _assert_no_failures_and_p99(report, node.name)
        original = journey["original"][node.name]
        came_from = journey["last"][node.name][1]
        assert loadgen.version_sequence(report.samples) == ([came_from, original], 0), (
            report.summary()
        )
        assert node.current_release() == original
        assert json.loads(node.curl("/version"))["version"] == original
        state = node.state()
        start = state["colours"][state["active"]]["start"]
        assert start["module"] == "app.main:app"
        assert start["ready_path"] == "/health/ready"
    assert "app-migrate: release" in task_output(step.output, "Run the migration hook of release")
