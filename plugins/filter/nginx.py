"""The nginx role's filters: the locations of the HTTPS server, their limits and their kind.

ansible.cfg (``filter_plugins``) and the Molecule scenarios load this file; the tests import it
as ``plugins.filter.nginx``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any


def _limit_req(zone: str, limit: Mapping[str, Any], defaults: Mapping[str, Any]) -> str:
    """One ``limit_req`` directive; burst and nodelay default to those of ``defaults``."""
    burst = limit.get("burst", defaults.get("burst", 40))
    nodelay = limit.get("nodelay", defaults.get("nodelay", True))
    return f"limit_req zone={zone} burst={int(burst)}{' nodelay' if nodelay else ''};"


def nginx_site_locations(
    location_limits: Sequence[Mapping[str, Any]],
    websocket_paths: Sequence[str],
    rate_limit: Mapping[str, Any],
    rate_limit_enabled: bool,
    zone: str,
) -> list[dict[str, Any]]:
    """The prefix locations of the HTTPS server, in order, ``/`` last: each ``{path, limit_req,
    websocket}`` (``limit_req`` the directive, "" for none; ``websocket`` true for a path of
    ``websocket_paths``, which gets the WebSocket read timeout).

    Each entry of ``location_limits`` (``{path, rate, burst, nodelay}``) is limited in its own
    zone, ``<zone>_req_<n>`` (n from 1, its place in the list, as the template's
    ``limit_req_zone`` lines name them). ``/`` and a WebSocket path without a limit of its own get
    the site's limit (zone ``<zone>_req``) when ``rate_limit_enabled``, else none. A path both
    limited and a WebSocket path is one location with both.
    """
    site_limit = _limit_req(f"{zone}_req", rate_limit, rate_limit) if rate_limit_enabled else ""
    websockets = set(websocket_paths)
    locations: dict[str, dict[str, Any]] = {}
    for index, limit in enumerate(location_limits, start=1):
        path = str(limit["path"])
        locations[path] = {
            "path": path,
            "limit_req": _limit_req(f"{zone}_req_{index}", limit, rate_limit),
            "websocket": path in websockets,
        }
    for path in websocket_paths:
        locations.setdefault(path, {"path": path, "limit_req": site_limit, "websocket": True})
    root = locations.pop("/", {"path": "/", "limit_req": site_limit, "websocket": False})
    return [*locations.values(), root]


class FilterModule:
    """The nginx role's filters."""

    def filters(self) -> dict[str, Callable[..., Any]]:
        return {"nginx_site_locations": nginx_site_locations}
