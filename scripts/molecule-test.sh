#!/usr/bin/env bash
# molecule test of one scenario, its whole output kept in .cache/results/molecule-<scenario>.log.
# When it fails, the last lines name what failed (pytest's FAILED/ERROR lines, Ansible's fatal
# tasks), so a CI log that keeps only its tail still says why; the log file has the rest.
# Usage: scripts/molecule-test.sh <scenario> [extra molecule test arguments]
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

scenario=${1:?usage: scripts/molecule-test.sh <scenario>}
shift
mkdir -p .cache/results
log=.cache/results/molecule-$scenario.log

status=0
molecule test --scenario-name "$scenario" "$@" 2>&1 | tee "$log" || status=$?
[ "$status" = 0 ] && exit 0

# What failed, without colours, at most 40 lines: pytest's short summary lines (a test file's
# path follows FAILED/ERROR; Ansible's "FAILED - RETRYING" lines do not match) and the first
# assertion lines of its tracebacks, then each fatal Ansible result with the lines that follow
# it (the task's message; an ignored error shows here too, marked "...ignoring" in the log).
plain=$(sed 's/\x1b\[[0-9;]*m//g' "$log")
summary=$(
  {
    printf '%s\n' "$plain" | grep -E '^(FAILED|ERROR) [^ ]+\.py' | head -n 12
    printf '%s\n' "$plain" | grep -E '^E {3}' | head -n 12
    printf '%s\n' "$plain" | awk '
      /^(fatal|failed): \[/ { print; context = 6; next }
      context > 0 { print "    " $0; context-- }
    '
  } | head -n 40
)
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
