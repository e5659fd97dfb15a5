"""sslyze (the auditors' scanner) against each host's published 443 with Mozilla's 6.0
intermediate profile (molecule/default/files/, an sslyze custom config) and the host's Pebble
root as trust anchor. sslyze exits 0 when it cannot connect: the output must show the scan and
the verdict.

sslyze pins cryptography<47, which the project's .venv cannot take: `make sslyze` installs it in
.cache/sslyze (KIT_SSLYZE names another binary).
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path
from typing import Any

from conftest import PROJECT, SCENARIO, published_port, record_result

SERVER_NAME = "app.kit.test"
SSLYZE = os.environ.get("KIT_SSLYZE", str(PROJECT / ".cache" / "sslyze" / "bin" / "sslyze"))


def test_sslyze_intermediate_profile_compliant(host: Any, tmp_path: Path) -> None:
    name = host.backend.get_hostname()
    root = tmp_path / "pebble-root.pem"
    root.write_text(
        host.check_output(
            "curl -sS --fail --cacert /etc/pebble/https-ca.pem https://localhost:15000/roots/0"
        )
        + "\n"
    )
    profile = SCENARIO / "files" / "mozilla-6.0-intermediate.sslyze.json"
    result = subprocess.run(
        [
            SSLYZE,
            f"--custom_tls_config={profile}",
            f"--certinfo_ca_file={root}",
            f"{SERVER_NAME}:{published_port(name, 443)}{{127.0.0.1}}",
        ],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    output = result.stdout + result.stderr
    verdicts = [line.strip() for line in output.splitlines() if "ompliant" in line]
    record_result(
        "hardening",
        {
            "step": "sslyze mozilla 6.0 intermediate",
            "host": name,
            "rc": result.returncode,
            "verdicts": verdicts,
        },
    )
    assert "SCANS COMPLETED" in output, output[-3000:]
    assert f"{SERVER_NAME}:" in output
    assert "discarding scan" not in output
    assert result.returncode == 0, output[-3000:]
    assert any("OK - Compliant" in line for line in verdicts), output[-3000:]
