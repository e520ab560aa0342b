# Stage 5, evaluate: every result re-checked against the tables, independently of the search code.


rule evaluate:
    """Re-check one result: threshold, tabular cost, feasibility, accuracy, exact optimum and regret.

    A mismatch fails the job (the log names every failed check); the check file feeds the slice summary. It runs
    as the search leaves do (rules/search.smk).
    """
    input:
        run=W.RUN,
        timing=W.TIMING,
        table=lambda wc: W.TABLE_FILES[wc.space],
    output:
        W.CHECK,
    params:
        args=lambda wc: W.check_args(config, wc),
    log:
        W.CHECK_LOG,
    run:
        W.run_check_leaf(workflow, input.run, params.args, output[0], log[0])


rule slice:
    """One TSV line per run of a slice: `snakemake results/slices/<slice>.tsv` runs that device's searches only."""
    input:
        checks=lambda wc: W.slice_checks(config, wc),
        thresholds=W.THRESHOLDS,
    output:
        W.SLICE_SUMMARY,
    params:
        labels=lambda wc: list(W.slice_of(config, wc).thresholds),
    conda:
        CONDA_ENV
    log:
        W.SLICE_LOG,
    script:
        "../workflow_scripts/slice_summary.py"
