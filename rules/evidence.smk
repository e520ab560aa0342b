# `make evidence`: the generated pages of docs/ from the workflow's outputs (run with config/presets/evidence.yaml)
# and from the committed exports of docs/scores where recomputing needs hours or a GPU; then the docs' generated
# regions (hwevrsnas.workflow.evidence says which page comes from what; the steps are `hwevrsnas evidence ...`).


rule evidence_table:
    """One aggregate table of the grid, as docs/SEARCH.md embeds it."""
    input:
        f"{pipeline.AGGREGATE_DIR}/{{name}}.md",
    output:
        f"{pipeline.EVIDENCE_DIR}/{{name}}.md",
    wildcard_constraints:
        name="|".join(pipeline.EVIDENCE_TABLES),
    conda:
        CONDA_ENV
    log:
        "logs/evidence/table-{name}.log",
    shell:
        "cp {input:q} {output:q} 2> {log:q}"


rule evidence_fidelity_full:
    """The full-space fidelity of the grid's first proxy seed's score table, beside the published zero-cost export."""
    input:
        scores=lambda wc: pipeline.score_table(config, pipeline.evidence_proxy_seed(config)),
        zerocost=pipeline.PUBLISHED["zerocost"],
        table=pipeline.TABLE_FILES["nb201"],
    output:
        [f"{pipeline.EVIDENCE_FIDELITY_DIR}/{name}" for name in pipeline.FULL_FIDELITY_FILES],
    params:
        platform=pipeline.ZEROCOST_PLATFORM,
        tables=lambda wc, input: os.path.dirname(input.table),
        out=lambda wc, output: os.path.dirname(output[0]),
    conda:
        CONDA_ENV
    log:
        "logs/evidence/fidelity_full.log",
    shell:
        "hwevrsnas fidelity full --scores {input.scores:q} {input.zerocost:q} --platform-of-csv {params.platform:q} "
        "--tables {params.tables:q} --out {params.out:q} > {log:q} 2>&1"


rule evidence_ensemble:
    """hw-evrsnas-ens's selection on the published exports it was chosen on (fails if the registered weights differ)."""
    input:
        quick=pipeline.PUBLISHED["quick"],
        zerocost=pipeline.PUBLISHED["zerocost"],
        table=pipeline.TABLE_FILES["nb201"],
    output:
        pages=[f"{pipeline.ENSEMBLE_DIR}/{name}" for name in pipeline.ENSEMBLE_FILES],
        scores=pipeline.PUBLISHED["ensemble"],
    params:
        tables=lambda wc, input: os.path.dirname(input.table),
        preset=pipeline.PUBLISHED_PRESET,
        out=lambda wc, output: os.path.dirname(output.pages[0]),
    conda:
        CONDA_ENV
    log:
        "logs/evidence/ensemble.log",
    shell:
        "hwevrsnas evidence select-ensemble --scores {input.quick:q} {input.zerocost:q} --preset-of-csv {params.preset} "
        "--tables {params.tables:q} --out {params.out:q} --csv {output.scores:q} > {log:q} 2>&1"


rule evidence_az_nas:
    """hw-evrsnas-ens against AZ-NAS, whose members are the published export's."""
    input:
        extra=pipeline.PUBLISHED["extra"],
        ensemble=pipeline.PUBLISHED["ensemble"],
        table=pipeline.TABLE_FILES["nb201"],
    output:
        pipeline.AZ_NAS_PAGE,
    params:
        platform=pipeline.EXTRA_PLATFORM,
    conda:
        CONDA_ENV
    log:
        "logs/evidence/az_nas.log",
    shell:
        "hwevrsnas evidence compare-az-nas --scores {input.extra:q} --platform-of-csv {params.platform:q} "
        "--ens {input.ensemble:q} --out {output:q} > {log:q} 2>&1"


rule evidence_oracle_gap:
    """Each method's regret beside its proxy's proxy-oracle regret, over the grid's runs (each on its own draw's table)."""
    input:
        runs=pipeline.run_targets(config),
        scores=lambda wc: pipeline.replicate_tables(config),
        table=pipeline.TABLE_FILES["nb201"],
    output:
        pipeline.ORACLE_GAP,
    params:
        runs=lambda wc: pipeline.RUNS_DIR,  # the runs' common folder (the inputs name every run file)
        tables=lambda wc, input: os.path.dirname(input.table),
    conda:
        CONDA_ENV
    log:
        "logs/evidence/oracle_gap.log",
    shell:
        "hwevrsnas evidence oracle-gap --runs-dir {params.runs:q} --scores {input.scores:q} --tables {params.tables:q} "
        "--out {output:q} > {log:q} 2>&1"


