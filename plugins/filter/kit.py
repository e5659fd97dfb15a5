"""Filters of the kit: the site-wide facts more than one role computes, each in one place.

ansible.cfg (``filter_plugins``) and the Molecule scenarios load this file; the tests import it
as ``plugins.filter.kit``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any


def private_address(host_vars: Mapping[str, Any]) -> str:
    """The private IPv4 address of a host: its ``app_private_address`` when set, else the default
    IPv4 address of its gathered facts, else "" (facts not gathered).

    Takes ``hostvars[host]``, so any host can read another's (role defaults are not in hostvars):
    ``hostvars[host] | private_address``.
    """
    address = host_vars.get("app_private_address") or ""
    if address:
        return str(address)
    facts = host_vars.get("ansible_facts") or {}
    default = facts.get("default_ipv4") or {}
    return str(default.get("address") or "")


class FilterModule:
    """The kit's filters."""

    def filters(self) -> dict[str, Callable[..., Any]]:
        return {"private_address": private_address}
