#!/usr/bin/env bash
# molecule test of one scenario, its whole output kept in .cache/results/molecule-<scenario>.log.
# When it fails, the last lines name what failed (pytest's FAILED/ERROR lines, Ansible's fatal
# tasks), so a CI log that keeps only its tail still says why; the log file has the rest.
# --no-command-borders: molecule otherwise frames (and wraps) command output when the terminal
# takes colours, as CI's does; the log keeps each line whole.
# Usage: scripts/molecule-test.sh <scenario> [extra molecule test arguments]
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

scenario=${1:?usage: scripts/molecule-test.sh <scenario>}
shift
mkdir -p .cache/results
log=.cache/results/molecule-$scenario.log

status=0
molecule test --no-command-borders --scenario-name "$scenario" "$@" 2>&1 | tee "$log" || status=$?
[ "$status" = 0 ] && exit 0

# What failed (pytest's FAILED/ERROR lines and first assertion lines, Ansible's fatal tasks),
# read from the whole log by scripts/molecule_failures.py.
summary=$(python3 scripts/molecule_failures.py "$log" || true)
{
  echo
  echo "molecule-test: scenario $scenario failed (exit $status); full log: $log"
  if [ -n "$summary" ]; then
    echo "molecule-test: what failed:"
    printf '%s\n' "$summary"
  else
    echo "molecule-test: no failed test or task found in the log; see its end above."
  fi
} >&2
exit "$status"
