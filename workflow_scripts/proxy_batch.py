"""`script:` of rule proxy_batch: build the config preset's proxy batch of one proxy seed into the rule's output."""

from hwevrsnas.workflow import steps

smk = snakemake  # noqa: F821 (injected by Snakemake)
with steps.script_logging(smk.log[0]):
    steps.build_proxy_batch(smk.params.preset, smk.params.sources, smk.output[0], smk.params.seed)
