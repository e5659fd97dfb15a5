"""The kit's filter plugins (plugins/filter/kit.py), as Ansible calls them."""

from __future__ import annotations

from plugins.filter.kit import FilterModule, private_address


def test_private_address_is_the_setting_when_set() -> None:
    host_vars = {
        "app_private_address": "10.0.0.7",
        "ansible_facts": {"default_ipv4": {"address": "192.0.2.1"}},
    }
    assert private_address(host_vars) == "10.0.0.7"


def test_private_address_defaults_to_the_default_ipv4_address() -> None:
    facts = {"ansible_facts": {"default_ipv4": {"address": "192.0.2.1"}}}
    assert private_address(facts) == "192.0.2.1"
    assert private_address({"app_private_address": "", **facts}) == "192.0.2.1"


def test_private_address_is_empty_before_facts_are_gathered() -> None:
    assert private_address({}) == ""
    assert private_address({"ansible_facts": {}}) == ""
    assert private_address({"ansible_facts": {"default_ipv4": {}}}) == ""


def test_the_filter_is_registered_under_its_name() -> None:
    assert FilterModule().filters()["private_address"] is private_address
