"""What the tls role must show on the converged VM stand-in (tls_mode acme against the Pebble CA
that molecule/resources/tasks/pebble.yml runs inside the host): nginx serves, on 127.0.0.1:443, a
certificate for exactly app_domains that chains to Pebble's current root, and certbot renews it on
its own (timer, deploy hook) without exposing the key.

Everything is read inside the host: the handshake with `openssl s_client`, Pebble's root from its
management API."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from kit_harness.hosts import write_file

APP = "app"
DOMAINS = ["app.kit.test", "www.kit.test"]
PRIMARY = DOMAINS[0]
PEBBLE_HTTPS_CA = "/etc/pebble/https-ca.pem"
PEBBLE_MANAGEMENT = "https://localhost:15000"
CERT_PATH = f"/etc/ssl/{APP}/fullchain.pem"
KEY_PATH = f"/etc/ssl/{APP}/privkey.pem"
LIVE_DIR = f"/etc/letsencrypt/live/{PRIMARY}"
DEPLOY_HOOK = "/etc/letsencrypt/renewal-hooks/deploy/50-reload-nginx"
PEM_RE = re.compile(r"-----BEGIN CERTIFICATE-----.+?-----END CERTIFICATE-----", re.DOTALL)


@dataclass(frozen=True)
class Served:
    """The chain nginx sent, written to files in a scratch directory of the host."""

    workdir: str
    leaf: str
    chain: str
    root: str


@pytest.fixture(scope="module")
def served(host: Any) -> Iterator[Served]:
    workdir = host.check_output("mktemp -d")
    handshake = host.run(
        "openssl s_client -connect 127.0.0.1:443 -servername %s -showcerts </dev/null",
        PRIMARY,
    )
    certs = PEM_RE.findall(handshake.stdout)
    assert certs, f"no certificate in the TLS handshake:\n{handshake.stderr}"
    root = host.run("curl -sS --fail --cacert %s %s/roots/0", PEBBLE_HTTPS_CA, PEBBLE_MANAGEMENT)
    assert root.rc == 0, f"Pebble's root is not available: {root.stderr}"
    files = Served(workdir, f"{workdir}/leaf.pem", f"{workdir}/chain.pem", f"{workdir}/root.pem")
    write_file(host, files.leaf, certs[0] + "\n")
    write_file(host, files.chain, "\n".join(certs[1:]) + "\n")
    write_file(host, files.root, root.stdout)
    yield files
    host.run("rm -rf %s", workdir)


def test_served_certificate_names_are_app_domains(host: Any, served: Served) -> None:
    sans = host.check_output("openssl x509 -in %s -noout -ext subjectAltName", served.leaf)
    names = re.findall(r"DNS:([^,\s]+)", sans)
    assert sorted(names) == sorted(DOMAINS)


def test_served_certificate_chains_to_pebbles_current_root(host: Any, served: Served) -> None:
    result = host.run(
        "openssl verify -purpose sslserver -verify_hostname %s -CAfile %s -untrusted %s %s",
        PRIMARY,
        served.root,
        served.chain,
        served.leaf,
    )
    assert result.rc == 0, result.stdout + result.stderr
    assert result.stdout.strip().endswith(": OK")


def test_served_certificate_is_the_live_lineage(host: Any, served: Served) -> None:
    """nginx was reloaded onto what certbot holds now, not an older certificate."""
    serial_cmd = "openssl x509 -in %s -noout -serial"
    assert host.check_output(serial_cmd, served.leaf) == host.check_output(
        serial_cmd, f"{LIVE_DIR}/cert.pem"
    )


def test_https_works_with_pebbles_root_and_no_insecure_flag(host: Any, served: Served) -> None:
    result = host.run(
        "curl -sS --fail -o /dev/null -w '%%{http_code}' --cacert %s --resolve %s "
        "https://%s/health/live",
        served.root,
        f"{PRIMARY}:443:127.0.0.1",
        PRIMARY,
    )
    assert result.rc == 0, result.stderr
    assert result.stdout == "200"


def test_served_paths_link_into_the_certbot_lineage(host: Any) -> None:
    for path, name in ((CERT_PATH, "fullchain.pem"), (KEY_PATH, "privkey.pem")):
        assert host.file(path).is_symlink
        assert host.check_output("readlink %s", path) == f"{LIVE_DIR}/{name}"
        assert host.check_output("readlink -f %s", path).startswith(
            f"/etc/letsencrypt/archive/{PRIMARY}/"
        )
    directory = host.file(f"/etc/ssl/{APP}")
    assert directory.user == "root"
    assert directory.mode & 0o007 == 0


def test_private_key_is_not_world_readable(host: Any) -> None:
    key = host.file(host.check_output("readlink -f %s", KEY_PATH))
    assert key.user == "root"
    assert key.mode & 0o007 == 0, oct(key.mode)


def test_renewal_uses_the_webroot_and_the_test_ca(host: Any) -> None:
    conf = host.file(f"/etc/letsencrypt/renewal/{PRIMARY}.conf")
    assert conf.contains("^authenticator = webroot$")
    assert conf.contains("^server = https://localhost:14000/dir$")


def test_certbot_timer_is_enabled_and_scheduled(host: Any) -> None:
    timer = host.service("certbot.timer")
    assert timer.is_enabled
    assert timer.is_running
    next_run = host.check_output(
        "systemctl show certbot.timer --property=NextElapseUSecRealtime --value"
    )
    assert next_run not in ("", "n/a", "0")
    # Debian's cron job steps aside when systemd runs: no second scheduler.
    assert host.file("/run/systemd/system").is_directory
    assert host.file("/etc/cron.d/certbot").contains(r"! -d /run/systemd/system")


def test_certbot_service_trusts_the_test_ca(host: Any) -> None:
    environment = host.check_output("systemctl show certbot.service --property=Environment")
    assert f"REQUESTS_CA_BUNDLE={PEBBLE_HTTPS_CA}" in environment


def test_deploy_hook_tests_nginx_then_reloads(host: Any) -> None:
    hook = host.file(DEPLOY_HOOK)
    assert hook.is_file
    assert hook.user == "root"
    assert hook.mode == 0o755
    assert hook.contains("nginx -t")
    assert hook.contains("reload")
    # With nothing pending, the retry run by certbot.service is a no-op that succeeds.
    assert host.run("%s --pending", DEPLOY_HOOK).rc == 0
