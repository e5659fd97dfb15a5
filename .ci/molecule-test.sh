#!/usr/bin/env bash
# molecule test of one scenario, its whole output kept in .cache/results/molecule-<scenario>.log.
# When it fails, the last lines name what failed (pytest's FAILED/ERROR lines, Ansible's fatal
# tasks), so a CI log that keeps only its tail still says why; the log file has the rest.
# --no-command-borders: molecule otherwise frames (and wraps) command output when the terminal
# takes colours, as CI's does; the log keeps each line whole.
# Usage: .ci/molecule-test.sh <scenario> [extra molecule test arguments]
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

scenario=${1:?usage: .ci/molecule-test.sh <scenario>}
shift
mkdir -p .cache/results
log=.cache/results/molecule-$scenario.log

# The cluster scenario's private network needs a /24 no other Docker network on this engine holds
# (a developer's own cluster, another checkout's run): "Pool overlaps with other one" otherwise.
# Unless KIT_CLUSTER_NET names one, take the first free 172.30.N (a network of our own name, left
# from an interrupted run, keeps its subnet).
if [ "$scenario" = cluster ] && [ -z "${KIT_CLUSTER_NET:-}" ]; then
  own="${KIT_INSTANCE_PREFIX:-fastapi-kit}-cluster"
  used=$(docker network ls --format '{{.Name}}' | grep -vx "$own" \
    | xargs -r docker network inspect --format '{{range .IPAM.Config}}{{.Subnet}} {{end}}' || true)
  KIT_CLUSTER_NET=$(python3 -c '
import ipaddress, sys
used = [ipaddress.ip_network(s) for s in sys.argv[1:] if "." in s]
free = (f"172.30.{n}" for n in range(77, 255)
        if not any(ipaddress.ip_network(f"172.30.{n}.0/24").overlaps(u) for u in used))
print(next(free, ""))' $used)
  export KIT_CLUSTER_NET
  : "${KIT_CLUSTER_NET:?no free 172.30.N/24 subnet on this Docker engine}"
fi

# Where the time goes: each molecule action and each test's verdict, with the seconds since the
# start, in .cache/results/molecule-<scenario>.timeline.
timeline() {
  awk -v start="$(date +%s)" '
    { gsub(/\033\[[0-9;]*m/, "") }
    /➜ [a-z]+: Execut|(PASSED|FAILED|ERROR|SKIPPED) *\[ *[0-9]+%\]/ {
      printf "%5d %s\n", systime() - start, $0; fflush()
    }' >".cache/results/molecule-$scenario.timeline"
}

status=0
{
  [ "$scenario" != cluster ] || echo "molecule-test: cluster network ${KIT_CLUSTER_NET:-172.30.77}.0/24"
  molecule test --no-command-borders --scenario-name "$scenario" "$@"
} 2>&1 | tee "$log" >(timeline) || status=$?
[ "$status" = 0 ] && exit 0

# What failed (pytest's FAILED/ERROR lines and first assertion lines, Ansible's fatal tasks),
# read from the whole log by kit_harness.molecule_failures (the harness, installed in .venv, whose
# bin/ the Makefile puts first on PATH as it does for molecule).
summary=$(python3 -m kit_harness.molecule_failures "$log" || true)
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
