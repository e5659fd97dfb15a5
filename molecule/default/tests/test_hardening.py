"""nginx's limits (no rate limit on the site by default: one address at 200 requests/s gets no
429; a path's limit and the connection limit answer 429 to a client over them, others unaffected)
and the maintenance page (503 with Retry-After when the app is stopped), on each host."""

from __future__ import annotations

import http.client
import json
import re
import shlex
import socket
import ssl
import time
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from kit_harness import loadgen
from kit_harness.hosts import published_port
from kit_harness.results import record_result

APP = "app"
SERVER_NAME = "app.kit.test"
ROOT = "/tmp/kit-hardening-root.pem"
NORMAL = "/tmp/kit-hardening-normal.txt"
# The path the scenario limits (nginx_location_limits: 20r/s, burst 40); no load uses it.
LIMITED = "/v2/items"
CURL = (
    f"curl --silent --max-time 10 --resolve {SERVER_NAME}:443:127.0.0.1 --cacert {ROOT}"
    " --output /dev/null"
)


@pytest.fixture(scope="module")
def pebble_root(host: Any) -> str:
    root: str = host.check_output(
        "curl -sS --fail --cacert /etc/pebble/https-ca.pem https://localhost:15000/roots/0"
        f" | tee {ROOT}"
    )
    return root + "\n"


def _from_controller(host: Any, root: str, path: str) -> tuple[int, dict[str, str], str]:
    """GET through the published port (TLS, SNI app.kit.test): the source nginx sees is docker's
    bridge, another address than the host's own clients."""
    name = host.backend.get_hostname()
    context = ssl.create_default_context(cadata=root)
    raw = socket.create_connection(("127.0.0.1", published_port(name, 443)), timeout=10)
    with context.wrap_socket(raw, server_hostname=SERVER_NAME) as sock:
        sock.sendall(
            f"GET {path} HTTP/1.1\r\nHost: {SERVER_NAME}\r\nConnection: close\r\n\r\n".encode()
        )
        response = http.client.HTTPResponse(sock)
        response.begin()
        return response.status, dict(response.getheaders()), response.read().decode()


def _status_from_inside(host: Any, path: str = "/health/live") -> str:
    """The status of one GET of ``path`` from 127.0.0.1 inside the host."""
    return str(
        host.check_output(f"{CURL} --write-out '%{{http_code}}' https://{SERVER_NAME}{path}")
    )


def test_one_address_on_16_connections_at_200_per_second_gets_no_429(
    host: Any, pebble_root: str, tmp_path: Path
) -> None:
    """The site's rate limit is off by default (nginx_rate_limit_enabled): the controller's paced
    load (kit_harness.loadgen's mix, a new TLS connection a request, 16 at a time) reaches nginx
    through the published port from one address, docker's bridge, as a busy API client or an
    office behind one address would. Every answer is 2xx; with the limit on at 20r/s burst 40,
    most are 429 (860 of 1000 on a dev host)."""
    site = host.file(f"/etc/nginx/sites-available/{APP}.conf").content_string
    root = re.search(r"^    location / \{\n(.*?)^    \}", site, re.M | re.S)
    assert root, site
    assert "limit_req " not in root[1], root[1]
    cafile = tmp_path / "pebble-root.pem"
    cafile.write_text(pebble_root)
    name = host.backend.get_hostname()
    target = loadgen.Target("127.0.0.1", published_port(name, 443), SERVER_NAME, str(cafile))
    requests = 800
    generator = loadgen.LoadGenerator(
        target, workers=16, rate=200.0, max_seconds=30.0, max_requests=requests
    )
    generator.start()
    generator.wait(35.0)
    report = generator.stop()
    samples = report.samples
    statuses = Counter(str(s.status) if s.error is None else s.error for s in samples)
    seconds = max(s.end for s in samples) - min(s.start for s in samples)
    assert len(samples) == requests, statuses
    assert all(s.ok for s in samples), statuses
    # Paced at 200/s, it must at least have run at twice the limit it would have met when on.
    assert len(samples) / seconds >= 40, f"{len(samples) / seconds:.1f} requests/s"
    record_result(
        "hardening",
        {
            "step": "one address, 16 connections at 200 requests/s",
            "host": name,
            "codes": dict(statuses),
            "requests_per_second": round(len(samples) / seconds, 1),
        },
    )


