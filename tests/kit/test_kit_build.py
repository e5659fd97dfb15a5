"""The app role's controller-side build (roles/app/files/kit_build) on real projects: the test
projects of tests/projects and small ones made here."""

from __future__ import annotations

import json
import shutil
import subprocess
import tarfile
from pathlib import Path

import pytest
from kit_build import __main__ as cli
from kit_build import locks, project, release, wheels
from kit_build.errors import BuildError

PROJECTS = Path(__file__).resolve().parents[1] / "projects"
RUNTIME = Path(__file__).resolve().parents[2] / "runtime"


def _project(root: Path, body: str = "VALUE = 1\n", name: str = "demo_app", deps: str = "") -> Path:
    """A minimal pure-Python project (no dependencies unless given: builds without an index)."""
    (root / name).mkdir(parents=True)
    (root / name / "__init__.py").write_text(body)
    (root / "pyproject.toml").write_text(
        '[build-system]\nrequires = ["setuptools>=69"]\nbuild-backend = "setuptools.build_meta"\n'
        f'[project]\nname = "{name.replace("_", "-")}"\nversion = "1.2.3"\n'
        f'requires-python = ">=3.11"\ndependencies = [{deps}]\n'
        f'[tool.setuptools]\npackages = ["{name}"]\n'
    )
    return root


def _options(tmp_path: Path, **kwargs: object) -> release.Options:
    settings: dict[str, object] = {
        "python": "3.11.2",
        "arch": "x86_64",
        "glibc": "2.36",
        "cache": tmp_path / "cache",
    }
    return release.Options(**{**settings, **kwargs})  # type: ignore[arg-type]


TARGET = wheels.Target("3.11.2", "x86_64", "2.36")
MARKERS = locks.marker_environment("3.11.2", "x86_64")


def test_target_selects_wheels_the_host_can_install() -> None:
    args = TARGET.pip_args()
    assert "--only-binary=:all:" in args
    platforms = [args[i + 1] for i, arg in enumerate(args) if arg == "--platform"]
    assert "manylinux_2_36_x86_64" in platforms
    assert "manylinux_2_17_x86_64" in platforms
    assert "manylinux2014_x86_64" in platforms
    assert not [p for p in platforms if "2_37" in p or "aarch64" in p]
    assert args[args.index("--python-version") + 1] == "3.11"
    assert TARGET.key() == "cp311-x86_64-glibc2.36"


def test_parse_wheel_name() -> None:
    name = "pydantic_core-2.50.5-cp311-cp311-manylinux_2_17_x86_64.whl"
    assert wheels.parse_wheel_name(name) == ("pydantic-core", "2.50.5")


def test_release_id_follows_wheels_tree_and_versions(tmp_path: Path) -> None:
    wheel = tmp_path / "demo_app-1.2.3-py3-none-any.whl"
    wheel.write_bytes(b"wheel bytes")
    py311 = ["x-1.0-cp311-cp311-manylinux_2_17_x86_64.whl", wheel.name]
    py313 = ["x-1.0-cp313-cp313-manylinux_2_17_x86_64.whl", wheel.name]
    newer = ["x-1.1-cp311-cp311-manylinux_2_17_x86_64.whl", wheel.name]
    assert wheels.release_id([wheel], "t", py311) == wheels.release_id([wheel], "t", py313)
    assert wheels.release_id([wheel], "t", py311) != wheels.release_id([wheel], "t", newer)
    assert wheels.release_id([wheel], "t", py311) != wheels.release_id([wheel], "u", py311)


def test_unchanged_project_builds_the_same_release(tmp_path: Path) -> None:
    source = _project(tmp_path / "src")
    first = release.build(source, _options(tmp_path))
    second = release.build(source, _options(tmp_path))
    assert first == second
    assert (first.mode, first.distribution, first.version) == ("package", "demo-app", "1.2.3")
    assert first.requirements == ["demo-app==1.2.3"]
    assert first.wheels == ["demo_app-1.2.3-py3-none-any.whl"]
    with tarfile.open(Path(first.wheelhouse) / "wheels.tar") as archive:
        assert archive.getnames() == first.wheels
    with tarfile.open(first.source_archive) as archive:
        assert sorted(archive.getnames()) == ["demo_app/__init__.py", "pyproject.toml"]
        assert {m.uid for m in archive.getmembers()} == {0}
    # The operator's source tree is left as it was: the build ran on a copy.
    assert sorted(p.name for p in source.iterdir()) == ["demo_app", "pyproject.toml"]


