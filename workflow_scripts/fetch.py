"""`script:` of rule fetch: fetch and verify the pinned sources, write the stamp listing them."""

from hwevrsnas import workflow

smk = snakemake  # noqa: F821 (injected by Snakemake)
with workflow.script_logging(smk.log[0]):
    workflow.fetch_sources(smk.params.dest, smk.output.stamp, smk.config.get("mirror"))
