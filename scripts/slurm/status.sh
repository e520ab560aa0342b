#!/usr/bin/env bash
# Job status for Snakemake's cluster-generic executor on SLURM (cluster-generic-status-cmd): prints
# running, success or failed for the job id given. squeue knows a job until MinJobAge after its end,
# sacct (where accounting exists) for as long as the database keeps it. Without a status command the
# executor waits for a marker file that a job killed by SLURM (time limit, preemption, node failure)
# never writes.
set -uo pipefail
job=${1:?usage: $0 JOBID}
state=$(squeue -h -j "$job" --states=all -o %T 2> /dev/null | head -1)
[ -n "$state" ] || state=$(sacct -n -X -P -j "$job" -o State 2> /dev/null | head -1)
case ${state%% *} in  # sacct writes "CANCELLED by 0"
    COMPLETED) echo success ;;
    PENDING | CONFIGURING | RUNNING | COMPLETING | SUSPENDED | REQUEUED | REQUEUE_FED | REQUEUE_HOLD | RESIZING | STAGE_OUT | SIGNALING)
        echo running ;;
    "")
        # Unknown to both: failed if the controller answers, otherwise ask again at the next check
        # (a non-zero exit would stop the whole run).
        if squeue -h > /dev/null 2>&1; then echo failed; else echo running; fi ;;
    *) echo failed ;;
esac
