"""The controller-side wheel builder (roles/app/files/build_wheelhouse.py) on real projects."""

from __future__ import annotations

import json
import tarfile
from pathlib import Path

import pytest

from tests.conftest import load_script

bw = load_script("roles/app/files/build_wheelhouse.py", "build_wheelhouse")


def _project(root: Path, body: str = "VALUE = 1\n") -> Path:
    """A minimal pure-Python project with no dependencies (builds without an index)."""
    (root / "demo_app").mkdir(parents=True)
    (root / "demo_app" / "__init__.py").write_text(body)
    (root / "pyproject.toml").write_text(
        '[build-system]\nrequires = ["setuptools>=69"]\nbuild-backend = "setuptools.build_meta"\n'
        '[project]\nname = "demo-app"\nversion = "1.2.3"\n'
        '[tool.setuptools]\npackages = ["demo_app"]\n'
    )
    return root


TARGET = bw.Target("3.11", "x86_64", "2.36")


def test_target_selects_wheels_the_host_can_install() -> None:
    args = TARGET.pip_args()
    assert "--only-binary=:all:" in args
    platforms = [args[i + 1] for i, arg in enumerate(args) if arg == "--platform"]
    assert "manylinux_2_36_x86_64" in platforms
    assert "manylinux_2_17_x86_64" in platforms
    assert "manylinux2014_x86_64" in platforms
    assert not [p for p in platforms if "2_37" in p or "aarch64" in p]
    assert args[args.index("--python-version") + 1] == "3.11"


def test_parse_wheel_name() -> None:
    assert bw.parse_wheel_name("pydantic_core-2.50.5-cp311-cp311-manylinux_2_17_x86_64.whl") == (
        "pydantic-core",
        "2.50.5",
    )


def test_release_id_ignores_the_target_but_not_versions(tmp_path: Path) -> None:
    wheel = tmp_path / "demo_app-1.2.3-py3-none-any.whl"
    wheel.write_bytes(b"wheel bytes")
    py311 = ["x-1.0-cp311-cp311-manylinux_2_17_x86_64.whl", wheel.name]
    py313 = ["x-1.0-cp313-cp313-manylinux_2_17_x86_64.whl", wheel.name]
    newer = ["x-1.1-cp311-cp311-manylinux_2_17_x86_64.whl", wheel.name]
    assert bw.release_id(wheel, py311) == bw.release_id(wheel, py313)
    assert bw.release_id(wheel, py311) != bw.release_id(wheel, newer)


def test_unchanged_project_builds_the_same_release(tmp_path: Path) -> None:
    source = _project(tmp_path / "src")
    first = bw.build(source, TARGET, tmp_path / "cache", None)
    second = bw.build(source, TARGET, tmp_path / "cache", None)
    assert first == second
    assert (first.distribution, first.version) == ("demo-app", "1.2.3")
    assert first.wheels == ["demo_app-1.2.3-py3-none-any.whl"]
    with tarfile.open(Path(first.wheelhouse) / "wheels.tar") as archive:
        assert archive.getnames() == first.wheels
    # The operator's source tree is left as it was: the build ran on a copy.
    assert sorted(p.name for p in source.iterdir()) == ["demo_app", "pyproject.toml"]


def test_changed_project_builds_a_new_release(tmp_path: Path) -> None:
    before = bw.build(_project(tmp_path / "a"), TARGET, tmp_path / "cache", None)
    after = bw.build(_project(tmp_path / "b", "VALUE = 2\n"), TARGET, tmp_path / "cache", None)
    assert before.release_id != after.release_id


def test_not_a_project_is_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    argv = ["--source", str(tmp_path), "--python", "3.11", "--arch", "x86_64", "--glibc", "2.36"]
    assert bw.main([*argv, "--cache", str(tmp_path / "cache")]) == 1
    assert "not a Python project" in capsys.readouterr().err


def test_main_prints_json(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    source = _project(tmp_path / "src")
    argv = ["--source", str(source), "--python", "3.13", "--arch", "aarch64", "--glibc", "2.41"]
    assert bw.main([*argv, "--cache", str(tmp_path / "cache")]) == 0
    result = json.loads(capsys.readouterr().out)
    assert "cp313-aarch64-glibc2.41" in result["wheelhouse"]
    assert len(result["release_id"]) == 12
