"""The container recipe and its deployment files, checked as files (no docker, no cluster).

Dockerfile: multi-stage, dependencies before code, no pip cache, non-root, uvicorn with a
graceful-shutdown timeout. deploy/kubernetes: probes on the health routes, a grace period
longer than the preStop sleep plus that timeout, resources, secrets only from a Secret.
deploy/compose.yaml: loopback ports, an env file, a stop grace period longer than the timeout.
No literal secret anywhere.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml
from pydantic import SecretStr

from app.settings import Settings

ROOT = Path(__file__).resolve().parents[2]
KUBERNETES = ROOT / "deploy" / "kubernetes"
COMPOSE = ROOT / "deploy" / "compose.yaml"
# The objects kubectl applies (kustomization.yaml only lists them).
MANIFESTS = sorted(p for p in KUBERNETES.glob("*.yaml") if p.name != "kustomization.yaml")
# Settings that are secrets: never a literal value in a manifest.
SECRET_NAMES = {
    name.upper()
    for name, field in Settings.model_fields.items()
    if SecretStr in (field.annotation, *getattr(field.annotation, "__args__", ()))
}


# --- Dockerfile ---


def dockerfile_instructions(text: str) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) pairs, continuation lines joined, comments dropped."""
    logical, current = [], ""
    for line in text.splitlines():
        if not current and (not line.strip() or line.lstrip().startswith("#")):
            continue
        current += line.rstrip().removesuffix("\\") + " "
        if not line.rstrip().endswith("\\"):
            logical.append(current.strip())
            current = ""
    pairs = []
    for instruction in logical:
        keyword, _, rest = instruction.partition(" ")
        pairs.append((keyword.upper(), rest.strip()))
    return pairs


DOCKERFILE = dockerfile_instructions((ROOT / "Dockerfile").read_text())


def stages() -> list[list[tuple[str, str]]]:
    result: list[list[tuple[str, str]]] = []
    for keyword, rest in DOCKERFILE:
        if keyword == "FROM":
            result.append([])
        if result:
            result[-1].append((keyword, rest))
    return result


def image_command() -> list[str]:
    commands = [json.loads(rest) for keyword, rest in stages()[-1] if keyword == "CMD"]
    assert len(commands) == 1, "the runtime stage has one CMD, in exec (JSON) form"
    command: list[str] = commands[0]
    return command


def graceful_timeout(command: list[str]) -> int:
    assert command[0] == "uvicorn"
    assert "--timeout-graceful-shutdown" in command
    return int(command[command.index("--timeout-graceful-shutdown") + 1])


def test_dockerfile_base_is_a_build_argument() -> None:
    assert ("ARG", "BASE_IMAGE=python:3.12-slim") in DOCKERFILE
    assert [rest for keyword, rest in DOCKERFILE if keyword == "FROM"] == [
        "${BASE_IMAGE} AS builder",
        "${BASE_IMAGE}",
    ]


def test_dockerfile_installs_dependencies_before_copying_the_code() -> None:
    builder = stages()[0]
    steps = [f"{keyword} {rest}" for keyword, rest in builder]
    dependencies = next(i for i, s in enumerate(steps) if "--requirement requirements.txt" in s)
    code = next(i for i, s in enumerate(steps) if s.startswith("COPY app/"))
    assert dependencies < code
    assert not [s for s in steps[:dependencies] if s.startswith("COPY") and "app/" in s]


def test_dockerfile_pip_never_caches() -> None:
    pip_runs = [rest for keyword, rest in DOCKERFILE if keyword == "RUN" and "pip " in rest]
    assert pip_runs
    for run in pip_runs:
        for call in re.findall(r"pip (?:wheel|install)[^;]*", run):
            assert "--no-cache-dir" in call, call


def test_dockerfile_runtime_is_non_root_and_serves_8000() -> None:
    runtime = stages()[-1]
    users = [rest for keyword, rest in runtime if keyword == "USER"]
    assert len(users) == 1
    uid, _, gid = users[0].partition(":")
    assert int(uid) >= 1000
    assert int(gid) >= 1000
    assert ("EXPOSE", "8000") in runtime
    assert not [rest for keyword, rest in runtime if keyword == "RUN" and "pip" in rest]
    command = image_command()
    assert command[:2] == ["uvicorn", "app.main:app"]
    assert command[command.index("--port") + 1] == "8000"
    assert "--reload" not in command
    assert "--workers" not in command, "one process per container"
    assert 0 < graceful_timeout(command) <= 60


