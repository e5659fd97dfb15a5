"""scripts/image_wheels.py: what it asks for, and that it keeps wheels made for the same inputs."""

from __future__ import annotations

import importlib.util
import os
import sys
from pathlib import Path
from types import ModuleType

import pytest

SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "image_wheels.py"


def _load() -> ModuleType:
    spec = importlib.util.spec_from_file_location("image_wheels", SCRIPT)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["image_wheels"] = module
    spec.loader.exec_module(module)
    return module


iw = _load()


def test_dependencies_are_the_apps_own() -> None:
    requirements = iw.dependencies(SCRIPT.parents[1] / "pyproject.toml")
    names = {r.split("[")[0].split(">")[0].split("=")[0].split("!")[0] for r in requirements}
    assert {"fastapi", "uvicorn", "pydantic-settings"} <= names
    assert not names & {"ansible", "pytest", "molecule"}, "no controller or test tools"


def test_wheels_for_the_same_inputs_are_kept(tmp_path: Path) -> None:
    out = tmp_path / "wheels"
    out.mkdir()
    (out / "kept-1.0-py3-none-any.whl").write_text("")
    (out / ".key").write_text("same-key")
    # Nothing is downloaded: an impossible requirement would fail if pip ran.
    args = (["--only-binary=:all:"], ["no-such-dist==0"], tmp_path / "c.txt", "same-key")
    assert iw.make_wheels(out, *args) is False
    assert sorted(p.name for p in out.iterdir()) == [".key", "kept-1.0-py3-none-any.whl"]


def test_a_failed_download_leaves_the_old_wheels(tmp_path: Path) -> None:
    out = tmp_path / "wheels"
    out.mkdir()
    (out / ".key").write_text("old-key")
    (tmp_path / "c.txt").write_text("")
    with pytest.raises(iw.WheelError, match="pip download failed"):
        iw.make_wheels(
            out,
            ["--no-index", "--only-binary=:all:"],
            ["no-such-dist==0"],
            tmp_path / "c.txt",
            "new",
        )
    assert (out / ".key").read_text() == "old-key"


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
