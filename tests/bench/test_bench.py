"""The bench's controller-side pieces on recorded output, and a tiny real wrk/h2load run.

This is the controller-side smoke test of ``make bench`` that ``make unit`` runs (seconds, no
container): the parsers on output recorded in the bench container, the ratio and report code, the
plot, the nginx variants on the rendered single-host site (one upstream per colour), the tier's
upstream edit on the rendered proxy site, the bench instances' copy of the active colour's
secrets, and, where wrk and h2load are installed (.ci/run installs them), the same measuring code
against a local keep-alive server. The bench's real path runs in CI too, on the converged default
scenario: molecule/default/tests/test_bench_smoke.py.
"""

from __future__ import annotations

import dataclasses
import json
import shutil
import subprocess
import tempfile
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import yaml
from kit_harness.fullspeed import FullSpeedReport, StreamResult

from bench import instances, measure, nginx_variants, plot, report, run, tier, zdt
from bench.parse import ParseError, parse_h2load, parse_h2load_log, parse_wrk, percentile
from bench.remote import Container, Local
from bench.stats import paired_ratios, spread

FIXTURES = Path(__file__).parent / "fixtures"
PROJECT = Path(__file__).resolve().parents[2]
# The results `make bench` recorded (committed): the report and plot are checked on them.
RECORDED = PROJECT / "bench" / "results" / "results.json"


def fixture(name: str) -> str:
    return (FIXTURES / name).read_text(encoding="utf-8")


def test_wrk_output_through_nginx() -> None:
    result = parse_wrk(fixture("wrk-nginx-live.txt"))
    assert result.tool == "wrk"
    assert result.requests > 0
    assert result.rps > 0
    assert 0 < result.p50_ms <= result.p99_ms <= result.max_ms
    assert result.errors == 0


def test_wrk_counts_non_2xx_answers_as_errors() -> None:
    result = parse_wrk(fixture("wrk-404.txt"))
    assert result.requests == 7375
    assert result.errors == 7375
    assert result.rps == pytest.approx(6705.26)
    assert result.p50_ms == pytest.approx(1.88)
    assert result.p99_ms == pytest.approx(9.51)
    assert result.max_ms == pytest.approx(25.82)
    assert result.seconds == pytest.approx(1.10)


def test_wrk_socket_errors_and_units() -> None:
    text = (
        "  Thread Stats   Avg      Stdev     Max   +/- Stdev\n"
        "    Latency   850.00us    1.00ms    1.20s    90.00%\n"
        "  Latency Distribution\n"
        "     50%  850.00us\n     75%    1.00ms\n     90%    2.00ms\n     99%    1.01s\n"
        "  100 requests in 2.00s, 1.00KB read\n"
        "  Socket errors: connect 1, read 2, write 3, timeout 4\n"
        "Requests/sec:     50.00\n"
    )
    result = parse_wrk(text)
    assert result.p50_ms == pytest.approx(0.85)
    assert result.p99_ms == pytest.approx(1010.0)
    assert result.max_ms == pytest.approx(1200.0)
    assert result.errors == 10


def test_wrk_without_latency_distribution_is_refused() -> None:
    text = fixture("wrk-404.txt").replace("Latency Distribution", "").replace("99%", "")
    with pytest.raises(ParseError, match="latency distribution"):
        parse_wrk(text)
    with pytest.raises(ParseError):
        parse_wrk("unable to connect to 127.0.0.1:9001 Connection refused\n")


def test_h2load_output_with_its_request_log() -> None:
    log = fixture("h2load-nginx-live.log")
    result = parse_h2load(fixture("h2load-nginx-live.txt"), log)
    assert result.tool == "h2load"
    assert result.protocol == "h2"
    assert result.requests == 6989
    assert result.rps == pytest.approx(3494.50)
    assert result.errors == 0
    latencies, failed = parse_h2load_log(log)
    assert len(latencies) == 200
    assert failed == 0
    assert result.p99_ms == pytest.approx(percentile(latencies, 0.99))
    assert result.p50_ms <= result.p99_ms <= result.max_ms


