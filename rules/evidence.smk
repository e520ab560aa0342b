# `make evidence`: the generated pages of docs/ from the workflow's outputs (run with config/presets/evidence.yaml)
# and from the committed exports of docs/scores where recomputing needs hours or a GPU; then the docs' generated
# regions (hwevrsnas.workflow.evidence says which page comes from what; the steps are `hwevrsnas evidence ...`).


rule evidence_table:
    """One aggregate table of the grid, as docs/SEARCH.md embeds it."""
    input:
        f"{W.AGGREGATE_DIR}/{{name}}.md",
    output:
        f"{W.EVIDENCE_DIR}/{{name}}.md",
    wildcard_constraints:
        name="|".join(W.EVIDENCE_TABLES),
    conda:
        CONDA_ENV
    log:
        "logs/evidence/table-{name}.log",
    shell:
        "cp {input:q} {output:q} 2> {log:q}"


rule evidence_fidelity_full:
    """The full-space fidelity of the grid's first proxy seed's score table, beside the published zero-cost export."""
    input:
        scores=lambda wc: W.score_table(config, W.evidence_proxy_seed(config)),
        zerocost=W.PUBLISHED["zerocost"],
        table=W.TABLE_FILES["nb201"],
    output:
        [f"{W.EVIDENCE_FIDELITY_DIR}/{name}" for name in W.FULL_FIDELITY_FILES],
    params:
        platform=W.ZEROCOST_PLATFORM,
        tables=lambda wc, input: os.path.dirname(input.table),
        out=lambda wc, output: os.path.dirname(output[0]),
    conda:
        CONDA_ENV
    log:
        "logs/evidence/fidelity_full.log",
    shell:
        "hwevrsnas fidelity --scores {input.scores:q} {input.zerocost:q} --platform-of-csv {params.platform:q} "
        "--tables {params.tables:q} --out {params.out:q} > {log:q} 2>&1"


rule evidence_ensemble:
    """hw-evrsnas-ens's selection on the published exports it was chosen on (fails if the registered weights differ)."""
    input:
        quick=W.PUBLISHED["quick"],
        zerocost=W.PUBLISHED["zerocost"],
        table=W.TABLE_FILES["nb201"],
    output:
        pages=[f"{W.ENSEMBLE_DIR}/{name}" for name in W.ENSEMBLE_FILES],
        scores=W.PUBLISHED["ensemble"],
    params:
        tables=lambda wc, input: os.path.dirname(input.table),
        preset=W.PUBLISHED_PRESET,
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
        extra=W.PUBLISHED["extra"],
        ensemble=W.PUBLISHED["ensemble"],
        table=W.TABLE_FILES["nb201"],
    output:
        W.AZ_NAS_PAGE,
    params:
        platform=W.EXTRA_PLATFORM,
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
        runs=W.run_targets(config),
        scores=lambda wc: W.replicate_tables(config),
        table=W.TABLE_FILES["nb201"],
    output:
        W.ORACLE_GAP,
    params:
        runs=lambda wc: W.RUNS_DIR,  # the runs' common folder (the inputs name every run file)
        tables=lambda wc, input: os.path.dirname(input.table),
    conda:
        CONDA_ENV
    log:
        "logs/evidence/oracle_gap.log",
    shell:
        "hwevrsnas evidence oracle-gap --runs-dir {params.runs:q} --scores {input.scores:q} --tables {params.tables:q} "
        "--out {output:q} > {log:q} 2>&1"


rule evidence_paper_sample:
    """The `paper` preset's sample from its published export (scoring it took about 3 hours on 2 cores)."""
    input:
        sample=W.PUBLISHED["paper_sample"],
        quick=W.PUBLISHED["quick"],
        zerocost=W.PUBLISHED["zerocost"],
        extra=W.PUBLISHED["extra"],
        table=W.TABLE_FILES["nb201"],
    output:
        [f"{W.PAPER_SAMPLE_DIR}/{name}" for name in W.PAPER_SAMPLE_FILES],
    params:
        tables=lambda wc, input: os.path.dirname(input.table),
        n=W.PAPER_SAMPLE_SIZE,
        seed=W.PAPER_SAMPLE_SEED,
        platform=W.PAPER_SAMPLE_PLATFORM,
        out=lambda wc, output: os.path.dirname(output[0]),
    conda:
        CONDA_ENV
    log:
        "logs/evidence/paper_sample.log",
    shell:
        "hwevrsnas evidence paper-sample --n {params.n} --seed {params.seed} --published {input.sample:q} "
        "--platform {params.platform:q} --quick {input.quick:q} --zerocost {input.zerocost:q} --extra {input.extra:q} "
        "--tables {params.tables:q} --out {params.out:q} > {log:q} 2>&1"


rule evidence_replicates:
    """The proxy's fidelity over its replicates: per draw, across draws, between draws, and of their mean."""
    input:
        scores=lambda wc: W.replicate_tables(config),
        table=W.TABLE_FILES["nb201"],
    output:
        [f"{W.REPLICATES_DIR}/{name}" for name in W.REPLICATES_FILES],
    params:
        tables=lambda wc, input: os.path.dirname(input.table),
        out=lambda wc, output: os.path.dirname(output[0]),
    conda:
        CONDA_ENV
    log:
        "logs/evidence/replicates.log",
    shell:
        "hwevrsnas fidelity --replicates --scores {input.scores:q} --tables {params.tables:q} --out {params.out:q} "
        "> {log:q} 2>&1"


rule evidence_anytime:
    """The anytime figure, drawn from the table docs/SEARCH.md embeds, with each proxy's proxy-oracle floor."""
    input:
        table=W.ANYTIME_PAGE,
        oracle_gap=W.ORACLE_GAP,
    output:
        f"{W.ANYTIME_FIGURE}.png",
        f"{W.ANYTIME_FIGURE}.pdf",
        f"{W.ANYTIME_FIGURE}-column.png",
        f"{W.ANYTIME_FIGURE}-column.pdf",
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
    """Every page above, then the generated regions of README.md and docs/*.md (no output: it always embeds)."""
    input:
        W.evidence_targets(),
    conda:
        CONDA_ENV
    log:
        "logs/evidence/embed.log",
    shell:
        "hwevrsnas evidence embed --root . > {log:q} 2>&1"
