"""Secrets lifecycle on the converged hosts: rotation without downtime, token overlap, a rejected
set, leak checks at -vvv --diff, bad vault input, and a vault rekey.

The operator's edit of the vault is stood in for by a vault-encrypted extra-vars file (the same
``vault_app_secrets`` variable, encrypted with the scenario's test vault id), so the committed vault
stays as it is. The steps run in order on both hosts at once, while the project's load generator
sends public requests and bearer-token requests (the new and the old token) through nginx over TLS.
Debian 13 takes its secrets in ``environment`` mode during the rotations (Debian 12 keeps
``credentials``), so both modes go through the same rotation path. The last steps give the hosts
back the committed vault's secrets.
"""

from __future__ import annotations

import base64
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
import yaml
from conftest import SCENARIO
from kit_harness import loadgen
from kit_harness.playbooks import TEST_VAULT_ID, run_playbook
from kit_harness.results import record_result
from kit_harness.steps import Node, StepResult
from kit_harness.steps import under_load as _under_load

APP = "app"
SETS = f"/etc/{APP}/secrets"
PUBLIC = ("/v1/items", "/version")
NEW, OLD = "/v1/me?token=new", "/v1/me?token=old"
# Debian 13 goes through the rotations in environment mode (EnvironmentFile=), Debian 12 in
# credentials mode (LoadCredential=); the restore step returns both to credentials.
MODE = "{{ 'environment' if inventory_hostname is search('debian13$') else 'credentials' }}"
VERBOSE = ("-vvv", "--diff")


def _mode(node: Node) -> str:
    return "environment" if node.name.endswith("debian13") else "credentials"


@pytest.fixture(scope="module")
def secrets(
    tmp_path_factory: pytest.TempPathFactory, vault_secrets: dict[str, str]
) -> dict[str, Any]:
    """Tokens and canaries of this run, the vault files that carry them, and what steps saw."""
    tag = uuid.uuid4().hex
    return {
        "dir": tmp_path_factory.mktemp("vault"),
        "old": vault_secrets["API_TOKEN"],
        "new": f"rotated-token-{tag[:24]}",
        "bad": f"bad-{tag[:6]}",
        "canary": f"leak-canary-{tag[8:32]}",
        "deploy_canary": f"deploy-canary-{tag[:20]}",
        "outputs": {},
    }


def _vault_env() -> dict[str, str]:
    """The environment without the vault ids Molecule exports: only those given on the line."""
    return {
        key: value
        for key, value in os.environ.items()
        if key not in ("ANSIBLE_VAULT_IDENTITY_LIST", "ANSIBLE_VAULT_PASSWORD_FILE")
    }


def _vault(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["ansible-vault", *args], capture_output=True, text=True, check=False, env=_vault_env()
    )


def _vault_file(secrets: dict[str, Any], name: str, values: dict[str, str], **extra: Any) -> str:
    """An extra-vars file, vault-encrypted like the scenario's vault, as ``-e @path``."""
    path = Path(secrets["dir"]) / f"{name}.yml"
    path.write_text(yaml.safe_dump({"vault_app_secrets": values, **extra}))
    encrypted = _vault("encrypt", "--vault-id", TEST_VAULT_ID, str(path))
    assert encrypted.returncode == 0, encrypted.stderr
    assert path.read_bytes().startswith(b"$ANSIBLE_VAULT;1.2;AES256;test")
    return f"@{path}"


def _mix(secrets: dict[str, Any]) -> tuple[tuple[str, str, dict[str, str]], ...]:
    public: tuple[tuple[str, str, dict[str, str]], ...] = (
        ("GET", "/v1/items?limit=5", {}),
        ("GET", "/version", {}),
    )
    return (
        *public,
        ("GET", NEW, {"Authorization": f"Bearer {secrets['new']}"}),
        ("GET", OLD, {"Authorization": f"Bearer {secrets['old']}"}),
    )


def _samples(report: loadgen.Report, prefix: str) -> list[loadgen.Sample]:
    return sorted((s for s in report.samples if s.path.startswith(prefix)), key=lambda s: s.start)


def _status(sample: loadgen.Sample) -> int | str:
    """The HTTP status, or the name of the error that kept the request from getting one."""
    return sample.status if sample.error is None and sample.status else str(sample.error)


def _statuses(report: loadgen.Report, path: str) -> list[int | str]:
    return [_status(s) for s in _samples(report, path)]


