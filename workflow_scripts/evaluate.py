"""`script:` of rule evaluate: re-check one search result against the tables."""

from hwevrsnas.workflow import grid, steps

smk = snakemake  # noqa: F821 (injected by Snakemake)
with steps.script_logging(smk.log[0]):
    leaf = grid.Leaf.from_wildcards(smk.wildcards)
    steps.check_leaf(smk.input.run, smk.params.tables, leaf, smk.output[0])
