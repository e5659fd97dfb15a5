"""What-if variants of the rendered nginx configuration, for the proxy-tax comparison.

The bench measures the configuration the kit ships, then each variant that changes one setting
(or the "naive" set of several), applied to the rendered files inside the container, tested
with ``nginx -t`` and reloaded; the shipped files come back afterwards. Each edit is a regular
expression that must match exactly once, so a variant can never silently measure nothing.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

NGINX_CONF = "/etc/nginx/nginx.conf"
SITE_CONF = "/etc/nginx/sites-available/app.conf"


@dataclass(frozen=True)
class Edit:
    path: str
    pattern: str
    replacement: str


@dataclass(frozen=True)
class Variant:
    name: str
    description: str
    edits: tuple[Edit, ...]


class VariantError(ValueError):
    """An edit did not match the rendered configuration exactly once."""


def apply_edits(files: dict[str, str], edits: tuple[Edit, ...]) -> dict[str, str]:
    """The files with every edit applied; each pattern must match once in its file."""
    changed = dict(files)
    for edit in edits:
        text = changed[edit.path]
        new, count = re.subn(edit.pattern, edit.replacement, text, flags=re.MULTILINE)
        if count != 1:
            raise VariantError(f"{edit.pattern!r} matched {count} times in {edit.path}")
        changed[edit.path] = new
    return changed


def _keepalive(value: int) -> Edit:
    if value == 0:
        return Edit(SITE_CONF, r"^(\s*)keepalive \d+;\n\s*keepalive_timeout \S+;\n", "")
    return Edit(SITE_CONF, r"^(\s*)keepalive \d+;", rf"\g<1>keepalive {value};")


UNBUFFERED_LOG = Edit(NGINX_CONF, r"^(\s*access_log \S+ kit) buffer=\S+ flush=\S+;", r"\g<1>;")
NO_SESSION_CACHE = Edit(
    NGINX_CONF, r"^(\s*)ssl_session_cache \S+;", r"\g<1>ssl_session_cache none;"
)


def worker_processes(value: str) -> Edit:
    return Edit(NGINX_CONF, r"^worker_processes \S+;", f"worker_processes {value};")


def proxy_buffering(on: bool) -> Edit:
    """Set proxy_buffering in the proxied location (replacing the shipped line, or adding one)."""
    state = "on" if on else "off"
    return Edit(
        SITE_CONF,
        r"^(\s*)proxy_pass (http://\S+;)(\n\s*proxy_buffering \S+;)?",
        rf"\g<1>proxy_pass \g<2>\n\g<1>proxy_buffering {state};",
    )


def variants(shipped_worker_processes: str, shipped_keepalive: int) -> list[Variant]:
    """The shipped configuration first, then one change each, then the naive set."""
    other_processes = "1" if shipped_worker_processes != "1" else "auto"
    other_keepalive = 16 if shipped_keepalive != 16 else 64
    return [
        Variant("shipped", "the kit's defaults", ()),
        Variant(
            "no-upstream-keepalive",
            "no keepalive in the upstream: a new connection to gunicorn per request",
            (_keepalive(0),),
        ),
        Variant(
            f"upstream-keepalive-{other_keepalive}",
            f"upstream keepalive {other_keepalive} (shipped {shipped_keepalive})",
            (_keepalive(other_keepalive),),
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
            (_keepalive(0), UNBUFFERED_LOG, NO_SESSION_CACHE),
        ),
    ]
