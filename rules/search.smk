# Stage 4, search: one leaf per grid point (space x dataset x device x metric x threshold x method x seed).
#
# Every leaf shares resources/cache (proxy scores keyed by isomorphism class, preset, batch and
# platform, independent of device and threshold), so a class scored by one leaf is never paid again
# by another. The cache is not a declared output: concurrent leaves write it safely (one atomic,
# checksummed file per score). A leaf depends on its own threshold label, and on its slice's checked
# thresholds file marked ancient (a bad threshold stops the slice first; adding a threshold or device
# adds leaves and reruns nothing else). Its params hold the search arguments its method reads, so
# changing a GA knob, the penalty or the preset (its knob digest) reruns exactly the leaves concerned.
#
# A leaf is one job, its search and then its check (stage 5): Snakemake's own work per job is what a served grid
# waits on (docs/bench/scheduler.md). The check records the sha256 of the run it passed, and the slice summary
# (rules/evaluate.smk) refuses a run changed after it.


rule search:
    """Run one search, write its deterministic result and its timing sidecar; then re-check the result.

    The check (`hwevrsnas check`: threshold, tabular cost, feasibility, accuracy, exact optimum and regret, by code
    apart from the search's) fails the job on a mismatch, its log naming every failed check.
    Both commands run in a warm worker process of the workflow (hwevrsnas.workflow.leaf_pool) when the run is local
    with jobs in threads (the profiles' force-use-threads), else in this job's own process: the same bytes either way.
    Its environment is the workflow's own, which has the package (the Snakefile imports it), so it has no conda
    directive; wall and CPU seconds are in its timing sidecar (a Snakemake benchmark of a threaded job would measure
    the whole workflow process).
    """
    input:
        unpack(lambda wc: pipeline.search_inputs(config, wc)),
        thresholds=ancient(pipeline.THRESHOLDS),
    output:
        run=pipeline.RUN,
        timing=pipeline.TIMING,
        check=pipeline.CHECK,
    params:
        args=lambda wc: pipeline.search_command_args(config, wc),
        preset_digest=lambda wc: pipeline.preset_identity(config, wc),
        check_args=lambda wc: pipeline.check_args(config, wc),
    threads: config["threads"]["search"]
    log:
        search=pipeline.SEARCH_LOG,
        check=pipeline.CHECK_LOG,
    run:
        pipeline.run_search_and_check(
            workflow, params.args, params.check_args, threads, output.run, output.check, log.search, log.check
        )
