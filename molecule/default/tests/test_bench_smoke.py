"""`make bench`'s real path, short, on the scenario's converged Debian 12 host (no converge).

``python -m bench.run --quick --clean-up`` exactly as `make bench` runs it, cut to one round of
1 s: it installs the load tools in the host, starts one bench instance of the deployed
configuration (``app@benchN``, with the active colour's secrets drop-in, so it answers
/health/ready only if it really loads the secrets), measures it directly and nginx over TLS with
wrk and h2load from inside the host, and writes results.json and results.md (here to a temporary
directory). Every probe must have measured requests with no error; the host must be left as it
was found (no bench unit, file or package left behind).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import testinfra  # type: ignore[import-untyped]
import yaml
from kit_harness.project import PROJECT
from kit_harness.results import record_result

APP = "app"
# Bounds of the pass (it takes well under a minute on an idle 2-core machine).
TIMEOUT = 240


def _debian12() -> str:
    """The scenario's Debian 12 host (the bench's own platform)."""
    loaded = yaml.safe_load(Path(os.environ["MOLECULE_INVENTORY_FILE"]).read_text())
    names: list[str] = sorted(loaded["app"]["hosts"])
    return next((name for name in names if name.endswith("debian12")), names[0])


def _footprint(host: Any) -> dict[str, str]:
    """What the pass may touch: installed packages, the app's units, files and nginx's site."""
    return {
        "packages": host.check_output(
            "dpkg-query --show --showformat '${Package} ${Version} ${Status}\\n'"
        ),
        "units": host.check_output(
            f"systemctl list-units --all --plain --no-legend '{APP}@*' | awk '{{print $1, $3, $4}}'"
        ),
        "files": host.check_output(
            f"ls -1 /etc/{APP} /srv/{APP} /etc/systemd/system /run/credentials;"
            " ls -1 /tmp /run | grep -i bench || true"
        ),
        "site": host.check_output(f"sha256sum /etc/nginx/sites-available/{APP}.conf"),
        "state": host.check_output(f"cat /var/lib/{APP}/deploy.json"),
    }


def _run(command: list[str]) -> tuple[int, str, float]:
    """The pass, bounded: on timeout it gets SIGTERM (bench.run then removes its instances)."""
    started = time.monotonic()
    process = subprocess.Popen(
        command, cwd=PROJECT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    try:
        output, _ = process.communicate(timeout=TIMEOUT)
    except subprocess.TimeoutExpired:
        process.send_signal(signal.SIGTERM)
        try:
            output, _ = process.communicate(timeout=120)
        except subprocess.TimeoutExpired:
            process.kill()
            output, _ = process.communicate()
        output += f"\n(timed out after {TIMEOUT} s)"
    return process.returncode, output, time.monotonic() - started


def test_a_quick_bench_pass_measures_the_deployed_stack(tmp_path: Path) -> None:
    name = _debian12()
    host = testinfra.get_host(f"docker://{name}")
    before = _footprint(host)
    assert "bench" not in before["units"], before["units"]
    out = tmp_path / "results"
    command = [sys.executable, "-u", "-m", "bench.run", "--container", name]
    command += ["--quick", "--clean-up", "--out", str(out)]
    returncode, output, seconds = _run(command)
    print(output)
    assert returncode == 0, output[-3000:]

    results = json.loads((out / "results.json").read_text())
    assert (out / "results.md").is_file()
    meta = results["meta"]
    assert meta["quick"] is True
    # The bench instance got the active colour's secrets drop-in (and answered /health/ready).
    assert "secrets.conf" in meta["deployed"]["service_dropins"], meta["deployed"]
    probes = {m["id"]: m for m in results["measurements"]}
    direct = [m for m in probes.values() if m["url"].startswith("http://127.0.0.1:")]
    proxied = [m for m in probes.values() if m["url"].startswith("https://")]
    assert direct, probes.keys()
    assert proxied, probes.keys()
    for probe_id, measurement in probes.items():
        runs = measurement["runs"]
        assert runs, probe_id
        assert all(run["requests"] > 0 and run["rps"] > 0 for run in runs), (probe_id, runs)
        assert measurement["errors"] == 0, (probe_id, runs)
    assert results["ratios"], "no ratio of the same rounds"

    record_result(
        "bench",
        {
            "step": "quick pass (bench.run --quick)",
            "host": name,
            "seconds": round(seconds, 1),
            "rc": returncode,
            "rps": {k: round(m["rps"]["median"]) for k, m in probes.items()},
            "p99_ms": {k: m["p99_ms"]["median"] for k, m in probes.items()},
            "loadavg": meta["loadavg_start"][0],
        },
    )

    after = _footprint(host)
    for what, found in before.items():
        assert after[what] == found, f"{what} changed by the bench pass"
