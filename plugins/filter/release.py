"""Filters of the release engine (roles/app): what a deploy state says, as small functions.

A deploy state is /var/lib/<app_name>/deploy.json: ``{"active": colour, "colours": {colour:
{"release", "secrets", "config"}}, "history": [{"release", "secrets", "config", "at"}, ...]}``.
The tests import this file as ``plugins.filter.release``.
"""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Callable, Mapping, Sequence
from typing import Any

State = Mapping[str, Any]


def release_summary(results: Sequence[Mapping[str, Any]]) -> list[str]:
    """One line per app host: the release and colour it runs, from the ``results`` of a looped
    ``slurp`` of each host's deploy state (``app_summary_host`` is the loop variable), or why
    there is none (no state yet, host unreachable)."""
    lines = []
    for result in results:
        host = result.get("app_summary_host", "?")
        if "content" in result:
            state = json.loads(base64.b64decode(result["content"]))
            active = state["active"]
            lines.append(f"{host}: release {state['colours'][active]['release']} on {active}")
        else:
            lines.append(f"{host}: no deploy state ({result.get('msg') or 'unreachable'})")
    return lines


def rollback_entry(state: State, release: str = "") -> dict[str, Any]:
    """The history entry a rollback returns to: the last one of ``release`` when given, else the
    last one of a release other than the running one; {} when there is none."""
    running = state["colours"][state["active"]]["release"] if state.get("active") else ""
    for entry in reversed(state.get("history", [])):
        if (entry["release"] == release) if release else (entry["release"] != running):
            return dict(entry)
    return {}


def releases_to_keep(state: State, keep: int) -> list[str]:
    """Release ids to keep on the host: the ``keep`` most recently switched to, and whatever a
    colour points at."""
    recent: list[str] = []
    for entry in reversed(state.get("history", [])):
        if entry["release"] not in recent:
            recent.append(entry["release"])
    kept = recent[:keep]
    for colour in state.get("colours", {}).values():
        if colour["release"] not in kept:
            kept.append(colour["release"])
    return kept


def secret_sets_to_keep(state: State) -> list[str]:
    """Secret set ids a colour uses (the active set, and the previous one for a rollback)."""
    return sorted({colour["secrets"] for colour in state.get("colours", {}).values()})


def rejected_secrets(body: str, pattern: str = r"^[A-Z_][A-Z0-9_]*$") -> list[str]:
    """The secret names a readiness answer (JSON) says the app rejected; names only (they must
    match ``pattern``), never anything else the body holds. [] when the body says nothing."""
    try:
        answer = json.loads(body)
    except ValueError:
        return []
    names = answer.get("rejected_secrets", []) if isinstance(answer, dict) else []
    if not isinstance(names, list):
        return []
    return [name for name in names if isinstance(name, str) and re.match(pattern, name)]


def ready_probe_args(
    colour: str,
    *,
    tcp: bool,
    address: str,
    ports: Mapping[str, int],
    socket_dir: str,
    ca: str = "",
    path: str = "/health/ready",
) -> list[str]:
    """curl arguments reaching a colour's ``path`` on the host itself: its unix socket, or its
    private address and port (with the internal CA when ``ca`` is given: TLS)."""
    if not tcp:
        return ["--unix-socket", f"{socket_dir}/{colour}.sock", f"http://localhost{path}"]
    if ca:
        return ["--cacert", ca, f"https://{address}:{ports[colour]}{path}"]
    return [f"http://{address}:{ports[colour]}{path}"]


class FilterModule:
    """The release engine's filters."""

    def filters(self) -> dict[str, Callable[..., Any]]:
        return {
            "release_summary": release_summary,
            "rollback_entry": rollback_entry,
            "releases_to_keep": releases_to_keep,
            "secret_sets_to_keep": secret_sets_to_keep,
            "rejected_secrets": rejected_secrets,
            "ready_probe_args": ready_probe_args,
        }
