#!/usr/bin/env bash
# molecule test of several scenarios at once (CI's wall time is the longest one's, not the sum):
# each runs through .ci/molecule-test.sh with its whole output in .cache/results/molecule-<name>.log
# only. A line is printed when each one ends, with its time; for each one that failed, what failed
# (the failed tests and tasks, last, so a CI log that keeps only its tail still names them).
# The scenarios share nothing on the Docker engine: their own containers, networks and ephemeral
# directories. Their load tests assert errors, never throughput, so sharing the CPU slows them but
# does not change what they check.
# Usage: .ci/molecule-scenarios.sh <scenario>...
set -uo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
[ $# -gt 0 ] || { echo "usage: .ci/molecule-scenarios.sh <scenario>..." >&2; exit 2; }
mkdir -p .cache/results

declare -A scenario_of started
for scenario in "$@"; do
  .ci/molecule-test.sh "$scenario" >/dev/null 2>".cache/results/molecule-$scenario.failed" &
  scenario_of[$!]=$scenario
  started[$scenario]=$SECONDS
  echo "molecule-scenarios: $scenario started (log: .cache/results/molecule-$scenario.log)"
done

failed=()
while [ ${#scenario_of[@]} -gt 0 ]; do
  status=0
  wait -n -p pid "${!scenario_of[@]}" || status=$?
  scenario=${scenario_of[$pid]}
  unset "scenario_of[$pid]"
  took=$((SECONDS - started[$scenario]))
  if [ "$status" = 0 ]; then
    echo "molecule-scenarios: $scenario passed in ${took}s"
    rm -f ".cache/results/molecule-$scenario.failed"
  else
    echo "molecule-scenarios: $scenario FAILED (exit $status) after ${took}s"
    failed+=("$scenario")
  fi
done

[ ${#failed[@]} = 0 ] && exit 0
for scenario in "${failed[@]}"; do
  echo
  tail -n 30 ".cache/results/molecule-$scenario.log"
done
for scenario in "${failed[@]}"; do
  cat ".cache/results/molecule-$scenario.failed" >&2
done
exit 1
