"""Filters of the tls role. The tests import this file as ``plugins.filter.certificates``."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any


def acme_reissue_reasons(current: Mapping[str, Any], wanted: Mapping[str, Any]) -> list[str]:
    """Why certbot must issue the certificate again: none when the lineage already has the
    wanted names, CA, key type and webroot renewal.

    ``current`` is what the host has: exists, domains, server, key_type, authenticator,
    webroot_path (comma-separated, as in certbot's renewal file). ``wanted``: cert_name, domains,
    server, key_type, webroot.
    """
    if not current.get("exists"):
        return [f"no certificate {wanted['cert_name']} yet"]
    reasons = []
    names, wanted_names = sorted(current["domains"]), sorted(wanted["domains"])
    if names != wanted_names:
        reasons.append(f"names {','.join(names)} -> {','.join(wanted_names)}")
    if current["server"] != wanted["server"]:
        reasons.append(f"CA {current['server']} -> {wanted['server']}")
    if current["key_type"] != wanted["key_type"]:
        reasons.append(f"key {current['key_type']} -> {wanted['key_type']}")
    webroots = str(current["webroot_path"]).split(",")
    if current["authenticator"] != "webroot" or wanted["webroot"] not in webroots:
        reasons.append(
            f"renewal by {current['authenticator']} {current['webroot_path']}"
            f" -> webroot {wanted['webroot']}"
        )
    return reasons


def uncovered_names(names: Sequence[str], subject_alt_names: Sequence[str]) -> list[str]:
    """The ``names`` a certificate does not cover: no ``DNS:<name>`` and no ``DNS:*.<parent>``
    among its ``subject_alt_names`` (a wildcard covers one label only)."""
    sans = set(subject_alt_names)
    uncovered = []
    for name in names:
        parent = name.split(".", 1)[1] if "." in name else ""
        if f"DNS:{name}" not in sans and not (parent and f"DNS:*.{parent}" in sans):
            uncovered.append(name)
    return uncovered


class FilterModule:
    """The tls role's filters."""

    def filters(self) -> dict[str, Callable[..., Any]]:
        return {"acme_reissue_reasons": acme_reissue_reasons, "uncovered_names": uncovered_names}
