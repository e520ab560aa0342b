#!/usr/bin/env bash
# The GPU table build, prepared for a lent device machine: the float64 quick tables of the proxy seeds given, one
# after another, each by `hwevrsnas scores lanes` in lanes sharing the GPU under its share of the deadline,
# resumable from the jobs.tar an earlier lease brought back. Tested on the CPU at the tiny preset
# (tests/test_scores.py). What it writes under OUT comes back: per seed, OUT/seed<J>/nb201-<preset>-seed<J>.h5
# when the table is whole, else OUT/seed<J>/jobs.tar, plus build.log (the score tables README says where they go).
#
#   PYTHONPATH=src bash scripts/gpu_tables.sh "$OUT" 2 3 4        # on the device machine; needs resources/tables
#                                                                  # and resources/proxy (carried), no network
# Settings (environment): PRESET (quick), DEVICE (cuda), LANES (8), STACK (32), DEADLINE (seconds for all seeds,
# 480), LIMIT (jobs per seed, tests), RESUME (folder of earlier OUTs: RESUME/seed<J>/jobs.tar is continued),
# PYTHON (python3), TABLES, BATCH_DIR, SOURCES (lanes' --tables, --batch-dir, --sources; default: under resources/).
set -euo pipefail
out=${1:?usage: gpu_tables.sh OUT SEED...}
shift
seeds=("$@")
[ ${#seeds[@]} -gt 0 ] || { echo "gpu_tables.sh: give the proxy seeds to build" >&2; exit 2; }
PRESET=${PRESET:-quick} DEVICE=${DEVICE:-cuda} LANES=${LANES:-8} STACK=${STACK:-32} DEADLINE=${DEADLINE:-480}
export PYTHONUNBUFFERED=1
start=$(date +%s)
for i in "${!seeds[@]}"; do
    seed=${seeds[$i]}
    # An equal share of what is left, so that a slow first seed cannot starve the others of every minute.
    left=$(( DEADLINE - ($(date +%s) - start) ))
    share=$(( left / (${#seeds[@]} - i) ))
    [ "$share" -gt 10 ] || { echo "seed $seed: no time left"; continue; }
    args=(scores lanes --preset "$PRESET" --proxy-seed "$seed" --device "$DEVICE" --stack "$STACK" --lanes "$LANES"
          --deadline "$share" --out "$out/seed$seed")
    [ -n "${LIMIT:-}" ] && args+=(--limit "$LIMIT")
    [ -n "${TABLES:-}" ] && args+=(--tables "$TABLES")
    [ -n "${BATCH_DIR:-}" ] && args+=(--batch-dir "$BATCH_DIR")
    [ -n "${SOURCES:-}" ] && args+=(--sources "$SOURCES")
    [ -n "${RESUME:-}" ] && [ -f "$RESUME/seed$seed/jobs.tar" ] && args+=(--resume "$RESUME/seed$seed/jobs.tar")
    "${PYTHON:-python3}" -m hwevrsnas.cli "${args[@]}"
done
