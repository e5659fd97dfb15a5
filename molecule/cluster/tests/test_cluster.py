"""The proxy tier: one nginx proxy in front of two app hosts serving gunicorn over TCP.

Static checks of every host (private-address listeners, the live port forwarded to the active
colour, the upstream of live addresses, passive health settings), then side effects through the
proxy's 127.0.0.1-published HTTPS port under two loads at once (molecule/resources/kitload.py):
paced requests that record every answer, and wrk at full speed on kept-alive connections, every
non-2xx and socket error counted, with workers recycling every ~1000 requests. In order: steady
full-speed load; an app host that vanishes (its packets dropped, then killed) and reboots; a
rolling deploy started right after that reboot; a rolling secret rotation; a rollback; a roll
whose second host's release never gets ready; and (make bench-cluster) deploy timings for one and
two app hosts with serial 1 and 2.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import shlex
import subprocess
import time
import uuid
from collections.abc import Callable
from typing import Any

import pytest
import testinfra  # type: ignore[import-untyped]
from conftest import inventory_hosts, pebble_node
from kit_harness.hosts import answered_by, wait_for
from kit_harness.playbooks import run_playbook
from kit_harness.results import record_result
from kit_harness.steps import (
    APP,
    Action,
    Node,
    StepResult,
    copy_source,
    during_load,
    new_feature,
    under_load,
)

PORTS = {"blue": 8001, "green": 8002}
LIVE_PORT = 8000
SITE = f"/etc/nginx/sites-available/{APP}.conf"
# nginx's fail_timeout (group default): a failed app host is tried again after it.
FAIL_TIMEOUT = 10
# A rebooted app host is back in the upstream within a few fail_timeouts of its app answering
# (each failed try takes it out for another fail_timeout: one made while it still boots, or a
# reset answering nginx's retransmission on a connection from before the reboot); the access
# log is written every 5 s (flush=5s).
REJOIN_SECONDS = 4 * FAIL_TIMEOUT + 10
ACCESS_LOG = "/var/log/nginx/access.log"


@pytest.fixture(scope="module")
def proxy(tmp_path_factory: pytest.TempPathFactory) -> Node:
    """The proxy host with its published HTTPS port and the root of its Pebble CA."""
    return pebble_node(inventory_hosts("proxy")[0], tmp_path_factory)


@pytest.fixture(scope="module")
def apps() -> dict[str, Any]:
    return {name: testinfra.get_host(f"docker://{name}") for name in inventory_hosts("app")}


def _state(host: Any) -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads(host.file(f"/var/lib/{APP}/deploy.json").content_string)
    return loaded


def _release(host: Any) -> str:
    state = _state(host)
    return str(state["colours"][state["active"]]["release"])


def _address(host: Any) -> str:
    """The host's private address: the source address of its default route."""
    route = host.check_output("ip -4 -o route get 1.1.1.1").split()
    return str(route[route.index("src") + 1])


def _site(proxy: Node) -> str:
    return str(proxy.host.file(SITE).content_string)


def _assert_serving(proxy: Node, apps: dict[str, Any]) -> None:
    """Each app host's active colour listens on its private address only, the host's live port is
    forwarded to it, and the proxy's upstream lists the host's live address."""
    site = _site(proxy)
    for host in apps.values():
        state = _state(host)
        active = state["active"]
        address = _address(host)
        assert host.service(f"{APP}@{active}.service").is_running
        listening = host.check_output("ss -Hltn").split("\n")
        local = [line.split()[3] for line in listening if line.strip()]
        assert f"{address}:{PORTS[active]}" in local, local
        assert not [
            a for a in local if a.endswith((":8001", ":8002")) and a != f"{address}:{PORTS[active]}"
        ]
        table = host.check_output(f"nft list table ip {APP}_live")
        rule = f"ip daddr {address} tcp dport {LIVE_PORT} dnat to {address}:{PORTS[active]}"
        assert table.count(rule) == 2, table  # prerouting (the proxies) and output (the host)
        assert re.search(
            rf"^    server {re.escape(address)}:{LIVE_PORT} max_fails=1 fail_timeout=10s;$",
            site,
            re.M,
        ), site


def _main_pid(host: Any) -> str:
    unit = f"{APP}@{_state(host)['active']}.service"
    return str(host.check_output(f"systemctl show --property MainPID --value {unit}"))


def _versions(step: StepResult, name: str) -> set[str]:
    return {s.version for s in step.reports[name].samples if s.version}


