"""The local VM platform's scripts and settings (no Docker needed: these run anywhere)."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
SCENARIOS = sorted((ROOT / "molecule").glob("*/molecule.yml"))


def _script(
    name: str, *args: str, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["bash", str(ROOT / ".ci" / name), *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def _shim(directory: Path, name: str, body: str) -> None:
    path = directory / name
    path.write_text(f"#!/bin/sh\n{body}\n")
    path.chmod(0o755)


def test_ensure_docker_says_why_the_daemon_cannot_start(tmp_path: Path) -> None:
    """A daemon that dies at start-up fails the script with its own last words, quickly."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    _shim(bin_dir, "docker", "echo 'Cannot connect to the Docker daemon' >&2; exit 1")
    _shim(
        bin_dir,
        "kit-test-dockerd",
        "echo 'failed to start daemon: Devices cgroup is not mounted' >&2; exit 1",
    )
    env = {
        **os.environ,
        "PATH": f"{bin_dir}:{os.environ['PATH']}",
        "DOCKERD": "kit-test-dockerd",
        "DOCKERD_LOG": str(tmp_path / "dockerd.log"),
        "DOCKER_WAIT_SECONDS": "20",
    }
    result = _script("ensure-docker.sh", env=env)
    assert result.returncode == 1
    assert "exited at start-up" in result.stderr
    assert "Devices cgroup is not mounted" in result.stderr


def test_ensure_docker_is_quiet_when_docker_answers(tmp_path: Path) -> None:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    _shim(bin_dir, "docker", "exit 0")
    env = {**os.environ, "PATH": f"{bin_dir}:{os.environ['PATH']}", "DOCKERD": "absent-dockerd"}
    result = _script("ensure-docker.sh", env=env)
    assert (result.returncode, result.stderr) == (0, "")


def test_build_image_refuses_an_unknown_suite() -> None:
    result = _script("build-image.sh", "buster")
    assert result.returncode == 1
    assert "unknown suite 'buster'" in result.stderr


@pytest.mark.parametrize("scenario", SCENARIOS, ids=lambda p: p.parent.name)
def test_scenarios_publish_on_loopback_only(scenario: Path) -> None:
    platforms = yaml.safe_load(scenario.read_text())["platforms"]
    for platform in platforms:
        for port in platform.get("published_ports", []):
            assert str(port).startswith("127.0.0.1:"), f"{platform['name']} publishes {port}"


@pytest.mark.parametrize("scenario", SCENARIOS, ids=lambda p: p.parent.name)
def test_scenarios_never_call_galaxy_nor_run_privileged(scenario: Path) -> None:
    config = yaml.safe_load(scenario.read_text())
    assert config["dependency"]["enabled"] is False
    assert config["prerun"] is False
    assert not any(p.get("privileged") for p in config["platforms"])


def test_scenarios_exist() -> None:
    assert [p.parent.name for p in SCENARIOS].count("default") == 1
