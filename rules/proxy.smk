# Stage 3, proxy: the proxy batches (one per proxy seed, shared by the leaves of that seed) and the fidelity study.
#
# A batch file is named by the preset's batch knobs, seed included (Preset.batch_file_name), so presets that
# share them share it; the leaves name it as an input and find it with --batch-dir. The rule always builds a
# fresh file (Snakemake removes the old one first), so `--forcerun proxy_batch` repairs a damaged batch.


rule proxy_batch:
    """Select a proxy seed's batch of the preset (512 augmented CIFAR-10 images -> the 32 the reference fits best)."""
    input:
        pipeline.SOURCES_STAMP,
    output:
        pipeline.BATCH,
    params:
        sources=lambda wc, input: os.path.dirname(input[0]),
        preset=config["proxy"]["preset"],
        seed=lambda wc: pipeline.batch_seed(config, wc),
    conda:
        CONDA_ENV
    log:
        "logs/proxy_batch/batch-{reference}-{digest}.log",
    benchmark:
        "benchmarks/proxy_batch/batch-{reference}-{digest}.tsv"
    script:
        "../workflow_scripts/proxy_batch.py"


rule fidelity_study:
    """Rank correlation of proxy variants with NB201 CIFAR-10 accuracy on a stratified sample (optional)."""
    input:
        sources=pipeline.SOURCES_STAMP,
        table=pipeline.TABLE_FILES["nb201"],
    output:
        pipeline.study_outputs(),
    params:
        study=config["fidelity_study"],
        accelerator=config["proxy"]["accelerator"],
        out=lambda wc, output: os.path.dirname(output[0]),
    threads: config["threads"]["fidelity_study"]
    conda:
        CONDA_ENV
    log:
        "logs/fidelity_study.log",
    benchmark:
        "benchmarks/fidelity_study.tsv"
    script:
        "../workflow_scripts/fidelity_study.py"
