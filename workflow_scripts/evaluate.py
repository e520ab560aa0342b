"""`script:` of rule evaluate: re-check one search result against the tables."""

from hwevrsnas import workflow

smk = snakemake  # noqa: F821 (injected by Snakemake)
with workflow.script_logging(smk.log[0]):
    leaf = workflow.Leaf.from_wildcards(smk.wildcards)
    workflow.check_result(smk.input.run, smk.params.tables, leaf, smk.output[0])
