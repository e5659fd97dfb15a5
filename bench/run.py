"""``make bench``: measure the converged bench container and write bench/results/.

Run by bench/run.sh after the container is converged; usable alone on a converged host:
``python -m bench.run --container fastapi-kit-bench``. Every load run is bounded (wrk -d,
h2load -D, subprocess timeouts) and stays inside the container: to the bench instances on
127.0.0.1, and to nginx on an address of the container that the site's rate limits exempt
(nginx_variants.client_address), or the figures would be 429 answers.

``--quick`` is the CI's pass through the same code (molecule/default/tests/test_bench_smoke.py):
one bench instance of the deployed configuration with the active colour's secrets, the proxy
probes of one route, one round of 1 s, a results directory; ``--clean-up`` then also removes the
load tools and files the run put on the host.
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime
import re
import signal
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench import instances, measure, nginx_variants, report, zdt
from bench.instances import Deployed, Instance
from bench.measure import ConnectTo, Load
from bench.parse import LoadResult
from bench.remote import Container, RemoteError
from bench.stats import capacity_ratio, paired_ratios, spread

PROJECT = Path(__file__).resolve().parents[1]
ROUTES = {"live": "/health/live", "db": "/v1/items?limit=5"}
ASGI = "asgi"
# uvicorn's own gunicorn worker, and the kit's (fastapi-vm-kit-runtime, the default
# app_worker_class), which stops without cutting a kept-alive connection.
UVICORN = "uvicorn_worker.UvicornWorker"
KIT_WORKER = "fastapi_vm_kit_runtime.worker.UvicornWorker"
WORKER_KINDS = {ASGI: "asgi", UVICORN: "uvicorn", KIT_WORKER: "kit"}
DEFAULT_PORT = 9000
ASGI_PORT = 9100
NORECYCLE_PORT = 9200
UVICORN_PORT = 9300
TICKS_PER_SECOND = 100  # USER_HZ of /proc/<pid>/stat on Linux
# Where wrk finds bench/connect.lua in the container (zdt.install_driver copies it there).
CONNECT_SCRIPT = f"{zdt.DRIVER_DIR}/connect.lua"
# The load tools bench.run installs in the container (Debian's packages), and apt's options: wait
# for the dpkg lock (unattended-upgrades may hold it on a fresh host) instead of failing.
LOAD_TOOLS = ("wrk", "nghttp2-client")
APT = "apt-get -o DPkg::Lock::Timeout=180 -y -qq"


@dataclass(frozen=True)
class Probe:
    """One configuration to measure: a client (wrk, h2load) against a URL."""

    id: str
    group: str
    label: str
    route: str
    tool: str
    url: str
    extra: dict[str, Any] = field(default_factory=dict, hash=False, compare=False)
    # systemd units that serve this probe: their CPU time per request is recorded.
    units: tuple[str, ...] = ()
    # Connect to this address instead of the URL's name (nginx: an address it does not limit).
    connect: str = ""


@dataclass
class Bench:
    container: Container
    load: Load
    rounds: int
    server_name: str
    log: Callable[[str], None] = print
    # The address the load to nginx connects to (one the site's rate limits exempt).
    client: str = "127.0.0.1"
    measurements: list[dict[str, Any]] = field(default_factory=list)
    ratios: list[dict[str, Any]] = field(default_factory=list)
    skipped: list[dict[str, str]] = field(default_factory=list)
    runs: dict[str, list[LoadResult]] = field(default_factory=dict)

    def run_probe(self, probe: Probe, seconds: float | None = None) -> LoadResult:
        load = self.load if seconds is None else Load(self.load.connections, seconds)
        connect = ConnectTo(probe.connect, CONNECT_SCRIPT) if probe.connect else None
        before = self.container.cpu_ticks(probe.units) if probe.units else 0
        if probe.tool == "wrk":
            result = measure.wrk(self.container, probe.url, load, connect)
        else:
            h1 = probe.tool == "h2load-h1"
            result = measure.h2load(self.container, probe.url, load, h1=h1, connect=connect)
        if probe.units and result.requests:
            ticks = self.container.cpu_ticks(probe.units) - before
            cpu_us = ticks * 1_000_000 / TICKS_PER_SECOND / result.requests
            result = dataclasses.replace(result, server_cpu_us=round(cpu_us, 1))
        return result

    def rounds_of(self, probes: list[Probe], warmup: float = 1.0) -> None:
        """Warm each up (not recorded; no warm-up when ``warmup`` is 0), then every round runs
        each probe once, in turn; the starting probe rotates so that none always runs first."""
        for probe in probes if warmup > 0 else []:
            self.run_probe(probe, warmup)
        for number in range(self.rounds):
            shift = number % len(probes)
            for probe in probes[shift:] + probes[:shift]:
                result = self.run_probe(probe)
                self.runs.setdefault(probe.id, []).append(result)
                self.log(
                    f"bench: {probe.id}: {result.rps:.0f} req/s, p99 {result.p99_ms:.1f} ms"
                    + (f", {result.errors} errors" if result.errors else "")
                )
        for probe in probes:
            self.record(probe)

    def record(self, probe: Probe) -> None:
        runs = self.runs[probe.id]
        self.measurements.append(
            {
                "id": probe.id,
                "group": probe.group,
                "label": probe.label,
                "route": probe.route,
                "tool": probe.tool,
                "url": probe.url,
                **({"connect": probe.connect} if probe.connect else {}),
                **probe.extra,
                "runs": [r.to_json() for r in runs],
                "rps": spread([r.rps for r in runs]).to_json(),
                "p50_ms": spread([r.p50_ms for r in runs]).to_json(),
                "p99_ms": spread([r.p99_ms for r in runs]).to_json(),
                "server_cpu_us": _cpu_spread(runs),
                "errors": sum(r.errors for r in runs),
            }
        )

    def ratio(
        self, group: str, name: str, route: str, top: str, bottom: str, description: str = ""
    ) -> None:
        upper, lower = self.runs[top], self.runs[bottom]
        rps = paired_ratios([r.rps for r in upper], [r.rps for r in lower])
        p99 = paired_ratios([r.p99_ms for r in upper], [r.p99_ms for r in lower])
        capacity = capacity_ratio(
            [r.server_cpu_us for r in upper], [r.server_cpu_us for r in lower]
        )
        entry: dict[str, Any] = {
            "group": group,
            "name": name,
            "route": route,
            "numerator": top,
            "denominator": bottom,
            "rps": rps.to_json(),
            "p99": p99.to_json(),
            "capacity": capacity.to_json() if capacity else None,
            **({"description": description} if description else {}),
        }
        self.ratios.append(entry)
        self.log(
            f"bench: ratio {name} [{route}]: req/s {rps.median:.2f}, p99 {p99.median:.2f}"
            + (f", capacity {capacity.median:.2f}" if capacity else "")
        )


def _cpu_spread(runs: list[LoadResult]) -> dict[str, Any] | None:
    """Server CPU per request over the rounds that measured it (a reading that is not positive
    means a worker was reaped between the two reads of the counter)."""
    measured = [r.server_cpu_us for r in runs if r.server_cpu_us > 0]
    return spread(measured).to_json() if measured else None


def nginx_url(server_name: str, path: str) -> str:
    # An explicit port: the minimal image has no /etc/services to look "https" up in.
    return f"https://{server_name}:443{path}"


def proxy_probes(
    server_name: str,
    direct: Instance,
    deployed: Deployed,
    client: str,
    routes: Sequence[str] = tuple(ROUTES),
) -> list[Probe]:
    """Direct to the bench instance against nginx over TLS (from ``client``), each tool."""
    direct_units = (f"{deployed.app}@{direct.name}.service",)
    proxy_units = ("nginx.service", f"{deployed.app}@{deployed.colour}.service")
    probes = []
    for route in routes:
        path = ROUTES[route]
        probes += [
            Probe(
                f"direct-wrk-{route}",
                "proxy",
                "direct, wrk HTTP/1.1",
                route,
                "wrk",
                direct.url + path,
                units=direct_units,
            ),
            Probe(
                f"nginx-h1-{route}",
                "proxy",
                "nginx TLS, wrk HTTP/1.1",
                route,
                "wrk",
                nginx_url(server_name, path),
                units=proxy_units,
                connect=client,
            ),
            Probe(
                f"direct-h2load-{route}",
                "proxy",
                "direct, h2load HTTP/1.1",
                route,
                "h2load-h1",
                direct.url + path,
                units=direct_units,
            ),
            Probe(
                f"nginx-h2-{route}",
                "proxy",
                "nginx TLS, h2load HTTP/2",
                route,
                "h2load",
                nginx_url(server_name, path),
                units=proxy_units,
                connect=client,
            ),
        ]
    return probes


def proxy_phase(
    bench: Bench,
    direct: Instance,
    deployed: Deployed,
    routes: Sequence[str] = tuple(ROUTES),
    warmup: float = 1.0,
) -> None:
    bench.rounds_of(proxy_probes(bench.server_name, direct, deployed, bench.client, routes), warmup)
    for route in routes:
        bench.ratio(
            "proxy",
            "nginx TLS HTTP/1.1 / direct (wrk)",
            route,
            f"nginx-h1-{route}",
            f"direct-wrk-{route}",
        )
        bench.ratio(
            "proxy",
            "nginx TLS HTTP/2 / direct HTTP/1.1 (h2load)",
            route,
            f"nginx-h2-{route}",
            f"direct-h2load-{route}",
        )


def _nginx_reload(container: Container) -> None:
    container.run("nginx", "-t")
    container.run("systemctl", "reload", "nginx")
    time.sleep(1.5)


def tuning_phase(
    bench: Bench,
    direct: Instance,
    deployed: Deployed,
    routes: Sequence[str],
    only: Sequence[str] = (),
) -> None:
    """The shipped nginx configuration and each variant, proxied against direct, same rounds."""
    c = bench.container
    direct_units = (f"{deployed.app}@{direct.name}.service",)
    proxy_units = ("nginx.service", f"{deployed.app}@{deployed.colour}.service")
    paths = (nginx_variants.NGINX_CONF, nginx_variants.SITE_CONF)
    shipped = {path: c.read(path) for path in paths}
    settings = nginx_variants.shipped(shipped)
    found = nginx_variants.variants(
        settings.worker_processes, settings.keepalive, settings.upstreams
    )
    try:
        for variant in found:
            if only and variant.name not in only and variant.name != "shipped":
                continue
            files = nginx_variants.apply_edits(shipped, variant.edits)
            for path in paths:
                c.write(path, files[path])
            _nginx_reload(c)
            probes = []
            for route in routes:
                path = ROUTES[route]
                probes += [
                    Probe(
                        f"nginx-{variant.name}-direct-{route}",
                        "nginx",
                        "direct, wrk",
                        route,
                        "wrk",
                        direct.url + path,
                        {"variant": variant.name},
                        direct_units,
                    ),
                    Probe(
                        f"nginx-{variant.name}-proxy-{route}",
                        "nginx",
                        f"nginx {variant.name}, wrk",
                        route,
                        "wrk",
                        nginx_url(bench.server_name, path),
                        {"variant": variant.name},
                        proxy_units,
                        bench.client,
                    ),
                ]
            bench.rounds_of(probes)
            for route in routes:
                bench.ratio(
                    "nginx",
                    variant.name,
                    route,
                    f"nginx-{variant.name}-proxy-{route}",
                    f"nginx-{variant.name}-direct-{route}",
                    description=variant.description,
                )
    finally:
        for path in paths:
            c.write(path, shipped[path])
        _nginx_reload(c)


def deployed_instance(deployed: Deployed) -> Instance:
    """The bench instance of the deployed configuration (worker count and class)."""
    n = deployed.workers
    return Instance(f"{instances.PREFIX}{n}", DEFAULT_PORT + n, n, deployed.worker_class)


def worker_instances(deployed: Deployed, cores: int) -> list[Instance]:
    """The deployed worker class at 1..2 x cores + 1 workers, the deployed count with worker
    recycling off, and at the deployed count the other worker classes this release has:
    uvicorn's own worker (when the kit's is deployed) and gunicorn's native asgi worker."""
    found = [
        Instance(f"{instances.PREFIX}{n}", DEFAULT_PORT + n, n, deployed.worker_class)
        for n in range(1, 2 * cores + 2)
    ]
    found.append(
        Instance(
            f"{instances.PREFIX}norecycle",
            NORECYCLE_PORT,
            deployed.workers,
            deployed.worker_class,
            ("--max-requests", "0"),
            "no-recycle",
        )
    )
    if deployed.worker_class != UVICORN and UVICORN in deployed.worker_classes:
        found.append(
            Instance(f"{instances.PREFIX}uvicorn", UVICORN_PORT, deployed.workers, UVICORN)
        )
    if ASGI in deployed.worker_classes:
        found.append(Instance(f"{instances.PREFIX}asgi", ASGI_PORT, deployed.workers, ASGI))
    return found