def test_dockerfile_bakes_no_secret() -> None:
    for keyword, rest in DOCKERFILE:
        if keyword in {"ENV", "ARG", "LABEL"}:
            assert not SECRET_NAMES & set(re.findall(r"[A-Z_]+", rest)), rest
    assert {"API_TOKEN", "API_TOKEN_PREVIOUS"} == SECRET_NAMES


def test_dockerignore_keeps_the_context_small() -> None:
    lines = (ROOT / ".dockerignore").read_text().splitlines()
    assert lines[lines.index("*")] == "*", "everything is excluded unless listed"
    for needed in ("!app/", "!pyproject.toml", "!constraints.txt", "!.cache/image-wheels/"):
        assert needed in lines
    assert not [line for line in lines if line.startswith("!") and ".env" in line]


# --- Kubernetes ---


def load_manifests() -> list[dict[str, Any]]:
    documents = []
    for path in MANIFESTS:
        for document in yaml.safe_load_all(path.read_text()):
            if document is not None:
                assert isinstance(document, dict), path
                documents.append(document)
    return documents


def kinds(documents: list[dict[str, Any]], kind: str) -> list[dict[str, Any]]:
    return [d for d in documents if d.get("kind") == kind]


def literal_secrets(value: Any, where: str = "") -> list[str]:
    """Places where a manifest or compose file holds a secret's value instead of a reference."""
    problems = []
    if isinstance(value, dict):
        if value.get("kind") == "Secret" and (value.get("data") or value.get("stringData")):
            problems.append(f"{where}: a Secret with data")
        name = str(value.get("name", "")).upper()
        if name in SECRET_NAMES and "value" in value:
            problems.append(f"{where}: {name} has a literal value")
        for key, item in value.items():
            if str(key).upper() in SECRET_NAMES and not isinstance(item, dict | list):
                problems.append(f"{where}.{key}: literal value")
            problems += literal_secrets(item, f"{where}.{key}")
    elif isinstance(value, list):
        for index, item in enumerate(value):
            if isinstance(item, str) and item.split("=", 1)[0].upper() in SECRET_NAMES:
                problems.append(f"{where}[{index}]: literal value")
            problems += literal_secrets(item, f"{where}[{index}]")
    return problems


@pytest.fixture(scope="module")
def manifests() -> list[dict[str, Any]]:
    return load_manifests()


@pytest.fixture(scope="module")
def deployment(manifests: list[dict[str, Any]]) -> dict[str, Any]:
    deployments = kinds(manifests, "Deployment")
    assert len(deployments) == 1
    return deployments[0]


@pytest.fixture(scope="module")
def container(deployment: dict[str, Any]) -> dict[str, Any]:
    containers = deployment["spec"]["template"]["spec"]["containers"]
    assert len(containers) == 1
    first: dict[str, Any] = containers[0]
    return first


def test_manifests_are_kubernetes_objects(manifests: list[dict[str, Any]]) -> None:
    assert {path.name for path in MANIFESTS} >= {"deployment.yaml", "service.yaml"}
    for document in manifests:
        assert document.get("apiVersion"), document
        assert document.get("kind"), document
    assert kinds(manifests, "Service")


def test_probes_use_the_health_routes(container: dict[str, Any]) -> None:
    port_names = {port["name"] for port in container["ports"]}
    assert {port["containerPort"] for port in container["ports"]} == {8000}
    assert container["livenessProbe"]["httpGet"]["path"] == "/health/live"
    assert container["readinessProbe"]["httpGet"]["path"] == "/health/ready"
    for probe in ("livenessProbe", "readinessProbe", "startupProbe"):
        if probe in container:
            assert container[probe]["httpGet"]["port"] in port_names | {8000}, probe


