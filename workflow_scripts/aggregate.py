"""`script:` of rule aggregate: tables and plots of every run (hwevrsnas.analysis.report.aggregate)."""

from hwevrsnas import workflow

smk = snakemake  # noqa: F821 (injected by Snakemake)
with workflow.script_logging(smk.log[0]):
    workflow.run_aggregate(list(smk.input.runs), smk.params.energy, study=bool(smk.input.study))