def test_h2load_summary_alone_and_failed_requests() -> None:
    text = fixture("h2load-nginx-live.txt").replace(
        "6989 succeeded, 0 failed, 0 errored, 0 timeout",
        "6980 succeeded, 5 failed, 3 errored, 1 timeout",
    )
    result = parse_h2load(text)
    assert result.tool == "h2load-summary"
    assert result.errors == 9
    assert result.p50_ms == pytest.approx(17.64)
    assert result.p99_ms == pytest.approx(85.10)
    assert parse_h2load_log("1\t0\t5\n2\t200\t1500\n3\t502\t10\n") == ([1.5], 2)


def test_spread_and_ratios_of_the_same_rounds() -> None:
    figures = spread([3.0, 1.0, 2.0])
    assert (figures.median, figures.min, figures.max, figures.n) == (2.0, 1.0, 3.0, 3)
    assert figures.text(1) == "2.0 (1.0-3.0)"
    assert spread([5.0]).text(0, " ms") == "5 ms"
    ratios = paired_ratios([90.0, 80.0, 100.0], [100.0, 100.0, 100.0])
    assert (ratios.median, ratios.min, ratios.max) == (0.9, 0.8, 1.0)
    with pytest.raises(ValueError, match="same rounds"):
        paired_ratios([1.0], [1.0, 2.0])
    with pytest.raises(ValueError, match="no values"):
        spread([])


def _rendered() -> dict[str, str]:
    return {
        nginx_variants.NGINX_CONF: fixture("nginx.conf"),
        nginx_variants.SITE_CONF: fixture("app.conf"),
    }


def test_every_nginx_variant_changes_what_it_says() -> None:
    shipped = _rendered()
    # The single-host site: one upstream per colour, picked per request by the live marker.
    settings = nginx_variants.shipped(shipped)
    assert settings == nginx_variants.Shipped("auto", 64, 2)
    found = nginx_variants.variants(*dataclasses.astuple(settings))
    assert found[0].name == "shipped"
    for variant in found:
        files = nginx_variants.apply_edits(shipped, variant.edits)
        assert (files == shipped) == (not variant.edits), variant.name
    by_name = {v.name: nginx_variants.apply_edits(shipped, v.edits) for v in found}
    no_keepalive = by_name["no-upstream-keepalive"][nginx_variants.SITE_CONF]
    assert "keepalive " not in no_keepalive
    assert "keepalive_timeout" not in no_keepalive
    # Both colours' upstreams change, never one alone.
    assert by_name["upstream-keepalive-16"][nginx_variants.SITE_CONF].count("keepalive 16;") == 2
    assert "worker_processes 1;" in by_name["worker-processes-1"][nginx_variants.NGINX_CONF]
    assert "buffer=" not in by_name["access-log-unbuffered"][nginx_variants.NGINX_CONF]
    assert "proxy_buffering off;" in by_name["proxy-buffering-off"][nginx_variants.SITE_CONF]
    naive = by_name["naive"]
    assert "ssl_session_cache none;" in naive[nginx_variants.NGINX_CONF]
    assert "keepalive " not in naive[nginx_variants.SITE_CONF]


def test_the_app_upstreams_of_the_rendered_site() -> None:
    site = fixture("app.conf")
    assert nginx_variants.app_upstreams(site) == ["app_blue", "app_green"]
    assert "proxy_pass http://$app_colour;" in site
    # A keepalive edit that would change one colour's upstream alone is refused.
    one_colour = site.replace("    keepalive 64;\n    keepalive_timeout 1s;\n", "", 1)
    files = {**_rendered(), nginx_variants.SITE_CONF: one_colour}
    variant = {v.name: v for v in nginx_variants.variants("auto", 64, 2)}["upstream-keepalive-16"]
    with pytest.raises(nginx_variants.VariantError, match="matched 1 times"):
        nginx_variants.apply_edits(files, variant.edits)
    with pytest.raises(nginx_variants.VariantError, match="no HTTPS server"):
        nginx_variants.app_upstreams("upstream app_app {\n}\n")


