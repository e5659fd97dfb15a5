#!/usr/bin/env python3
"""What failed in a molecule log, in a few lines (.ci/molecule-test.sh prints them last).

A CI log is often cut to its tail, where molecule's recap says only "Verifier tests failed". This
reads the whole log and prints pytest's short-summary lines (``FAILED``/``ERROR`` followed by a
test file's path; Ansible's "FAILED - RETRYING" lines do not match), the first assertion lines
of pytest's tracebacks (``E   ...``) and each fatal Ansible result that was not ignored, with
the lines after it; the test names come last, where a tail cut short still shows them. When no
test reached a verdict, the molecule action that failed and the last exception line of a Python
traceback stand in for them.

The log is taken as molecule writes it to a terminal or not: ANSI colours are removed, and so is
the border molecule draws around command output when colours are on (``  │ `` before each line;
CI terminals turn it on, a plain shell does not).

Usage: python -m kit_harness.molecule_failures <log>; prints nothing when nothing is found.
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")
BORDER = re.compile(r"^ *\u2502 ?")
PYTEST_SUMMARY = re.compile(r"^(FAILED|ERROR) \S+\.py")
PYTEST_ASSERTION = re.compile(r"^E {3}")
ANSIBLE_FATAL = re.compile(r"^(fatal|failed): \[")
# When no test ran to a verdict: the molecule action that failed and the last exception line of a
# Python traceback (molecule itself crashed, say).
MOLECULE_FAILED = re.compile(r"➜ (\S+): Executed: Failed")
EXCEPTION = re.compile(r"^[A-Za-z_][\w.]*(Error|Exception): ")
# Lines kept after a fatal Ansible result: its message usually fits in these.
FATAL_CONTEXT = 4
# Caps per kind, so that one kind cannot push the others out; the whole fits in the 20-odd
# lines a CI log's tail shows. The test names come last: they are what a cut tail must keep.
MAX_FATAL_LINES = 5
MAX_ASSERTIONS = 4
MAX_TESTS = 8


def plain_lines(text: str) -> list[str]:
    """The log's lines without colours and without molecule's command borders."""
    return [BORDER.sub("", ANSI.sub("", line)).rstrip() for line in text.splitlines()]


def _fatal_blocks(lines: list[str]) -> list[str]:
    """Each fatal Ansible result with the lines after it; a result Ansible ignored is left out."""
    found: list[str] = []
    for index, line in enumerate(lines):
        if not ANSIBLE_FATAL.match(line):
            continue
        after = lines[index + 1 : index + 1 + FATAL_CONTEXT]
        if any(following.strip() == "...ignoring" for following in after):
            continue
        found += [line, *(f"    {following}" for following in after)]
    return found


def summary(text: str) -> list[str]:
    """The lines naming the failed tasks, assertions and tests of a molecule log, tests last."""
    lines = plain_lines(text)
    tests = [line for line in lines if PYTEST_SUMMARY.match(line)]
    assertions = [line for line in lines if PYTEST_ASSERTION.match(line)]
    crash: list[str] = []
    if not tests and not assertions:
        actions = [m[1] for line in lines if (m := MOLECULE_FAILED.search(line))]
        exceptions = [line for line in lines if EXCEPTION.match(line)]
        crash = [f"molecule action failed: {actions[0]}"] if actions else []
        crash += exceptions[-1:]
    return (
        _fatal_blocks(lines)[:MAX_FATAL_LINES]
        + crash
        + assertions[:MAX_ASSERTIONS]
        + tests[:MAX_TESTS]
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m kit_harness.molecule_failures", description=__doc__.splitlines()[0]
    )
    parser.add_argument("log", type=Path)
    args = parser.parse_args(argv)
    text = args.log.read_text(encoding="utf-8", errors="replace")
    for line in summary(text):
        print(line)
    return 0


if __name__ == "__main__":
    sys.exit(main())
