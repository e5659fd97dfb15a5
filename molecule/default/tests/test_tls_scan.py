"""sslyze against each host's published HTTPS port, judged by Mozilla's 6.0 profiles.

The profiles are sslyze custom configurations (molecule/resources/tls/, Mozilla's 6.0
intermediate and modern). Debian 12 serves the intermediate profile, Debian 13 the modern one
(tls_profile in the scenario's group_vars). The trust anchor is the host's Pebble root. sslyze
exits 0 even when it cannot connect, so the verdict is read from its output, together with proof
that it reached the server and verified the chain.

One rule of the modern profile is the CA's to meet, not the server's: the signature on the
certificate must be ECDSA. Pebble signs with RSA keys whatever the certificate's key, so on the
modern host that rule, and only that one, fails for the ACME certificate, naming Pebble's RSA
signature (Let's Encrypt signs ECDSA certificates with its ECDSA intermediates). The modern host
is then scanned once more with a chain an ECDSA CA signed (made here, on the controller): a copy
of the site's own HTTPS server block under another name, so the same nginx, TLS settings and
headers answer, with only the certificate changed. That scan must be "OK - Compliant.".
"""

from __future__ import annotations

import datetime
import os
import re
import subprocess
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from kit_harness.hosts import host_tls_profile, published_port, write_file
from kit_harness.project import PROJECT
from kit_harness.results import record_result

SSLYZE = os.environ.get("KIT_SSLYZE", str(PROJECT / ".cache" / "sslyze" / "bin" / "sslyze"))
PROFILES = PROJECT / "molecule" / "resources" / "tls"
SERVER_NAME = "app.kit.test"
PEBBLE_HTTPS_CA = "/etc/pebble/https-ca.pem"
SITE = "/etc/nginx/sites-available/app.conf"
# The copy of the site's HTTPS server with the ECDSA-signed chain (removed after the scan).
ECDSA_NAME = "ecdsa-check.kit.test"
ECDSA_DIR = "/etc/nginx/kit-ecdsa-check"
ECDSA_SERVER = "/etc/nginx/conf.d/kit-ecdsa-check.conf"
# Signed by the CA (see above): the one rule the modern host may fail, with Pebble's RSA named.
CA_SIGNATURE_RULE = re.compile(
    r"^\s*\* certificate_signatures: Deployed certificate signatures are "
    r"\{'sha256WithRSAEncryption'\}"
)


