"""`script:` of rule slice: one TSV line per run of a slice, from its check files."""

from hwevrsnas import workflow

smk = snakemake  # noqa: F821 (injected by Snakemake)
with workflow.script_logging(smk.log[0]):
    workflow.summarise_slice(list(smk.input.checks), smk.output[0])
