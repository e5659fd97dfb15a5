"""The firewall and tls roles' filters (plugins/filter/firewall.py, certificates.py)."""

from __future__ import annotations

from typing import Any

from plugins.filter.certificates import acme_reissue_reasons, uncovered_names
from plugins.filter.firewall import tier_rules

PROXIES = ["10.0.0.2", "10.0.0.3"]


def test_an_app_host_admits_its_colours_ports_from_the_proxies() -> None:
    rules = tier_rules(PROXIES, app_ports=[8002, 8001, 8001], acme_peer_port=8089, tier_role="app")
    assert rules == [
        {"port": 8001, "sources": PROXIES, "comment": "proxy tier: proxies to app"},
        {"port": 8002, "sources": PROXIES, "comment": "proxy tier: proxies to app"},
    ]


def test_a_proxy_admits_the_acme_peer_port_from_the_other_proxies() -> None:
    rules = tier_rules(["10.0.0.3"], app_ports=[8001], acme_peer_port=8089, tier_role="proxy")
    assert rules == [{"port": 8089, "sources": ["10.0.0.3"], "comment": "proxy tier: ACME peers"}]


def test_no_rule_without_a_tier_or_without_addresses() -> None:
    assert tier_rules(PROXIES, app_ports=[8001], acme_peer_port=8089, tier_role="") == []
    assert tier_rules([], app_ports=[8001], acme_peer_port=8089, tier_role="app") == []


WANTED = {
    "cert_name": "app",
    "domains": ["www.kit.test", "app.kit.test"],
    "server": "https://ca/dir",
    "key_type": "ecdsa",
    "webroot": "/var/www/acme-challenge",
}
CURRENT: dict[str, Any] = {
    "exists": True,
    "domains": ["app.kit.test", "www.kit.test"],
    "server": "https://ca/dir",
    "key_type": "ecdsa",
    "authenticator": "webroot",
    "webroot_path": "/var/www/acme-challenge,",
}


def test_a_lineage_as_wanted_needs_no_new_certificate() -> None:
    assert acme_reissue_reasons(CURRENT, WANTED) == []


def test_each_difference_is_a_reason() -> None:
    assert acme_reissue_reasons({"exists": False}, WANTED) == ["no certificate app yet"]
    changed = {
        **CURRENT,
        "domains": ["app.kit.test"],
        "server": "https://old/dir",
        "key_type": "rsa",
        "authenticator": "standalone",
        "webroot_path": "",
    }
    assert acme_reissue_reasons(changed, WANTED) == [
        "names app.kit.test -> app.kit.test,www.kit.test",
        "CA https://old/dir -> https://ca/dir",
        "key rsa -> ecdsa",
        "renewal by standalone  -> webroot /var/www/acme-challenge",
    ]


def test_names_a_certificate_does_not_cover() -> None:
    sans = ["DNS:app.example.com", "DNS:*.api.example.com"]
    names = ["app.example.com", "v1.api.example.com", "a.b.api.example.com", "example.com"]
    assert uncovered_names(names, sans) == ["a.b.api.example.com", "example.com"]
    assert uncovered_names(["localhost"], ["DNS:localhost"]) == []
