"""kit_harness.image_wheels: what it asks for, its cache, and what it leaves for docker build."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from kit_harness import image_wheels as iw

from tests.conftest import PROJECT

TARGET = "cp311-x86_64-glibc2.36"


def test_dependencies_are_the_apps_own() -> None:
    requirements = iw.dependencies(PROJECT / "pyproject.toml")
    names = {r.split("[")[0].split(">")[0].split("=")[0].split("!")[0] for r in requirements}
    assert {"fastapi", "uvicorn", "pydantic-settings"} <= names
    assert not names & {"ansible", "pytest", "molecule"}, "no controller or test tools"


# Arguments that make pip fail whenever it runs: no index, a project that does not exist.
OFFLINE = ["--no-index", "--only-binary=:all:"]
MISSING = ["no-such-dist==0"]


def test_a_failed_download_leaves_nothing(tmp_path: Path) -> None:
    constraints = tmp_path / "constraints.txt"
    constraints.write_text("")
    with pytest.raises(iw.WheelError, match="pip download failed"):
        iw.cached_wheels(tmp_path / "cache", TARGET, OFFLINE, MISSING, constraints)
    assert list((tmp_path / "cache").iterdir()) == []


def test_a_complete_set_is_reused_and_published_alone(tmp_path: Path) -> None:
    cache, constraints = tmp_path / "cache", tmp_path / "constraints.txt"
    constraints.write_text("fastapi==1\n")
    house = cache / iw.set_name(TARGET, MISSING, constraints)
    house.mkdir(parents=True)
    (house / "kept-1.0-py3-none-any.whl").write_text("wheel")
    (house / iw.COMPLETE).write_text("")
    # Reused as it is: pip would fail if it ran.
    assert iw.cached_wheels(cache, TARGET, OFFLINE, MISSING, constraints) == (house, False)
    # Other pins name another set, which has to be downloaded.
    constraints.write_text("fastapi==2\n")
    assert iw.set_name(TARGET, MISSING, constraints) != house.name
    with pytest.raises(iw.WheelError):
        iw.cached_wheels(cache, TARGET, OFFLINE, MISSING, constraints)

    out = tmp_path / "context" / "image-wheels"
    out.mkdir(parents=True)
    (out / "stale-0.1-cp312-cp312-linux_x86_64.whl").write_text("wheel for another Python")
    assert iw.publish(house, out) == 1
    assert sorted(p.name for p in out.iterdir()) == ["kept-1.0-py3-none-any.whl"]


def test_an_image_without_python_is_reported(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    docker = bin_dir / "docker"
    docker.write_text("#!/bin/sh\necho 'exec: python3: executable file not found' >&2\nexit 127\n")
    docker.chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}:{os.environ['PATH']}")
    assert iw.main(["--base", "busybox", "--out", str(tmp_path / "out")]) == 1
    assert "cannot run python3 in busybox" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()
