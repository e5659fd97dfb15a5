"""Filters of the firewall role. The tests import this file as ``plugins.filter.firewall``."""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from typing import Any

_PORT_LINE = re.compile(r"^port\s+([0-9]+)\s*$")
_LISTEN_LINE = re.compile(r"^listenaddress\s+(\S+)")


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


def sshd_ports(output: str) -> list[int]:
    """The TCP ports sshd listens on, from the output of ``sshd -T`` (sorted, without repeats).

    sshd -T prints a ``listenaddress ADDRESS:PORT`` line for each address it binds (the port of a
    ``ListenAddress host:port`` wins over ``Port``): their ports when there are any, else those of
    the ``port N`` lines. [] when the output names none (sshd absent, or its configuration broken).
    """
    listen: set[int] = set()
    ports: set[int] = set()
    for raw in output.splitlines():
        line = raw.strip().lower()
        listen_match = _LISTEN_LINE.match(line)
        if listen_match:
            _, _, port = listen_match.group(1).rpartition(":")
            if port.isdigit():
                listen.add(int(port))
            continue
        port_match = _PORT_LINE.match(line)
        if port_match:
            ports.add(int(port_match.group(1)))
    return sorted(p for p in (listen or ports) if 1 <= p <= 65535)


def ssh_ports_kept_open(
    sshd: Sequence[int],
    *,
    open_ports: Sequence[int],
    rules: Sequence[Mapping[str, Any]],
    connection_port: int | None = None,
) -> list[int]:
    """The SSH ports the firewall must open to every source on top of ``open_ports``, so that it
    never locks out the next SSH connection.

    The SSH ports are ``sshd`` (the ports sshd listens on, read on the host), or when sshd named
    none, ``connection_port`` (the port Ansible connects to over SSH; None when the connection is
    not SSH). A port already in ``open_ports`` or in a tcp rule of ``rules`` (the operator's rules,
    open to their sources only) is left as the operator set it. Sorted, without repeats.
    """
    wanted = {int(p) for p in sshd} or ({int(connection_port)} if connection_port else set())
    admitted = {int(p) for p in open_ports} | {
        int(rule["port"])
        for rule in rules
        if str(rule.get("proto", "tcp")) == "tcp" and "port" in rule
    }
    return sorted(wanted - admitted)


class FilterModule:
    """The firewall role's filters."""

    def filters(self) -> dict[str, Callable[..., Any]]:
        return {
            "tier_rules": tier_rules,
            "sshd_ports": sshd_ports,
            "ssh_ports_kept_open": ssh_ports_kept_open,
        }
