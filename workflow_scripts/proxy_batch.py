"""`script:` of rule proxy_batch: build (or find) the preset's proxy batch, write its stamp."""

from hwevrsnas import workflow

smk = snakemake  # noqa: F821 (injected by Snakemake)
with workflow.script_logging(smk.log[0]):
    workflow.build_proxy_batch(smk.wildcards.preset, smk.params.sources, smk.params.batch_dir, smk.output[0])
