"""The bench's results: one JSON document, and the Markdown tables made from it.

``python -m bench.report bench/results/results.json`` rewrites results.md (and the plot) from
a results file, so the tables can be regenerated without measuring again.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from bench.stats import Spread


def _spread(value: dict[str, Any]) -> Spread:
    return Spread(float(value["median"]), float(value["min"]), float(value["max"]), int(value["n"]))


def _row(cells: Sequence[object]) -> str:
    return "| " + " | ".join(str(cell) for cell in cells) + " |"


def _table(header: Sequence[str], rows: list[list[object]]) -> list[str]:
    return [_row(header), _row(["---"] * len(header)), *(_row(row) for row in rows)]


def _measurements(results: dict[str, Any], group: str) -> list[dict[str, Any]]:
    return [m for m in results["measurements"] if m["group"] == group]


def _ratios(results: dict[str, Any], group: str) -> list[dict[str, Any]]:
    return [r for r in results["ratios"] if r["group"] == group]


def _figure_rows(measurements: list[dict[str, Any]], rss: bool = False) -> list[list[object]]:
    rows: list[list[object]] = []
    for m in measurements:
        row: list[object] = [
            m["label"],
            m["route"],
            _spread(m["rps"]).text(0),
            _spread(m["p50_ms"]).text(1),
            _spread(m["p99_ms"]).text(1),
            _spread(m["server_cpu_us"]).text(0) if m.get("server_cpu_us") else "-",
            m["errors"],
        ]
        if rss:
            row.append(f"{m['rss_kib'] / 1024:.0f}" if m.get("rss_kib") else "-")
        rows.append(row)
    return rows


def _capacity(ratio: dict[str, Any]) -> str:
    return _spread(ratio["capacity"]).text(2) if ratio.get("capacity") else "-"


def _ratio_rows(ratios: list[dict[str, Any]]) -> list[list[object]]:
    return [
        [r["name"], r["route"], _spread(r["rps"]).text(2), _spread(r["p99"]).text(2), _capacity(r)]
        for r in ratios
    ]


FIGURE_HEADER = [
    "Configuration",
    "Route",
    "req/s",
    "p50 ms",
    "p99 ms",
    "server CPU us/req",
    "Errors",
]
RATIO_HEADER = ["Ratio (same rounds)", "Route", "req/s ratio", "p99 ratio", "capacity ratio"]


def _deployed_lines(meta: dict[str, Any]) -> list[str]:
    deployed = meta["deployed"]
    dropins = ", ".join(deployed.get("service_dropins", [])) or "none"
    return [
        f"Deployed: {deployed['workers']} x `{deployed['worker_class']}`, max_requests "
        f"{deployed['max_requests']}. Bench instances (direct) run the active colour's release, "
        f"configuration and service drop-ins ({dropins}: its secrets). The load to nginx connects "
        f"from {meta.get('client_address', '127.0.0.1')}, an address its limits do not reach"
        + (" (quick pass: one route, one round, no warm-up)" if meta.get("quick") else "")
        + ".",
        "",
    ]


def markdown(results: dict[str, Any]) -> str:
    """The tables of one run; every figure is median (min-max) of its rounds."""
    meta = results["meta"]
    lines = [
        "# Bench results",
        "",
        f"Run {meta['started']} on {meta['cores']} cores, container `{meta['container']}` "
        f"({meta['versions'].get('nginx', '?')}, gunicorn {meta['versions'].get('gunicorn', '?')}"
        f", {meta['versions'].get('wrk', '?')}, {meta['versions'].get('h2load', '?')}). "
        f"Load average (1 min) {meta['loadavg_start'][0]:.2f} at the start, "
        f"{meta['loadavg_end'][0]:.2f} at the end: the machine is shared, so compare the ratios "
        "(measured in the same rounds), not absolute figures across runs.",
        "",
        f"Every figure is the median (min-max) of {meta['rounds']} rounds of {meta['seconds']:g} s "
        f"at {meta['connections']} keep-alive connections, measured inside the container; "
        "configurations of one table take turns in each round. Routes: "
        + ", ".join(f"`{name}` = `{path}`" for name, path in meta["routes"].items())
        + f". Bench time {meta.get('bench_seconds', 0):.0f} s"
        + (f", converge {meta['converge_seconds']:.0f} s" if meta.get("converge_seconds") else "")
        + ".",
        "",
        "Server CPU us/req: CPU time of the serving units (gunicorn; nginx and gunicorn through "
        "the proxy; never the client) per request, from /proc. Capacity ratio: the inverse ratio "
        "of that figure, i.e. requests per CPU second of one configuration relative to the other; "
        "it depends far less on what else runs on the machine than req/s does.",
        "",
        *([f"Note: {meta['note']}.", ""] if meta.get("note") else []),
        *(_deployed_lines(meta) if meta.get("deployed", {}).get("max_requests") else []),
    ]
    proxy = _figure_rows(_measurements(results, "proxy"))
    if proxy:
        lines += ["## 1. Proxy tax: direct to gunicorn vs nginx over TLS", ""]
        lines += [*_table(FIGURE_HEADER, proxy), ""]
        lines += [*_table(RATIO_HEADER, _ratio_rows(_ratios(results, "proxy"))), ""]
    tuning = _ratios(results, "nginx")
    if tuning:
        lines += [
            "## nginx settings: each one changed alone (proxy / direct, same rounds)",
            "",
            *_table(
                ["Variant", "What changes", "req/s ratio", "p99 ratio", "capacity ratio"],
                [
                    [
                        r["name"],
                        r.get("description", ""),
                        _spread(r["rps"]).text(2),
                        _spread(r["p99"]).text(2),
                        _capacity(r),
                    ]
                    for r in tuning
                ],
            ),
            "",
        ]
    worker_class = _ratios(results, "worker-class")
    workers = _figure_rows(_measurements(results, "workers"), rss=True)
    if workers:
        lines += ["## 2. Worker class and 3. worker count (direct), 4. memory", ""]
        lines += _table([*FIGURE_HEADER, "RSS MiB"], workers)
        ratios = _ratio_rows(
            [*worker_class, *_ratios(results, "gunicorn"), *_ratios(results, "workers")]
        )
        lines += ["", *_table(RATIO_HEADER, ratios)]
        lines.append("")
    for skipped in results.get("skipped", []):
        lines.append(f"- Skipped: {skipped['what']}: {skipped['reason']}")
    if results.get("skipped"):
        lines.append("")
    steps = results.get("zero_downtime", [])
    if steps:
        lines += [
            "## 5. Zero-downtime steps under load (kit's load generator, paced, through nginx)",
            "",
        ]
        rows: list[list[object]] = []
        for step in steps:
            if step.get("skipped"):
                rows.append([step["step"], "skipped", "-", "-", "-", "-", step["skipped"]])
                continue
            phases = {p["name"]: p for p in step["phases"]}
            during, steady = phases.get("step", {}), phases.get("steady", {})
            failed = sum(p["failed_gets"] + p["failed_posts"] for p in step["phases"])
            rows.append(
                [
                    step["step"],
                    f"{step['seconds']:.1f} s, rc {step['rc']}",
                    sum(p["requests"] for p in step["phases"]),
                    failed,
                    f"{steady.get('p99_ms', 0):.1f}",
                    f"{during.get('p99_ms', 0):.1f}",
                    step.get("note", ""),
                ]
            )
        lines += _table(
            ["Step", "Took", "Requests", "Failed", "p99 steady ms", "p99 step ms", "Note"], rows
        )
        lines.append("")
    return "\n".join(lines)


def write(results: dict[str, Any], directory: Path, plot: bool = True) -> list[Path]:
    """results.json, results.md and (with plot) results.png in the directory."""
    directory.mkdir(parents=True, exist_ok=True)
    written = [directory / "results.json", directory / "results.md"]
    written[0].write_text(json.dumps(results, indent=1, sort_keys=True) + "\n", encoding="utf-8")
    written[1].write_text(markdown(results), encoding="utf-8")
    if plot:
        from bench.plot import plot_results  # matplotlib only when a plot is asked for

        written.append(plot_results(results, directory / "results.png"))
    return written


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Rewrite results.md and results.png")
    parser.add_argument("results", type=Path)
    args = parser.parse_args(argv)
    results = json.loads(args.results.read_text(encoding="utf-8"))
    for path in write(results, args.results.parent):
        print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
