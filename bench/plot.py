"""The PNG: throughput and p99 of every measured configuration (median, min-max as error bars)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt

GROUP_COLOURS = {"proxy": "tab:blue", "workers": "tab:green", "nginx": "tab:orange"}


@dataclass(frozen=True)
class Bar:
    label: str
    group: str
    figures: dict[str, dict[str, Any]]


def _label(measurement: dict[str, Any]) -> str:
    if measurement["group"] == "nginx":
        proxied = measurement["id"].endswith(f"-proxy-{measurement['route']}")
        side = "through nginx" if proxied else "direct"
        return f"nginx variant {measurement.get('variant', '?')}: {side} [{measurement['route']}]"
    return f"{measurement['label']} [{measurement['route']}]"


def _bars(results: dict[str, Any]) -> list[Bar]:
    """Proxy tax, nginx variants, then the worker configurations, in the order measured."""
    order = {"proxy": 0, "nginx": 1, "workers": 2}
    chosen = [m for m in results["measurements"] if m["group"] in order]
    chosen.sort(key=lambda m: order[m["group"]])
    return [Bar(_label(m), m["group"], {"rps": m["rps"], "p99": m["p99_ms"]}) for m in chosen]


def plot_results(results: dict[str, Any], path: Path) -> Path:
    bars = _bars(results)
    labels = [b.label for b in bars]
    colours = [GROUP_COLOURS.get(b.group, "tab:grey") for b in bars]
    positions = list(range(len(bars)))
    figure, (left, right) = plt.subplots(
        1, 2, figsize=(14, 0.32 * len(bars) + 2.2), sharey=True, constrained_layout=True
    )
    for axis, key, title in ((left, "rps", "throughput, req/s"), (right, "p99", "p99 latency, ms")):
        medians = [float(b.figures[key]["median"]) for b in bars]
        lower = [m - float(b.figures[key]["min"]) for m, b in zip(medians, bars, strict=True)]
        upper = [float(b.figures[key]["max"]) - m for m, b in zip(medians, bars, strict=True)]
        axis.barh(positions, medians, xerr=[lower, upper], color=colours, capsize=2)
        axis.set_title(title)
        axis.grid(axis="x", alpha=0.3)
    left.set_yticks(positions, labels, fontsize=8)
    left.invert_yaxis()
    meta = results["meta"]
    figure.suptitle(
        f"make bench {meta['started']}: median and min-max of {meta['rounds']} rounds of "
        f"{meta['seconds']:g} s, {meta['connections']} connections, {meta['cores']} cores, "
        f"load avg {meta['loadavg_start'][0]:.1f}-{meta['loadavg_end'][0]:.1f}",
        fontsize=10,
    )
    figure.savefig(path, dpi=100)
    plt.close(figure)
    return path
