"""The release engine's filters (plugins/filter/release.py) on deploy states like the hosts'."""

from __future__ import annotations

import base64
import json
from typing import Any

from plugins.filter.release import (
    FilterModule,
    ready_probe_args,
    rejected_secrets,
    release_summary,
    releases_to_keep,
    rollback_entry,
    secret_sets_to_keep,
)


def _entry(release: str, secrets: str = "s1") -> dict[str, str]:
    return {
        "release": release,
        "secrets": secrets,
        "config": "c",
        "at": "2026-12-07T10:00:00+00:00",
    }


STATE: dict[str, Any] = {
    "active": "green",
    "colours": {"blue": _entry("r2", "s1"), "green": _entry("r3", "s2")},
    "history": [_entry("r1"), _entry("r2"), _entry("r1"), _entry("r2"), _entry("r3", "s2")],
}


def test_the_summary_names_each_hosts_release_or_why_it_has_none() -> None:
    content = base64.b64encode(json.dumps(STATE).encode()).decode()
    results: list[dict[str, Any]] = [
        {"app_summary_host": "app1", "content": content},
        {"app_summary_host": "app2", "msg": "file not found"},
        {"app_summary_host": "app3", "unreachable": True},
    ]
    assert release_summary(results) == [
        "app1: release r3 on green",
        "app2: no deploy state (file not found)",
        "app3: no deploy state (unreachable)",
    ]


def test_a_rollback_goes_to_the_last_other_release_or_the_one_named() -> None:
    assert rollback_entry(STATE)["release"] == "r2"
    assert rollback_entry(STATE, "r1") == _entry("r1")
    assert rollback_entry(STATE, "r9") == {}
    only_one = {"active": "blue", "colours": {"blue": _entry("r1")}, "history": [_entry("r1")]}
    assert rollback_entry(only_one) == {}
    assert rollback_entry({"active": "", "colours": {}, "history": []}) == {}


def test_the_releases_kept_are_the_recent_ones_and_what_a_colour_runs() -> None:
    assert releases_to_keep(STATE, 5) == ["r3", "r2", "r1"]
    assert releases_to_keep(STATE, 1) == ["r3", "r2"]  # blue still points at r2
    state = {**STATE, "colours": {"blue": _entry("r0"), "green": _entry("r3")}}
    assert releases_to_keep(state, 2) == ["r3", "r2", "r0"]


def test_the_secret_sets_kept_are_those_a_colour_uses() -> None:
    assert secret_sets_to_keep(STATE) == ["s1", "s2"]


def test_rejected_secrets_are_names_only() -> None:
    body = json.dumps({"status": "not ready", "rejected_secrets": ["API_TOKEN", "not a name", 3]})
    assert rejected_secrets(body) == ["API_TOKEN"]
    assert rejected_secrets('{"status": "not ready"}') == []
    assert rejected_secrets("<html>502</html>") == []
    assert rejected_secrets("") == []
    assert rejected_secrets('{"rejected_secrets": "API_TOKEN"}') == []
    assert rejected_secrets('["API_TOKEN"]') == []


def test_the_probe_reaches_a_colour_on_its_socket_or_its_port() -> None:
    ports = {"blue": 8001, "green": 8002}
    assert ready_probe_args("green", tcp=False, address="", ports=ports, socket_dir="/run/app") == [
        "--unix-socket",
        "/run/app/green.sock",
        "http://localhost/health/ready",
    ]
    assert ready_probe_args(
        "blue", tcp=True, address="10.0.0.7", ports=ports, socket_dir="/run/app"
    ) == ["http://10.0.0.7:8001/health/ready"]
    assert ready_probe_args(
        "green", tcp=True, address="10.0.0.7", ports=ports, socket_dir="/run/app", ca="/ca.pem"
    ) == ["--cacert", "/ca.pem", "https://10.0.0.7:8002/health/ready"]


def test_every_filter_is_registered() -> None:
    names = set(FilterModule().filters())
    assert names == {
        "release_summary",
        "rollback_entry",
        "releases_to_keep",
        "secret_sets_to_keep",
        "rejected_secrets",
        "ready_probe_args",
    }