def test_grace_period_outlasts_prestop_and_graceful_shutdown(
    deployment: dict[str, Any], container: dict[str, Any]
) -> None:
    command = container.get("command", []) + container.get("args", []) or image_command()
    timeout = graceful_timeout(command)
    pre_stop = container["lifecycle"]["preStop"]
    if "exec" in pre_stop:
        sleep, seconds = pre_stop["exec"]["command"]
        assert sleep == "sleep"
    else:
        seconds = pre_stop["sleep"]["seconds"]
    assert int(seconds) > 0, "a preStop pause lets load balancers stop routing first"
    grace = deployment["spec"]["template"]["spec"]["terminationGracePeriodSeconds"]
    assert grace > timeout
    assert grace > int(seconds) + timeout


def test_resources_are_bounded(container: dict[str, Any]) -> None:
    for kind in ("requests", "limits"):
        assert set(container["resources"][kind]) >= {"cpu", "memory"}, kind


def test_pods_run_as_the_images_user(deployment: dict[str, Any], container: dict[str, Any]) -> None:
    pod = deployment["spec"]["template"]["spec"]
    user = next(rest for keyword, rest in stages()[-1] if keyword == "USER")
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert f"{pod['securityContext']['runAsUser']}:{pod['securityContext']['runAsGroup']}" == user
    assert container["securityContext"]["allowPrivilegeEscalation"] is False


def test_secrets_come_from_a_secret_as_files(
    deployment: dict[str, Any], container: dict[str, Any]
) -> None:
    pod = deployment["spec"]["template"]["spec"]
    secret_volumes = {v["name"] for v in pod["volumes"] if "secret" in v}
    mounts = {m["mountPath"]: m["name"] for m in container["volumeMounts"]}
    credentials = next(e for e in container["env"] if e["name"] == "CREDENTIALS_DIRECTORY")
    assert mounts[credentials["value"]] in secret_volumes


def test_no_literal_secret_in_manifests(manifests: list[dict[str, Any]]) -> None:
    assert literal_secrets(manifests, "manifests") == []


@pytest.mark.parametrize(
    "bad",
    [
        {"env": [{"name": "API_TOKEN", "value": "x"}]},
        {"kind": "Secret", "stringData": {"API_TOKEN": "x"}},
        {"environment": {"API_TOKEN_PREVIOUS": "x"}},
        {"environment": ["API_TOKEN=x"]},
    ],
)
def test_literal_secret_check_finds_them(bad: dict[str, Any]) -> None:
    assert literal_secrets([bad])


def test_service_routes_to_the_pods(
    manifests: list[dict[str, Any]], deployment: dict[str, Any], container: dict[str, Any]
) -> None:
    (service,) = kinds(manifests, "Service")
    labels = deployment["spec"]["template"]["metadata"]["labels"]
    assert service["spec"]["selector"].items() <= labels.items()
    assert deployment["spec"]["selector"]["matchLabels"].items() <= labels.items()
    port_names = {port["name"] for port in container["ports"]}
    for port in service["spec"]["ports"]:
        assert port["targetPort"] in port_names


def test_kustomization_lists_every_manifest() -> None:
    kustomization = yaml.safe_load((KUBERNETES / "kustomization.yaml").read_text())
    assert set(kustomization["resources"]) == {p.name for p in MANIFESTS}


@pytest.mark.skipif(shutil.which("kubectl") is None, reason="kubectl is not installed")
def test_kubectl_renders_the_kustomization() -> None:
    result = subprocess.run(
        ["kubectl", "kustomize", str(KUBERNETES)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    rendered = [d for d in yaml.safe_load_all(result.stdout) if d]
    assert sorted(d["kind"] for d in rendered) == sorted(d["kind"] for d in load_manifests())


# --- compose ---


def test_compose_runs_the_image_with_an_env_file() -> None:
    compose = yaml.safe_load(COMPOSE.read_text())
    (service,) = compose["services"].values()
    assert service["image"].startswith("${APP_IMAGE:-fastapi-kit/app:")
    assert (COMPOSE.parent / service["build"]["context"] / "Dockerfile").is_file()
    assert service["env_file"]
    for port in service["ports"]:
        assert str(port).startswith("127.0.0.1:"), port
    stop = re.fullmatch(r"(\d+)s", service["stop_grace_period"])
    assert stop is not None
    assert int(stop.group(1)) > graceful_timeout(image_command())
    assert literal_secrets(compose, "compose") == []
