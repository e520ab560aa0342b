# Stage 3b, scores (with `scores.enabled`): every NB201 isomorphism class scored once by each proxy the
# grid's methods use, in `scores.shards` jobs (a cluster runs them in parallel; see profiles/slurm for a
# GPU per shard), merged into one table per proxy seed, which the NB201 proxy leaves of that seed read.
# With `scores.table` the leaves read that table instead (a published one, `{proxy_seed}` in its path
# naming each replicate's) and nothing here runs but its full-space fidelity.


rule score_shard:
    """Score one shard of the classes (hwevrsnas scores build --shard I/N)."""
    input:
        sources=pipeline.SOURCES_STAMP,
        table=pipeline.TABLE_FILES["nb201"],
        batch=lambda wc: pipeline.batch_file(config, int(wc.proxy_seed)),
    output:
        pipeline.SCORE_SHARD,
    params:
        args=lambda wc: shlex.join(pipeline.score_build_args(config, int(wc.proxy_seed), int(wc.shard), int(wc.shards))),
    threads: config["threads"]["scores"]
    conda:
        CONDA_ENV
    log:
        "logs/scores/{preset}-p{proxy_seed}/shard-{shard}-of-{shards}.log",
    benchmark:
        "benchmarks/scores/{preset}-p{proxy_seed}/shard-{shard}-of-{shards}.tsv"
    shell:
        "hwevrsnas -v scores build {params.args} --workers {threads} --no-progress --out {output:q} > {log:q} 2>&1"


rule scores:
    """Merge the shards into the table (refused if they overlap, miss classes or mix identities)."""
    input:
        lambda wc: pipeline.score_shards(config, int(wc.proxy_seed)),
    output:
        pipeline.SCORE_TABLE,
    conda:
        CONDA_ENV
    log:
        "logs/scores/{preset}-p{proxy_seed}/merge.log",
    shell:
        "hwevrsnas scores merge {input:q} --out {output:q} > {log:q} 2>&1"


rule fidelity_full:
    """Every proxy of the score table over all NB201 classes: rank correlations, precision, proxy-oracle regret."""
    input:
        scores=lambda wildcards: pipeline.score_table(config, int(wildcards.proxy_seed)),
        table=pipeline.TABLE_FILES["nb201"],
    output:
        [f"{pipeline.FULL_FIDELITY_DIR}/{name}" for name in pipeline.FULL_FIDELITY_FILES],
    params:
        tables=lambda wildcards, input: os.path.dirname(input.table),
        out=lambda wildcards, output: os.path.dirname(output[0]),
    conda:
        CONDA_ENV
    log:
        "logs/fidelity_full/{preset}-p{proxy_seed}.log",
    shell:
        "hwevrsnas fidelity full --scores {input.scores:q} --tables {params.tables:q} --out {params.out:q} > {log:q} 2>&1"