def worker_kind(worker_class: str) -> str:
    return WORKER_KINDS.get(worker_class, worker_class.rsplit(".", 1)[-1].lower())


def instance_key(instance: Instance) -> str:
    kind = worker_kind(instance.worker_class)
    return f"{kind}-w{instance.workers}" + (f"-{instance.label}" if instance.label else "")


def workers_phase(bench: Bench, deployed: Deployed, pool: list[Instance]) -> None:
    c, app = bench.container, deployed.app
    probes: list[Probe] = []
    for instance in pool:
        key = instance_key(instance)
        label = key.replace("-w", " x").replace("-", " ")
        for route, path in ROUTES.items():
            probes.append(
                Probe(
                    f"{key}-{route}",
                    "workers",
                    label,
                    route,
                    "wrk",
                    instance.url + path,
                    {
                        "workers": instance.workers,
                        "worker_class": instance.worker_class,
                        "options": list(instance.options),
                    },
                    (f"{app}@{instance.name}.service",),
                ),
            )
    bench.rounds_of(probes)
    by_key = {instance_key(i): i for i in pool}
    for measurement in bench.measurements:
        if measurement["group"] == "workers":
            instance = by_key[measurement["id"].rsplit("-", 1)[0]]
            measurement["rss_kib"] = instances.rss_kib(c, app, instance)
            measurement["processes"] = instances.process_count(c, app, instance)
    base = instance_key(deployed_instance(deployed))
    for route in ROUTES:
        for instance in pool:
            key = instance_key(instance)
            if key == base:
                continue
            group = (
                "worker-class"
                if instance.worker_class != deployed.worker_class
                else ("gunicorn" if instance.label else "workers")
            )
            bench.ratio(group, f"{key} / {base}", route, f"{key}-{route}", f"{base}-{route}")


