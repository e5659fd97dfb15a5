"""The controller-side wheel builder (roles/app/files/build_wheelhouse.py) on real projects."""

from __future__ import annotations

import json
import tarfile
from pathlib import Path

import pytest

from tests.kit.wheelhouse_builder import build_wheelhouse as bw


def _project(root: Path, body: str = "VALUE = 1\n", name: str = "demo_app") -> Path:
    """A minimal pure-Python project with no dependencies (builds without an index)."""
    (root / name).mkdir(parents=True)
    (root / name / "__init__.py").write_text(body)
    (root / "pyproject.toml").write_text(
        '[build-system]\nrequires = ["setuptools>=69"]\nbuild-backend = "setuptools.build_meta"\n'
        f'[project]\nname = "{name.replace("_", "-")}"\nversion = "1.2.3"\n'
        f'[tool.setuptools]\npackages = ["{name}"]\n'
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
    assert bw.release_id([wheel], py311) == bw.release_id([wheel], py313)
    assert bw.release_id([wheel], py311) != bw.release_id([wheel], newer)


def test_unchanged_project_builds_the_same_release(tmp_path: Path) -> None:
    source = _project(tmp_path / "src")
    first = bw.build(source, TARGET, tmp_path / "cache", None)
    second = bw.build(source, TARGET, tmp_path / "cache", None)
    assert first == second
    assert (first.distribution, first.version) == ("demo-app", "1.2.3")
    assert first.requirements == ["demo-app==1.2.3"]
    assert first.wheels == ["demo_app-1.2.3-py3-none-any.whl"]
    with tarfile.open(Path(first.wheelhouse) / "wheels.tar") as archive:
        assert archive.getnames() == first.wheels
    # The operator's source tree is left as it was: the build ran on a copy.
    assert sorted(p.name for p in source.iterdir()) == ["demo_app", "pyproject.toml"]


def test_changed_project_builds_a_new_release(tmp_path: Path) -> None:
    before = bw.build(_project(tmp_path / "a"), TARGET, tmp_path / "cache", None)
    after = bw.build(_project(tmp_path / "b", "VALUE = 2\n"), TARGET, tmp_path / "cache", None)
    assert before.release_id != after.release_id


def test_the_runtime_is_built_beside_the_project(tmp_path: Path) -> None:
    """The kit's runtime is a second built wheel: installed with the project, part of the release
    id (a new runtime is a new release of the same project)."""
    source = _project(tmp_path / "src")
    runtime = _project(tmp_path / "runtime", name="kit_runtime")
    alone = bw.build(source, TARGET, tmp_path / "cache", None)
    both = bw.build(source, TARGET, tmp_path / "cache", None, runtime)
    assert both.requirements == ["demo-app==1.2.3", "kit-runtime==1.2.3"]
    assert both.wheels == ["demo_app-1.2.3-py3-none-any.whl", "kit_runtime-1.2.3-py3-none-any.whl"]
    assert both.release_id != alone.release_id
    newer = _project(tmp_path / "runtime2", "VALUE = 2\n", name="kit_runtime")
    assert bw.build(source, TARGET, tmp_path / "cache", None, newer).release_id != both.release_id


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


def test_a_project_is_built_once_per_content(tmp_path: Path) -> None:
    """Two platforms, one build: the second target reuses the wheel built for the first; a
    change of content builds again."""
    source = _project(tmp_path / "src")
    first = bw.build(source, TARGET, tmp_path / "cache", None)
    other = bw.build(source, bw.Target("3.13", "aarch64", "2.41"), tmp_path / "cache", None)
    assert first.release_id == other.release_id
    built = sorted((tmp_path / "cache" / "built").glob("*/*.whl"))
    assert len(built) == 1
    (source / "demo_app" / "__init__.py").write_text("VALUE = 3\n")
    bw.build(source, TARGET, tmp_path / "cache", None)
    assert len(sorted((tmp_path / "cache" / "built").glob("*/*.whl"))) == 2


def test_the_digest_ignores_what_a_build_leaves_out(tmp_path: Path) -> None:
    source = _project(tmp_path / "src")
    before = bw.source_digest(source)
    (source / "__pycache__").mkdir()
    (source / "__pycache__" / "x.pyc").write_bytes(b"compiled")
    (source / ".git").mkdir()
    (source / ".git" / "HEAD").write_text("ref: refs/heads/main\n")
    assert bw.source_digest(source) == before
    (source / "demo_app" / "extra.py").write_text("EXTRA = 1\n")
    assert bw.source_digest(source) != before
