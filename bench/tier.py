"""The proxy tier's figures: full speed through the proxy to every app host, then to one.

molecule/cluster/tests/test_tier_bench.py (``make bench-cluster``) measures them on the converged
cluster scenario: wrk at full speed (kit_harness.fullspeed: reads and writes on
kept-alive connections, every non-2xx answer and socket error counted) through the proxy's
published HTTPS port, with every app host in the proxy's upstream, then with all but one marked
``down`` in the rendered site (``nginx -t``, reload; the shipped file comes back afterwards).
The configurations take turns in each round, so a ratio pairs figures of the same round. This
module holds the pure parts: the edit of the rendered upstream, the figures and their table.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from kit_harness.fullspeed import FullSpeedReport, StreamResult

from bench.stats import paired_ratios, spread


class TierError(ValueError):
    """The rendered site has no such upstream, or not the servers the edit expects."""


def _upstream_block(site: str, upstream: str) -> re.Match[str]:
    block = re.search(
        rf"^upstream {re.escape(upstream)} \{{\n(.*?)^\}}", site, re.MULTILINE | re.DOTALL
    )
    if block is None:
        raise TierError(f"no upstream {upstream} in the rendered site")
    return block


_SERVER = re.compile(r"^(\s*server (\S+)(?: [^;\n]*?)?)(?P<down> down)?;$", re.MULTILINE)


def upstream_servers(site: str, upstream: str) -> list[str]:
    """The addresses (``ip:port``) of the upstream's servers, as rendered."""
    return [m[2] for m in _SERVER.finditer(_upstream_block(site, upstream)[1])]


def keep_only(site: str, upstream: str, keep: str) -> str:
    """The site with every server of the upstream but ``keep`` marked ``down`` (nginx sends
    them no request; the configuration stays valid and the line stays where it was)."""
    block = _upstream_block(site, upstream)
    servers = upstream_servers(site, upstream)
    if servers.count(keep) != 1 or len(servers) < 2:
        raise TierError(f"{keep} is not one of two or more servers of {upstream}: {servers}")

    def mark(server: re.Match[str]) -> str:
        return server[0] if server[2] == keep else f"{server[1]} down;"

    edited = _SERVER.sub(mark, block[1])
    return site[: block.start(1)] + edited + site[block.end(1) :]


@dataclass(frozen=True)
class Run:
    """One full-speed run through the proxy to ``hosts`` app hosts."""

    hosts: int
    round: int
    report: FullSpeedReport
    # Times the proxy took an app host out during the run (its passive health: max_fails), from
    # its error log: the client may see no error (GETs and unsent requests go to another host),
    # but the figures are those of fewer hosts for fail_timeout.
    disabled: int = 0

    @property
    def rps(self) -> float:
        return self.report.rps

    @property
    def non_2xx(self) -> int:
        return self.report.non_2xx

    @property
    def socket_errors(self) -> int:
        return self.report.socket_errors

    def stream(self, method: str) -> StreamResult:
        return self.report.stream(method)

    def to_json(self) -> dict[str, Any]:
        return {
            "hosts": self.hosts,
            "round": self.round,
            "rps": round(self.rps, 1),
            "disabled": self.disabled,
            **self.report.to_json(),
        }


def _by_hosts(runs: Sequence[Run]) -> dict[int, list[Run]]:
    found: dict[int, list[Run]] = {}
    for run in sorted(runs, key=lambda r: (r.hosts, r.round)):
        found.setdefault(run.hosts, []).append(run)
    return found


def table(runs: Sequence[Run]) -> str:
    """Markdown: each configuration's median (min-max) over the rounds, errors summed, then the
    ratios of the most hosts to one host, paired by round."""
    by_hosts = _by_hosts(runs)
    methods = [s.method for s in runs[0].report.streams] if runs else []
    header = ["App hosts", "req/s (all)"]
    for method in methods:
        header += [f"{method} req/s", f"{method} p99 ms"]
    header += ["non-2xx", "socket errors", "app host taken out"]
    lines = ["| " + " | ".join(header) + " |", "|" + " --- |" * len(header)]
    for hosts in sorted(by_hosts, reverse=True):
        group = by_hosts[hosts]
        cells = [str(hosts), spread([r.rps for r in group]).text(0)]
        for method in methods:
            cells.append(spread([r.stream(method).rps for r in group]).text(0))
            cells.append(spread([r.stream(method).p99_ms for r in group]).text(1))
        cells += [
            str(sum(r.non_2xx for r in group)),
            str(sum(r.socket_errors for r in group)),
            str(sum(r.disabled for r in group)),
        ]
        lines.append("| " + " | ".join(cells) + " |")
    if len(by_hosts) >= 2 and 1 in by_hosts:
        most = max(by_hosts)
        top, one = by_hosts[most], by_hosts[1]
        if len(top) == len(one):
            parts = [f"req/s {paired_ratios([r.rps for r in top], [r.rps for r in one]).text(2)}"]
            for method in methods:
                p99 = paired_ratios(
                    [r.stream(method).p99_ms for r in top], [r.stream(method).p99_ms for r in one]
                )
                parts.append(f"{method} p99 {p99.text(2)}")
            lines += ["", f"{most} app hosts / 1 (same rounds): " + ", ".join(parts) + "."]
    return "\n".join(lines) + "\n"