def test_burst_over_a_path_limit_gets_429_with_headers(host: Any, pebble_root: str) -> None:
    # 200 requests of the limited path, 50 at a time, from 127.0.0.1 inside the host: far over
    # 20 r/s with a burst of 40. At the same time another client, 127.0.0.2 (limits are per
    # client address), sends 12 requests of it at 5 r/s.
    other = (
        f"{CURL} --interface 127.0.0.2 --write-out 'normal %{{http_code}}\\n'"
        f" https://{SERVER_NAME}{LIMITED}"
    )
    out = host.check_output(
        f"( for i in $(seq 1 12); do {other}; sleep 0.2; done ) > {NORMAL} & normal=$!;"
        f" {CURL} --parallel --parallel-max 50"
        " --write-out '%{http_code} %header{strict-transport-security}\\n'"
        f" 'https://{SERVER_NAME}{LIMITED}?[1-200]'; wait $normal; cat {NORMAL}; rm -f {NORMAL}"
    )
    lines = [line for line in out.splitlines() if not line.startswith("normal ")]
    codes = Counter(line.split(" ", 1)[0] for line in lines)
    normal = Counter(line.split(" ")[1] for line in out.splitlines() if line.startswith("normal "))
    assert len(lines) == 200, out
    assert codes["429"] > 0, codes
    assert codes["200"] >= 40, codes
    assert set(codes) <= {"200", "429"}, codes
    assert all("max-age=63072000" in line for line in lines if line.startswith("429"))
    # The other client's normal rate passed throughout the burst.
    assert normal == {"200": 12}, normal
    # The rest of the site is not limited: the bursting client right away. Another address (the
    # controller) and, a moment later, the bursting client at a normal rate pass on the path.
    assert _status_from_inside(host, "/v1/items?limit=1") == "200"
    status, _, _ = _from_controller(host, pebble_root, LIMITED)
    assert status == 200
    time.sleep(1.0)
    assert _status_from_inside(host, LIMITED) == "200"
    record_result(
        "hardening",
        {
            "step": f"burst 200 requests of {LIMITED}",
            "host": host.backend.get_hostname(),
            "codes": dict(codes),
            "other_client_at_5_rps": dict(normal),
        },
    )


# Run on the host: hold COUNT requests open from 127.0.0.1 (headers sent, body not: nginx counts
# them as in progress), paced under the rate limit, then tell which were answered at once.
HOLD_REQUESTS = """
import socket
import ssl
import sys
import time

count, cafile, name = int(sys.argv[1]), sys.argv[2], sys.argv[3]
context = ssl.create_default_context(cafile=cafile)
head = (
    f"POST /v1/items HTTP/1.1\\r\\nHost: {name}\\r\\nContent-Type: application/json\\r\\n"
    "Content-Length: 64\\r\\n\\r\\n"
).encode()
held = []
for _ in range(count):
    raw = socket.create_connection(("127.0.0.1", 443), timeout=10)
    conn = context.wrap_socket(raw, server_hostname=name)
    conn.sendall(head)
    held.append(conn)
    time.sleep(0.06)
time.sleep(1)
statuses = []
for conn in held:
    conn.setblocking(False)
    try:
        statuses.append(conn.recv(200).split(b" ", 2)[1].decode())
    except ssl.SSLWantReadError:
        statuses.append("waiting")
print(" ".join(f"{status}={statuses.count(status)}" for status in sorted(set(statuses))))
for conn in held:
    conn.close()
"""


def test_connections_over_the_limit_get_429(host: Any, pebble_root: str) -> None:
    site = host.file(f"/etc/nginx/sites-available/{APP}.conf").content_string
    found = re.search(r"^\s*limit_conn \S+ (\d+);$", site, re.M)
    assert found, site
    limit = int(found.group(1))
    logged_before = host.run("grep -c 'limiting connections' /var/log/nginx/error.log").stdout
    out = host.check_output(
        f"python3 -c {shlex.quote(HOLD_REQUESTS)} {limit + 10} {ROOT} {SERVER_NAME}"
    )
    counts = dict(item.split("=") for item in out.split())
    assert counts == {"429": "10", "waiting": str(limit)}, out
    logged = host.check_output("grep -c 'limiting connections' /var/log/nginx/error.log")
    assert int(logged) - int(logged_before.strip() or 0) == 10
    # The held requests are gone: the same client is served again.
    time.sleep(1)
    assert _status_from_inside(host) == "200"
    record_result(
        "hardening",
        {
            "step": f"{limit + 10} requests held open by one client",
            "host": host.backend.get_hostname(),
            "codes": counts,
        },
    )


def test_stopped_app_answers_503_maintenance_page(host: Any, pebble_root: str) -> None:
    state = json.loads(host.file(f"/var/lib/{APP}/deploy.json").content_string)
    colour = state["active"]
    units = f"{APP}@{colour}.socket {APP}@{colour}.service"
    enabled = host.run(f"systemctl is-enabled {units}").stdout
    host.check_output(f"systemctl stop {units}")
    try:
        status, headers, body = _from_controller(host, pebble_root, "/health/live")
        page_status, _, _ = _from_controller(host, pebble_root, "/v1/items")
    finally:
        host.check_output(f"systemctl start {units}")
    assert status == 503
    assert page_status == 503
    assert "Down for maintenance" in body
    assert headers.get("Retry-After") == "30"
    assert "max-age=63072000" in headers.get("Strict-Transport-Security", "")
    assert headers.get("X-Content-Type-Options") == "nosniff"
    # Back as before: the same colour serves, enabled as before.
    deadline = time.monotonic() + 30
    while _from_controller(host, pebble_root, "/health/ready")[0] != 200:
        assert time.monotonic() < deadline, "the app did not answer again within 30 s"
        time.sleep(0.5)
    assert json.loads(host.file(f"/var/lib/{APP}/deploy.json").content_string) == state
    assert host.run(f"systemctl is-enabled {units}").stdout == enabled
    assert host.service(f"{APP}@{colour}.service").is_running