def _assert_public_never_failed(report: loadgen.Report, name: str) -> int:
    public = [s for prefix in PUBLIC for s in _samples(report, prefix)]
    failed = [(s.path, s.status, s.error) for s in public if not s.ok]
    assert public, f"{name}: no public requests"
    assert failed == [], f"{name}: public requests failed: {failed[:10]}"
    return len(public)


def _switches_once(statuses: list[int | str], before: int, after: int) -> bool:
    """Every answer is ``before`` up to one point and ``after`` from there on (no flapping)."""
    if not statuses or set(statuses) - {before, after}:
        return False
    first_after = statuses.index(after) if after in statuses else len(statuses)
    return all(code == after for code in statuses[first_after:])


def _settled(report: loadgen.Report, path: str) -> list[int | str]:
    """Answers to requests that started after the playbook ended."""
    settle = dict(report.marks)["settle"]
    return [_status(s) for s in _samples(report, path) if s.start >= settle]


def _rotate(
    nodes: list[Node],
    secrets: dict[str, Any],
    step: str,
    values: dict[str, str],
    *args: str,
    expect_failure: bool = False,
) -> StepResult:
    """rotate-secrets.yml under the token mix, after the "vault edit" to ``values``."""
    vault = _vault_file(secrets, step.replace(" ", "-"), values, app_secrets_mode=MODE)
    result = _under_load(
        nodes,
        f"rotate secrets ({step})",
        "playbooks/rotate-secrets.yml",
        *args,
        "-e",
        vault,
        mix=_mix(secrets),
        expect_failure=expect_failure,
    )
    secrets["outputs"][f"rotation ({step})"] = result.output
    return result


def _record(step: str, result: StepResult, node: Node, **figures: Any) -> None:
    report = result.reports[node.name]
    record_result(
        "secrets",
        {
            "step": step,
            "host": node.name,
            "seconds": round(result.seconds, 1),
            "rc": result.returncode,
            "public_requests": sum(len(_samples(report, p)) for p in PUBLIC),
            "public_failed": sum(not s.ok for p in PUBLIC for s in _samples(report, p)),
            "new_token": dict(_count(_statuses(report, NEW))),
            "old_token": dict(_count(_statuses(report, OLD))),
            **figures,
        },
    )


