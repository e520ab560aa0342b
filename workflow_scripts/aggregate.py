"""`script:` of rule aggregate: tables and plots of every run (hwevrsnas.analysis.report.aggregate)."""

from hwevrsnas.workflow import steps

smk = snakemake  # noqa: F821 (injected by Snakemake)
with steps.script_logging(smk.log[0]):
    steps.run_aggregate(
        list(smk.params.runs), smk.params.energy, study=bool(smk.input.study), budgets=smk.params.budgets,
        outputs=list(smk.output), workers=smk.threads,
    )