rule evidence_default_job:
    """The default job (`make run`) in a folder of its own, sharing resources/; README.md embeds its devices table."""
    input:
        stamp=pipeline.SOURCES_STAMP,
        table=pipeline.TABLE_FILES["nb201"],
        scores=lambda wc: pipeline.score_table(config, pipeline.evidence_proxy_seed(config)),
    output:
        pipeline.DEFAULT_JOB_PAGE,
    params:
        directory=pipeline.DEFAULT_JOB_DIR,
        snakefile=workflow.main_snakefile,
        configfile=os.path.join(workflow.basedir, pipeline.DEFAULT_JOB_CONFIG),
        resources=lambda wc, input: os.path.abspath(os.path.dirname(os.path.dirname(input.table))),
        table=f"{pipeline.AGGREGATE_DIR}/devices.md",
    threads: workflow.cores
    conda:
        CONDA_ENV
    log:
        "logs/evidence/default_job.log",
    shell:
        "mkdir -p {params.directory:q} && ln -sfn {params.resources:q} {params.directory:q}/resources && "
        "snakemake --snakefile {params.snakefile:q} --directory {params.directory:q} --configfile {params.configfile:q} "
        "--cores {threads} {params.table:q} > {log:q} 2>&1 && cp {params.directory:q}/{params.table:q} {output:q}"


rule evidence_reproduction:
    """The published replicate tables recomputed here under both kernel sets, and the recorded kernel comparisons."""
    input:
        scores=lambda wc: pipeline.replicate_tables(config),
        records=sorted(glob.glob(f"{pipeline.KERNEL_RECORDS_DIR}/*.json")),
        stamp=pipeline.SOURCES_STAMP,
        table=pipeline.TABLE_FILES["nb201"],
    output:
        pipeline.REPRODUCTION_PAGE,
    params:
        sources=lambda wc, input: os.path.dirname(input.stamp),
        tables=lambda wc, input: os.path.dirname(input.table),
    conda:
        CONDA_ENV
    log:
        "logs/evidence/reproduction.log",
    shell:
        "hwevrsnas evidence reproduction --scores {input.scores:q} --sample 3 --records {input.records:q} "
        "--sources {params.sources:q} --tables {params.tables:q} --out {output:q} > {log:q} 2>&1"


rule evidence_paper_sample:
    """The `paper` preset's sample from its published export (scoring it took about 3 hours on 2 cores)."""
    input:
        sample=pipeline.PUBLISHED["paper_sample"],
        quick=pipeline.PUBLISHED["quick"],
        zerocost=pipeline.PUBLISHED["zerocost"],
        extra=pipeline.PUBLISHED["extra"],
        table=pipeline.TABLE_FILES["nb201"],
    output:
        [f"{pipeline.PAPER_SAMPLE_DIR}/{name}" for name in pipeline.PAPER_SAMPLE_FILES],
    params:
        tables=lambda wc, input: os.path.dirname(input.table),
        n=pipeline.PAPER_SAMPLE_SIZE,
        seed=pipeline.PAPER_SAMPLE_SEED,
        platform=pipeline.PAPER_SAMPLE_PLATFORM,
        out=lambda wc, output: os.path.dirname(output[0]),
    conda:
        CONDA_ENV
    log:
        "logs/evidence/paper_sample.log",
    shell:
        "hwevrsnas fidelity paper-sample --n {params.n} --seed {params.seed} --published {input.sample:q} "
        "--platform {params.platform:q} --quick {input.quick:q} --zerocost {input.zerocost:q} --extra {input.extra:q} "
        "--tables {params.tables:q} --out {params.out:q} > {log:q} 2>&1"