def _sslyze(profile: str, root: Path, server_name: str, target: str, saved_as: str) -> str:
    """sslyze's text output for one scan (kept in .cache/results/<saved_as>.txt)."""
    result = subprocess.run(
        [
            SSLYZE,
            "--custom_tls_config",
            str(PROFILES / f"mozilla-6.0-{profile}.sslyze.json"),
            "--certinfo_ca_file",
            str(root),
            "--sni",
            server_name,
            target,
        ],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    output = result.stdout + result.stderr
    Path(PROJECT / ".cache" / "results").mkdir(parents=True, exist_ok=True)
    (PROJECT / ".cache" / "results" / f"{saved_as}.txt").write_text(output)
    return output


@pytest.fixture(scope="module")
def scan(host: Any, tmp_path_factory: pytest.TempPathFactory) -> tuple[str, str, str]:
    """sslyze's text output for this host's port and profile: (output, target, profile)."""
    name = host.backend.get_hostname()
    root = tmp_path_factory.mktemp(name) / "pebble-root.pem"
    root.write_text(
        host.check_output(
            "curl -sS --fail --cacert %s https://localhost:15000/roots/0", PEBBLE_HTTPS_CA
        )
        + "\n"
    )
    profile = host_tls_profile(host)
    target = f"127.0.0.1:{published_port(name, 443)}"
    return _sslyze(profile, root, SERVER_NAME, target, f"sslyze-{name}"), target, profile


def _ecdsa_chain() -> tuple[bytes, bytes, bytes]:
    """A P-256 CA and a P-256 leaf for ECDSA_NAME it signs (ecdsa-with-SHA256), 30 days each:
    (CA certificate, leaf certificate, leaf key), PEM."""
    now = datetime.datetime.now(datetime.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "kit ECDSA test CA")])
    ca = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=30))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=False,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), False)
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    leaf = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, ECDSA_NAME)]))
        .issuer_name(ca_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=30))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(ECDSA_NAME)]), critical=False)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), False
        )
        .sign(ca_key, hashes.SHA256())
    )
    pem = serialization.Encoding.PEM
    key_pem = key.private_bytes(
        pem, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    return ca.public_bytes(pem), leaf.public_bytes(pem), key_pem


def _https_server_block(site: str) -> str:
    """The site's HTTPS server block (from `server {` followed by `listen 443` to its brace)."""
    match = re.search(r"^server \{\n\s+listen 443 ", site, re.M)
    assert match, site
    depth = 0
    for index in range(match.start(), len(site)):
        depth += {"{": 1, "}": -1}.get(site[index], 0)
        if depth == 0 and site[index] == "}":
            return site[match.start() : index + 1]
    raise AssertionError(f"unbalanced braces in {SITE}")


@pytest.fixture(scope="module")
def ecdsa_scan(host: Any, tmp_path_factory: pytest.TempPathFactory) -> tuple[str, str, str]:
    """sslyze's output for the modern host serving an ECDSA-signed chain under ECDSA_NAME."""
    profile = host_tls_profile(host)
    if profile != "modern":
        pytest.skip("the ECDSA-signed scan is for the modern profile's host")
    name = host.backend.get_hostname()
    ca, leaf, key = _ecdsa_chain()
    root = tmp_path_factory.mktemp(f"{name}-ecdsa") / "ecdsa-root.pem"
    root.write_bytes(ca)
    block = _https_server_block(host.file(SITE).content_string)
    block = re.sub(r"(?m)^(\s*)server_name .*;$", rf"\1server_name {ECDSA_NAME};", block)
    block = re.sub(
        r"(?m)^(\s*)ssl_certificate \S+;$", rf"\1ssl_certificate {ECDSA_DIR}/cert.pem;", block
    )
    block = re.sub(
        r"(?m)^(\s*)ssl_certificate_key \S+;$",
        rf"\1ssl_certificate_key {ECDSA_DIR}/key.pem;",
        block,
    )
    assert block.count(ECDSA_DIR) == 2, block
    assert ECDSA_NAME in block, block
    target = f"127.0.0.1:{published_port(name, 443)}"
    try:
        host.check_output(f"install -d -o root -g root -m 0700 {ECDSA_DIR}")
        write_file(host, f"{ECDSA_DIR}/cert.pem", leaf.decode(), "0644")
        write_file(host, f"{ECDSA_DIR}/key.pem", key.decode(), "0600")
        server = f"# test_tls_scan.py: removed after its scan\n{block}\n"
        write_file(host, ECDSA_SERVER, server, "0644")
        host.check_output("nginx -t -q && systemctl reload nginx")
        output = _sslyze(profile, root, ECDSA_NAME, target, f"sslyze-{name}-ecdsa")
    finally:
        host.run(f"rm -rf {ECDSA_SERVER} {ECDSA_DIR} && nginx -t -q && systemctl reload nginx")
    return output, target, profile


def _verdict(output: str, target: str) -> tuple[str, list[str]]:
    """The compliance line for the target and the rule lines listed under it."""
    lines = output.splitlines()
    for index, line in enumerate(lines):
        if line.strip().startswith(f"{target}: "):
            rules = []
            for rule in lines[index + 1 :]:
                if not rule.strip().startswith("* "):
                    break
                rules.append(rule)
            return line.strip()[len(target) + 2 :], rules
    raise AssertionError(f"no compliance verdict for {target} in sslyze's output:\n{output}")


def test_sslyze_reached_the_server_and_trusts_the_chain(scan: tuple[str, str, str]) -> None:
    output, target, _ = scan
    # The connectivity check names the address it reached; a failed one prints an error instead.
    assert re.search(rf"{re.escape(target)}\s+=>\s+127\.0\.0\.1", output), output
    assert "SCANS COMPLETED" in output, output
    assert "ERROR" not in output.split("SCANS COMPLETED")[0], output
    assert re.search(r"Hostname sent for SNI:\s+app\.kit\.test$", output, re.M), output
    assert re.search(r"Supplied CA file CA Store.*:\s+OK - Certificate is trusted", output), output
    # The leaf's common name is empty on Debian 13 (its Pebble sets none): match from the issuer.
    chain = r"Verified Chain:.*--> Pebble Intermediate CA \S+ --> Pebble Root CA \S+$"
    assert re.search(chain, output, re.M), output
    assert re.search(r"Public Key Algorithm:\s+ECPublicKey$", output, re.M), output
    assert re.search(r"Curve:\s+secp256r1$", output, re.M), output


def test_mozilla_profile_compliance(host: Any, scan: tuple[str, str, str]) -> None:
    output, target, profile = scan
    verdict, rules = _verdict(output, target)
    record_result(
        "tls-scan",
        {
            "step": f"sslyze mozilla 6.0 {profile}",
            "host": host.backend.get_hostname(),
            "verdict": verdict,
            "rules": [rule.strip() for rule in rules],
        },
    )
    if profile == "intermediate":
        assert verdict == "OK - Compliant.", "\n".join([verdict, *rules])
    else:
        assert verdict == "FAILED - Not compliant.", verdict
        assert len(rules) == 1, "\n".join(rules)
        assert CA_SIGNATURE_RULE.match(rules[0]), rules[0]


def test_modern_profile_passes_with_an_ecdsa_signed_chain(
    host: Any, ecdsa_scan: tuple[str, str, str]
) -> None:
    output, target, profile = ecdsa_scan
    assert re.search(rf"Hostname sent for SNI:\s+{re.escape(ECDSA_NAME)}$", output, re.M), output
    assert re.search(r"Supplied CA file CA Store.*:\s+OK - Certificate is trusted", output), output
    assert re.search(r"Verified Chain:.*--> kit ECDSA test CA$", output, re.M), output
    verdict, rules = _verdict(output, target)
    record_result(
        "tls-scan",
        {
            "step": f"sslyze mozilla 6.0 {profile}, ECDSA-signed chain",
            "host": host.backend.get_hostname(),
            "verdict": verdict,
            "rules": [rule.strip() for rule in rules],
        },
    )
    assert verdict == "OK - Compliant.", "\n".join([verdict, *rules])
    # The copy is gone and nginx serves on as converged.
    assert not host.file(ECDSA_SERVER).exists
    assert host.service("nginx").is_running
