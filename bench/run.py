"""``make bench``: measure the converged bench container and write bench/results/.

Run by scripts/bench.sh after the container is converged; usable alone on a converged host:
``python -m bench.run --container fastapi-kit-bench``. Every load run is bounded (wrk -d,
h2load -D, subprocess timeouts) and goes to 127.0.0.1 inside the container only.
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
from bench.measure import Load
from bench.parse import LoadResult
from bench.remote import Container, RemoteError
from bench.stats import capacity_ratio, paired_ratios, spread

PROJECT = Path(__file__).resolve().parents[1]
ROUTES = {"live": "/health/live", "db": "/v1/items?limit=5"}
ASGI = "asgi"
UVICORN = "uvicorn_worker.UvicornWorker"
DEFAULT_PORT = 9000
ASGI_PORT = 9100
NORECYCLE_PORT = 9200
TICKS_PER_SECOND = 100  # USER_HZ of /proc/<pid>/stat on Linux


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


@dataclass
class Bench:
    container: Container
    load: Load
    rounds: int
    server_name: str
    log: Callable[[str], None] = print
    measurements: list[dict[str, Any]] = field(default_factory=list)
    ratios: list[dict[str, Any]] = field(default_factory=list)
    skipped: list[dict[str, str]] = field(default_factory=list)
    runs: dict[str, list[LoadResult]] = field(default_factory=dict)

    def run_probe(self, probe: Probe, seconds: float | None = None) -> LoadResult:
        load = self.load if seconds is None else Load(self.load.connections, seconds)
        before = self.container.cpu_ticks(probe.units) if probe.units else 0
        if probe.tool == "wrk":
            result = measure.wrk(self.container, probe.url, load)
        else:
            result = measure.h2load(self.container, probe.url, load, h1=probe.tool == "h2load-h1")
        if probe.units and result.requests:
            ticks = self.container.cpu_ticks(probe.units) - before
            cpu_us = ticks * 1_000_000 / TICKS_PER_SECOND / result.requests
            result = dataclasses.replace(result, server_cpu_us=round(cpu_us, 1))
        return result

    def rounds_of(self, probes: list[Probe], warmup: float = 1.0) -> None:
        """Warm each up (not recorded), then every round runs each probe once, in turn; the
        starting probe rotates so that none always runs first."""
        for probe in probes:
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


def proxy_probes(server_name: str, direct: Instance, deployed: Deployed) -> list[Probe]:
    direct_units = (f"{deployed.app}@{direct.name}.service",)
    proxy_units = ("nginx.service", f"{deployed.app}@{deployed.colour}.service")
    probes = []
    for route, path in ROUTES.items():
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
            ),
        ]
    return probes


def proxy_phase(bench: Bench, direct: Instance, deployed: Deployed) -> None:
    bench.rounds_of(proxy_probes(bench.server_name, direct, deployed))
    for route in ROUTES:
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


def _shipped_setting(files: dict[str, str]) -> tuple[str, int]:
    processes = re.search(r"^worker_processes (\S+);", files[nginx_variants.NGINX_CONF], re.M)
    keepalive = re.search(r"^\s*keepalive (\d+);", files[nginx_variants.SITE_CONF], re.M)
    return (processes[1] if processes else "auto", int(keepalive[1]) if keepalive else 0)


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
    processes, keepalive = _shipped_setting(shipped)
    try:
        for variant in nginx_variants.variants(processes, keepalive):
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


def worker_instances(deployed: Deployed, cores: int) -> list[Instance]:
    """uvicorn workers 1..2 x cores + 1, the deployed count with worker recycling off, and the
    native asgi worker at the deployed count when this gunicorn has it."""
    found = [
        Instance(f"{instances.PREFIX}{n}", DEFAULT_PORT + n, n, UVICORN)
        for n in range(1, 2 * cores + 2)
    ]
    found.append(
        Instance(
            f"{instances.PREFIX}norecycle",
            NORECYCLE_PORT,
            deployed.workers,
            UVICORN,
            ("--max-requests", "0"),
            "no-recycle",
        )
    )
    if ASGI in deployed.worker_classes:
        found.append(Instance(f"{instances.PREFIX}asgi", ASGI_PORT, deployed.workers, ASGI))
    return found


def instance_key(instance: Instance) -> str:
    kind = "asgi" if instance.worker_class == ASGI else "uvicorn"
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
    base = f"uvicorn-w{deployed.workers}"
    for route in ROUTES:
        for instance in pool:
            key = instance_key(instance)
            if key == base:
                continue
            group = (
                "workers"
                if instance.worker_class == UVICORN and not instance.label
                else ("worker-class" if instance.worker_class == ASGI else "gunicorn")
            )
            bench.ratio(group, f"{key} / {base}", route, f"{key}-{route}", f"{base}-{route}")


def versions(c: Container) -> dict[str, str]:
    nginx = c.run("nginx", "-v", check=False).stderr.strip().replace("nginx version: ", "")
    wrk = c.run("wrk", "--version", check=False).stdout.split(" [")[0]
    h2load = c.run("h2load", "--version", check=False).stdout.strip()
    return {"nginx": nginx, "wrk": wrk, "h2load": h2load}


def prepare(c: Container) -> None:
    """The load tools in the container (Debian's packages; apt reaches the archive over http)."""
    c.sh(
        "command -v wrk >/dev/null && command -v h2load >/dev/null && exit 0\n"
        "export DEBIAN_FRONTEND=noninteractive\n"
        "apt-get install -y -qq --no-install-recommends wrk nghttp2-client >/dev/null 2>&1 || "
        "{ apt-get update -qq && apt-get install -y -qq --no-install-recommends wrk "
        "nghttp2-client >/dev/null; }",
        timeout=300,
    )


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
    parser.add_argument("--converge-seconds", type=float, default=0.0)
    args = parser.parse_args(argv)
    skip = set(filter(None, args.skip.split(",")))
    # A stop (SIGTERM) still restores nginx's files and removes the bench instances.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))

    started = time.monotonic()
    c = Container(args.container)
    prepare(c)
    zdt.install_driver(c)
    deployed = instances.read_deployed(c, args.app)
    cores = int(c.run("nproc").stdout)
    bench = Bench(c, Load(args.connections, args.seconds), args.rounds, args.server_name)
    meta: dict[str, Any] = {
        "started": datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "container": args.container,
        "cores": cores,
        "loadavg_start": c.loadavg(),
        "rounds": args.rounds,
        "seconds": args.seconds,
        "connections": args.connections,
        "routes": ROUTES,
        "deployed": {"workers": deployed.workers, "worker_class": deployed.worker_class},
        "versions": {**versions(c), "gunicorn": deployed.gunicorn_version},
        "converge_seconds": args.converge_seconds,
        "loadavg_phases": {},
    }
    if ASGI not in deployed.worker_classes:
        bench.skipped.append(
            {
                "what": "gunicorn's native asgi worker",
                "reason": f"gunicorn {deployed.gunicorn_version} has no asgi worker "
                f"(gunicorn.workers: {', '.join(deployed.worker_classes)})",
            }
        )
    seed_items(c, args.server_name)
    pool = worker_instances(deployed, cores)
    default = next(i for i in pool if i.worker_class == UVICORN and i.workers == deployed.workers)
    args.out.mkdir(parents=True, exist_ok=True)
    log_dir = PROJECT / ".cache" / "bench"
    log_dir.mkdir(parents=True, exist_ok=True)
    zero_downtime: list[dict[str, Any]] = []
    try:
        instances.remove_all(c, args.app)
        instances.create(c, deployed, pool)
        instances.start_all(c, args.app, pool)
        phases: list[tuple[str, Callable[[], None]]] = [
            ("proxy", lambda: proxy_phase(bench, default, deployed)),
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
        steps = zdt.run_steps(c, args.server_name, zdt.Pacing(), log_dir)
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
    for path in report.write(results, args.out):
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
