#!/usr/bin/env bash
# A throw-away one-node SLURM cluster (Debian's slurm-wlm and munge) on this machine:
#
#   scripts/slurm/local_cluster.sh install      # apt-get slurm-wlm and munge when missing (root)
#   scripts/slurm/local_cluster.sh start DIR    # munged, slurmctld, slurmd; waits until the node is idle
#   scripts/slurm/local_cluster.sh stop DIR     # stops the three daemons by their PID files
#
# State, spool, logs, PID files and the munge key and socket live under DIR. The config is written to
# DIR/etc/slurm.conf and, for the time the cluster runs, to /etc/slurm/slurm.conf: the Snakemake plugin
# strips SLURM_CONF from the environment of the srun it calls inside each job, so that srun can only
# find the config where SLURM expects it. A slurm.conf already there is kept in DIR and put back by
# `stop`. One partition, `debug`, holds the node with the CPUs and memory `slurmd -C` reads from the
# machine. There is no accounting database (sacct fails, as on clusters without slurmdbd); finished
# jobs are logged by jobcomp/filetxt to DIR/log/jobcomp.log.
set -euo pipefail

MACHINE_CONF=/etc/slurm/slurm.conf
MARK="# written by scripts/slurm/local_cluster.sh"

die() {
    echo "local_cluster: $*" >&2
    exit 1
}

