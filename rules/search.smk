# Stage 4, search: one leaf per grid point (space x dataset x device x metric x threshold x method x seed).
#
# Every leaf shares resources/cache (proxy scores keyed by isomorphism class, preset, batch and
# platform, independent of device and threshold), so a class scored by one leaf is never paid again
# by another. The cache is not a declared output: concurrent leaves write it safely (one atomic,
# checksummed file per score). A leaf depends on its own threshold label, and on its slice's checked
# thresholds file marked ancient (a bad threshold stops the slice first; adding a threshold or device
# adds leaves and reruns nothing else). Its params hold the search arguments its method reads, so
# changing a GA knob, the penalty or the preset (its knob digest) reruns exactly the leaves concerned.


rule search:
    """Run one search; write its deterministic result and its timing sidecar.

    The command runs in a warm worker process of the workflow (hwevrsnas.workflow.leaf_pool) when the run is local
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
    params:
        args=lambda wc: pipeline.search_command_args(config, wc),
        preset_digest=lambda wc: pipeline.preset_identity(config, wc),
    threads: config["threads"]["search"]
    log:
        pipeline.SEARCH_LOG,
    run:
        pipeline.run_search_leaf(workflow, params.args, threads, output.run, log[0])
