"""The project's playbooks run against a Molecule scenario's hosts, as an operator runs them."""

from __future__ import annotations

import os
import re
import subprocess
import threading
from collections.abc import Callable
from pathlib import Path

from kit_harness.project import PROJECT

# The scenarios' vault files are labelled "test" and open with their test-only password (every
# scenario's is a link to molecule/default's).
TEST_VAULT_ID = f"test@{PROJECT / 'molecule' / 'default' / 'vault-password.test-only'}"
ANSI_ESCAPE = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")


def run_playbook(
    playbook: str,
    *args: str,
    limit: str | None = None,
    check: bool = True,
    inventory: Path | None = None,
    vault_ids: list[str] | None = None,
    nice: bool = True,
    on_line: Callable[[str], None] | None = None,
) -> subprocess.CompletedProcess[str]:
    """Run one of the project's playbooks against the scenario's hosts, as an operator would.

    ``playbook`` is relative to the project root (``site.yml``, ``playbooks/deploy.yml``). The
    inventory is the one Molecule generated (its group_vars link to the scenario's), and the vault
    opens with the scenario's test-only password. Output is returned for assertions; with
    ``check`` a non-zero exit raises with the tail of the output. ``inventory`` and ``vault_ids``
    replace the scenario's inventory and vault id (a rekeyed copy, a wrong password).
    ``on_line`` sees each line of standard output as it comes (a step under load starts its
    full-speed phase at a given play).
    """
    inventory = inventory or Path(os.environ["MOLECULE_INVENTORY_FILE"]).parent
    vault_ids = [TEST_VAULT_ID] if vault_ids is None else vault_ids
    # The controller shares this machine's cores with the hosts under test; in production it is
    # another machine. At nice 19 its own CPU use does not show up as the hosts' latency. Under
    # full-speed load (``nice=False``) the hosts take every cycle anyway, and a niced controller
    # would only be starved.
    command = [
        *(["nice", "-n", "19"] if nice else []),
        "ansible-playbook",
        "--inventory",
        str(inventory),
        *[arg for vault_id in vault_ids for arg in ("--vault-id", vault_id)],
        str(PROJECT / playbook),
        *args,
    ]
    if limit:
        command += ["--limit", limit]
    env = {
        **os.environ,
        "ANSIBLE_ROLES_PATH": str(PROJECT / "roles"),
        "ANSIBLE_NOCOLOR": "1",
        # Molecule exports ANSIBLE_FORCE_COLOR, which wins over NOCOLOR: output is parsed here.
        "ANSIBLE_FORCE_COLOR": "0",
        # Per-task durations at the end of the output: where a step spends its time.
        "ANSIBLE_CALLBACKS_ENABLED": "ansible.posix.profile_tasks",
        "ANSIBLE_VAULT_ID_MATCH": "true",
        "ANSIBLE_VARS_PLUGINS": str(PROJECT / "plugins" / "vars"),
        "ANSIBLE_FILTER_PLUGINS": str(PROJECT / "plugins" / "filter"),
        "ANSIBLE_PIPELINING": "true",
        "ANSIBLE_VARS_ENABLED": "vault_preflight,host_group_vars",
    }
    # Only the vault ids given here: none from the environment Molecule exported.
    env.pop("ANSIBLE_VAULT_IDENTITY_LIST", None)
    env.pop("ANSIBLE_VAULT_PASSWORD_FILE", None)
    if on_line is None:
        result = subprocess.run(command, capture_output=True, text=True, env=env, check=False)
    else:
        result = _streamed(command, env, on_line)
    result.stdout = ANSI_ESCAPE.sub("", result.stdout)
    result.stderr = ANSI_ESCAPE.sub("", result.stderr)
    if check and result.returncode != 0:
        tail = "\n".join((result.stdout + result.stderr).splitlines()[-60:])
        raise AssertionError(f"{' '.join(command)} exited {result.returncode}:\n{tail}")
    return result


def _streamed(
    command: list[str], env: dict[str, str], on_line: Callable[[str], None]
) -> subprocess.CompletedProcess[str]:
    """Run ``command``, passing each line of its output to ``on_line`` as it comes."""
    with subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env
    ) as process:
        stdout, stderr = process.stdout, process.stderr
        assert stdout is not None
        assert stderr is not None
        errors: list[str] = []
        reader = threading.Thread(target=lambda: errors.append(stderr.read()))
        reader.start()
        lines: list[str] = []
        for line in stdout:
            lines.append(line)
            on_line(ANSI_ESCAPE.sub("", line))
        reader.join()
        returncode = process.wait()
    return subprocess.CompletedProcess(command, returncode, "".join(lines), "".join(errors))


def task_output(output: str, task: str, role: str = "app") -> str:
    """The part of a playbook's output that one task (``TASK [<role> : <task>...``) printed, for
    all hosts; "" when the task did not run."""
    start = output.find(f"TASK [{role} : {task}")
    if start < 0:
        return ""
    end = output.find("TASK [", start + 1)
    return output[start : end if end > 0 else len(output)]
