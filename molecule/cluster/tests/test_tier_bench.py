"""The proxy tier's figures (`make bench-cluster`): requests/s and p99 through the proxy to two app
hosts against one, every non-2xx answer and socket error counted.

wrk at full speed (molecule/resources/fullspeed.py: GETs of /v1/items?limit=5 on 12 kept-alive
connections, POSTs of /v1/items on 4) through the proxy's 127.0.0.1-published HTTPS port, bounded
(KIT_TIER_SECONDS, default 20 s a run), after a warm-up of the same load that is not recorded
(KIT_TIER_WARMUP, default 5 s: after a reload, or idle connections closed after 1 s, nginx opens
every upstream TLS connection anew). Configurations take turns in each round (KIT_TIER_ROUNDS,
default 2): every app host in the proxy's upstream, then all but the first marked ``down`` in
the rendered site (``nginx -t``, reload; the shipped file comes back and nginx reloads at the
end). The proxy's access log ($upstream_addr) shows which app hosts answered each run, its error
log how often it took an app host out (passive health). Figures: the scenario's results
directory (cluster.jsonl, tier.md), and a table printed at the end. A benchmark, skipped unless
KIT_CLUSTER_TIMING is set (make bench-cluster sets it).
"""

from __future__ import annotations

import os
import shlex
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
import testinfra  # type: ignore[import-untyped]
from conftest import inventory_hosts
from kit_harness.fullspeed import MIX, FullSpeed, FullSpeedReport
from kit_harness.hosts import published_port
from kit_harness.results import record_result, results_dir

from bench import tier
from bench.remote import Container

APP = "app"
SERVER_NAME = "app.kit.test"
SITE = f"/etc/nginx/sites-available/{APP}.conf"
UPSTREAM = f"{APP}_app"
LIVE_PORT = 8000
SECONDS = int(os.environ.get("KIT_TIER_SECONDS", "20"))
ROUNDS = int(os.environ.get("KIT_TIER_ROUNDS", "2"))
WARMUP = int(os.environ.get("KIT_TIER_WARMUP", "5"))
# The access log is buffered (flush=5s): the lines of a run are all on disk after this.
LOG_FLUSH_SECONDS = 6.0

pytestmark = pytest.mark.skipif(
    not os.environ.get("KIT_CLUSTER_TIMING"),
    reason="the tier's figures are a benchmark: make bench-cluster",
)


def _address(host: Any) -> str:
    """The host's private address: the source address of its default route."""
    route = host.check_output("ip -4 -o route get 1.1.1.1").split()
    return str(route[route.index("src") + 1])


def _reload(proxy: Container) -> None:
    proxy.run("nginx", "-t")
    proxy.run("systemctl", "reload", "nginx")
    time.sleep(2)  # the new workers take over; the old ones finish and exit


@contextmanager
def _only(proxy: Container, keep: str | None) -> Iterator[None]:
    """The proxy's upstream with every app host (None), or with ``keep`` alone."""
    if keep is None:
        yield
        return
    shipped = proxy.read(SITE)
    proxy.write(SITE, tier.keep_only(shipped, UPSTREAM, keep))
    try:
        _reload(proxy)
        yield
    finally:
        proxy.write(SITE, shipped)
        _reload(proxy)


def _log_lines(proxy: Container) -> int:
    return int(proxy.run("wc", "-l", "/var/log/nginx/access.log").stdout.split()[0])


def _answered_by(proxy: Container, since_line: int) -> dict[str, int]:
    """Requests per upstream address ($upstream_addr) in the access log after ``since_line``."""
    script = (
        f"tail -n +{since_line + 1} /var/log/nginx/access.log | grep -o 'ua=[^ ]*'"
        " | sort | uniq -c || true"
    )
    counted: dict[str, int] = {}
    for line in proxy.run("bash", "-c", script).stdout.splitlines():
        number, _, address = line.strip().partition(" ")
        counted[address.removeprefix("ua=").rstrip(",")] = int(number)
    return counted


def _disabled(proxy: Container) -> int:
    """How often the proxy's error log says it took an app host out (passive health)."""
    script = "grep -c 'upstream server temporarily disabled' /var/log/nginx/error.log || true"
    return int(proxy.run("bash", "-c", script).stdout.strip() or 0)