def _failed(step: StepResult, name: str, method: str) -> int:
    return sum(not s.ok for s in step.reports[name].samples if s.method == method)


def _summary(output: str) -> str:
    start = output.rfind("TASK [app : Show which host runs which release]")
    end = output.find("TASK [", start + 1)
    return output[start : end if end > 0 else len(output)] if start >= 0 else ""


def test_app_hosts_listen_on_their_private_address_only(proxy: Node, apps: dict[str, Any]) -> None:
    _assert_serving(proxy, apps)
    for host in apps.values():
        # No unix socket, no nginx on an app host.
        assert not host.file(f"/run/{APP}/blue.sock").exists
        assert not host.file(f"/run/{APP}/green.sock").exists
        assert not host.package("nginx").is_installed


def _connects(host: Any, address: str, port: int) -> bool:
    """A new TCP connection from ``host`` (a testinfra host, or None: the controller) in 3 s."""
    probe = (
        "import socket, sys\n"
        "try:\n"
        "    socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=3).close()\n"
        "    print('open')\n"
        "except OSError as error:\n"
        "    print('closed', error)\n"
    )
    argv = ["python3", "-c", probe, address, str(port)]
    if host is None:
        out = subprocess.run(argv, capture_output=True, text=True, timeout=10).stdout
    else:
        out = host.check_output(shlex.join(argv))
    return out.strip() == "open"


def test_app_hosts_admit_the_proxy_alone(proxy: Node, apps: dict[str, Any]) -> None:
    """The app hosts' firewall opens the instance ports to the proxy's address and nothing else
    (the controller, on the docker network's gateway, is refused); 80 and 443 are not open there."""
    proxy_address = _address(proxy.host)
    for name, host in apps.items():
        address, active = _address(host), _state(host)["active"]
        table = host.check_output("nft list table inet kit_firewall")
        for port in PORTS.values():
            assert re.search(
                rf"ip saddr {re.escape(proxy_address)} tcp dport {port} counter .*accept", table
            ), table
        assert "tcp dport { 22 }" in table or "tcp dport 22 " in table, table
        assert _connects(proxy.host, address, PORTS[active]), name
        assert not _connects(None, address, PORTS[active]), name
        # The other app host is not a proxy either.
        other = next(h for n, h in apps.items() if n != name)
        assert not _connects(other, address, PORTS[active]), name
    table = proxy.host.check_output("nft list table inet kit_firewall")
    assert "80, 443" in table, table


TLS_DIR = "/etc/kit-internal-tls"


def test_the_proxy_reaches_the_app_hosts_over_verified_tls(
    proxy: Node, apps: dict[str, Any]
) -> None:
    """app_internal_tls (the scenario's group_vars): each app host serves a certificate of the
    internal CA for its address; nginx verifies it; the CA key stays on the proxy."""
    site = proxy.host.file(f"/etc/nginx/sites-available/{APP}.conf").content_string
    assert f"proxy_pass https://{APP}_app;" in site
    assert "proxy_ssl_verify on;" in site
    assert f"proxy_ssl_trusted_certificate {TLS_DIR}/ca.pem;" in site
    ca_key = proxy.host.file("/etc/kit-internal-ca/ca.key")
    assert ca_key.exists
    assert (ca_key.mode, ca_key.user) == (0o600, "root")
    for name, host in apps.items():
        address, active = _address(host), _state(host)["active"]
        assert not host.file("/etc/kit-internal-ca").exists, name
        key = host.file(f"{TLS_DIR}/key.pem")
        assert (key.mode, key.user) == (0o600, "root"), name
        text = host.check_output(f"openssl x509 -in {TLS_DIR}/cert.pem -noout -text")
        assert f"IP Address:{address}" in text, text
        assert f"DNS:{APP}.internal" in text, text
        assert re.search(rf"Issuer: CN ?= ?{APP} internal CA", text), text
        url = f"https://{address}:{PORTS[active]}/health/live"
        # Trusting the internal CA, the proxy gets through; trusting nothing, curl refuses the
        # certificate (60); plain HTTP gets no answer from a TLS listener.
        ok = proxy.host.run(
            f"curl -sS -o /dev/null -w '%{{http_code}}' --cacert {TLS_DIR}/ca.pem {url}"
        )
        assert ok.stdout == "200", (name, ok.stderr)
        untrusted = proxy.host.run(f"curl -sS -o /dev/null --max-time 5 {url}")
        assert untrusted.rc == 60, (name, untrusted.rc, untrusted.stderr)
        plain = proxy.host.run(
            f"curl -sS -o /dev/null -w '%{{http_code}}' --max-time 5 http://{address}:{PORTS[active]}/"
        )
        assert plain.stdout != "200", name


