# Stage 2, tables: the exact HDF5 tables, and the per-slice resolution of the configured thresholds.


rule tables:
    """Build nb201.h5 (all 15,625 architectures, accuracies, costs) and fbnet.h5 (additive latency tables)."""
    input:
        pipeline.SOURCES_STAMP,
    output:
        nb201=pipeline.TABLE_FILES["nb201"],
        fbnet=pipeline.TABLE_FILES["fbnet"],
    params:
        sources=lambda wc, input: os.path.dirname(input[0]),
        out=lambda wc, output: os.path.dirname(output.nb201),
        plugins=config["plugins"],  # plugins may add cost columns: other plugins, another table
    conda:
        CONDA_ENV
    log:
        "logs/tables.log",
    benchmark:
        "benchmarks/tables.tsv"
    shell:
        "hwevrsnas tables build --sources {params.sources:q} --out {params.out:q} > {log:q} 2>&1"


rule thresholds:
    """One slice's configured thresholds (q<quantile>, v<value>) resolved to costs: a report, not a leaf input.

    Target it alone to see a device's thresholds: results/thresholds/nb201_cifar10_fpga_latency.json.
    """
    input:
        table=lambda wc: pipeline.TABLE_FILES[wc.space],
    output:
        pipeline.THRESHOLDS,
    params:
        labels=lambda wc: list(pipeline.slice_of(config, wc).thresholds),
        cost_dataset=lambda wc: pipeline.slice_of(config, wc).cost_dataset,
        tables=lambda wc, input: os.path.dirname(input.table),
    conda:
        CONDA_ENV
    log:
        pipeline.THRESHOLDS_LOG,
    script:
        "../workflow_scripts/thresholds.py"
