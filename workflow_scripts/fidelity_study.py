"""`script:` of rule fidelity_study: `hwevrsnas fidelity sample run` then `study summarise` into the study folder."""

from hwevrsnas.workflow import steps

smk = snakemake  # noqa: F821 (injected by Snakemake)
with steps.script_logging(smk.log[0]):
    steps.run_fidelity_study(smk.params.study, smk.params.accelerator, smk.params.out, smk.threads)