def test_changed_project_builds_a_new_release(tmp_path: Path) -> None:
    before = release.build(_project(tmp_path / "a"), _options(tmp_path))
    after = release.build(_project(tmp_path / "b", "VALUE = 2\n"), _options(tmp_path))
    assert before.release_id != after.release_id


def test_a_file_outside_the_package_is_part_of_the_release(tmp_path: Path) -> None:
    """alembic.ini and the like ship in the tree: changing one is a new release."""
    source = _project(tmp_path / "src")
    before = release.build(source, _options(tmp_path))
    (source / "alembic.ini").write_text("[alembic]\n")
    after = release.build(source, _options(tmp_path))
    assert after.release_id != before.release_id
    with tarfile.open(after.source_archive) as archive:
        assert "alembic.ini" in archive.getnames()


def test_the_runtime_is_built_beside_the_project(tmp_path: Path) -> None:
    """The kit's runtime is a second built wheel: installed with the project, part of the release
    id (a new runtime is a new release of the same project)."""
    source = _project(tmp_path / "src")
    runtime = _project(tmp_path / "runtime", name="kit_runtime")
    alone = release.build(source, _options(tmp_path))
    both = release.build(source, _options(tmp_path, runtime=runtime))
    assert both.requirements == ["demo-app==1.2.3", "kit-runtime==1.2.3"]
    assert both.release_id != alone.release_id
    newer = _project(tmp_path / "runtime2", "VALUE = 2\n", name="kit_runtime")
    assert release.build(source, _options(tmp_path, runtime=newer)).release_id != both.release_id


def test_a_project_without_a_build_system_runs_from_its_tree(tmp_path: Path) -> None:
    source = tmp_path / "tree"
    source.mkdir()
    (source / "main.py").write_text("app = None\n")
    (source / "requirements.txt").write_text("# nothing to install\n")
    built = release.build(
        source, _options(tmp_path, runtime=_project(tmp_path / "rt", name="kit_rt"))
    )
    assert built.mode == "tree"
    assert built.requirements == ["kit-rt==1.2.3"]
    with tarfile.open(built.source_archive) as archive:
        assert sorted(archive.getnames()) == ["main.py", "requirements.txt"]


def test_a_project_that_cannot_build_a_wheel_runs_from_its_tree(tmp_path: Path) -> None:
    """A Poetry project whose package folder is not named after it: the build fails, the project
    runs from its source tree with its locked main dependencies, and the note says why."""
    source = tmp_path / "poetry"
    shutil.copytree(PROJECTS / "poetry", source)
    (source / "poetry.lock").write_text("")  # no dependency to download here
    found = project.detect(source)
    assert found.mode == "package"
    built = release.build(source, _options(tmp_path))
    assert built.mode == "tree"
    assert "No file/folder found for package kitdemo-poetry" in built.notes[0]


def test_the_prebuild_command_runs_in_a_copy_and_its_output_ships(tmp_path: Path) -> None:
    source = _project(tmp_path / "src")
    script = "import pathlib; pathlib.Path('demo_app/static/dist').mkdir(parents=True); "
    script += "pathlib.Path('demo_app/static/dist/app.js').write_text('built')"
    built = release.build(source, _options(tmp_path, prebuild=["python3", "-c", script]))
    with tarfile.open(built.source_archive) as archive:
        assert "demo_app/static/dist/app.js" in archive.getnames()
    assert not (source / "demo_app" / "static").exists()
    with pytest.raises(BuildError, match="app_prebuild_command"):
        release.build(source, _options(tmp_path, prebuild=["false"]))


