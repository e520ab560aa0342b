# Stage 5, evaluate: every result re-checked against the tables, independently of the search code (the check runs
# in its search's job, rules/search.smk), and the checks of a slice summarised.


rule slice:
    """One TSV line per run of a slice: `snakemake results/slices/<slice>.tsv` runs that device's searches only.

    It reads the runs as well as their checks: a run changed after its check (newer than the summary) fails it,
    naming the run and the command that rebuilds it.
    """
    input:
        unpack(lambda wc: pipeline.slice_inputs(config, wc)),
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
