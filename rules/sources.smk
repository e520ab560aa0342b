# Stage 1, sources: copy every pinned upstream file (mirror first, else download) and verify its sha256.


rule fetch:
    """Fetch and verify the pinned sources into resources/sources; the output is a stamp listing them.

    The mirror is $HWEVRSNAS_MIRROR, else the config's `mirror` (it is not a param: where the files
    come from does not change them). A new pin list (the package's sources.tsv) reruns the fetch.
    """
    output:
        stamp=pipeline.SOURCES_STAMP,
    params:
        dest=lambda wc, output: os.path.dirname(output.stamp),
        pins=pipeline.pins_digest(),
    conda:
        CONDA_ENV
    log:
        "logs/fetch.log",
    benchmark:
        "benchmarks/fetch.tsv"
    script:
        "../workflow_scripts/fetch.py"