def test_main_prints_json(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    source = _project(tmp_path / "src")
    argv = ["--source", str(source), "--python", "3.13.5", "--arch", "aarch64", "--glibc", "2.41"]
    assert cli.main([*argv, "--cache", str(tmp_path / "cache")]) == 0
    result = json.loads(capsys.readouterr().out)
    assert "cp313-aarch64-glibc2.41" in result["wheelhouse"]
    assert len(result["release_id"]) == 12
    assert result["mode"] == "package"


def test_main_detects_only(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["--detect", "--source", str(PROJECTS / "requirements")]) == 0
    assert json.loads(capsys.readouterr().out)["mode"] == "tree"


def test_not_a_project_is_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["--detect", "--source", str(tmp_path)]) == 1
    assert "app_source" in capsys.readouterr().err
    argv = ["--source", str(tmp_path), "--python", "3.11.2", "--arch", "x86_64", "--glibc", "2.36"]
    assert cli.main([*argv, "--cache", str(tmp_path / "cache")]) == 1
    assert "is not a Python project" in capsys.readouterr().err


def test_a_python_the_host_cannot_meet_is_refused_naming_both(tmp_path: Path) -> None:
    source = _project(tmp_path / "src")
    manifest = source / "pyproject.toml"
    manifest.write_text(manifest.read_text().replace(">=3.11", ">=3.13"))
    with pytest.raises(BuildError, match=r"needs Python >=3\.13 .* but 3\.11\.2 .*app_python"):
        release.build(source, _options(tmp_path))
    assert not (tmp_path / "cache" / "built").exists()


@pytest.mark.parametrize(
    ("poetry", "pep440"),
    [
        ("^3.11", ">=3.11,<4"),
        ("~3.12", ">=3.12,<3.13"),
        (">=3.11,<3.14", ">=3.11,<3.14"),
        ("*", ""),
    ],
)
def test_poetry_python_constraints(poetry: str, pep440: str) -> None:
    assert project.poetry_python(poetry) == pep440


def test_a_project_is_built_once_per_content(tmp_path: Path) -> None:
    """Two platforms, one build: the second target reuses the wheel built for the first; a
    change of content builds again."""
    source = _project(tmp_path / "src")
    first = release.build(source, _options(tmp_path))
    other = release.build(source, _options(tmp_path, python="3.13.1", arch="aarch64", glibc="2.41"))
    assert first.release_id == other.release_id
    assert len(sorted((tmp_path / "cache" / "built").glob("*/*.whl"))) == 1
    (source / "demo_app" / "__init__.py").write_text("VALUE = 3\n")
    release.build(source, _options(tmp_path))
    assert len(sorted((tmp_path / "cache" / "built").glob("*/*.whl"))) == 2


def test_what_ships_outside_git(tmp_path: Path) -> None:
    """Nested build output stays (app/static/dist); secrets, caches and environments never ship."""
    source = _project(tmp_path / "src")
    for name in (
        "demo_app/static/dist/app.js",
        "demo_app/build/x.txt",
        ".env",
        ".env.prod",
        "demo_app/__pycache__/x.pyc",
        ".venv/bin/python",
        "dist/demo.whl",
        "node_modules/x/index.js",
        "notes/secret.key",
        "keep/.envrc",
    ):
        (source / name).parent.mkdir(parents=True, exist_ok=True)
        (source / name).write_text("x")
    shipped = project.shipped_files(source, ["*.key"])
    assert shipped == [
        "demo_app/__init__.py",
        "demo_app/build/x.txt",
        "demo_app/static/dist/app.js",
        "keep/.envrc",
        "pyproject.toml",
    ]


def test_what_ships_from_git_is_what_git_tracks(tmp_path: Path) -> None:
    source = _project(tmp_path / "src")
    (source / "untracked.py").write_text("x")
    (source / ".env").write_text("SECRET=1")
    git = ["git", "-C", str(source), "-c", "user.email=t@kit.test", "-c", "user.name=t"]
    subprocess.run([*git, "init", "-q"], check=True)
    subprocess.run([*git, "add", "pyproject.toml", "demo_app", ".env"], check=True)
    assert project.shipped_files(source, []) == ["demo_app/__init__.py", "pyproject.toml"]
    # A project in a work tree that tracks none of its files ships them all (as outside git).
    inner = _project(source / "inner")
    assert project.shipped_files(inner, []) == ["demo_app/__init__.py", "pyproject.toml"]


