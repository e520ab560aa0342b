# Stage 5, evaluate: every result re-checked against the tables, independently of the search code.


rule evaluate:
    """Re-check one result: threshold, tabular cost, feasibility, accuracy, exact optimum and regret.

    A mismatch fails the job (the log names every failed check); the check file feeds the slice summary. It runs
    as the search leaves do (rules/search.smk).
    """
    input:
        run=pipeline.RUN,
        timing=pipeline.TIMING,
        table=lambda wc: pipeline.TABLE_FILES[wc.space],
    output:
        pipeline.CHECK,
    params:
        args=lambda wc: pipeline.check_args(config, wc),
    log:
        pipeline.CHECK_LOG,
    # A check runs as soon as its search has finished: a check left waiting adds its files to every scheduling
    # round (docs/bench/scheduler.md), and a failed check shows at once.
    priority: 1
    run:
        pipeline.run_check_leaf(workflow, input.run, params.args, output[0], log[0])


rule slice:
    """One TSV line per run of a slice: `snakemake results/slices/<slice>.tsv` runs that device's searches only."""
    input:
        checks=lambda wc: pipeline.slice_checks(config, wc),
        thresholds=pipeline.THRESHOLDS,
    output:
        pipeline.SLICE_SUMMARY,
    params:
        labels=lambda wc: list(pipeline.slice_of(config, wc).thresholds),
    conda:
        CONDA_ENV
    log:
        pipeline.SLICE_LOG,
    script:
        "../workflow_scripts/slice_summary.py"
