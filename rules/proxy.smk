# Stage 3, proxy: the proxy batch (built once, shared by every leaf and the study) and the fidelity study.
#
# The batch file's name is chosen by hwevrsnas.proxy.evaluator.load_or_build_batch
# (resources/proxy/batch-<reference>-<digest>.pt, shared by presets with the same batch knobs), so the
# rule's declared output is a stamp, resources/proxy/<preset>.batch.json, naming that file with its
# checksums; the leaves depend on the stamp and pass --batch-dir resources/proxy, where they find it.


rule proxy_batch:
    """Select the preset's proxy batch (512 augmented CIFAR-10 images -> the 32 the reference fits best)."""
    input:
        W.SOURCES_STAMP,
    output:
        W.BATCH_STAMP,
    params:
        sources=lambda wc, input: os.path.dirname(input[0]),
        batch_dir=lambda wc, output: os.path.dirname(output[0]),
        digest=lambda wc: W.preset_identity({"proxy": {"preset": wc.preset}}, "hw-evrsnas"),
    conda:
        CONDA_ENV
    log:
        "logs/proxy_batch/{preset}.log",
    benchmark:
        "benchmarks/proxy_batch/{preset}.tsv"
    script:
        "../workflow_scripts/proxy_batch.py"


rule fidelity_study:
    """Rank correlation of proxy variants with NB201 CIFAR-10 accuracy on a stratified sample (optional)."""
    input:
        sources=W.SOURCES_STAMP,
        table=W.TABLE_FILES["nb201"],
    output:
        W.study_outputs(),
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