def test_the_proxy_balances_over_every_app_host(proxy: Node, apps: dict[str, Any]) -> None:
    site = _site(proxy)
    servers = re.findall(rf"^    server ([0-9.]+):{LIVE_PORT} ", site, re.M)
    assert sorted(servers) == sorted(_address(host) for host in apps.values()), site
    assert "proxy_next_upstream error timeout;" in site
    assert not proxy.host.file("/etc/nginx/upstreams").exists
    assert not proxy.host.service(f"{APP}@blue.service").is_running
    # Both app hosts answer through the proxy (its access log names the upstream address).
    for _ in range(12):
        proxy.curl("/version")
    time.sleep(6)  # access_log flush=5s
    log = proxy.host.check_output("tail -n 12 /var/log/nginx/access.log")
    for host in apps.values():
        assert f"ua={_address(host)}:" in log, log


def _nginx_workers(proxy: Node) -> set[str]:
    """PIDs of the proxy's nginx workers: a reload replaces every one of them."""
    master = proxy.host.check_output("cat /run/nginx.pid").strip()
    return set(proxy.host.check_output(f"pgrep --parent {master}").split())


def _count_in_error_log(proxy: Node, text: str) -> int:
    return int(proxy.host.check_output(f"grep -c '{text}' /var/log/nginx/error.log || true") or 0)


def _idle(seconds: float) -> Action:
    """A step that only lets the loads run, at full speed."""

    def wait(
        open_window: Callable[[], None], close_window: Callable[[], None]
    ) -> subprocess.CompletedProcess[str]:
        open_window()
        time.sleep(seconds)
        close_window()
        return subprocess.CompletedProcess(["sleep", str(seconds)], 0, "", "")

    return wait


def _record(step: StepResult, what: str, proxy: Node, **extra: Any) -> None:
    """The step's figures (the harness checked that every app host's workers recycled)."""
    fast = step.full_speed[proxy.name]
    record_result(
        "cluster",
        {
            "step": what,
            "host": proxy.name,
            "seconds": round(step.seconds, 1),
            "rc": step.returncode,
            "full_speed": fast.lines(),
            "paced_failed": {m: _failed(step, proxy.name, m) for m in ("GET", "POST")},
            "recycles": step.recycles,
            **extra,
        },
    )


def test_steady_full_speed_load(proxy: Node, apps: dict[str, Any]) -> None:
    """No deploy: full speed through the proxy to both app hosts while their workers recycle.
    Before the kit's worker, a recycle reset a kept-alive connection, nginx took the host out for
    fail_timeout, and most requests were answered 503."""
    workers = _nginx_workers(proxy)
    disabled = _count_in_error_log(proxy, "upstream server temporarily disabled")
    step = during_load([proxy], "cluster steady full speed", _idle(30), recycling=apps)
    _record(step, "steady full speed", proxy)
    assert _failed(step, proxy.name, "GET") == 0
    assert _failed(step, proxy.name, "POST") == 0
    assert _nginx_workers(proxy) == workers
    # No app host was taken out of the upstream.
    assert _count_in_error_log(proxy, "upstream server temporarily disabled") == disabled


VANISH = (
    "nft -f - <<'EOF'\n"
    "table inet kit_test_vanish {\n"
    "  chain in { type filter hook input priority -300; policy drop; }\n"
    "  chain out { type filter hook output priority -300; policy drop; }\n"
    "}\n"
    "EOF"
)


def _served_by(proxy: Node, upstream: str, offset: int) -> bool:
    """Whether the proxy's access log, past its first ``offset`` bytes, has an answer from
    ``upstream`` (``answered_by``)."""
    return answered_by(proxy.host.check_output(f"tail -c +{offset + 1} {ACCESS_LOG}"), upstream)