def versions(c: Container) -> dict[str, str]:
    nginx = c.run("nginx", "-v", check=False).stderr.strip().replace("nginx version: ", "")
    wrk = c.run("wrk", "--version", check=False).stdout.split(" [")[0]
    h2load = c.run("h2load", "--version", check=False).stdout.strip()
    return {"nginx": nginx, "wrk": wrk, "h2load": h2load}


def _packages(c: Container) -> set[str]:
    listed = c.run("dpkg-query", "--show", "--showformat", "${Package}\\t${Status}\\n").stdout
    return {
        line.split("\t")[0] for line in listed.splitlines() if line.endswith("install ok installed")
    }


def prepare(c: Container) -> list[str]:
    """The load tools in the container (Debian's packages; apt reaches the archive over http);
    the packages this installed (the tools and their libraries), for ``clean_up``."""
    before = _packages(c)
    tools = " ".join(LOAD_TOOLS)
    c.sh(
        "command -v wrk >/dev/null && command -v h2load >/dev/null && exit 0\n"
        "export DEBIAN_FRONTEND=noninteractive\n"
        f"{APT} install --no-install-recommends {tools} >/dev/null 2>&1 || "
        f"{{ {APT} update && {APT} install --no-install-recommends {tools} >/dev/null; }}",
        timeout=600,
    )
    return sorted(_packages(c) - before)


