"""What-if variants of the rendered nginx configuration, for the proxy-tax comparison.

The bench measures the configuration the kit ships, then each variant that changes one setting
(or the "naive" set of several), applied to the rendered files inside the container, tested
with ``nginx -t`` and reloaded; the shipped files come back afterwards. Each edit is a regular
expression that must match as many times as the configuration has places for it (once, or once
per upstream of the app: a single host has one per colour), so a variant can never silently
measure nothing, nor half of what it says.

Also read from the rendered site: the upstreams of the app, and the client addresses nginx's rate
limits exempt (the bench's load must come from one, or it measures 429 answers).
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Sequence
from dataclasses import dataclass

NGINX_CONF = "/etc/nginx/nginx.conf"
SITE_CONF = "/etc/nginx/sites-available/app.conf"


@dataclass(frozen=True)
class Edit:
    path: str
    pattern: str
    replacement: str
    # How many times the pattern must match; None: at least once.
    count: int | None = 1


@dataclass(frozen=True)
class Variant:
    name: str
    description: str
    edits: tuple[Edit, ...]


class VariantError(ValueError):
    """An edit did not match the rendered configuration as many times as it must."""


def apply_edits(files: dict[str, str], edits: tuple[Edit, ...]) -> dict[str, str]:
    """The files with every edit applied; each pattern must match its count in its file."""
    changed = dict(files)
    for edit in edits:
        text = changed[edit.path]
        new, count = re.subn(edit.pattern, edit.replacement, text, flags=re.MULTILINE)
        if count == 0 or (edit.count is not None and count != edit.count):
            expected = "at least once" if edit.count is None else f"{edit.count} time(s)"
            raise VariantError(
                f"{edit.pattern!r} matched {count} times in {edit.path} (expected {expected})"
            )
        changed[edit.path] = new
    return changed


_PROXY_PASS = re.compile(r"^\s*proxy_pass https?://([^\s;/]+)", re.MULTILINE)
_UPSTREAM = re.compile(r"^upstream (\S+) \{", re.MULTILINE)


def https_server(site: str) -> str:
    """The part of the site from its HTTPS server on (where the app is proxied)."""
    start = re.search(r"^\s*listen \S*443 ", site, re.MULTILINE)
    if start is None:
        raise VariantError(f"no HTTPS server (listen 443) in {SITE_CONF}")
    return site[start.start() :]


def app_upstreams(site: str) -> list[str]:
    """The upstreams the HTTPS server proxies to: named in proxy_pass, or the values the
    variable of ``proxy_pass http://$var`` is set to (a single host: one upstream per colour)."""
    server = https_server(site)
    names: list[str] = []
    for target in _PROXY_PASS.findall(server):
        if target.startswith("$"):
            values = re.findall(rf"^\s*set \{target} (\S+);", server, re.MULTILINE)
        else:
            values = [target]
        names += [value for value in values if value not in names]
    declared = set(_UPSTREAM.findall(site))
    missing = [name for name in names if name not in declared]
    if not names or missing:
        raise VariantError(f"proxied upstreams {names} (undeclared: {missing}) in {SITE_CONF}")
    return names


IpNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network


def exempt_networks(site: str, connections: int = 64) -> list[IpNetwork] | None:
    """Client networks the rate limits exempt (the ``geo ..._limit_exempt`` block); None when
    the site's limits cannot reach the bench's load (``connections`` at once, on routes of
    ``location /``): no request rate limit there (the role's default; other paths' limits do not
    apply to it) and no connection limit below ``connections``."""
    roots = re.findall(r"^    location / \{\n(.*?)^    \}", site, re.MULTILINE | re.DOTALL)
    rate_limited = any(re.search(r"^\s*limit_req ", body, re.MULTILINE) for body in roots)
    conn_limits = re.findall(r"^\s*limit_conn \S+ (\d+);", site, re.MULTILINE)
    if not rate_limited and all(int(limit) >= connections for limit in conn_limits):
        return None
    block = re.search(r"^geo \$\w+_limit_exempt \{\n(.*?)^\}", site, re.MULTILINE | re.DOTALL)
    if block is None:
        return []
    found = re.findall(r"^\s*([0-9A-Fa-f.:]+(?:/\d+)?) 1;", block[1], re.MULTILINE)
    return [ipaddress.ip_network(cidr, strict=False) for cidr in found]


class ClientAddressError(RuntimeError):
    """No address of the host is exempt from nginx's rate limits."""