def test_the_load_comes_from_an_address_nginx_does_not_limit() -> None:
    site = fixture("app.conf")
    exempt = nginx_variants.exempt_networks(site)
    assert [str(n) for n in exempt or []] == ["172.16.0.0/12", "192.168.0.0/16"]
    # The test site limits 127.0.0.1: the container's docker address is exempt.
    local = ["127.0.0.1", "172.17.0.4"]
    assert nginx_variants.client_address(site, local) == "172.17.0.4"
    loopback = site.replace("    172.16.0.0/12 1;\n", "    127.0.0.1 1;\n")
    assert nginx_variants.client_address(loopback, local) == "127.0.0.1"
    with pytest.raises(nginx_variants.ClientAddressError, match="nginx_rate_limit_exempt"):
        nginx_variants.client_address(site, ["127.0.0.1", "10.0.0.5"])
    unlimited = "\n".join(
        line for line in site.splitlines() if not line.strip().startswith(("limit_req", "limit_co"))
    )
    assert nginx_variants.exempt_networks(unlimited) is None
    assert nginx_variants.client_address(unlimited, ["10.0.0.5"]) == "127.0.0.1"
    # The role's default: no rate limit on location / (a path's limit elsewhere), connections
    # limited to 100 an address: a load on fewer connections is not limited, one on more is.
    default = site.replace(
        "    location / {\n        limit_req zone=app_req burst=40 nodelay;\n",
        "    location /v2/ {\n        limit_req zone=app_req burst=40;\n    }\n\n"
        "    location / {\n",
    )
    assert "limit_req zone=app_req burst=40;" in default
    assert nginx_variants.exempt_networks(default, connections=64) is None
    assert nginx_variants.client_address(default, ["10.0.0.5"], connections=64) == "127.0.0.1"
    no_exempt = default.replace("    172.16.0.0/12 1;\n    192.168.0.0/16 1;\n", "")
    with pytest.raises(nginx_variants.ClientAddressError):
        nginx_variants.client_address(no_exempt, ["127.0.0.1"], connections=200)


def test_a_variant_that_matches_nothing_is_refused() -> None:
    edit = nginx_variants.Edit(nginx_variants.SITE_CONF, r"^no such directive;", "x")
    with pytest.raises(nginx_variants.VariantError, match="matched 0 times"):
        nginx_variants.apply_edits(_rendered(), (edit,))


def test_bench_instances_are_the_app_unit_on_loopback_tcp() -> None:
    classes = ("sync", "asgi", run.UVICORN)
    deployed = instances.Deployed(
        "app", "blue", 2, run.KIT_WORKER, "27.0.1", classes, ("secrets.conf",)
    )
    pool = run.worker_instances(deployed, cores=2)
    # The sweep runs the deployed worker class (the kit's).
    sweep = [i.workers for i in pool if i.worker_class == run.KIT_WORKER and not i.label]
    assert sweep == [1, 2, 3, 4, 5]
    assert run.deployed_instance(deployed) in pool
    norecycle = [i for i in pool if i.label == "no-recycle"]
    assert [(i.workers, i.options) for i in norecycle] == [(2, ("--max-requests", "0"))]
    assert "--max-requests 0 app.main:app" in instances._service_dropin(deployed, norecycle[0])
    assert [run.instance_key(i) for i in pool[-3:]] == [
        "kit-w2-no-recycle",
        "uvicorn-w2",
        "asgi-w2",
    ]
    asgi = [i for i in pool if i.worker_class == run.ASGI]
    assert [(i.workers, i.port) for i in asgi] == [(2, run.ASGI_PORT)]
    assert len({i.port for i in pool}) == len(pool)
    assert len({i.name for i in pool}) == len(pool)
    socket = instances._socket_dropin(9002)
    assert "ListenStream=\nListenStream=127.0.0.1:9002\n" in socket
    service = instances._service_dropin(deployed, pool[1])
    assert "ExecStart=\nExecStart=/srv/app/bench2/venv/bin/gunicorn" in service
    assert "--config /etc/app/bench2/gunicorn.conf.py --workers 2" in service
    assert f"--worker-class {run.KIT_WORKER} app.main:app" in service
    old = instances.Deployed("app", "blue", 2, run.UVICORN, "23.0.0", ("sync", run.UVICORN))
    assert all(i.worker_class == run.UVICORN for i in run.worker_instances(old, cores=1))


