"""The certificate lifecycle against the hosts' Pebble CAs, every step under load.

Each step runs the operator's playbook on both hosts at once while the project's load generator
sends GETs and POSTs through nginx over TLS to each host's 127.0.0.1-published port: no request
may fail. What nginx serves is read from the TLS handshake on that port (never from disk). In
order: a renewal through certbot.service (the unit certbot.timer starts), a name added to
app_domains, acme_directory_url switched from the first Pebble ("staging", the committed setting)
to the second ("production"), a renewal while that CA is down, and a converge with the committed
settings, which removes the added name and moves back to the first CA.
"""

from __future__ import annotations

import dataclasses
import json
import socket
import ssl
from dataclasses import dataclass
from typing import Any

import pytest
from cryptography import x509
from kit_harness.playbooks import run_playbook
from kit_harness.results import record_result
from kit_harness.steps import RELOAD_WINDOW, Node, StepResult
from kit_harness.steps import under_load as _under_load

SERVER_NAME = "app.kit.test"
DOMAINS = ["app.kit.test", "www.kit.test"]
# Resolved to the host by prepare.yml, so Pebble validates it against nginx like the others.
EXTRA = "api.kit.test"
EXPANDED = [*DOMAINS, EXTRA]
PEBBLE_HTTPS_CA = "/etc/pebble/https-ca.pem"
RENEW = "playbooks/renew-certificates.yml"
CONVERGE = "playbooks/proxy.yml"
FORCE = json.dumps({"tls_renew_force": True})


@dataclass(frozen=True)
class CA:
    """One Pebble instance of prepare.yml."""

    unit: str
    directory: str
    management_port: int


STAGING = CA("pebble", "https://localhost:14000/dir", 15000)
PRODUCTION = CA("pebble-production", "https://localhost:14001/dir", 15001)


@dataclass(frozen=True)
class Served:
    """The leaf certificate a client gets from nginx for SERVER_NAME."""

    serial: int
    names: list[str]
    not_after: str


def _handshake(node: Node, server_name: str, context: ssl.SSLContext) -> bytes:
    with (
        socket.create_connection(("127.0.0.1", node.port), timeout=10) as raw,
        context.wrap_socket(raw, server_hostname=server_name) as tls,
    ):
        der = tls.getpeercert(binary_form=True)
    assert der, f"{node.name}: no certificate in the handshake"
    return der


def _served(node: Node, server_name: str = SERVER_NAME) -> Served:
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    leaf = x509.load_der_x509_certificate(_handshake(node, server_name, context))
    sans = leaf.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    return Served(
        leaf.serial_number,
        sorted(sans.get_values_for_type(x509.DNSName)),
        leaf.not_valid_after_utc.isoformat(),
    )


def _verifies(node: Node, root: str, server_name: str = SERVER_NAME) -> bool:
    """Whether the served chain verifies for ``server_name`` against ``root`` alone."""
    context = ssl.create_default_context(cadata=root)
    try:
        _handshake(node, server_name, context)
    except ssl.SSLCertVerificationError:
        return False
    return True


def _root(node: Node, ca: CA) -> str:
    return str(
        node.host.check_output(
            "curl -sS --fail --cacert %s https://localhost:%s/roots/0",
            PEBBLE_HTTPS_CA,
            str(ca.management_port),
        )
    )


def _lineage_serial(node: Node) -> int:
    out = node.host.check_output(
        "openssl x509 -in /etc/letsencrypt/live/%s/cert.pem -noout -serial", SERVER_NAME
    )
    return int(out.split("=", 1)[1], 16)


def _certbot_result(node: Node) -> str:
    return str(node.host.check_output("systemctl show certbot.service --property=Result --value"))


@pytest.fixture(scope="module")
def trusting(nodes: list[Node], tmp_path_factory: pytest.TempPathFactory) -> list[Node]:
    """The nodes, with a trust anchor holding both Pebble roots: clients of a real site trust
    staging and production alike, so the load runs on across the CA switch."""
    trusting_both = []
    for node in nodes:
        bundle = tmp_path_factory.mktemp(f"{node.name}-roots") / "roots.pem"
        bundle.write_text("\n".join(_root(node, ca) for ca in (STAGING, PRODUCTION)) + "\n")
        trusting_both.append(dataclasses.replace(node, cafile=str(bundle)))
    return trusting_both


@pytest.fixture(scope="module")
def lifecycle(trusting: list[Node]) -> dict[str, Any]:
    """What the steps share: the certificate each host served after the last step and before it."""
    return {"served": {node.name: _served(node) for node in trusting}, "before": {}}


def _step(
    trusting: list[Node], lifecycle: dict[str, Any], step: str, *args: str, **kw: Any
) -> StepResult:
    """Run the step under load; assert no request failed; record what each host served.

    These steps reload nginx: the full-speed load, from the site's configuration on, opens a
    connection per request (see fullspeed.FullSpeed), so each count is what nginx answered."""
    result = _under_load(
        trusting, f"certificate {step}", *args, keepalive=False, window=RELOAD_WINDOW, **kw
    )
    for node in trusting:
        report = result.reports[node.name]
        for phase in report.phases:
            assert phase.requests > 0, f"{node.name}: no requests in {phase.name}"
            assert phase.failed == 0, f"{node.name} ({step}): {phase.line()}"
        before, after = lifecycle["served"][node.name], _served(node)
        record_result(
            "certificates",
            {
                "step": step,
                "host": node.name,
                "seconds": round(result.seconds, 1),
                "rc": result.returncode,
                "requests": sum(phase.requests for phase in report.phases),
                "failed": sum(phase.failed for phase in report.phases),
                "serial_before": f"{before.serial:x}",
                "serial_after": f"{after.serial:x}",
                "names": after.names,
            },
        )
        lifecycle["served"][node.name] = after
        lifecycle["before"][node.name] = before
    return result


