# hwevrsnas: the benchmark workflow (sources -> tables -> proxy batch -> searches -> checks -> aggregate).
#
#   snakemake --cores 2                                   # the default job (config/config.yaml); = make run
#   snakemake --cores 2 --configfile config/presets/paper.yaml
#   snakemake --profile profiles/slurm --configfile config/presets/paper.yaml
#   snakemake --cores 2 results/slices/nb201_cifar10_fpga_latency.tsv   # one device's slice only
#   snakemake --report report.html                        # = make report
#   snakemake --cores 2 --configfile=config/presets/evidence.yaml evidence   # docs/ regenerated; = make evidence
#
# The grid logic lives in the package (hwevrsnas.workflow: layout, grid expansion, search
# arguments, config checks, rule bodies), so it is unit-tested without Snakemake; rules/*.smk only
# declare the rules, and workflow_scripts/*.py only unpack `snakemake` and call the package.
from snakemake.exceptions import WorkflowError
from snakemake.utils import min_version, validate

min_version("8.7")  # the update() flag of rule aggregate


configfile: "config/config.yaml"


from hwevrsnas import workflow as pipeline

# `--config seeds=[0,1]` gives strings; the schema wants integers.
pipeline.from_command_line(config)
# Schema: types, ranges, defaults, and unknown keys (a misspelt key fails here, naming it, the nearest valid keys
# and its file, instead of Snakemake's printout of the whole schema and config).
try:
    validate(config, "config/schema.yaml")
except WorkflowError as err:
    message = pipeline.unknown_key_message(err, workflow.configfiles)
    if message is None:
        raise
    raise WorkflowError(message) from None
pipeline.locate_served_table(config, workflow.basedir)

# What the schema cannot express: devices of a space and metric, methods, presets, GA knobs, and
# (when the tables exist) every threshold against its cost column. Plugins first: they add names.
try:
    pipeline.use_plugins(config["plugins"])
    pipeline.check_config(config)
except pipeline.UserError as err:
    raise WorkflowError(str(err))


report: "report/workflow.rst"


include: "rules/common.smk"
include: "rules/sources.smk"
include: "rules/tables.smk"
include: "rules/proxy.smk"
include: "rules/scores.smk"
include: "rules/search.smk"
include: "rules/evaluate.smk"
include: "rules/aggregate.smk"
include: "rules/evidence.smk"


localrules:
    all,
    fetch,
    thresholds,
    slice,
    evidence_table,
    evidence_fidelity_full,
    evidence,


rule all:
    """Every aggregate table and plot, plus the resolved thresholds and the summary of every slice."""
    default_target: True
    input:
        pipeline.aggregate_tables(config),
        pipeline.aggregate_plots(config),
        pipeline.threshold_targets(config),
        pipeline.slice_targets(config),
        pipeline.full_fidelity_targets(config),
