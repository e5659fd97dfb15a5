"""The inbound firewall (roles/firewall): a re-apply never cuts an open connection, a port not in
the list refuses new connections, 80 and 443 pass through docker's published ports, and the kit's
table leaves other tables alone.

Each host is the target of the other: a listener on a port the firewall does not open (7777) is
opened by a first apply of the role, the other host
connects and holds the connection, then the real playbook closes the port again.
"""

from __future__ import annotations

import re
import socket
import ssl
import subprocess
import time
from typing import Any

import pytest
import testinfra  # type: ignore[import-untyped]
from conftest import inventory_hosts
from kit_harness.hosts import published_port
from kit_harness.playbooks import run_playbook
from kit_harness.results import record_result

PORT = 7777
TABLE = "inet kit_firewall"
SERVER_NAME = "app.kit.test"
GO_FILE = "/tmp/kit-fw-go"
LISTENER_PID = "/tmp/kit-fw-listener.pid"

# An echo server, one thread per connection; gone after 120 s whatever happens.
LISTENER = f"""
import os, socket, threading
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("0.0.0.0", {PORT}))
s.listen(8)
open("{LISTENER_PID}", "w").write(str(os.getpid()))
print("listening", flush=True)
def echo(c):
    while data := c.recv(64):
        c.sendall(data)
while True:
    c, _ = s.accept()
    threading.Thread(target=echo, args=(c,), daemon=True).start()
"""

# Connects, exchanges a byte, waits for GO_FILE (at most 100 s), exchanges another on the SAME
# connection and prints what happened.
CLIENT = f"""
import os, socket, sys, time
c = socket.create_connection((sys.argv[1], {PORT}), timeout=5)
c.sendall(b"a")
assert c.recv(1) == b"a"
print("connected", flush=True)
deadline = time.monotonic() + 100
while not os.path.exists("{GO_FILE}") and time.monotonic() < deadline:
    time.sleep(0.2)
try:
    c.sendall(b"b")
    print("survived" if c.recv(1) == b"b" else "closed", flush=True)
except OSError as error:
    print("cut", error, flush=True)
"""

# A NEW connection, 3 s to succeed.
PROBE = f"""
import socket, sys
try:
    socket.create_connection((sys.argv[1], {PORT}), timeout=3).close()
    print("open")
except OSError as error:
    print("refused", error)
"""


