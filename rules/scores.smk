# Stage 3b, scores (with `scores.enabled`): every NB201 isomorphism class scored once by each proxy the
# grid's methods use, in `scores.shards` jobs (a cluster runs them in parallel; see profiles/slurm for a
# GPU per shard), merged into one table that every NB201 proxy leaf reads.


rule score_shard:
    """Score one shard of the classes (hwevrsnas scores build --shard I/N)."""
    input:
        sources=W.SOURCES_STAMP,
        table=W.TABLE_FILES["nb201"],
        batch=W.batch_file(config),
    output:
        W.SCORE_SHARD,
    params:
        args=lambda wc: shlex.join(W.score_build_args(config, int(wc.shard), int(wc.shards))),
    threads: config["threads"]["scores"]
    conda:
        CONDA_ENV
    log:
        "logs/scores/{preset}/shard-{shard}-of-{shards}.log",
    benchmark:
        "benchmarks/scores/{preset}/shard-{shard}-of-{shards}.tsv"
    shell:
        "hwevrsnas -v scores build {params.args} --workers {threads} --no-progress --out {output:q} > {log:q} 2>&1"


rule scores:
    """Merge the shards into the table (refused if they overlap, miss classes or mix identities)."""
    input:
        W.score_shards(config),
    output:
        W.SCORE_TABLE,
    conda:
        CONDA_ENV
    log:
        "logs/scores/{preset}/merge.log",
    shell:
        "hwevrsnas scores merge {input:q} --out {output:q} > {log:q} 2>&1"
