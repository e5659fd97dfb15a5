#!/usr/bin/env bash
# molecule test of several scenarios at once (CI's wall time is the longest one's, not the sum):
# each runs through .ci/molecule-test.sh with its whole output in .cache/results/molecule-<name>.log
# only. Meanwhile each --while command runs in the foreground, one after another, its output shown
# (lint, the image test: checks that need no scenario); the first one that fails stops the
# scenarios. A line is printed when each scenario ends, with its time; at the end, for each command
# and scenario that failed, what failed: the failed tests and tasks come last, so a CI log that
# keeps only its tail still names them.
# The scenarios share nothing on the Docker engine: their own containers, networks and ephemeral
# directories. Their load tests assert errors, never throughput, so sharing the CPU slows them but
# does not change what they check.
# Usage: .ci/molecule-scenarios.sh [--while '<command>']... <scenario>...
set -uo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

commands=()
while [ $# -gt 0 ] && [ "$1" = --while ]; do
  commands+=("${2:?--while needs a command}")
  shift 2
done
[ $# -gt 0 ] || { echo "usage: .ci/molecule-scenarios.sh [--while '<command>']... <scenario>..." >&2; exit 2; }
mkdir -p .cache/results

declare -A scenario_of started
for scenario in "$@"; do
  # A session of its own: stopping it stops molecule, Ansible and the load tools with it.
  setsid -w .ci/molecule-test.sh "$scenario" >/dev/null 2>".cache/results/molecule-$scenario.failed" &
  scenario_of[$!]=$scenario
  started[$scenario]=$SECONDS
  echo "molecule-scenarios: $scenario started (log: .cache/results/molecule-$scenario.log)"
done

failed_command=""
for command in "${commands[@]}"; do
  begun=$SECONDS
  echo "molecule-scenarios: meanwhile: $command"
  if bash -c "$command" 2>&1 | tee .cache/results/while.log; then
    echo "molecule-scenarios: $command passed in $((SECONDS - begun))s"
  else
    failed_command=$command
    echo "molecule-scenarios: $command FAILED after $((SECONDS - begun))s: stopping the scenarios"
    for pid in "${!scenario_of[@]}"; do kill -TERM -- "-$pid" 2>/dev/null; done
    break
  fi
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
  elif [ -n "$failed_command" ]; then
    echo "molecule-scenarios: $scenario stopped after ${took}s"
  else
    echo "molecule-scenarios: $scenario FAILED (exit $status) after ${took}s"
    failed+=("$scenario")
  fi
done

if [ -n "$failed_command" ]; then
  echo
  echo "molecule-scenarios: FAILED: $failed_command; its last lines:"
  tail -n 15 .cache/results/while.log
  exit 1
fi
[ ${#failed[@]} = 0 ] && exit 0
for scenario in "${failed[@]}"; do
  echo
  tail -n 30 ".cache/results/molecule-$scenario.log"
done
for scenario in "${failed[@]}"; do
  cat ".cache/results/molecule-$scenario.failed" >&2
done
exit 1