def _full_speed(port: int, seconds: int) -> FullSpeedReport:
    load = FullSpeed(port, SERVER_NAME, mix=MIX, max_seconds=seconds, timeout_seconds=30).start()
    time.sleep(seconds)
    return load.stop()


def _run(proxy: Container, port: int, hosts: int, number: int) -> tier.Run:
    disabled = _disabled(proxy)
    report = _full_speed(port, SECONDS)
    return tier.Run(hosts, number, report, _disabled(proxy) - disabled)


def test_two_app_hosts_against_one() -> None:
    proxy_name = inventory_hosts("proxy")[0]
    proxy = Container(proxy_name)
    apps = {name: testinfra.get_host(f"docker://{name}") for name in inventory_hosts("app")}
    addresses = {name: f"{_address(host)}:{LIVE_PORT}" for name, host in apps.items()}
    servers = tier.upstream_servers(proxy.read(SITE), UPSTREAM)
    assert sorted(servers) == sorted(addresses.values()), servers
    keep = addresses[sorted(apps)[0]]
    port = published_port(proxy_name, 443)
    configurations: list[tuple[int, str | None]] = [(len(apps), None), (1, keep)]

    runs: list[tier.Run] = []
    answered: list[dict[str, Any]] = []
    started = time.monotonic()
    for number in range(1, ROUNDS + 1):
        for hosts, only in configurations:
            with _only(proxy, only):
                if WARMUP > 0:
                    _full_speed(port, WARMUP)
                first_line = _log_lines(proxy)
                run = _run(proxy, port, hosts, number)
                time.sleep(LOG_FLUSH_SECONDS)
                by_address = _answered_by(proxy, first_line)
            runs.append(run)
            answered.append({"hosts": hosts, "round": number, "answered_by": by_address})
            print(
                f"tier: round {number}, {hosts} app host(s): {run.rps:.0f} req/s, "
                f"non-2xx {run.non_2xx}, socket errors {run.socket_errors}, app host taken out "
                f"{run.disabled} time(s), answered by {by_address}"
            )
    seconds = time.monotonic() - started

    table = tier.table(runs)
    mix = ", ".join(f"{s.method} x{s.connections}" for s in runs[0].report.streams)
    (results_dir() / "tier.md").write_text(
        f"# Proxy tier: {len(apps)} app hosts against 1\n\n"
        f"{ROUNDS} round(s) of {SECONDS} s a configuration (after {WARMUP} s of warm-up), wrk "
        "at full speed through "
        f"{proxy_name} ({mix} "
        "kept-alive connections).\n\n" + table,
        encoding="utf-8",
    )
    for hosts, _ in configurations:
        mine = [r for r in runs if r.hosts == hosts]
        record_result(
            "cluster",
            {
                "step": f"tier full speed, {hosts} app host(s)",
                "host": proxy_name,
                "seconds": SECONDS,
                "rc": 0,
                "rps": [round(r.rps, 1) for r in mine],
                "p99_ms": {
                    s.method: [r.stream(s.method).p99_ms for r in mine]
                    for s in mine[0].report.streams
                },
                "non_2xx": sum(r.non_2xx for r in mine),
                "socket_errors": sum(r.socket_errors for r in mine),
                "disabled": sum(r.disabled for r in mine),
                "runs": [r.to_json() for r in mine],
                "answered_by": [a["answered_by"] for a in answered if a["hosts"] == hosts],
            },
        )
    print(f"\ntier: {ROUNDS} round(s) in {seconds:.0f} s\n{table}")

    for run, seen in zip(runs, answered, strict=True):
        assert run.report.requests > 0, run
        assert run.non_2xx == 0, run.to_json()
        assert run.socket_errors == 0, run.to_json()
        used = {address for address, count in seen["answered_by"].items() if count > 0}
        expected = set(addresses.values()) if run.hosts == len(apps) else {keep}
        assert used == expected, (seen, shlex.join(sorted(expected)))
    # The shipped site is back.
    assert sorted(tier.upstream_servers(proxy.read(SITE), UPSTREAM)) == sorted(servers)
    assert " down;" not in proxy.read(SITE)
