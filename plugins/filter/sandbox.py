"""Filters of the app role's sandbox: which systemd options the unit sets on a given host.

The tests import this file as ``plugins.filter.sandbox``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

# The key of the control run in ``probes``: the probe's sandbox without any probed option.
CONTROL = ""


def sandbox_options(
    wanted: Mapping[str, Any], probes: Mapping[str, Any], host: str = ""
) -> dict[str, Any]:
    """The sandbox options a unit sets on ``host``, from the operator's wish and the host's probes.

    ``wanted`` maps an option (``PrivateUsers``) to the operator's setting: false is off, true is
    on when the host supports it. ``probes`` maps each probed option to the exit status of a
    transient unit started with it (0: systemd ran it), and ``""`` to the control run (the same
    unit without any probed option). An option is unsupported when the control ran and its probe
    did not; when the control failed too, the probe says nothing about the option, which stays as
    wanted (the unit's own start shows what is wrong). An option not probed stays as wanted.

    Returns ``options`` (option -> effective bool), ``off`` (the options wanted but turned off,
    sorted) and ``warning`` (names them and the host; "" when none is off).
    """
    control_ran = _status(probes.get(CONTROL)) == 0
    options: dict[str, bool] = {}
    off: list[str] = []
    for option, setting in wanted.items():
        on = _bool(setting)
        status = _status(probes.get(option))
        if on and control_ran and status not in (None, 0):
            on = False
            off.append(option)
        options[option] = on
    off.sort()
    warning = ""
    if off:
        names = ", ".join(f"{option}=" for option in off)
        variables = ", ".join(f"app_{_snake(option)}: false" for option in off)
        it = "it" if len(off) == 1 else "them"
        warning = (
            f"{host or 'this host'}: {names} turned off. systemd on this host cannot start the"
            f" app's sandbox with {it} (a test unit without {it} runs: a container or a VPS"
            " without user namespaces); the rest of the sandbox stays on. Set"
            f" {variables} for this host to run without {it} and without this warning."
        )
    return {"options": options, "off": off, "warning": warning}


def _status(value: Any) -> int | None:
    """An exit status, or None when the probe did not run (skipped, missing)."""
    if value is None or value == "":
        return None
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def _bool(value: Any) -> bool:
    if isinstance(value, str):
        return value.strip().lower() in ("true", "yes", "on", "1")
    return bool(value)


def _snake(option: str) -> str:
    """PrivateUsers -> private_users (the role's variable of a systemd option)."""
    return "".join(
        f"_{c.lower()}" if c.isupper() and i else c.lower() for i, c in enumerate(option)
    )


class FilterModule:
    """The app role's sandbox filters."""

    def filters(self) -> dict[str, Callable[..., Any]]:
        return {"sandbox_options": sandbox_options}