rule evidence_paper_preset:
    """hw-evrsnas at the `paper` preset beside `quick` on one device's thresholds, from the committed search results
    (a missing one is searched again, from the committed score cache)."""
    input:
        runs=sorted(glob.glob(f"{pipeline.PAPER_PRESET_RUNS}/**/*.json", recursive=True)),
        scores=lambda wc: pipeline.score_table(config, 0),
        table=pipeline.TABLE_FILES["nb201"],
    output:
        pipeline.PAPER_PRESET_PAGE,
    params:
        runs=pipeline.PAPER_PRESET_RUNS,
        device=pipeline.PAPER_PRESET_SETTING["device"],
        metric=pipeline.PAPER_PRESET_SETTING["metric"],
        seed=pipeline.PAPER_PRESET_SETTING["seed"],
        quantiles=" ".join(map(str, pipeline.PAPER_PRESET_SETTING["quantiles"])),
    conda:
        CONDA_ENV
    log:
        "logs/evidence/paper_preset.log",
    shell:
        "hwevrsnas evidence paper-preset-searches --device {params.device} --metric {params.metric} --seed {params.seed} "
        "--quantiles {params.quantiles} --threads 1 --runs {params.runs:q} --scores {input.scores:q} --out {output:q} "
        "> {log:q} 2>&1"


rule evidence_sample_study:
    """One committed score file of the earlier sample study, summarised (scoring it again needs a GPU)."""
    input:
        scores=lambda wc: f"{pipeline.SAMPLE_STUDY_DIR}/{pipeline.SAMPLE_STUDY_FILES[wc.name][0]}",
        seconds=lambda wc: f"{pipeline.SAMPLE_STUDY_DIR}/{pipeline.SAMPLE_STUDY_FILES[wc.name][1]}",
    output:
        f"{pipeline.SAMPLE_STUDY_SUMMARIES}/{{name}}/summary.md",
        f"{pipeline.SAMPLE_STUDY_SUMMARIES}/{{name}}/summary.csv",
    wildcard_constraints:
        name="|".join(pipeline.SAMPLE_STUDY_FILES),
    params:
        out=lambda wc, output: os.path.dirname(output[0]),
    conda:
        CONDA_ENV
    log:
        "logs/evidence/sample_study-{name}.log",
    shell:
        "hwevrsnas fidelity sample summarise --scores {input.scores:q} --seconds {input.seconds:q} --out {params.out:q} "
        "> {log:q} 2>&1"


rule evidence_replicates:
    """The proxy's fidelity over its replicates: per draw, across draws, between draws, and of their mean."""
    input:
        scores=lambda wc: pipeline.replicate_tables(config),
        table=pipeline.TABLE_FILES["nb201"],
    output:
        [f"{pipeline.REPLICATES_DIR}/{name}" for name in pipeline.REPLICATES_FILES],
    params:
        tables=lambda wc, input: os.path.dirname(input.table),
        out=lambda wc, output: os.path.dirname(output[0]),
    conda:
        CONDA_ENV
    log:
        "logs/evidence/replicates.log",
    shell:
        "hwevrsnas fidelity replicates --scores {input.scores:q} --tables {params.tables:q} --out {params.out:q} "
        "> {log:q} 2>&1"


rule evidence_anytime:
    """The anytime figure, drawn from the table docs/SEARCH.md embeds, with each proxy's proxy-oracle floor."""
    input:
        table=pipeline.ANYTIME_PAGE,
        oracle_gap=pipeline.ORACLE_GAP,
    output:
        f"{pipeline.ANYTIME_FIGURE}.png",
        f"{pipeline.ANYTIME_FIGURE}.pdf",
        f"{pipeline.ANYTIME_FIGURE}-column.png",
        f"{pipeline.ANYTIME_FIGURE}-column.pdf",
    params:
        out=lambda wc, output: os.path.splitext(output[0])[0],
    conda:
        CONDA_ENV
    log:
        "logs/evidence/anytime.log",
    shell:
        "hwevrsnas evidence replot-anytime --table {input.table:q} --oracle-gap {input.oracle_gap:q} --out {params.out:q} "
        "> {log:q} 2>&1"


rule evidence:
    """Every page above, the index of them (docs/RESULTS.md), then the generated regions of README.md and docs/*.md
    (no output: it always embeds)."""
    input:
        pipeline.evidence_targets(),
    log:
        "logs/evidence/embed.log",
    run:
        from hwevrsnas.atomic import write_text

        made = [(r.name, r.docstring, [str(o) for o in r.output]) for r in workflow.rules if r.name.startswith("evidence")]
        write_text(pipeline.RESULTS_PAGE, pipeline.results_index(made))
        shell("hwevrsnas evidence embed --root . > {log:q} 2>&1")