def client_address(site: str, local_addresses: Sequence[str], connections: int = 64) -> str:
    """The address the bench's load connects to nginx on, so that nginx sees it as the client:
    127.0.0.1 when the site's limits cannot reach the load (``exempt_networks``) or exempt it,
    else the first of the host's own addresses that the site exempts (a container's docker
    address, a VM's private address)."""
    exempt = exempt_networks(site, connections)
    candidates = ["127.0.0.1", *(a for a in local_addresses if a != "127.0.0.1")]
    if exempt is None:
        return candidates[0]
    for address in candidates:
        if any(ipaddress.ip_address(address) in network for network in exempt):
            return address
    raise ClientAddressError(
        f"nginx limits requests from every address of this host ({', '.join(candidates)}; "
        f"exempt: {', '.join(map(str, exempt)) or 'none'}): its figures would be 429 answers. "
        "Add one of them to nginx_rate_limit_exempt."
    )


@dataclass(frozen=True)
class Shipped:
    """The settings the variants change, as rendered."""

    worker_processes: str
    keepalive: int
    upstreams: int


def shipped(files: dict[str, str]) -> Shipped:
    processes = re.search(r"^worker_processes (\S+);", files[NGINX_CONF], re.MULTILINE)
    keepalive = re.search(r"^\s*keepalive (\d+);", files[SITE_CONF], re.MULTILINE)
    return Shipped(
        processes[1] if processes else "auto",
        int(keepalive[1]) if keepalive else 0,
        len(app_upstreams(files[SITE_CONF])),
    )


def _keepalive(value: int, upstreams: int) -> Edit:
    """Every upstream of the app at once (a single host has one per colour)."""
    if value == 0:
        return Edit(SITE_CONF, r"^(\s*)keepalive \d+;\n\s*keepalive_timeout \S+;\n", "", upstreams)
    return Edit(SITE_CONF, r"^(\s*)keepalive \d+;", rf"\g<1>keepalive {value};", upstreams)


UNBUFFERED_LOG = Edit(NGINX_CONF, r"^(\s*access_log \S+ kit) buffer=\S+ flush=\S+;", r"\g<1>;")
NO_SESSION_CACHE = Edit(
    NGINX_CONF, r"^(\s*)ssl_session_cache \S+;", r"\g<1>ssl_session_cache none;"
)


def worker_processes(value: str) -> Edit:
    return Edit(NGINX_CONF, r"^worker_processes \S+;", f"worker_processes {value};")


def proxy_buffering(on: bool) -> Edit:
    """Set proxy_buffering in every proxied location (replacing the shipped line, or adding
    one)."""
    state = "on" if on else "off"
    return Edit(
        SITE_CONF,
        r"^(\s*)proxy_pass (https?://\S+;)(\n\s*proxy_buffering \S+;)?",
        rf"\g<1>proxy_pass \g<2>\n\g<1>proxy_buffering {state};",
        None,
    )


def variants(
    shipped_worker_processes: str, shipped_keepalive: int, upstreams: int = 1
) -> list[Variant]:
    """The shipped configuration first, then one change each, then the naive set; ``upstreams``
    is how many upstreams of the app the rendered site has (each keepalive edit changes all)."""
    other_processes = "1" if shipped_worker_processes != "1" else "auto"
    other_keepalive = 16 if shipped_keepalive != 16 else 64
    return [
        Variant("shipped", "the kit's defaults", ()),
        Variant(
            "no-upstream-keepalive",
            "no keepalive in the upstream: a new connection to gunicorn per request",
            (_keepalive(0, upstreams),),
        ),
        Variant(
            f"upstream-keepalive-{other_keepalive}",
            f"upstream keepalive {other_keepalive} (shipped {shipped_keepalive})",
            (_keepalive(other_keepalive, upstreams),),
        ),
        Variant(
            f"worker-processes-{other_processes}",
            f"worker_processes {other_processes} (shipped {shipped_worker_processes})",
            (worker_processes(other_processes),),
        ),
        Variant("access-log-unbuffered", "access_log without buffer=/flush=", (UNBUFFERED_LOG,)),
        Variant("proxy-buffering-off", "proxy_buffering off", (proxy_buffering(False),)),
        Variant(
            "naive",
            "no upstream keepalive, unbuffered access log, no TLS session cache",
            (_keepalive(0, upstreams), UNBUFFERED_LOG, NO_SESSION_CACHE),
        ),
    ]
