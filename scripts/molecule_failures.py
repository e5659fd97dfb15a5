#!/usr/bin/env python3
"""What failed in a molecule log, in a few lines (scripts/molecule-test.sh prints them last).

A CI log is often cut to its tail, where molecule's recap says only "Verifier tests failed". This
reads the whole log and prints pytest's short-summary lines (``FAILED``/``ERROR`` followed by a
test file's path; Ansible's "FAILED - RETRYING" lines do not match), the first assertion lines
of pytest's tracebacks (``E   ...``), and each fatal Ansible result with the lines after it.

The log is taken as molecule writes it to a terminal or not: ANSI colours are removed, and so is
the border molecule draws around command output when colours are on (``  │ `` before each line;
CI terminals turn it on, a plain shell does not).

Usage: molecule_failures.py <log> [--limit N]; prints nothing when nothing is found.
"""

from __future__ import annotations

import argparse
import re
import sys
from collections.abc import Iterable
from pathlib import Path

ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")
BORDER = re.compile(r"^ *\u2502 ?")
PYTEST_SUMMARY = re.compile(r"^(FAILED|ERROR) \S+\.py")
PYTEST_ASSERTION = re.compile(r"^E {3}")
ANSIBLE_FATAL = re.compile(r"^(fatal|failed): \[")
# Lines shown after a fatal Ansible result: its message usually fits in these.
FATAL_CONTEXT = 6
# Each kind of line is capped so that one kind cannot push the others out.
PER_KIND = 12


def plain_lines(text: str) -> list[str]:
    """The log's lines without colours and without molecule's command borders."""
    return [BORDER.sub("", ANSI.sub("", line)).rstrip() for line in text.splitlines()]


def _fatal_blocks(lines: Iterable[str]) -> list[str]:
    found: list[str] = []
    context = 0
    for line in lines:
        if ANSIBLE_FATAL.match(line):
            found.append(line)
            context = FATAL_CONTEXT
        elif context > 0:
            found.append(f"    {line}")
            context -= 1
    return found


def summary(text: str, limit: int = 40) -> list[str]:
    """At most ``limit`` lines naming the failed tests and tasks of a molecule log."""
    lines = plain_lines(text)
    tests = [line for line in lines if PYTEST_SUMMARY.match(line)][:PER_KIND]
    assertions = [line for line in lines if PYTEST_ASSERTION.match(line)][:PER_KIND]
    return (tests + assertions + _fatal_blocks(lines))[:limit]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("log", type=Path)
    parser.add_argument("--limit", type=int, default=40)
    args = parser.parse_args(argv)
    text = args.log.read_text(encoding="utf-8", errors="replace")
    for line in summary(text, args.limit):
        print(line)
    return 0


if __name__ == "__main__":
    sys.exit(main())