def _vanish_and_reboot(
    name: str, proxy: Node, full_speed: Callable[[], None], back: dict[str, Any]
) -> subprocess.CompletedProcess[str]:
    """The app host stops answering anything (no FIN, no RST: its packets are dropped), is
    killed, and boots again; once its app answers, the step goes on under load until the proxy
    has sent it a request it answered (nginx tries it once per fail_timeout, by itself), for
    REJOIN_SECONDS at most. ``back`` gets whether it did and how long that took."""
    full_speed()
    time.sleep(5)
    host = testinfra.get_host(f"docker://{name}")
    host.check_output(VANISH)
    time.sleep(15)
    subprocess.run(["docker", "kill", name], capture_output=True, text=True, check=True)
    subprocess.run(["docker", "start", name], capture_output=True, text=True, check=True)
    deadline = time.monotonic() + 90
    host = testinfra.get_host(f"docker://{name}")
    wait_for(
        lambda: host.run("systemctl is-system-running").stdout.strip() in ("running", "degraded"),
        timeout=deadline - time.monotonic(),
        interval=1,
    )
    # Its app answers on the live port (at boot, under the load on the shared CPU, that can take
    # a while); nginx tries the host again within a fail_timeout of it, by itself.
    ready = f"https://{_address(host)}:{LIVE_PORT}/health/ready"
    status = f"curl -sk -o /dev/null -w '%{{http_code}}' --max-time 5 {ready}"
    back["answering"] = wait_for(
        lambda: host.run(status).stdout.strip() == "200",
        timeout=deadline - time.monotonic(),
        interval=1,
    )
    # Only what the proxy logs from now on: entries from before the host vanished are on disk by
    # now (the log is flushed every 5 s).
    offset = int(proxy.host.check_output(f"stat -c %s {ACCESS_LOG}"))
    answering = time.monotonic()
    upstream = f"{_address(host)}:{LIVE_PORT}"
    back["rejoined"] = wait_for(
        lambda: _served_by(proxy, upstream, offset), timeout=REJOIN_SECONDS, interval=2
    )
    back["rejoin_seconds"] = round(time.monotonic() - answering, 1)
    return subprocess.CompletedProcess(["docker", "start", name], 0, "", "")


def test_an_app_host_that_vanishes_costs_at_most_its_requests_in_flight(
    proxy: Node, apps: dict[str, Any]
) -> None:
    """GETs are retried on the other host (0 failed); a POST the dead host had received cannot
    be, and is answered 503: no more of them than POSTs were in flight. The host boots again
    (its live port forwarded at boot) and rejoins the upstream with no failed request."""
    name = sorted(apps)[-1]
    back: dict[str, Any] = {}
    step = during_load(
        [proxy],
        f"cluster {name} vanishes and reboots",
        lambda open_window, _close: _vanish_and_reboot(name, proxy, open_window, back),
        full_speed_must_be_clean=False,
        client_timeout=90,
        recycling={},
    )
    fast = {stream.method: stream for stream in step.full_speed[proxy.name].streams}
    paced_posts = _failed(step, proxy.name, "POST")
    in_flight_bound = fast["POST"].connections + 4  # wrk's POST connections + the paced workers
    record_result(
        "cluster",
        {
            "step": "app host vanishes, is killed and reboots",
            "host": name,
            "seconds": round(step.seconds, 1),
            "full_speed": step.full_speed[proxy.name].lines(),
            "paced_failed": {"GET": _failed(step, proxy.name, "GET"), "POST": paced_posts},
            "failed_posts": fast["POST"].non_2xx + paced_posts,
            "max_get_latency_ms": fast["GET"].max_ms,
            "rejoined_after_seconds": back.get("rejoin_seconds"),
        },
    )
    assert fast["GET"].non_2xx == 0, fast["GET"].line()
    assert fast["GET"].socket_errors == 0, fast["GET"].line()
    assert fast["POST"].socket_errors == 0, fast["POST"].line()
    assert fast["POST"].non_2xx + paced_posts <= in_flight_bound, fast["POST"].line()
    assert _failed(step, proxy.name, "GET") == 0
    # Back: the live port is forwarded at boot and the proxy sends to it again.
    state = _state(apps[name])
    assert apps[name].service(f"{APP}-live.service").is_enabled
    assert back.get("rejoined"), (
        f"{name} answered no request through the proxy within {REJOIN_SECONDS} s of its boot"
        f" (its app answered on the live port: {back.get('answering')})"
    )
    assert state["active"] in PORTS
    _assert_serving(proxy, apps)