def clean_up(c: Container, installed: Sequence[str]) -> None:
    """Leave the host as bench.run found it: purge the packages it installed, remove the files
    it wrote (the bench instances are removed by ``instances.remove_all``)."""
    if installed:
        c.sh(
            f"export DEBIAN_FRONTEND=noninteractive\n{APT} purge {' '.join(installed)} >/dev/null",
            timeout=300,
        )
    c.run("rm", "-rf", zdt.DRIVER_DIR, zdt.ROOT_CA)


def local_addresses(c: Container) -> list[str]:
    """The container's IPv4 addresses (``ip -4 -o addr show``: the fourth field, no prefix)."""
    listed = c.run("ip", "-4", "-o", "addr", "show").stdout
    return [line.split()[3].split("/")[0] for line in listed.splitlines() if len(line.split()) > 3]


def max_requests(c: Container, deployed: Deployed) -> str:
    """The deployed worker recycling (gunicorn's max_requests and jitter), as configured."""
    config = c.read(f"/etc/{deployed.app}/{deployed.colour}/gunicorn.conf.py")
    found = dict(re.findall(r"^(max_requests(?:_jitter)?) = (\d+)", config, re.MULTILINE))
    return f"{found.get('max_requests', '?')} + up to {found.get('max_requests_jitter', '0')}"


