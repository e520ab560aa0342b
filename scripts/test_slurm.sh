#!/usr/bin/env bash
# make test-slurm: the cluster path on a real SLURM. Starts a one-node cluster on this machine
# (scripts/slurm/local_cluster.sh: Debian's slurm-wlm and munge, installed when missing; no accounting),
# runs the tiny config (.test/config/config.yaml) through profiles/slurm and through
# profiles/cluster-generic with sbatch, each in a fresh working directory, and once locally; then checks
# that SLURM ran exactly the submissions the dry run planned and that all of them COMPLETED (the jobcomp
# log), and that both cluster runs wrote the local run's results (scripts/slurm/verify.py). The daemons
# are stopped on every exit. Needs root; the Makefile provides HWEVRSNAS_MIRROR.
set -euo pipefail
cd "$(dirname "$0")/.."
REPO=$PWD
BIN=$(cd "${VENV:-.venv}/bin" && pwd)
START=$SECONDS
DIR=$(mktemp -d /tmp/hwevrsnas-test-slurm.XXXXXX)
chmod 755 "$DIR"

declare -A RUNNING # snakemake PID -> run name
finish() {
    local rc=$? pid
    for pid in "${!RUNNING[@]}"; do # runs still going: the test was interrupted or another run failed
        kill "$pid" 2> /dev/null && wait "$pid" 2> /dev/null
    done
    scripts/slurm/local_cluster.sh stop "$DIR/cluster"
    if [ "$rc" -eq 0 ]; then
        rm -rf "$DIR"
        echo "test-slurm: passed in $((SECONDS - START)) s"
    else
        echo "test-slurm: FAILED (exit $rc) after $((SECONDS - START)) s; logs and runs are in $DIR" >&2
    fi
}
trap finish EXIT
trap 'exit 130' INT TERM # through finish, which stops the daemons

step() { echo "test-slurm: [$((SECONDS - START)) s] $*"; }

step "starting a one-node SLURM cluster in $DIR/cluster"
if ! scripts/slurm/local_cluster.sh start "$DIR/cluster"; then
    echo "test-slurm: this machine cannot run the SLURM test cluster (above: why); nothing was tested" >&2
    exit 1
fi
CPUS=$(sinfo -h -p debug -o %c)
JOBCOMP=$DIR/cluster/log/jobcomp.log

TINY=(--snakefile "$REPO/Snakefile" --configfile "$REPO/.test/config/config.yaml")
# An accounting-less cluster: no account; the node's CPUs per group submission; status checks every
# few seconds instead of the plugin's 40 (MinJobAge, 300 s, stays above three intervals).
export HWEVRSNAS_SLURM_ACCOUNT= HWEVRSNAS_SLURM_PARTITION=debug
SLURM=(--profile "$REPO/profiles/slurm" --cores "$CPUS" --slurm-init-seconds-before-status-checks 3)
GENERIC=(--profile "$REPO/profiles/cluster-generic" --cores "$CPUS"
    --cluster-generic-submit-cmd "mkdir -p logs/cluster && sbatch --parsable --job-name=smk.{name} --cpus-per-task={threads} --mem={resources.mem_mb} --time={resources.runtime} --output=logs/cluster/%j.out"
    --cluster-generic-status-cmd "$REPO/scripts/slurm/status.sh" --cluster-generic-cancel-cmd scancel)

step "checking the profile against the cluster (python -m hwevrsnas.cluster check)"
"$BIN/python" -m hwevrsnas.cluster check "${SLURM[@]}" "${TINY[@]}"
if "$BIN/python" -m hwevrsnas.cluster check "${SLURM[@]}" "${TINY[@]}" --cores $((CPUS + 1)) > "$DIR/too-wide.txt" 2>&1 \
    || ! grep -q "pending forever" "$DIR/too-wide.txt"; then
    cat "$DIR/too-wide.txt" >&2
    echo "test-slurm: the check did not flag a group wider than the node" >&2
    exit 1
fi

# A dry run's submissions (sbatch calls) of the run $1 with the snakemake options after it.
planned() {
    local name=$1
    shift
    mkdir -p "$DIR/$name"
    "$BIN/snakemake" --dry-run "$@" "${TINY[@]}" --directory "$DIR/$name" > "$DIR/$name.plan.txt" 2>&1
    "$BIN/python" -m hwevrsnas.cluster submissions "$DIR/$name.plan.txt" --snakefile "$REPO/Snakefile"
}

# Starts the tiny config in the fresh working directory $DIR/$1; the rest are snakemake options.
launch() {
    local name=$1
    shift
    mkdir -p "$DIR/$name"
    "$BIN/snakemake" "$@" "${TINY[@]}" --directory "$DIR/$name" > "$DIR/$name.log" 2>&1 &
    RUNNING[$!]=$name
}

PLANNED_SLURM=$(planned slurm "${SLURM[@]}")
PLANNED_GENERIC=$(planned generic "${GENERIC[@]}")
step "slurm (profiles/slurm, squeue status): the dry run plans $PLANNED_SLURM"
step "generic (profiles/cluster-generic, sbatch, scripts/slurm/status.sh): the dry run plans $PLANNED_GENERIC"

# The three runs side by side: a cluster run spends most of its time waiting for status checks.
# The cluster runs start from the local run's fetched and verified sources (hard links), since
# three fetches at once (110 MB, 20,000 checksums each) would take a minute of the two cores.
step "running local (profiles/local), slurm and generic"
launch local --profile "$REPO/profiles/local"
LOCAL=$!
STAMP=resources/sources/VERIFIED.tsv
while [ ! -e "$DIR/local/$STAMP" ] && kill -0 "$LOCAL" 2> /dev/null; do
    sleep 1
done
if [ -e "$DIR/local/$STAMP" ]; then
    for name in slurm generic; do
        mkdir -p "$DIR/$name/resources"
        cp -al "$DIR/local/resources/sources" "$DIR/$name/resources/"
    done
    step "local: sources fetched; starting slurm and generic on them"
fi
launch slurm "${SLURM[@]}"
launch generic "${GENERIC[@]}"
while [ ${#RUNNING[@]} -gt 0 ]; do
    rc=0
    wait -n -p pid "${!RUNNING[@]}" || rc=$?
    name=${RUNNING[$pid]}
    unset "RUNNING[$pid]"
    if [ "$rc" -ne 0 ]; then
        tail -40 "$DIR/$name.log" >&2
        echo "test-slurm: the $name run failed (log: $DIR/$name.log)" >&2
        exit 1
    fi
    step "$name run: done"
done

"$BIN/python" scripts/slurm/verify.py jobs "$JOBCOMP" "$DIR/slurm" "${PLANNED_SLURM%% *}"
"$BIN/python" scripts/slurm/verify.py jobs "$JOBCOMP" "$DIR/generic" "${PLANNED_GENERIC%% *}"
"$BIN/python" scripts/slurm/verify.py same "$DIR/local" "$DIR/slurm" "$DIR/generic"