def test_a_rolling_deploy_right_after_a_reboot(
    proxy: Node, apps: dict[str, Any], tmp_path_factory: pytest.TempPathFactory
) -> None:
    """Started as soon as the rebooted host is back: each host keeps serving through its own
    switch (its live pointer moves; nginx is not reloaded), at full speed, 0 failed requests."""
    old = {name: _release(host) for name, host in apps.items()}
    workers = _nginx_workers(proxy)
    source = copy_source(tmp_path_factory.mktemp("new"), new_feature)
    step = under_load(
        [proxy],
        "cluster rolling deploy",
        "playbooks/deploy.yml",
        "-e",
        f"app_source={source}",
        recycling=apps,
    )
    new = {name: _release(host) for name, host in apps.items()}
    assert len(set(new.values())) == 1
    assert set(new.values()).isdisjoint(old.values())
    # One batch per app host (serial 1); the summary names both.
    assert step.output.count("PLAY [Switch the app hosts to the release") == len(apps)
    summary = _summary(step.output)
    for name in apps:
        assert f"{name}: release {new[name]}" in summary, summary
    _record(step, "rolling deploy", proxy)
    assert _failed(step, proxy.name, "GET") == 0
    assert _failed(step, proxy.name, "POST") == 0
    assert _versions(step, proxy.name) <= set(old.values()) | set(new.values())
    assert _nginx_workers(proxy) == workers, "a deploy must not reload nginx"
    _assert_serving(proxy, apps)


def test_a_rolling_rotation_under_load(
    proxy: Node, apps: dict[str, Any], vault_secrets: dict[str, str]
) -> None:
    before = {
        name: _state(host)["colours"][_state(host)["active"]]["secrets"]
        for name, host in apps.items()
    }
    rotated = {**vault_secrets, "API_TOKEN": secrets.token_urlsafe(32)}
    workers = _nginx_workers(proxy)
    step = under_load(
        [proxy],
        "cluster rolling rotation",
        "playbooks/rotate-secrets.yml",
        "-e",
        json.dumps({"app_secrets": rotated}),
        recycling=apps,
    )
    after = {
        name: _state(host)["colours"][_state(host)["active"]]["secrets"]
        for name, host in apps.items()
    }
    assert len(set(after.values())) == 1
    assert set(after.values()).isdisjoint(before.values())
    assert step.output.count("PLAY [Switch the app hosts to the release") == len(apps)
    _record(step, "rolling rotation", proxy)
    assert _failed(step, proxy.name, "GET") == 0
    assert _failed(step, proxy.name, "POST") == 0
    assert _nginx_workers(proxy) == workers
    # The API answers the new token through the proxy.
    proxy.curl("/v1/items", f"-H 'Authorization: Bearer {rotated['API_TOKEN']}'")
    _assert_serving(proxy, apps)


def test_a_rolling_rollback_under_load(proxy: Node, apps: dict[str, Any]) -> None:
    """Back to the release before the deploy, host by host, at full speed."""
    current = {name: _release(host) for name, host in apps.items()}
    previous = {
        name: next(
            entry["release"]
            for entry in reversed(_state(host)["history"])
            if entry["release"] != current[name]
        )
        for name, host in apps.items()
    }
    workers = _nginx_workers(proxy)
    step = under_load([proxy], "cluster rolling rollback", "playbooks/rollback.yml", recycling=apps)
    assert {name: _release(host) for name, host in apps.items()} == previous
    _record(step, "rolling rollback", proxy)
    assert _failed(step, proxy.name, "GET") == 0
    assert _failed(step, proxy.name, "POST") == 0
    assert _versions(step, proxy.name) <= set(current.values()) | set(previous.values())
    assert _nginx_workers(proxy) == workers
    _assert_serving(proxy, apps)


def _not_ready_on(name: str) -> str:
    """app_env for a deploy that is never ready on host ``name`` only (unwritable database path)."""
    broken = f"/srv/{APP}/releases/unwritable/app.sqlite3"
    return (
        "{{ {'DATABASE_PATH': '" + broken + "'} if inventory_hostname == '" + name + "' else {} }}"
    )


