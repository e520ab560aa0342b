"""`script:` of rule fidelity_study: `hwevrsnas study run` then `study summarise` into the study folder."""

from hwevrsnas import workflow

smk = snakemake  # noqa: F821 (injected by Snakemake)
with workflow.script_logging(smk.log[0]):
    workflow.run_fidelity_study(smk.params.study, smk.params.accelerator, smk.params.out, smk.threads)
