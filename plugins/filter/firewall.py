"""Filters of the firewall role. The tests import this file as ``plugins.filter.firewall``."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any


def tier_rules(
    addresses: Sequence[str], *, app_ports: Sequence[int], acme_peer_port: int, tier_role: str
) -> list[dict[str, Any]]:
    """The proxy tier's inbound rules of one host, admitting ``addresses`` (its peers'):

    * ``tier_role`` "app" (an app host that is not a proxy): each of ``app_ports``, from the
      proxies;
    * "proxy" (a proxy of a tier): ``acme_peer_port``, from the other proxies;
    * anything else, or no address: no rule.
    """
    sources = list(addresses)
    if not sources:
        return []
    if tier_role == "app":
        return [
            {"port": port, "sources": sources, "comment": "proxy tier: proxies to app"}
            for port in sorted({int(p) for p in app_ports})
        ]
    if tier_role == "proxy":
        return [
            {"port": int(acme_peer_port), "sources": sources, "comment": "proxy tier: ACME peers"}
        ]
    return []


class FilterModule:
    """The firewall role's filters."""

    def filters(self) -> dict[str, Callable[..., Any]]:
        return {"tier_rules": tier_rules}