def test_forced_renewal_through_certbot_service_is_served(
    trusting: list[Node], lifecycle: dict[str, Any]
) -> None:
    _step(trusting, lifecycle, "renewal", RENEW, "-e", FORCE)
    for node in trusting:
        before, after = lifecycle["before"][node.name], lifecycle["served"][node.name]
        assert after.serial != before.serial, f"{node.name}: nginx still serves {before.serial:x}"
        assert after.serial == _lineage_serial(node)
        assert after.names == before.names == DOMAINS
        assert _certbot_result(node) == "success"
        # The forced renewal was for this run only.
        assert not node.host.file("/etc/letsencrypt/cli.ini").contains("force-renewal")
        hook = node.host.check_output("journalctl -t certbot-deploy-hook -n 1 --no-pager -o cat")
        assert "nginx reloaded after the renewal" in hook


def test_an_added_name_is_served(trusting: list[Node], lifecycle: dict[str, Any]) -> None:
    _step(
        trusting, lifecycle, "domain added", CONVERGE, "-e", json.dumps({"app_domains": EXPANDED})
    )
    for node in trusting:
        served = lifecycle["served"][node.name]
        assert served.names == sorted(EXPANDED)
        assert served.serial == _lineage_serial(node)
        assert _verifies(node, _root(node, STAGING), EXTRA)


def test_a_ca_switch_reissues_from_the_new_ca(
    trusting: list[Node], lifecycle: dict[str, Any]
) -> None:
    settings = json.dumps({"app_domains": EXPANDED, "acme_directory_url": PRODUCTION.directory})
    _step(trusting, lifecycle, "CA switch", CONVERGE, "-e", settings)
    for node in trusting:
        served = lifecycle["served"][node.name]
        assert served.names == sorted(EXPANDED)
        assert served.serial == _lineage_serial(node)
        assert _verifies(node, _root(node, PRODUCTION))
        assert not _verifies(node, _root(node, STAGING)), "the staging chain is still served"
        conf = node.host.file(f"/etc/letsencrypt/renewal/{SERVER_NAME}.conf")
        assert conf.contains(f"^server = {PRODUCTION.directory}$")
        # One lineage: the staging one does not linger beside it.
        lineages = node.host.check_output("ls -1 /etc/letsencrypt/renewal").split()
        assert lineages == [f"{SERVER_NAME}.conf"]


def test_a_failed_renewal_keeps_the_certificate_served(
    trusting: list[Node], lifecycle: dict[str, Any]
) -> None:
    for node in trusting:
        node.host.run_test("systemctl stop %s.service", PRODUCTION.unit)
    try:
        result = _step(
            trusting,
            lifecycle,
            "renewal, CA down",
            RENEW,
            "-e",
            "tls_renew_force=true",
            expect_failure=True,
        )
    finally:
        for node in trusting:
            # Pebble keeps its state in memory: a restart makes a new root and forgets accounts.
            node.host.run_test("systemctl start %s.service", PRODUCTION.unit)
            node.host.run_test("rm -rf /etc/letsencrypt/accounts/localhost:14001")
    assert result.returncode != 0
    assert "certbot.service failed" in result.output
    for node in trusting:
        before, after = lifecycle["before"][node.name], lifecycle["served"][node.name]
        assert after == before, f"{node.name}: the served certificate changed"
        assert after.serial == _lineage_serial(node)
        assert node.host.service("nginx").is_running
        # Visible where an operator looks: the unit the timer starts is failed, with its status.
        assert node.host.run("systemctl is-failed certbot.service").stdout.strip() == "failed"
        assert _certbot_result(node) == "exit-code"
        assert not node.host.file("/etc/letsencrypt/cli.ini").contains("force-renewal")


def test_the_committed_settings_drop_the_name_and_bring_the_first_ca_back(
    trusting: list[Node], lifecycle: dict[str, Any]
) -> None:
    """A name removed from app_domains (and the CA back to staging): the next converge shrinks
    the certificate."""
    _step(trusting, lifecycle, "name removed, CA back", CONVERGE)
    for node in trusting:
        served = lifecycle["served"][node.name]
        assert served.names == DOMAINS
        assert served.serial == _lineage_serial(node)
        assert _verifies(node, _root(node, STAGING))
        # nginx no longer knows the name: the handshake for it is refused.
        with pytest.raises(ssl.SSLError, match="UNRECOGNIZED_NAME"):
            _served(node, EXTRA)
        conf = node.host.file(f"/etc/letsencrypt/renewal/{SERVER_NAME}.conf")
        assert conf.contains(f"^server = {STAGING.directory}$")
    # The next timer run succeeds (nothing is due) and clears the failed state.
    renewed = run_playbook(RENEW)
    assert "not due, not renewed" in renewed.stdout
    for node in trusting:
        assert _certbot_result(node) == "success"
        assert node.host.run("systemctl is-failed certbot.service").rc != 0
        assert _served(node) == lifecycle["served"][node.name]