def test_bench_instances_get_the_active_colours_secrets() -> None:
    """The colour's configuration (with its links to the secret set) and its service drop-ins
    (secrets.conf: LoadCredential=/EnvironmentFile= under /etc/app/%i) are copied."""
    deployed = instances.Deployed(
        "app", "green", 3, run.KIT_WORKER, "27.0.1", ("sync",), ("secrets.conf",)
    )
    script = instances._copy_script(deployed, "bench3")
    assert "cp -a /etc/app/green /etc/app/bench3" in script
    assert "rm -rf /etc/systemd/system/app@bench3.service.d" in script
    assert (
        "cp -a /etc/systemd/system/app@green.service.d/secrets.conf "
        "/etc/systemd/system/app@bench3.service.d/secrets.conf"
    ) in script


def test_zero_downtime_inventory_and_rotated_secrets(tmp_path: Path) -> None:
    inventory = zdt.write_inventory(tmp_path, "fastapi-kit-bench")
    hosts = yaml.safe_load((inventory / "hosts.yml").read_text())
    for group in ("app", "proxy"):
        host = hosts["all"]["children"][group]["hosts"]["fastapi-kit-bench"]
        assert host["ansible_connection"] == "community.docker.docker"
    assert (inventory / "group_vars" / "all" / "vars.yml").is_file()
    # The bench scenario's host_vars too: the playbooks of the steps keep its settings.
    host_vars = yaml.safe_load((inventory / "host_vars" / "fastapi-kit-bench.yml").read_text())
    assert host_vars["app_max_requests"] == 10000
    if shutil.which("ansible-vault") is None:
        pytest.skip("ansible-vault is not installed")
    secrets = yaml.safe_load(zdt.rotated_secrets_file(tmp_path).read_text())
    assert secrets["vault_app_secrets"]["API_TOKEN"].startswith("bench-")
    assert (tmp_path / "rotated-secrets.yml").stat().st_mode & 0o077 == 0


def _recorded_results() -> dict[str, object]:
    loaded: dict[str, object] = json.loads(RECORDED.read_text(encoding="utf-8"))
    return loaded


def test_report_of_a_quick_pass(tmp_path: Path) -> None:
    """The CI's quick pass: proxy figures of one route, no worker section, no plot."""
    results = json.loads(RECORDED.read_text(encoding="utf-8"))
    results["measurements"] = [m for m in results["measurements"] if m["group"] == "proxy"]
    results["ratios"] = [r for r in results["ratios"] if r["group"] == "proxy"]
    results["zero_downtime"] = []
    results["meta"]["quick"] = True
    results["meta"]["client_address"] = "172.17.0.4"
    results["meta"]["deployed"] = {
        "workers": 3,
        "worker_class": run.KIT_WORKER,
        "max_requests": "1000 + up to 100",
        "service_dropins": ["secrets.conf"],
    }
    written = report.write(results, tmp_path, plot=False)
    assert [p.name for p in written] == ["results.json", "results.md"]
    table = (tmp_path / "results.md").read_text()
    assert "## 1. Proxy tax" in table
    assert "Worker class" not in table
    assert "secrets.conf: its secrets" in table
    assert "from 172.17.0.4" in table