def _ip(name: str) -> str:
    return subprocess.run(
        [
            "docker",
            "inspect",
            "-f",
            "{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}",
            name,
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()


def _python(name: str, script: str, *args: str) -> subprocess.Popen[str]:
    proc = subprocess.Popen(
        ["docker", "exec", "-i", name, "timeout", "120", "python3", "-", *args],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    assert proc.stdin is not None
    proc.stdin.write(script)
    proc.stdin.close()
    # communicate() flushes stdin unless it is None: it is closed already.
    proc.stdin = None
    return proc


def _first_line(proc: subprocess.Popen[str]) -> str:
    assert proc.stdout is not None
    return proc.stdout.readline().strip()


def _counter(host: Any, comment: str) -> int:
    table = host.check_output(f"nft list table {TABLE}")
    match = re.search(rf'counter packets (\d+) bytes \d+ (?:accept )?comment "{comment}"', table)
    assert match, table
    return int(match.group(1))


@pytest.fixture(scope="module")
def pair() -> list[tuple[str, Any, str]]:
    names = inventory_hosts()
    return [(name, testinfra.get_host(f"docker://{name}"), _ip(name)) for name in names]


def test_rules_on_disk_and_loaded(pair: list[tuple[str, Any, str]]) -> None:
    for _name, host, _ip_address in pair:
        assert host.service("nftables").is_enabled
        conf = host.file("/etc/nftables.conf").content_string
        assert not re.search(r"^\s*flush ruleset", conf, re.MULTILINE)
        assert 'include "/etc/nftables.d/*.nft"' in conf
        table = host.check_output(f"nft list table {TABLE}")
        assert "policy drop;" in table
        assert "tcp dport { 22, 80, 443 }" in table
        assert "hook output" not in table
        assert "hook forward" not in table


def test_reapply_keeps_open_connections_and_filters_new_ones(
    pair: list[tuple[str, Any, str]],
) -> None:
    listeners, clients = [], []
    try:
        # The listener's port is opened by the role itself (a real apply), so conntrack already
        # tracks the connection when the next apply closes the port. (A connection made while no
        # ruleset used conntrack is first seen mid-stream as "new": only listed ports keep it,
        # which is why validate.yml insists on the SSH port.)
        run_playbook(
            "playbooks/firewall.yml",
            "-e",
            f'{{"firewall_inbound_tcp_ports": [22, 80, 443, {PORT}]}}',
        )
        for name, host, _ip_address in pair:
            host.check_output(f"rm -f {GO_FILE}")
            # Another program's table: a (re)apply must leave it alone (no flush ruleset).
            host.check_output("nft add table inet kit_test_other")
            listeners.append(_python(name, LISTENER))
        assert [_first_line(p) for p in listeners] == ["listening"] * len(pair)
        # Each host connects to the next one while nothing filters.
        for (name, _host, _ip_address), (_peer, _peer_host, peer_ip) in zip(
            pair, pair[1:] + pair[:1], strict=True
        ):
            clients.append(_python(name, CLIENT, peer_ip))
        assert [_first_line(p) for p in clients] == ["connected"] * len(pair)

        started = time.monotonic()
        result = run_playbook("playbooks/firewall.yml")
        seconds = round(time.monotonic() - started, 1)
        assert re.search(
            r"TASK \[firewall : Load the kit's table \(atomically\)\][^\n]*\n"
            r"(?:[^\n]*\n)*?changed: ",
            result.stdout,
        ), result.stdout[-3000:]

        for _name, host, _ip_address in pair:
            host.check_output(f"touch {GO_FILE}")
        verdicts = [p.communicate(timeout=30)[0].strip() for p in clients]
        assert verdicts == ["survived"] * len(pair), verdicts

        for (name, host, _ip_address), (_peer, peer_host, peer_ip) in zip(
            pair, pair[1:] + pair[:1], strict=True
        ):
            dropped = _counter(peer_host, "dropped by policy")
            probe = _python(name, PROBE, peer_ip).communicate(timeout=30)[0].strip()
            # The listener still runs: only the firewall can refuse it.
            assert probe.startswith("refused"), probe
            assert _counter(peer_host, "dropped by policy") > dropped
            assert "kit_test_other" in host.check_output("nft list tables")
        record_result(
            "hardening",
            {"step": "firewall re-apply", "host": "all", "seconds": seconds, "held": verdicts},
        )
    finally:
        for _name, host, _ip_address in pair:
            host.run(f"test -s {LISTENER_PID} && kill $(cat {LISTENER_PID}); rm -f {LISTENER_PID}")
            host.run("nft delete table inet kit_test_other")
            host.run(f"rm -f {GO_FILE}")
            # Whatever failed above, the host leaves with the kit's table loaded.
            host.run(
                f"nft list table {TABLE} >/dev/null || nft -f /etc/nftables.d/kit_firewall.nft"
            )
        for proc in listeners + clients:
            proc.kill()
            proc.wait()


def _status(port: int, cadata: str | None = None) -> str:
    """Status line of GET /health/live on 127.0.0.1:<port> (TLS with SNI when cadata is given)."""
    sock: socket.socket = socket.create_connection(("127.0.0.1", port), timeout=10)
    if cadata is not None:
        context = ssl.create_default_context(cadata=cadata)
        sock = context.wrap_socket(sock, server_hostname=SERVER_NAME)
    with sock:
        request = f"GET /health/live HTTP/1.1\r\nHost: {SERVER_NAME}\r\nConnection: close\r\n\r\n"
        sock.sendall(request.encode())
        return sock.makefile("rb").readline().decode().strip()


def test_published_http_and_https_pass_the_filter(pair: list[tuple[str, Any, str]]) -> None:
    """From the controller through docker's published ports: the packets reach the container's
    eth0 from the bridge, go through the kit's input chain (its counter grows) and are accepted."""
    for name, host, _ip_address in pair:
        root = host.check_output(
            "curl -sS --fail --cacert /etc/pebble/https-ca.pem https://localhost:15000/roots/0"
        )
        before = _counter(host, "open to all")
        assert _status(published_port(name, 80)) == "HTTP/1.1 301 Moved Permanently"
        assert _status(published_port(name, 443), root) == "HTTP/1.1 200 OK"
        assert _counter(host, "open to all") >= before + 2
