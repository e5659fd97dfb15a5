"""The app role's sandbox decision (plugins/filter/sandbox.py): the operator's setting and the
host's probes give the options the unit sets."""

from __future__ import annotations

from plugins.filter.sandbox import sandbox_options

# Exit statuses of the probes: "" is the control run (the sandbox without the probed options).
SUPPORTED = {"": 0, "PrivateUsers": 0}
# A docker container: the control runs, PrivateUsers= fails to set up the user namespace.
UNSUPPORTED = {"": 0, "PrivateUsers": 217}


def test_a_host_that_supports_the_option_keeps_it_on_without_warning() -> None:
    decision = sandbox_options({"PrivateUsers": True}, SUPPORTED, "vm1")
    assert decision == {"options": {"PrivateUsers": True}, "off": [], "warning": ""}


def test_a_host_that_cannot_turns_it_off_with_a_warning_naming_it_and_the_host() -> None:
    decision = sandbox_options({"PrivateUsers": True}, UNSUPPORTED, "vm1")
    assert decision["options"] == {"PrivateUsers": False}
    assert decision["off"] == ["PrivateUsers"]
    assert decision["warning"].startswith("vm1: PrivateUsers= turned off.")
    assert "app_private_users: false" in decision["warning"]


def test_the_operator_forcing_it_off_turns_it_off_without_warning() -> None:
    # Not probed (the role probes only the options wanted on), or probed: off either way.
    for probes in ({"": 0}, UNSUPPORTED, SUPPORTED):
        decision = sandbox_options({"PrivateUsers": False}, probes, "vm1")
        assert decision == {"options": {"PrivateUsers": False}, "off": [], "warning": ""}


def test_settings_from_inventory_strings_count_as_booleans() -> None:
    assert (
        sandbox_options({"PrivateUsers": "false"}, UNSUPPORTED)["options"]["PrivateUsers"] is False
    )
    assert sandbox_options({"PrivateUsers": "True"}, SUPPORTED)["options"]["PrivateUsers"] is True


def test_a_failed_control_blames_no_option() -> None:
    # systemd could not start the probe's sandbox at all (or systemd-run is missing): the option
    # stays as wanted and the unit's own start shows what is wrong.
    for control in (1, None):
        decision = sandbox_options({"PrivateUsers": True}, {"": control, "PrivateUsers": 1}, "vm1")
        assert decision == {"options": {"PrivateUsers": True}, "off": [], "warning": ""}


def test_an_option_without_a_probe_stays_as_wanted() -> None:
    decision = sandbox_options({"PrivateUsers": True, "ProtectClock": True}, UNSUPPORTED, "vm1")
    assert decision["options"] == {"PrivateUsers": False, "ProtectClock": True}
    assert decision["off"] == ["PrivateUsers"]


def test_several_options_off_are_all_named() -> None:
    probes = {"": 0, "PrivateUsers": 217, "ProtectClock": 1}
    decision = sandbox_options({"PrivateUsers": True, "ProtectClock": True}, probes, "vm1")
    assert decision["off"] == ["PrivateUsers", "ProtectClock"]
    assert "PrivateUsers=, ProtectClock= turned off" in decision["warning"]
    assert "app_private_users: false, app_protect_clock: false" in decision["warning"]
