"""What the operator's project is, the Python it needs, and which of its files ship."""

from __future__ import annotations

import fnmatch
import os
import re
import subprocess
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from packaging.specifiers import InvalidSpecifier, SpecifierSet
from packaging.version import Version

from .errors import BuildError

Mode = Literal["package", "tree"]

# Never shipped, at any depth: version control, local environments and secrets, caches.
NEVER_SHIPPED: tuple[str, ...] = (
    ".git",
    ".env",
    ".env.*",
    "__pycache__",
    "*.pyc",
    ".venv",
    "node_modules",
    ".mypy_cache",
    ".pytest_cache",
    ".ruff_cache",
    ".tox",
    "*.egg-info",
)
# Left out only at the project's top (outside git, where no .gitignore says what is built):
# an app/static/dist or a package named build stays.
TOP_LEVEL_BUILD_OUTPUT: tuple[str, ...] = ("venv", "build", "dist", ".cache")


@dataclass(frozen=True)
class Project:
    """The project at ``root`` (app_source)."""

    root: Path
    mode: Mode
    name: str
    # requires-python of the project (and of its uv workspace root), as PEP 440 specifiers.
    requires_python: list[str] = field(default_factory=list)
    # The directory holding the project's lock (a uv workspace's root, else root).
    lock_root: Path | None = None
    # uv workspace members other than this project (their wheels are built beside it).
    members: list[Path] = field(default_factory=list)
    # Requirement lines of a source-tree project (pyproject dependencies or requirements.txt).
    dependencies: list[str] = field(default_factory=list)
    # requirements.txt of a source-tree project: pip reads it itself (options, hashes...).
    requirements_file: Path | None = None


def _toml(path: Path) -> dict[str, Any]:
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as error:
        raise BuildError(f"app_source: {path} cannot be read as TOML: {error}") from error


def poetry_python(constraint: str) -> str:
    """A Poetry python constraint ("^3.11", "~3.12", ">=3.11,<4.0") as PEP 440 specifiers."""
    parts = []
    for item in re.split(r"\s*,\s*|\s+", constraint.strip()):
        caret = re.fullmatch(r"\^(\d+)(?:\.(\d+))?(?:\.\d+)?", item)
        tilde = re.fullmatch(r"~(\d+)\.(\d+)(?:\.\d+)?", item)
        if caret:
            major = int(caret.group(1))
            parts += [f">={item[1:]}", f"<{major + 1}"]
        elif tilde:
            parts += [f">={item[1:]}", f"<{tilde.group(1)}.{int(tilde.group(2)) + 1}"]
        elif item and item != "*":
            parts.append(item)
    return ",".join(parts)


def check_python(requires: list[str], python: str, where: str) -> None:
    """Refuse the host's Python (``3.11.2``) when a requires-python of the project excludes it."""
    version = Version(python)
    for requirement in requires:
        try:
            specifiers = SpecifierSet(requirement)
        except InvalidSpecifier as error:
            raise BuildError(
                f"app_source: requires-python {requirement!r} is not valid: {error}"
            ) from error
        if not specifiers.contains(version, prereleases=True):
            raise BuildError(
                f"the project needs Python {requirement} (requires-python of {where}) but {python} "
                "is the Python the release would run on: set app_python to an interpreter on the "
                "host that meets it (for example /usr/bin/python3.13), or deploy to hosts that "
                "have one; nothing changed."
            )


def _workspace_root(root: Path) -> Path | None:
    """The uv workspace root above ``root`` that lists it as a member, if any."""
    for parent in root.parents:
        manifest = parent / "pyproject.toml"
        if not manifest.is_file():
            continue
        workspace = _toml(manifest).get("tool", {}).get("uv", {}).get("workspace")
        if isinstance(workspace, dict) and root in _members(parent, workspace):
            return parent
    return None


def _members(workspace_root: Path, workspace: dict[str, Any]) -> list[Path]:
    excluded = {p.resolve() for g in workspace.get("exclude", []) for p in workspace_root.glob(g)}
    found = {p.resolve() for g in workspace.get("members", []) for p in workspace_root.glob(g)}
    return sorted(p for p in found - excluded if (p / "pyproject.toml").is_file())


def _buildable(manifest: dict[str, Any], root: Path) -> bool:
    poetry = manifest.get("tool", {}).get("poetry", {})
    if poetry.get("package-mode") is False:
        return False
    if manifest.get("tool", {}).get("uv", {}).get("package") is False:
        return False
    return "build-system" in manifest or (root / "setup.py").is_file()


