# Stage 6, aggregate: result tables and figures of every run (hwevrsnas.analysis.report.aggregate).


rule aggregate:
    """Tables main/devices/cost/comparisons (+ fidelity) and the per-device, history (+ fidelity) plots."""
    input:
        # The slice summaries stand for the runs and their checks: each summary depends on its slice's checks and
        # each check on its run, so a changed run reruns its check, its slice and this job. The runs are read from
        # params.runs: declared as inputs, Snakemake would hash every run file once per output of this job after
        # it ran (minutes for the evidence grid's thousands of runs and dozens of outputs).
        slices=pipeline.slice_targets(config),
        tables=sorted({pipeline.TABLE_FILES[leaf.space] for leaf in pipeline.expand_grid(config)}),
        study=pipeline.study_outputs() if pipeline.study_enabled(config) else [],
    # update(): Snakemake deletes a job's outputs before running it, so a forced aggregate that fails (a damaged
    # run file) would leave no tables at all; update() keeps them, backs them up and restores them on failure, and
    # the step replaces each file atomically only once every run file has been read.
    output:
        tables=[
            update(report(path, caption="../report/tables.rst", category="Tables"))
            for path in pipeline.aggregate_tables(config)
        ],
        plots=[
            update(report(path, caption="../report/plots.rst", category="Plots"))
            for path in pipeline.aggregate_plots(config)
        ],
    params:
        runs=pipeline.run_targets(config),
        energy=pipeline.energy_settings(config),
        budgets=config["search"]["budgets"] or [],
    threads: config["threads"]["aggregate"]
    conda:
        CONDA_ENV
    log:
        "logs/aggregate.log",
    benchmark:
        "benchmarks/aggregate.tsv"
    script:
        "../workflow_scripts/aggregate.py"