def test_report_and_plot_from_recorded_results(tmp_path: Path) -> None:
    written = report.write(_recorded_results(), tmp_path)
    assert [p.name for p in written] == ["results.json", "results.md", "results.png"]
    table = (tmp_path / "results.md").read_text()
    assert "## 1. Proxy tax" in table
    assert "| nginx TLS HTTP/1.1 / direct (wrk) | live |" in table
    assert "RSS MiB" in table
    assert "capacity ratio" in table
    assert "Load average" in table
    assert (tmp_path / "results.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert report.main([str(tmp_path / "results.json")]) == 0
    labels = [bar.label for bar in plot._bars(_recorded_results())]
    for variant in ("shipped", "proxy-buffering-off"):
        for side in ("direct", "through nginx"):
            assert f"nginx variant {variant}: {side} [live]" in labels


class _KeepAlive(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_GET(self) -> None:
        body = b'{"status":"alive"}'
        self.send_response(200 if self.path == "/health/live" else 404)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def local_server() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _KeepAlive)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


LOAD = measure.Load(connections=4, seconds=1)


def test_load_tools_get_whole_seconds() -> None:
    assert "-d1s" in measure.wrk_argv("http://x/", measure.Load(64, 0.5))
    assert "-d3s" in measure.wrk_argv("http://x/", measure.Load(64, 2.2))
    assert "--duration=2" in measure.h2load_argv("http://x/", measure.Load(64, 2), "/l", h1=True)


@pytest.mark.skipif(
    shutil.which("wrk") is None, reason="wrk is not installed (.ci/run installs it)"
)
def test_real_wrk_run_against_a_local_server(local_server: str) -> None:
    result = measure.wrk(Local(), f"{local_server}/health/live", LOAD)
    assert result.requests > 0
    assert result.errors == 0
    assert result.p99_ms > 0
    missing = measure.wrk(Local(), f"{local_server}/missing", LOAD)
    assert missing.errors == missing.requests > 0


@pytest.mark.skipif(
    shutil.which("wrk") is None or shutil.which("h2load") is None,
    reason="wrk or h2load is not installed (.ci/run installs them)",
)
def test_load_tools_connect_to_another_address_than_the_name(local_server: str) -> None:
    """The proxied probes keep the site's name (SNI, Host) and connect where the bench says:
    wrk through bench/connect.lua, h2load with --connect-to."""
    port = local_server.rsplit(":", 1)[1]
    url = f"http://bench-connect.invalid:{port}/health/live"
    connect = measure.ConnectTo("127.0.0.1", str(PROJECT / "bench" / "connect.lua"))
    result = measure.wrk(Local(), url, LOAD, connect)
    assert result.requests > 0
    assert result.errors == 0
    with tempfile.TemporaryDirectory() as logs:
        h2 = measure.h2load(Local(), url, LOAD, h1=True, log_dir=logs, connect=connect)
    assert h2.requests > 0
    assert h2.errors == 0
    assert "--connect-to=127.0.0.1:443" in measure.h2load_argv(
        "https://app.kit.test/", LOAD, "/l", h1=False, connect=connect
    )


@pytest.mark.skipif(
    shutil.which("h2load") is None, reason="h2load is not installed (.ci/run installs it)"
)
def test_real_h2load_run_against_a_local_server(local_server: str, tmp_path: Path) -> None:
    result = measure.h2load(
        Local(), f"{local_server}/health/live", LOAD, h1=True, log_dir=str(tmp_path)
    )
    assert result.tool == "h2load"
    assert result.protocol == "http/1.1"
    assert result.requests > 0
    assert result.errors == 0
    assert 0 < result.p50_ms <= result.p99_ms
    assert not list(tmp_path.iterdir()), "the request log is removed"


class _FakeContainer(Container):
    """Answers wrk with recorded output and the CPU counter with a steady climb."""

    def __init__(self) -> None:
        super().__init__("fake")
        self.ticks = 0
        self.commands: list[tuple[str, ...]] = []

    def run(
        self, *argv: str, timeout: float = 60.0, check: bool = True, stdin: str | None = None
    ) -> subprocess.CompletedProcess[str]:
        self.commands.append(argv)
        if argv[0] == "wrk":
            return subprocess.CompletedProcess(argv, 0, fixture("wrk-404.txt"), "")
        if argv[:2] == ("bash", "-c") and "cgroup.procs" in argv[2]:
            self.ticks += 100 * len(argv[4:])  # 1 s of CPU per unit and call
            return subprocess.CompletedProcess(argv, 0, f"{self.ticks}\n", "")
        raise AssertionError(f"unexpected command {argv}")


def test_rounds_take_turns_and_ratios_pair_the_same_rounds() -> None:
    container = _FakeContainer()
    bench = run.Bench(container, measure.Load(64, 2), rounds=3, server_name="x", log=lambda _: None)
    probes = [
        run.Probe("a", "g", "A", "live", "wrk", "http://127.0.0.1:1/", units=("one.service",)),
        run.Probe("b", "g", "B", "live", "wrk", "http://127.0.0.1:2/", units=("one", "two")),
    ]
    bench.rounds_of(probes)
    urls = [argv[-1] for argv in container.commands if argv[0] == "wrk"]
    # Warm-ups, then rounds whose first probe rotates.
    assert urls == [p.url for p in probes] + [
        "http://127.0.0.1:1/",
        "http://127.0.0.1:2/",
        "http://127.0.0.1:2/",
        "http://127.0.0.1:1/",
        "http://127.0.0.1:1/",
        "http://127.0.0.1:2/",
    ]
    assert [m["id"] for m in bench.measurements] == ["a", "b"]
    assert bench.measurements[0]["rps"]["n"] == 3
    # Server CPU per request: the counter's climb over the requests of the run.
    cpu_a = bench.runs["a"][0].server_cpu_us
    assert cpu_a == pytest.approx(round(1_000_000 / 7375, 1))
    bench.ratio("g", "b / a", "live", "b", "a")
    ratio = bench.ratios[0]
    assert ratio["rps"]["median"] == pytest.approx(1.0)
    assert ratio["capacity"]["median"] == pytest.approx(0.5, rel=0.01)


def test_capacity_leaves_out_rounds_without_a_positive_cpu_reading() -> None:
    from bench.stats import capacity_ratio

    found = capacity_ratio([200.0, -5.0, 100.0], [100.0, 100.0, 0.0])
    assert found is not None
    assert (found.median, found.n) == (0.5, 1)
    assert capacity_ratio([0.0], [1.0]) is None


def test_the_tier_keeps_one_app_host_in_the_proxys_upstream() -> None:
    """The proxy of molecule/cluster: its upstream lists each app host's live address."""
    site = fixture("app-proxy.conf")
    servers = tier.upstream_servers(site, "app_app")
    assert len(servers) == 2
    edited = tier.keep_only(site, "app_app", servers[0])
    assert tier.upstream_servers(edited, "app_app") == servers
    lines = [line.strip() for line in edited.splitlines() if line.strip().startswith("server ")]
    assert [line.endswith(" down;") for line in lines if ":8000 " in line] == [False, True]
    # Only the app's upstream changes (the ACME peers' keeps its server).
    assert edited.count(" down;") == 1
    assert edited.replace(" down;", ";") == site
    assert nginx_variants.app_upstreams(site) == ["app_app"]
    with pytest.raises(tier.TierError, match="not one of"):
        tier.keep_only(site, "app_app", "10.9.9.9:8000")
    with pytest.raises(tier.TierError, match="no upstream"):
        tier.keep_only(site, "app_blue", servers[0])


def _tier_run(hosts: int, number: int, rps: float, p99: float, errors: int = 0) -> tier.Run:
    get = StreamResult(
        "GET",
        "/v1/items?limit=5",
        12,
        {"200": int(rps * 10)},
        int(rps * 10),
        10.0,
        {},
        5.0,
        p99,
        2 * p99,
    )
    statuses = {"201": 100 - errors, **({"503": errors} if errors else {})}
    post = StreamResult("POST", "/v1/items", 4, statuses, 100, 10.0, {}, 8.0, 2 * p99, 3 * p99)
    return tier.Run(hosts, number, FullSpeedReport([get, post]))


def test_the_tier_table_pairs_the_same_rounds() -> None:
    runs = [
        _tier_run(2, 1, 900, 20.0),
        _tier_run(1, 1, 600, 40.0),
        _tier_run(2, 2, 1000, 20.0),
        _tier_run(1, 2, 500, 20.0, errors=1),
    ]
    assert runs[0].rps == pytest.approx(910.0)
    assert runs[3].non_2xx == 1
    text = tier.table(runs)
    assert "| App hosts | req/s (all) | GET req/s | GET p99 ms | POST req/s | POST p99 ms |" in text
    assert text.splitlines()[0].endswith("| non-2xx | socket errors | app host taken out |")
    assert "| 2 | 960 (910-1010) | 950 (900-1000) |" in text
    assert text.splitlines()[3].startswith("| 1 |")
    assert text.splitlines()[3].endswith("| 1 | 0 | 0 |")
    # Round 1: 910/610, round 2: 1010/510.
    assert "2 app hosts / 1 (same rounds): req/s 1.74 (1.49-1.98), GET p99 0.75 (0.50-1.00)" in text
    assert runs[0].to_json()["streams"][0]["rps"] == 900.0
