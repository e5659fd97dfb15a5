"""Small helpers on the scenarios' hosts: testinfra hosts and the docker containers behind them."""

from __future__ import annotations

import re
import subprocess
import time
from collections.abc import Callable
from typing import Any


def wait_for(predicate: Callable[[], bool], timeout: float = 30.0, interval: float = 0.5) -> bool:
    """Ask ``predicate`` every ``interval`` seconds until it holds, for ``timeout`` at most:
    whether it did."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(interval)
    return False


# An entry of nginx's access log in the kit's format (`log_format kit`, `ua=$upstream_addr` last):
# `"GET / HTTP/1.1" 200 ... ua=<address>[, <address>...]`.
_ACCESS_ENTRY = re.compile(r'" (?P<status>[0-9]{3}) .* ua=(?P<upstreams>[^ ].*)$')


def answered_by(access_log: str, upstream: str) -> bool:
    """Whether an entry of ``access_log`` (nginx's, in the kit's format) is a 2xx answer whose
    last upstream was ``upstream``: a request nginx tried there first and then sent elsewhere
    does not count."""
    for line in access_log.splitlines():
        entry = _ACCESS_ENTRY.search(line)
        if entry and entry["status"].startswith("2"):
            last = entry["upstreams"].split(", ")[-1]
            if last == upstream:
                return True
    return False


def write_file(host: Any, path: str, content: str, mode: str | None = None) -> None:
    """Write ``content`` to ``path`` on the host (quoted by testinfra), then chmod to ``mode``."""
    host.run_test("printf %s %s > %s", "%s", content, path)
    if mode:
        host.run_test("chmod %s %s", mode, path)


def host_tls_profile(host: Any) -> str:
    """The host's Mozilla profile, as group_vars set tls_profile (Debian 13: modern)."""
    return "modern" if host.backend.get_hostname().endswith("debian13") else "intermediate"


def published_port(container: str, port: int) -> int:
    """The 127.0.0.1 port docker published for a container's port."""
    out = subprocess.run(
        ["docker", "port", container, f"{port}/tcp"], capture_output=True, text=True, check=True
    ).stdout
    for line in out.splitlines():
        address, _, host_port = line.rpartition(":")
        if address == "127.0.0.1":
            return int(host_port)
    raise AssertionError(f"{container}: port {port} is not published on 127.0.0.1 ({out!r})")