def seed_items(c: Container, server_name: str, count: int = 5) -> None:
    """A few rows for the database route to read."""
    for number in range(count):
        c.run(
            "curl",
            "-fsS",
            "-o",
            "/dev/null",
            "--cacert",
            zdt.ROOT_CA,
            "-H",
            "Content-Type: application/json",
            "-d",
            f'{{"name": "bench-{number}", "description": "seeded by make bench"}}',
            nginx_url(server_name, "/v1/items"),
        )


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--container", default="fastapi-kit-bench")
    parser.add_argument("--app", default="app")
    parser.add_argument("--server-name", default="app.kit.test")
    parser.add_argument("--out", type=Path, default=PROJECT / "bench" / "results")
    parser.add_argument("--seconds", type=int, default=2, help="length of one load run")
    parser.add_argument("--rounds", type=int, default=3, help="repeats of every figure")
    parser.add_argument("--connections", type=int, default=64)
    parser.add_argument("--tuning-routes", default="live", help="routes of the nginx variants")
    parser.add_argument(
        "--variants", default="", help="only these nginx variants (and the shipped one)"
    )
    parser.add_argument("--skip", default="", help="phases to skip: proxy,tuning,workers,zdt")
    parser.add_argument(
        "--quick",
        action="store_true",
        help="the CI's short pass: one bench instance of the deployed configuration, the proxy "
        "probes of the live route, 1 round of 1 s at up to 16 connections, no warm-up, nothing "
        "written to the app's data, no plot; no other phase",
    )
    parser.add_argument(
        "--clean-up",
        action="store_true",
        help="also remove what the run put on the host (the load tools it installed, its files)",
    )
    parser.add_argument("--converge-seconds", type=float, default=0.0)
    args = parser.parse_args(argv)
    skip = set(filter(None, args.skip.split(",")))
    if args.quick:
        # 16 connections: a short run is not all TLS handshakes on a loaded CI machine.
        args.rounds, args.seconds, args.connections = 1, 1, min(args.connections, 16)
        skip |= {"tuning", "workers", "zdt"}
    # A stop (SIGTERM) still restores nginx's files and removes the bench instances.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))

    c = Container(args.container)
    started = time.monotonic()
    installed = prepare(c)
    try:
        return _measure(c, args, skip, started)
    finally:
        if args.clean_up:
            clean_up(c, installed)


