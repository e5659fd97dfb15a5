#!/usr/bin/env bash
# `make bench`: converge site.yml on the local systemd container fastapi-kit-bench (Molecule
# scenario "bench", as `make demo` does for its own container), then measure it from inside
# (python -m bench.run): results in bench/results/ (results.json, results.md, results.png).
# Safe to re-run: it converges the same container again. `make bench-destroy` removes it.
#   BENCH_ARGS  more arguments for bench.run, e.g. "--rounds 5 --seconds 4", "--skip zdt", "--quick"
#               (the CI's short pass) or "--out DIR" (results elsewhere than bench/results/)
# The proxy tier's figures (2 app hosts vs 1) come from `make bench-cluster` (test_tier_bench.py).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

scenario=(--scenario-name bench)
started=$SECONDS
molecule create "${scenario[@]}"
molecule prepare "${scenario[@]}"
molecule converge "${scenario[@]}"
converge=$((SECONDS - started))
echo "bench: container converged in ${converge}s"

# shellcheck disable=SC2086 # BENCH_ARGS is a list of words on purpose
python -u -m bench.run --container fastapi-kit-bench --converge-seconds "$converge" ${BENCH_ARGS:-}
echo "bench: make bench took $((SECONDS - started))s (see bench/results/results.md)"
