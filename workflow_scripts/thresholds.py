"""`script:` of rule thresholds: resolve one slice's threshold labels to costs."""

from hwevrsnas import workflow

smk = snakemake  # noqa: F821 (injected by Snakemake)
with workflow.script_logging(smk.log[0]):
    wc = smk.wildcards
    where = workflow.Slice(
        wc.space, wc.dataset, wc.device, wc.metric, smk.params.cost_dataset, tuple(smk.params.labels)
    )
    workflow.resolve_thresholds(smk.params.tables, where, smk.output[0])