def _measure(c: Container, args: argparse.Namespace, skip: set[str], started: float) -> int:
    zdt.install_driver(c)
    deployed = instances.read_deployed(c, args.app)
    cores = int(c.run("nproc").stdout)
    try:
        site = c.read(nginx_variants.SITE_CONF)
        client = nginx_variants.client_address(site, local_addresses(c), args.connections)
    except nginx_variants.ClientAddressError as error:
        raise RemoteError(str(error)) from error
    bench = Bench(c, Load(args.connections, args.seconds), args.rounds, args.server_name)
    bench.client = client
    meta: dict[str, Any] = {
        "started": datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "container": args.container,
        "cores": cores,
        "loadavg_start": c.loadavg(),
        "rounds": args.rounds,
        "seconds": args.seconds,
        "connections": args.connections,
        "quick": args.quick,
        "routes": ROUTES,
        "deployed": {
            "workers": deployed.workers,
            "worker_class": deployed.worker_class,
            "max_requests": max_requests(c, deployed),
            "colour": deployed.colour,
            # Copied to every bench instance: the secrets the active colour loads.
            "service_dropins": list(deployed.service_dropins),
        },
        "client_address": client,
        "versions": {**versions(c), "gunicorn": deployed.gunicorn_version},
        "converge_seconds": args.converge_seconds,
        "loadavg_phases": {},
    }
    bench.log(
        f"bench: {args.container}: {deployed.colour} runs {deployed.workers} x "
        f"{deployed.worker_class} (max_requests {meta['deployed']['max_requests']}); drop-ins "
        f"copied to the bench instances: {', '.join(deployed.service_dropins) or 'none'}; "
        f"load to nginx from {client}"
    )
    if ASGI not in deployed.worker_classes and not args.quick:
        bench.skipped.append(
            {
                "what": "gunicorn's native asgi worker",
                "reason": f"gunicorn {deployed.gunicorn_version} has no asgi worker "
                f"(gunicorn.workers: {', '.join(deployed.worker_classes)})",
            }
        )
    default = deployed_instance(deployed)
    if args.quick:
        pool, routes, warmup = [default], ["live"], 0.0
    else:
        seed_items(c, args.server_name)
        pool, routes, warmup = worker_instances(deployed, cores), list(ROUTES), 1.0
        if default not in pool:
            pool.insert(0, default)
    args.out.mkdir(parents=True, exist_ok=True)
    log_dir = PROJECT / ".cache" / "bench"
    log_dir.mkdir(parents=True, exist_ok=True)
    zero_downtime: list[dict[str, Any]] = []
    try:
        instances.remove_all(c, args.app)
        instances.create(c, deployed, pool)
        instances.start_all(c, args.app, pool)
        phases: list[tuple[str, Callable[[], None]]] = [
            ("proxy", lambda: proxy_phase(bench, default, deployed, routes, warmup)),
            (
                "tuning",
                lambda: tuning_phase(
                    bench,
                    default,
                    deployed,
                    args.tuning_routes.split(","),
                    list(filter(None, args.variants.split(","))),
                ),
            ),
            ("workers", lambda: workers_phase(bench, deployed, pool)),
        ]
        for name, phase in phases:
            if name in skip:
                continue
            begun = time.monotonic()
            load_before = c.loadavg()
            phase()
            meta["loadavg_phases"][name] = {
                "start": load_before,
                "end": c.loadavg(),
                "seconds": round(time.monotonic() - begun, 1),
            }
            bench.log(f"bench: phase {name} took {time.monotonic() - begun:.0f}s")
    finally:
        instances.remove_all(c, args.app)
    if "zdt" not in skip:
        begun = time.monotonic()
        steps = zdt.run_steps(c, args.server_name, zdt.Pacing(), log_dir, address=client)
        zero_downtime = [s.to_json() for s in steps]
        seconds = round(time.monotonic() - begun, 1)
        meta["loadavg_phases"]["zdt"] = {"end": c.loadavg(), "seconds": seconds}
    meta["loadavg_end"] = c.loadavg()
    meta["bench_seconds"] = round(time.monotonic() - started, 1)
    results = {
        "meta": meta,
        "measurements": bench.measurements,
        "ratios": bench.ratios,
        "skipped": bench.skipped,
        "zero_downtime": zero_downtime,
    }
    # The quick pass writes no plot (the smoke test of make unit draws one from recorded results).
    for path in report.write(results, args.out, plot=not args.quick):
        print(f"bench: wrote {path.relative_to(PROJECT) if path.is_relative_to(PROJECT) else path}")
    failed_steps = [s["step"] for s in zero_downtime if not s["skipped"] and s["rc"] != 0]
    if failed_steps:
        print(f"bench: FAILED steps: {', '.join(failed_steps)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except RemoteError as error:
        print(f"bench: ERROR: {error}", file=sys.stderr)
        sys.exit(1)