install_packages() {
    local missing=()
    for tool in munged mungekey slurmctld slurmd sbatch squeue sinfo scontrol; do
        command -v "$tool" > /dev/null || missing+=("$tool")
    done
    [ ${#missing[@]} -eq 0 ] && return 0
    [ "$(id -u)" -eq 0 ] || die "missing ${missing[*]}; installing slurm-wlm and munge needs root (or install them first)"
    command -v apt-get > /dev/null || die "missing ${missing[*]} and no apt-get to install slurm-wlm and munge with"
    echo "local_cluster: installing slurm-wlm and munge (missing: ${missing[*]})"
    # The packages' postinst would start munge and slurm services for the machine; a temporary
    # policy-rc.d (the Debian way, present in most containers already) keeps them stopped.
    local policy=/usr/sbin/policy-rc.d added_policy=
    if [ ! -e "$policy" ]; then
        printf '#!/bin/sh\nexit 101\n' > "$policy" && chmod 755 "$policy" && added_policy=1
    fi
    local rc=0 log
    log=$(mktemp /tmp/local_cluster.apt.XXXXXX)
    {
        DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends slurm-wlm munge \
            || { DEBIAN_FRONTEND=noninteractive apt-get update -q \
                && DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends slurm-wlm munge; }
    } > "$log" 2>&1 || rc=$?
    [ -n "$added_policy" ] && rm -f "$policy"
    [ $rc -eq 0 ] || { tail -20 "$log" >&2; die "apt-get could not install slurm-wlm and munge (log: $log)"; }
    rm -f "$log"
}

write_config() {
    local dir=$1 node
    # slurmd -C prints this machine's NodeName, CPUs, sockets, cores, threads and RealMemory.
    node=$(slurmd -C | head -1)
    [[ $node == NodeName=* ]] || die "slurmd -C did not describe this machine: $node"
    mkdir -p "$dir"/{etc,state,spool,log,run,munge}
    cat > "$dir/etc/slurm.conf" << CONF
$MARK for $dir
ClusterName=local
SlurmctldHost=$(hostname -s)(127.0.0.1)
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
AuthInfo=socket=$dir/munge/munge.socket
CredType=cred/munge
StateSaveLocation=$dir/state
SlurmdSpoolDir=$dir/spool
SlurmctldPidFile=$dir/run/slurmctld.pid
SlurmdPidFile=$dir/run/slurmd.pid
SlurmctldLogFile=$dir/log/slurmctld.log
SlurmdLogFile=$dir/log/slurmd.log
# No cgroups: the daemons run in containers and VMs alike.
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
MpiDefault=none
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/filetxt
JobCompLoc=$dir/log/jobcomp.log
# Finished jobs stay visible to squeue this long (the Snakemake plugin's squeue status needs it).
MinJobAge=300
SchedulerType=sched/backfill
# Memory is consumable, so --mem is checked against the node as on a production cluster.
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
# The node is usable as soon as its slurmd registers (no manual resume after a restart).
ReturnToService=2
$node NodeAddr=127.0.0.1 State=UNKNOWN
PartitionName=debug Nodes=ALL Default=YES MaxTime=INFINITE State=UP
CONF
}

start() {
    local dir=$1 running
    [ "$(id -u)" -eq 0 ] || die "starting munged, slurmctld and slurmd needs root"
    install_packages
    running="$(pgrep -x slurmctld || true) $(pgrep -x slurmd || true)"
    [ -z "${running// /}" ] || die "SLURM daemons already run on this machine (PIDs $(echo $running)): a second cluster cannot start"
    # A failed start leaves nothing running and the machine's slurm.conf as it was.
    trap "stop '$dir'" EXIT
    write_config "$dir"
    # A config left by a killed run of this script is not the machine's: only a foreign one is kept.
    if [ -e "$MACHINE_CONF" ] && ! grep -q "^$MARK" "$MACHINE_CONF"; then
        cp -p "$MACHINE_CONF" "$dir/etc/slurm.conf.machine"
    fi
    install -D -m 644 "$dir/etc/slurm.conf" "$MACHINE_CONF"
    mungekey --create --keyfile="$dir/munge/munge.key"
    munged --force --key-file="$dir/munge/munge.key" --socket="$dir/munge/munge.socket" \
        --pid-file="$dir/run/munged.pid" --log-file="$dir/log/munged.log" --seed-file="$dir/munge/munged.seed" \
        || die "munged did not start: $(tail -3 "$dir/log/munged.log" 2> /dev/null)"
    slurmctld -i || die "slurmctld did not start: $(tail -5 "$dir/log/slurmctld.log" 2> /dev/null)"
    slurmd || die "slurmd did not start: $(tail -5 "$dir/log/slurmd.log" 2> /dev/null)"
    local state=
    for _ in $(seq 60); do
        state=$(sinfo -h -N -o %T 2> /dev/null | head -1)
        if [ "$state" = idle ]; then
            trap - EXIT
            return 0
        fi
        sleep 0.5
    done
    die "the node is not idle after 30 s (state: '${state:-none}'); $dir/log/slurmctld.log says: $(tail -3 "$dir/log/slurmctld.log" 2> /dev/null)"
}

stop() {
    local dir=$1 name pid
    for name in slurmd slurmctld munged; do
        [ -s "$dir/run/$name.pid" ] || continue
        pid=$(cat "$dir/run/$name.pid")
        # Only the daemon this cluster started: a stale PID file may name an unrelated process by now.
        if [ "$(ps -o comm= -p "$pid" 2> /dev/null)" = "$name" ] && kill "$pid"; then
            for _ in $(seq 50); do
                kill -0 "$pid" 2> /dev/null || break
                sleep 0.2
            done
            if kill -0 "$pid" 2> /dev/null; then kill -9 "$pid"; fi
        fi
        rm -f "$dir/run/$name.pid"
    done
    if grep -qs "^$MARK for $dir\$" "$MACHINE_CONF"; then
        if [ -e "$dir/etc/slurm.conf.machine" ]; then
            cp -p "$dir/etc/slurm.conf.machine" "$MACHINE_CONF"
        else
            rm -f "$MACHINE_CONF"
        fi
    fi
}

case "${1:-}" in
    install) install_packages ;;
    start) start "${2:?usage: $0 start DIR}" ;;
    stop) stop "${2:?usage: $0 stop DIR}" ;;
    *) die "usage: $0 install | start DIR | stop DIR" ;;
esac
