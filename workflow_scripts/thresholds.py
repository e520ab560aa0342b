"""`script:` of rule thresholds: resolve one slice's threshold labels to costs."""

from hwevrsnas.workflow import grid, steps

smk = snakemake  # noqa: F821 (injected by Snakemake)
with steps.script_logging(smk.log[0]):
    wc = smk.wildcards
    where = grid.Slice(
        wc.space, wc.dataset, wc.device, wc.metric, smk.params.cost_dataset, tuple(smk.params.labels)
    )
    steps.resolve_thresholds(smk.params.tables, where, smk.output[0])