def detect(root: Path) -> Project:
    """The project at ``root``: a package (pyproject.toml with a build system, or setup.py), a
    source tree with its dependencies (pyproject.toml without one, or requirements.txt), or an
    error naming app_source."""
    if not root.is_dir():
        raise BuildError(f"app_source: {root} is not a directory on the controller")
    manifest_path = root / "pyproject.toml"
    if not manifest_path.is_file():
        if (root / "setup.py").is_file():
            return Project(root=root, mode="package", name=root.name, lock_root=root)
        if (root / "requirements.txt").is_file():
            return Project(
                root=root,
                mode="tree",
                name=root.name,
                lock_root=root,
                requirements_file=root / "requirements.txt",
            )
        raise BuildError(
            f"app_source: {root} is not a Python project "
            "(no pyproject.toml, setup.py or requirements.txt)"
        )
    manifest = _toml(manifest_path)
    project = manifest.get("project", {})
    poetry = manifest.get("tool", {}).get("poetry", {})
    name = str(project.get("name") or poetry.get("name") or root.name)
    requires = [str(project["requires-python"])] if "requires-python" in project else []
    if not requires and isinstance(poetry.get("dependencies", {}).get("python"), str):
        requires.append(poetry_python(poetry["dependencies"]["python"]))
    workspace_root = _workspace_root(root)
    members: list[Path] = []
    lock_root = root
    if workspace_root is not None:
        lock_root = workspace_root
        workspace_manifest = _toml(workspace_root / "pyproject.toml")
        members = [
            m
            for m in _members(workspace_root, workspace_manifest["tool"]["uv"]["workspace"])
            if m != root
        ]
        root_requires = workspace_manifest.get("project", {}).get("requires-python")
        if root_requires:
            requires.append(str(root_requires))
    elif isinstance(manifest.get("tool", {}).get("uv", {}).get("workspace"), dict):
        members = [m for m in _members(root, manifest["tool"]["uv"]["workspace"]) if m != root]
    dependencies = [str(d) for d in project.get("dependencies", [])]
    if _buildable(manifest, root):
        mode: Mode = "package"
    else:
        mode = "tree"
    requirements_file = None
    if mode == "tree" and not dependencies and (root / "requirements.txt").is_file():
        requirements_file = root / "requirements.txt"
    return Project(
        root=root,
        mode=mode,
        name=name,
        requires_python=requires,
        lock_root=lock_root,
        members=members,
        dependencies=dependencies,
        requirements_file=requirements_file,
    )


def _matches(relative: str, patterns: tuple[str, ...] | list[str]) -> bool:
    """A path matches a pattern by its whole relative path, or by any one of its parts."""
    parts = relative.split("/")
    return any(
        fnmatch.fnmatch(relative, pattern) or any(fnmatch.fnmatch(part, pattern) for part in parts)
        for pattern in patterns
    )


def _git_files(root: Path) -> list[str] | None:
    """The files git tracks under ``root`` (relative to it), or None outside a git work tree."""
    try:
        inside = subprocess.run(
            ["git", "-C", str(root), "rev-parse", "--is-inside-work-tree"],
            capture_output=True,
            text=True,
            check=False,
        )
    except FileNotFoundError:
        return None
    if inside.returncode != 0 or inside.stdout.strip() != "true":
        return None
    listed = subprocess.run(
        ["git", "-C", str(root), "ls-files", "-z", "--cached", "--", "."],
        capture_output=True,
        check=True,
    )
    names = [n.decode() for n in listed.stdout.split(b"\0") if n]
    return [n for n in names if (root / n).is_file() or (root / n).is_symlink()]


def _walked_files(root: Path) -> list[str]:
    found: list[str] = []
    for directory, dirs, files in os.walk(root):
        here = Path(directory).relative_to(root).as_posix()
        prefix = "" if here == "." else f"{here}/"
        dirs[:] = [
            d
            for d in dirs
            if not _matches(d, NEVER_SHIPPED) and not (prefix == "" and d in TOP_LEVEL_BUILD_OUTPUT)
        ]
        found += [prefix + name for name in files]
    return found


def shipped_files(root: Path, exclude: list[str]) -> list[str]:
    """The project's files that travel with a release, relative to ``root``, sorted: the files git
    tracks (else every file but local environments, caches and top-level build output), never
    ``.git``, ``.env*`` or what ``exclude`` (app_source_exclude: globs of paths or names) names.
    A work tree that tracks none of the project's files ships them as if it were outside git."""
    names = _git_files(root)
    if not names:
        # Outside git, or a project inside a work tree that tracks none of its files yet.
        names = _walked_files(root)
    return sorted(n for n in names if not _matches(n, NEVER_SHIPPED) and not _matches(n, exclude))