def _count(values: list[int | str]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for value in values:
        counts[str(value)] = counts.get(str(value), 0) + 1
    return counts


def _gate_output(output: str) -> str:
    start = output.find("TASK [app : Wait until /health/ready answers 200")
    end = output.find("TASK [", start + 1)
    return output[start:end] if start >= 0 else ""


def _state(node: Node) -> dict[str, Any]:
    return node.state()


def _active_set(node: Node) -> str:
    state = _state(node)
    return str(state["colours"][state["active"]]["secrets"])


def _sets_on_disk(node: Node) -> set[str]:
    names = node.host.check_output(f"ls -1 {SETS}").split()
    return {name.removesuffix(".env") for name in names}


def _assert_set_layout(node: Node) -> None:
    """The active colour links its set in its own mode; sets are root only; two are kept."""
    colour, mode = node.active(), _mode(node)
    link = "credentials" if mode == "credentials" else "secrets.env"
    other = "secrets.env" if mode == "credentials" else "credentials"
    target = node.host.file(f"/etc/{APP}/{colour}/{link}")
    assert target.is_symlink, f"{node.name}: /etc/{APP}/{colour}/{link} is not a link"
    assert not node.host.file(f"/etc/{APP}/{colour}/{other}").exists
    secret_set = node.host.file(target.linked_to)
    expected_mode = 0o700 if mode == "credentials" else 0o600
    assert (secret_set.user, secret_set.group, secret_set.mode) == ("root", "root", expected_mode)
    state = _state(node)
    kept = {c["secrets"] for c in state["colours"].values()}
    assert _sets_on_disk(node) == kept, f"{node.name}: sets {_sets_on_disk(node)} != {kept}"
    assert len(kept) == 2, "the previous set is kept for a rollback"
    drop_in = node.host.file(f"/etc/systemd/system/{APP}@{colour}.service.d/secrets.conf")
    assert drop_in.mode == 0o644
    expected = "LoadCredential=API_TOKEN:" if mode == "credentials" else "EnvironmentFile="
    assert expected in drop_in.content_string


def test_rotation_with_token_overlap_under_load(nodes: list[Node], secrets: dict[str, Any]) -> None:
    """New API_TOKEN, old one kept as API_TOKEN_PREVIOUS: both work from the switch on."""
    before = {node.name: _active_set(node) for node in nodes}
    values = {
        "API_TOKEN": secrets["new"],
        "API_TOKEN_PREVIOUS": secrets["old"],
        "LEAK_CANARY": secrets["canary"],
    }
    step = _rotate(nodes, secrets, "overlap", values, *VERBOSE)
    for node in nodes:
        report = step.reports[node.name]
        _assert_public_never_failed(report, node.name)
        # The old token works throughout; the new one is refused until the switch, then accepted.
        assert set(_statuses(report, OLD)) == {200}, _count(_statuses(report, OLD))
        assert _switches_once(_statuses(report, NEW), 401, 200), _count(_statuses(report, NEW))
        assert 401 in _statuses(report, NEW), "the new token was accepted before the rotation"
        assert set(_settled(report, NEW)) == {200}
        assert _active_set(node) != before[node.name]
        assert _state(node)["colours"][node.active()]["release"] == node.current_release()
        _assert_set_layout(node)
        _record("rotation (overlap)", step, node, mode=_mode(node))
    # The migration hook is for new releases, not for a rotation.
    assert "TASK [app : Run the migration hook of release" not in step.output


def test_grace_run_ends_the_overlap(nodes: list[Node], secrets: dict[str, Any]) -> None:
    """API_TOKEN_PREVIOUS removed: the old token is refused from the switch on."""
    values = {"API_TOKEN": secrets["new"], "LEAK_CANARY": secrets["canary"]}
    step = _rotate(nodes, secrets, "grace run", values, *VERBOSE)
    for node in nodes:
        report = step.reports[node.name]
        _assert_public_never_failed(report, node.name)
        assert set(_statuses(report, NEW)) == {200}, _count(_statuses(report, NEW))
        assert _switches_once(_statuses(report, OLD), 200, 401), _count(_statuses(report, OLD))
        assert set(_settled(report, OLD)) == {401}
        _assert_set_layout(node)
        _record("rotation (grace run)", step, node, mode=_mode(node))


def test_a_rejected_secret_set_never_serves(nodes: list[Node], secrets: dict[str, Any]) -> None:
    """An API_TOKEN the app rejects: the run fails naming it, the current set keeps serving."""
    before = {node.name: (_state(node), node.main_pid()) for node in nodes}
    values = {"API_TOKEN": secrets["bad"], "LEAK_CANARY": secrets["canary"]}
    step = _rotate(
        nodes, secrets, "rejected set", values, "-e", "app_ready_timeout=12", expect_failure=True
    )
    assert step.returncode != 0
    assert "The app rejected these secrets of the new set: API_TOKEN" in step.output
    assert secrets["bad"] not in step.output
    for node in nodes:
        report = step.reports[node.name]
        _assert_public_never_failed(report, node.name)
        assert set(_statuses(report, NEW)) == {200}, _count(_statuses(report, NEW))
        state, pid = before[node.name]
        assert (_state(node), node.main_pid()) == (state, pid)
        # The rejected set is not left behind; the serving and the previous set are.
        assert _sets_on_disk(node) == {c["secrets"] for c in state["colours"].values()}
        _record("rotation (rejected set)", step, node, mode=_mode(node))
    # A readiness answer that names rejected secrets ends the wait at once: the 12 s gate would
    # retry 6 times; one or two retries cover an app still starting under load.
    for node in nodes:
        retries = _gate_output(step.output).count(f"FAILED - RETRYING: [{node.name}]")
        assert retries <= 2, f"{node.name}: the gate waited ({retries} retries)"


def test_a_deploy_delivers_secrets_without_showing_them(
    nodes: list[Node], secrets: dict[str, Any]
) -> None:
    """The deploy path at -vvv --diff with a new canary: written to the host, shown nowhere."""
    values = {"API_TOKEN": secrets["new"], "LEAK_CANARY": secrets["deploy_canary"]}
    result = run_playbook(
        "playbooks/deploy.yml",
        *VERBOSE,
        "-e",
        _vault_file(secrets, "deploy", values, app_secrets_mode=MODE),
    )
    secrets["outputs"]["deploy"] = result.stdout + result.stderr
    for node in nodes:
        _assert_set_layout(node)
        if _mode(node) == "credentials":
            colour = node.active()
            path = f"{SETS}/{_active_set(node)}/LEAK_CANARY"
            assert node.host.file(path).content_string == secrets["deploy_canary"]
            assert node.host.file(f"/etc/{APP}/{colour}/credentials").linked_to.startswith(SETS)


NEEDLES = "/root/.kit-leak-needles"


def _leaks(node: Node, needles: dict[str, str]) -> dict[str, str]:
    """Where any of ``needles`` shows up on the host: place -> what was found (empty: nowhere).

    The needles go to a root-only file first (base64 on the command line), so no command of the
    search holds one: a search must not find itself in /proc/*/cmdline or in the journal's
    _CMDLINE fields. The journal is read with every field (``-o export``), not only messages.
    """
    encoded = base64.b64encode("\n".join(needles.values()).encode()).decode()
    node.host.run_test(f"umask 077 && echo {encoded} | base64 -d > {NEEDLES}")
    matches = f"grep -aohF -f {NEEDLES} | sort | uniq -c"
    every_proc = "for f in /proc/[0-9]*/{name}; do tr '\\0' '\\n' <$f 2>/dev/null; done"
    checks = {
        "journal (every field)": f"journalctl --no-pager -o export | {matches}",
        "nginx logs": f"cat /var/log/nginx/* 2>/dev/null | {matches}",
        "unit properties": f"systemctl show '{APP}@*' '{APP}-*' | {matches}",
        "/proc/*/cmdline": f"{every_proc.format(name='cmdline')} | {matches}",
    }
    if _mode(node) == "credentials":
        checks["/proc/*/environ"] = f"{every_proc.format(name='environ')} | {matches}"
    for user in ("nobody", "www-data"):
        checks[f"files readable by {user}"] = (
            f"runuser -u {user} -- grep -rlsF --devices=skip -f - / --exclude-dir=proc "
            f"--exclude-dir=sys --exclude-dir=dev <{NEEDLES} | head -n 10"
        )
    labels = {value: label for label, value in needles.items()}
    found = {}
    try:
        for place, command in checks.items():
            out = node.host.run(command).stdout.strip()
            for value, label in labels.items():
                out = out.replace(value, f"<{label}>")
            if out:
                found[place] = out
        # The search itself works: root finds the needles in the root-only file.
        assert node.host.run(f"grep -cF -f {NEEDLES} {NEEDLES}").stdout.strip() == str(len(needles))
    finally:
        node.host.run(f"rm -f {NEEDLES}")
    return found


def test_secrets_leak_nowhere(nodes: list[Node], secrets: dict[str, Any]) -> None:
    """The canaries and tokens in playbook output (-vvv --diff), the journal, nginx logs, unit
    properties, files other users can read and every process's command line (and environment,
    in credentials mode)."""
    needles = {
        "canary": secrets["canary"],
        "deploy canary": secrets["deploy_canary"],
        "new token": secrets["new"],
        "old token": secrets["old"],
        "rejected token": secrets["bad"],
    }
    assert len(secrets["outputs"]) == 4, "the rotation and deploy steps ran first"
    leaks = {}
    for step, output in secrets["outputs"].items():
        for label, needle in needles.items():
            if needle in output:
                leaks[f"output of {step}: {label}"] = str(output.count(needle))
    searched = [node.name for node in nodes]
    # The hosts are searched at once: each search reads a whole filesystem twice.
    with ThreadPoolExecutor(max_workers=len(nodes)) as pool:
        for node, found in zip(nodes, pool.map(lambda n: _leaks(n, needles), nodes), strict=True):
            for place, where in found.items():
                leaks[f"{node.name} {place}"] = where
    record_result(
        "secrets",
        {
            "step": "leak search",
            "host": ",".join(searched),
            "outputs": sorted(secrets["outputs"]),
            "output_bytes": sum(len(o) for o in secrets["outputs"].values()),
            "leaks": leaks,
        },
    )
    assert leaks == {}, f"secrets leaked: {leaks}"
    # The search can fail: the canary is on the hosts, where root alone can read it.
    for node in nodes:
        if _mode(node) == "credentials":
            found = node.host.run(f"grep -rlF -- {shlex.quote(secrets['deploy_canary'])} {SETS}")
            assert found.stdout.strip(), "the deploy canary is not in the root-only set"


def test_the_committed_vault_is_restored_by_a_converge(
    nodes: list[Node], secrets: dict[str, Any], vault_secrets: dict[str, str]
) -> None:
    """site.yml at -vvv --diff with the committed vault: a real secret change, nothing shown."""
    started = time.monotonic()
    result = run_playbook("site.yml", *VERBOSE)
    seconds = round(time.monotonic() - started, 1)
    output = result.stdout + result.stderr
    assert vault_secrets["API_TOKEN"] not in output
    assert secrets["new"] not in output
    for node in nodes:
        assert node.host.file(f"/etc/{APP}/{node.active()}/credentials").is_symlink
        me = node.curl("/v1/me", f"-H 'Authorization: Bearer {vault_secrets['API_TOKEN']}'")
        assert json.loads(me)["token"] == "current"
    record_result(
        "secrets",
        {
            "step": "converge at -vvv --diff (restore)",
            "host": "all",
            "rc": result.returncode,
            "seconds": seconds,
            "output_bytes": len(output),
        },
    )


def _fingerprint(nodes: list[Node]) -> dict[str, Any]:
    return {
        node.name: (node.host.file(f"/var/lib/{APP}/deploy.json").sha256sum, node.main_pid())
        for node in nodes
    }


def test_a_vault_that_does_not_decrypt_fails_before_any_change(
    nodes: list[Node], tmp_path: Path
) -> None:
    before = _fingerprint(nodes)
    wrong = tmp_path / "wrong.vault-pass"
    wrong.write_text("not-the-test-password\n")
    vault = SCENARIO / "inventory" / "group_vars" / "all" / "vault.yml"
    bad = run_playbook("playbooks/rotate-secrets.yml", vault_ids=[f"test@{wrong}"], check=False)
    out = bad.stdout + bad.stderr
    assert bad.returncode != 0
    assert re.search(
        r"Vault file \S*group_vars/all/vault\.yml \(encrypted for vault id 'test'\)", out
    )
    assert "TASK [" not in out
    missing = run_playbook("playbooks/rotate-secrets.yml", vault_ids=[], check=False)
    out = missing.stdout + missing.stderr
    assert missing.returncode != 0
    assert "no vault id was given: pass --vault-id test@" in out
    assert "TASK [" not in out
    assert vault.read_bytes().startswith(b"$ANSIBLE_VAULT;1.2;AES256;test")
    assert _fingerprint(nodes) == before


def test_rekey_changes_the_password_and_a_converge_is_a_no_op(
    nodes: list[Node], tmp_path: Path
) -> None:
    """fastapi_vm_kit.vault rekey on a copy of the inventory: the old password no longer opens
    its vault, the new one does, and site.yml with the new one changes nothing."""
    inventory = tmp_path / "inventory"
    shutil.copytree(Path(os.environ["MOLECULE_INVENTORY_FILE"]).parent, inventory, symlinks=False)
    new = tmp_path / "new.vault-pass"
    new.write_text(f"rekeyed-{uuid.uuid4().hex}\n")
    new.chmod(0o600)
    rekey = subprocess.run(
        [
            sys.executable,
            "-m",
            "fastapi_vm_kit.vault",
            "rekey",
            str(inventory),
            "--vault-id",
            TEST_VAULT_ID,
            "--new-vault-id",
            f"test@{new}",
        ],
        capture_output=True,
        text=True,
        check=False,
        env=_vault_env(),
    )
    assert rekey.returncode == 0, rekey.stderr
    vault = inventory / "group_vars" / "all" / "vault.yml"
    assert "the password changed, the secrets did not" in rekey.stdout
    assert _vault("view", str(vault), "--vault-id", TEST_VAULT_ID).returncode != 0
    assert _vault("view", str(vault), "--vault-id", f"test@{new}").returncode == 0
    before = _fingerprint(nodes)
    started = time.monotonic()
    result = run_playbook("site.yml", inventory=inventory, vault_ids=[f"test@{new}"])
    record_result(
        "secrets",
        {"step": "converge after rekey", "host": "all", "rc": result.returncode,
         "seconds": round(time.monotonic() - started, 1)},
    )  # fmt: skip
    recap = re.findall(r"^(\S+)\s+: ok=\d+\s+changed=(\d+)", result.stdout, re.MULTILINE)
    assert {name: int(changed) for name, changed in recap} == {node.name: 0 for node in nodes}
    assert _fingerprint(nodes) == before