def test_a_roll_stops_at_a_host_whose_release_never_gets_ready(
    proxy: Node, apps: dict[str, Any], tmp_path_factory: pytest.TempPathFactory
) -> None:
    """Policy: the hosts before the failed one keep the new release; the failed one keeps serving
    its old release (re-added to the upstream on it); the run fails and names who runs what."""
    first, second = sorted(apps)
    old = {name: _release(host) for name, host in apps.items()}
    pid = _main_pid(apps[second])
    source = copy_source(tmp_path_factory.mktemp("half"), new_feature)
    step = under_load(
        [proxy],
        "cluster roll with a not-ready second host",
        "playbooks/deploy.yml",
        "-e",
        f"app_source={source}",
        "-e",
        json.dumps({"app_ready_timeout": 12, "app_migrate_command": []}),
        "-e",
        f"app_env={_not_ready_on(second)}",
        expect_failure=True,
        recycling=apps,
    )
    assert step.returncode != 0
    assert "did not answer /health/ready" in step.output
    new_first, new_second = _release(apps[first]), _release(apps[second])
    assert new_first != old[first]
    assert new_second == old[second]
    assert _main_pid(apps[second]) == pid
    summary = _summary(step.output)
    assert f"{first}: release {new_first}" in summary, summary
    assert f"{second}: release {old[second]}" in summary, summary
    assert _failed(step, proxy.name, "GET") == 0
    assert _failed(step, proxy.name, "POST") == 0
    _assert_serving(proxy, apps)


@pytest.mark.parametrize(
    ("hosts", "serial"),
    [(1, 1), (2, 1), (2, 2)],
    ids=["1-host", "2-hosts-serial-1", "2-hosts-serial-2"],
)
def test_deploy_time(
    proxy: Node,
    apps: dict[str, Any],
    tmp_path_factory: pytest.TempPathFactory,
    hosts: int,
    serial: int,
) -> None:
    """A new release (the wheels are built anew) to 1 or 2 app hosts; 1 host has one batch
    whatever serial is. A figure, not a pass/fail bound: run by `make bench-cluster` only."""
    if not os.environ.get("KIT_CLUSTER_TIMING"):
        pytest.skip("deploy timings are a benchmark: make bench-cluster")
    targets = sorted(apps)[:hosts]
    source = copy_source(tmp_path_factory.mktemp(f"timing-{uuid.uuid4().hex[:6]}"), new_feature)
    started = time.monotonic()
    run_playbook(
        "playbooks/deploy.yml",
        "-e",
        f"app_source={source}",
        "-e",
        f"app_rolling_serial={serial}",
        limit=",".join(targets) if hosts < len(apps) else None,
    )
    seconds = time.monotonic() - started
    releases = {_release(apps[name]) for name in targets}
    assert len(releases) == 1
    record_result(
        "cluster",
        {
            "step": f"deploy {hosts} app host(s), serial {serial}",
            "host": ",".join(targets),
            "seconds": round(seconds, 1),
            "rc": 0,
        },
    )
    print(f"deploy of {hosts} app host(s) with serial {serial}: {seconds:.1f} s")
    _assert_serving(proxy, apps)


def test_acme_challenges_are_passed_to_the_proxy_that_holds_them(proxy: Node) -> None:
    """Several proxies: a challenge this proxy lacks goes to its peers' webroot servers.

    The scenario has one proxy, so it stands in as its own peer (group_vars: nginx_acme_peers is
    its address): a token in its webroot is served directly; a missing one is passed to the peer
    server (its log shows the forwarded request) and answered 404 from there. Two real proxies
    are untested.
    """
    address = _address(proxy.host)
    site = proxy.host.file(f"/etc/nginx/sites-available/{APP}.conf").content_string
    assert "try_files $uri @acme_peers;" in site
    assert f"server {address}:8089;" in site
    token, missing = uuid.uuid4().hex, uuid.uuid4().hex
    webroot = "/var/www/acme-challenge/.well-known/acme-challenge"
    proxy.host.check_output(f"mkdir -p {webroot} && printf %s {token}.key > {webroot}/{token}")
    try:
        challenge = "curl -s -o /dev/stdout -w ' %{{http_code}}' -H 'Host: app.kit.test' {}"
        here = proxy.host.check_output(
            challenge.format(f"http://127.0.0.1/.well-known/acme-challenge/{token}")
        )
        assert here == f"{token}.key 200"
        peer = proxy.host.check_output(
            challenge.format(f"http://{address}:8089/.well-known/acme-challenge/{token}")
        )
        assert peer == f"{token}.key 200"
        gone = proxy.host.check_output(
            challenge.format(f"http://127.0.0.1/.well-known/acme-challenge/{missing}")
        )
        assert gone.endswith(" 404")
        log = proxy.host.check_output("cat /var/log/nginx/acme-peer.log")
        assert f"/.well-known/acme-challenge/{missing}" in log
    finally:
        proxy.host.check_output(f"rm -f {webroot}/{token}")
