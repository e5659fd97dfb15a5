"""kit_harness.molecule_failures: the failed tests and tasks of a molecule log, framed or not."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from kit_harness import molecule_failures as failures

RED, DIM, RESET = "\x1b[31m", "\x1b[2m", "\x1b[0m"
FAILED = "FAILED molecule/default/tests/test_releases.py::test_deploy[ansible://i] - Assert"
ERROR = "ERROR molecule/default/tests/test_tls.py::test_chain[ansible://i] - TimeoutError"

# As pytest and Ansible print them inside molecule's verify and converge steps.
LOG = f"""\
INFO     default ➜ create: Executing
TASK [Wait for instance(s) creation to complete] *******************************
FAILED - RETRYING: [localhost]: Wait for instance(s) creation to complete (300 retries left).
molecule/default/tests/test_app.py::test_health[ansible://i] PASSED      [  1%]
molecule/default/tests/test_releases.py::test_deploy[ansible://i] {RED}FAILED{RESET} [  2%]
{RED}E   AssertionError: 3 requests failed{RESET}
{RED}E   assert 3 == 0{RESET}
fatal: [instance]: FAILED! => {{"changed": false, "msg": "nginx -t failed"}}
...ignoring
fatal: [instance]: FAILED! => {{"changed": false, "msg": "cert missing"}}
ok: [instance]

PLAY RECAP *********************************************************************
=========================== short test summary info ============================
{RED}FAILED{RESET} molecule/default/tests/test_releases.py::test_deploy[ansible://i] - Assert
ERROR molecule/default/tests/test_tls.py::test_chain[ansible://i] - TimeoutError
{RED}========== 1 failed, 160 passed, 1 error in 1826.00s ==========={RESET}
"""


def _framed(text: str) -> str:
    """The log as molecule writes it with command borders (a terminal that takes colours)."""
    return "".join(f"  {DIM}\u2502{RESET} {line}\n" for line in text.splitlines())


@pytest.mark.parametrize("framing", ["plain", "framed"])
def test_names_fatal_tasks_assertions_and_failed_tests_last(framing: str) -> None:
    text = LOG if framing == "plain" else _framed(LOG)

    lines = failures.summary(text)

    assert lines[0] == 'fatal: [instance]: FAILED! => {"changed": false, "msg": "cert missing"}'
    assert lines[1:3] == ["    ok: [instance]", "    "]
    assert lines[-4:-2] == ["E   AssertionError: 3 requests failed", "E   assert 3 == 0"]
    assert lines[-2:] == [FAILED, ERROR]
    # Neither the ignored failure nor molecule's retries nor passed tests.
    assert not any(word in line for line in lines for word in ("nginx -t", "RETRYING", "PASSED"))


def test_caps_keep_the_test_names() -> None:
    fatal = "".join(f"fatal: [h{i}]: FAILED! => {{}}\nmsg {i}\n" for i in range(20))
    asserts = "".join(f"E   assert {i} == 0\n" for i in range(20))
    tests = "".join(f"FAILED tests/test_x.py::test_{i} - boom\n" for i in range(20))

    lines = failures.summary(fatal + asserts + tests)

    assert len(lines) == failures.MAX_FATAL_LINES + failures.MAX_ASSERTIONS + failures.MAX_TESTS
    assert lines[-1] == f"FAILED tests/test_x.py::test_{failures.MAX_TESTS - 1} - boom"
    assert failures.summary("INFO default ➜ verify: Executed: Successful\n") == []


def test_command_line(tmp_path: Path) -> None:
    log = tmp_path / "molecule-default.log"
    log.write_text(_framed(LOG), encoding="utf-8")

    result = subprocess.run(
        [sys.executable, "-m", "kit_harness.molecule_failures", str(log)],
        capture_output=True,
        text=True,
        check=True,
    )

    assert result.stdout.splitlines()[-2:] == [FAILED, ERROR]


CRASH = """\
INFO     default ➜ verify: Executing
Traceback (most recent call last):
  File "/usr/lib/python3.11/shlex.py", line 329, in quote
    if _find_unsafe(s) is None:
TypeError: expected string or bytes-like object, got 'int'
ERROR    default ➜ verify: Executed: Failed
ERROR    default ➜ destroy: Executed: Failed
"""


def test_a_molecule_crash_names_the_action_and_the_exception() -> None:
    assert failures.summary(_framed(CRASH)) == [
        "molecule action failed: verify",
        "TypeError: expected string or bytes-like object, got 'int'",
    ]


def test_a_crash_line_is_left_out_when_tests_failed() -> None:
    found = failures.summary(LOG + CRASH)
    assert not any(line.startswith("molecule action failed") for line in found)
    assert found[-1] == ERROR
