"""`script:` of rule fetch: fetch and verify the pinned sources, write the stamp listing them."""

from hwevrsnas.workflow import steps

smk = snakemake  # noqa: F821 (injected by Snakemake)
with steps.script_logging(smk.log[0]):
    steps.fetch_sources(smk.params.dest, smk.output.stamp, smk.config.get("mirror"))
