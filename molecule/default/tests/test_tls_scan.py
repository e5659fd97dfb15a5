"""sslyze against each host's published HTTPS port, judged by Mozilla's 6.0 profiles.

The profiles are sslyze custom configurations (molecule/resources/tls/, Mozilla's 6.0
intermediate and modern). Debian 12 serves the intermediate profile, Debian 13 the modern one
(tls_profile in the scenario's group_vars). The trust anchor is the host's Pebble root. sslyze
exits 0 even when it cannot connect, so the verdict is read from its output, together with proof
that it reached the server and verified the chain.

One rule of the modern profile is the CA's to meet, not the server's: the signature on the
certificate must be ECDSA. Pebble signs with RSA keys whatever the certificate's key, so on the
modern host that rule, and only that one, fails here, naming Pebble's RSA signature; Let's
Encrypt signs ECDSA certificates with its ECDSA intermediates.
"""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path
from typing import Any

import pytest
from conftest import PROJECT, host_tls_profile, published_port, record_result

SSLYZE = os.environ.get("KIT_SSLYZE", str(PROJECT / ".cache" / "sslyze" / "bin" / "sslyze"))
PROFILES = PROJECT / "molecule" / "resources" / "tls"
SERVER_NAME = "app.kit.test"
PEBBLE_HTTPS_CA = "/etc/pebble/https-ca.pem"
# Signed by the CA (see above): the one rule the modern host may fail, with Pebble's RSA named.
CA_SIGNATURE_RULE = re.compile(
    r"^\s*\* certificate_signatures: Deployed certificate signatures are "
    r"\{'sha256WithRSAEncryption'\}"
)


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
    result = subprocess.run(
        [
            SSLYZE,
            "--custom_tls_config",
            str(PROFILES / f"mozilla-6.0-{profile}.sslyze.json"),
            "--certinfo_ca_file",
            str(root),
            "--sni",
            SERVER_NAME,
            target,
        ],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    output = result.stdout + result.stderr
    Path(PROJECT / ".cache" / "results").mkdir(parents=True, exist_ok=True)
    (PROJECT / ".cache" / "results" / f"sslyze-{name}.txt").write_text(output)
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
