"""`script:` of rule slice: one TSV line per (run, threshold) of a slice, from its check files."""

from hwevrsnas.workflow import steps

smk = snakemake  # noqa: F821 (injected by Snakemake)
with steps.script_logging(smk.log[0]):
    steps.summarise_slice(list(smk.input.checks), list(smk.input.runs), smk.output[0], smk.params.labels)