def test_the_digest_ignores_what_never_ships(tmp_path: Path) -> None:
    source = _project(tmp_path / "src")

    def digest() -> str:
        return wheels.tree_digest(source, project.shipped_files(source, []))

    before = digest()
    (source / "__pycache__").mkdir()
    (source / "__pycache__" / "x.pyc").write_bytes(b"compiled")
    (source / ".git").mkdir()
    (source / ".git" / "HEAD").write_text("ref: refs/heads/main\n")
    assert digest() == before
    (source / "demo_app" / "extra.py").write_text("EXTRA = 1\n")
    assert digest() != before


def test_the_test_projects_are_recognised() -> None:
    shapes = {
        "factory": ("package", "kitdemo-factory", None),
        "requirements": ("tree", "requirements", "requirements.txt"),
        "poetry": ("package", "kitdemo-poetry", None),
        "uv-workspace/packages/api": ("package", "kitdemo-api", None),
    }
    for path, (mode, name, requirements) in shapes.items():
        found = project.detect(PROJECTS / path)
        assert (found.mode, found.name) == (mode, name), path
        assert (found.requirements_file.name if found.requirements_file else None) == requirements
    member = project.detect(PROJECTS / "uv-workspace/packages/api")
    assert member.lock_root == PROJECTS / "uv-workspace"
    assert [m.name for m in member.members] == ["shared"]
    assert project.detect(PROJECTS / "poetry").requires_python == [">=3.11,<4"]


def test_a_uv_workspace_lock_pins_registry_packages_only() -> None:
    lock = locks.find_lock(PROJECTS / "uv-workspace", MARKERS)
    assert lock.path is not None
    assert lock.path.name == "uv.lock"
    assert "fastapi" in lock.pins
    assert "sqlalchemy" in lock.pins
    assert "kitdemo-shared" not in lock.pins
    assert {"kitdemo-shared", "kitdemo-api"} <= lock.names


def test_a_poetry_lock_pins_main_dependencies_for_the_host() -> None:
    lock = locks.find_lock(PROJECTS / "poetry", MARKERS)
    assert "fastapi" in lock.main
    assert "pytest" in lock.pins
    assert "pytest" not in lock.main  # the dev group is not installed
    assert "colorama" not in lock.main  # Windows only


def test_a_lock_that_misses_a_dependency_is_refused(tmp_path: Path) -> None:
    lock = locks.find_lock(PROJECTS / "uv-workspace", MARKERS)
    locks.check_matches(lock, ["fastapi>=0.110", "kitdemo-shared"], MARKERS)
    with pytest.raises(
        BuildError, match=r"does not match pyproject.toml: it has no httpx.*uv lock"
    ):
        locks.check_matches(lock, ["fastapi", "httpx>=0.27"], MARKERS)
    # A dependency for another platform need not be locked.
    locks.check_matches(lock, ['pywin32; sys_platform == "win32"'], MARKERS)


def test_a_pin_against_the_kit_server_is_refused() -> None:
    server = locks.runtime_requirements(RUNTIME)
    assert any(line.startswith("gunicorn") for line in server)
    locks.check_server({"fastapi": "0.115.0"}, server, "uv.lock")
    with pytest.raises(BuildError, match=r"uv.lock pins gunicorn==20.1.0, but the kit serves"):
        locks.check_server({"gunicorn": "20.1.0"}, server, "uv.lock")


def test_requirements_pins_are_read() -> None:
    lock = locks.find_lock(PROJECTS / "requirements", MARKERS)
    assert lock.pins["fastapi"] == lock.main["fastapi"]
    assert lock.pins["pydantic-core"]


def test_the_cause_of_a_failed_build_is_the_error_line() -> None:
    output = "Traceback\n  ValueError: bad thing\nnote: from a subprocess\nERROR: Failed to build"
    assert wheels.cause(output) == "ValueError: bad thing"
