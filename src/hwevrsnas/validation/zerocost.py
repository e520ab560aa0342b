"""Validate the zero-cost proxies of proxy/zerocost_az_meco_zico.py on a stratified sample of NB201 classes.

For a fixed stratified sample of non-degenerate NB201 isomorphism classes (`analysis.fidelity.sample.stratified_sample`,
one class per accuracy stratum), score each class representative on the NB201 network at C=16,
N=5 with a CIFAR-10 head, built after `torch.manual_seed(--init-seed)` as `ZeroCostEvaluator`
does, with the quick preset's proxy batch (32 CIFAR-10 training images). Metrics: the three AZ-NAS
members (one joint pass), MeCo, ZiCo, and for comparison on the same sample #params, FLOPs (AZ-NAS's
complexity member), synflow and NASWOT (proxy/zerocost.py). Then print, and write as Markdown, Kendall
tau and Spearman rho against the 200-epoch CIFAR-10 test accuracy (95 % percentile-bootstrap
intervals, over the sample and over its top half by accuracy), CIFAR-100 and ImageNet16-120 as
transfer, the published full-space figure where one is known, and the CPU seconds per architecture
(one intra-op thread). AZ-NAS's own combination is the sum over its four members of log(rank / n)
(`zerocost_az_meco_zico.az_nas_rank_aggregate`), ranked over the sample.

The published figures count architectures, not classes: all 15,625, isomorphic twins and the 341
degenerate (constant) ones included. The "architecture-weighted" column re-counts the same sample
that way (`architecture_weighted`), which is what a published figure should be compared with; the
calibration table below it does the same for the table's #params over the whole space.

The per-architecture scores go to OUT/scores.csv, written row by row; a rerun with the same
arguments continues from it (`hwevrsnas evidence validate-zerocost`).
"""

from __future__ import annotations

import math
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from scipy.stats import kendalltau, spearmanr

from hwevrsnas.proxy.batch import load_or_build_batch
from hwevrsnas.proxy.determinism import pinned_threads, platform
from hwevrsnas.proxy.presets import get_preset
from hwevrsnas.analysis.fidelity.sample import rank_correlations, stratified_sample
from hwevrsnas.proxy.zerocost import SCORE_FUNCTIONS
from hwevrsnas.proxy.zerocost_az_meco_zico import (
    az_expressivity,
    az_nas_rank_aggregate,
    az_nas_scores,
    az_progressivity,
    az_trainability,
    meco,
    zico,
)
from hwevrsnas.spaces import nb201
from hwevrsnas.spaces.nb201_network import NB201Network
from hwevrsnas.tables.store import NB201Table

# Published full-space figures on NB201 / CIFAR-10 (200-epoch test accuracy), and where they come from.
PUBLISHED = {
    "az_nas": ("0.741", "0.913", "AZ-NAS authors' NB201 notebook (tss_general.ipynb), all 15,625 archs"),
    "meco": ("-", "~0.89", "MeCo paper, as quoted in issue 11"),
    "params": ("0.578", "-", "as quoted in issue 11"),
}
LABELS = {
    "az_nas": "AZ-NAS (4-member log-rank sum)",
    "az_nas_3": "AZ-NAS without FLOPs (3 members)",
    "az_expressivity": "AZ-NAS expressivity",
    "az_progressivity": "AZ-NAS progressivity",
    "az_trainability": "AZ-NAS trainability",
    "flops": "FLOPs (AZ-NAS complexity)",
    "meco": "MeCo",
    "zico": "ZiCo",
    "params": "#params",
    "synflow": "synflow",
    "naswot": "NASWOT",
}
AZ = ("az_expressivity", "az_progressivity", "az_trainability")
SINGLE = (*AZ, "flops", "meco", "zico", "params", "synflow", "naswot")
TRANSFER = ("cifar100", "ImageNet16-120")


def score_one(ops: np.ndarray, images: torch.Tensor, labels: torch.Tensor, init_seed: int, time_members: bool) -> dict:
    """Every metric of one class representative, with the seconds each took (network build excluded)."""
    torch.manual_seed(init_seed)
    model = NB201Network(ops, C=16, N=5, num_classes=10)
    row: dict = {}
    # The functions leave the model, and the global RNG, as they found them, so one network serves all.
    start = time.perf_counter()
    row.update({f"az_{k}": v for k, v in az_nas_scores(model, images, labels).items()})
    row["seconds_az_nas"] = time.perf_counter() - start
    if time_members:
        for name, function in zip(AZ, (az_expressivity, az_progressivity, az_trainability)):
            start = time.perf_counter()
            value = function(model, images, labels)
            row[f"seconds_{name}"] = time.perf_counter() - start
            if value != row[name] and not (math.isnan(value) and math.isnan(row[name])):
                print(f"warning: {name} alone {value} != joint {row[name]}", file=sys.stderr)
    for name, function in (("meco", meco), ("zico", zico), *((m, SCORE_FUNCTIONS[m]) for m in ("params", "flops", "synflow", "naswot"))):
        start = time.perf_counter()
        row[name] = float(function(model, images, labels))
        row[f"seconds_{name}"] = time.perf_counter() - start
    return row


def time_alone(ops: np.ndarray, images: torch.Tensor, labels: torch.Tensor, init_seed: int) -> dict:
    """Seconds of each metric computed alone on its own freshly built network (build excluded)."""
    functions = {"az_nas": az_nas_scores, "az_expressivity": az_expressivity, "az_progressivity": az_progressivity,
                 "az_trainability": az_trainability, "meco": meco, "zico": zico,
                 **{m: SCORE_FUNCTIONS[m] for m in ("params", "flops", "synflow", "naswot")}}
    row = {}
    for name, function in functions.items():
        torch.manual_seed(init_seed)
        model = NB201Network(ops, C=16, N=5, num_classes=10)
        start = time.perf_counter()
        function(model, images, labels)
        row[f"seconds_{name}"] = time.perf_counter() - start
    return row


def fmt(stats: dict, key: str) -> str:
    return f"{stats[key]:.3f} [{stats[key + '_lo']:.2f}, {stats[key + '_hi']:.2f}]"


def member_scores(frame: pd.DataFrame) -> dict[str, np.ndarray]:
    """Every proxy's score per row (NaN as -inf), with AZ-NAS's aggregations ranked over these rows."""
    scores = {name: frame[name].to_numpy(float) for name in SINGLE}
    scores = {k: np.where(np.isnan(v), -np.inf, v) for k, v in scores.items()}
    scores["az_nas"] = az_nas_rank_aggregate([scores["flops"], *(scores[m] for m in AZ)])
    scores["az_nas_3"] = az_nas_rank_aggregate([scores[m] for m in AZ])
    return scores


def architecture_weighted(table: NB201Table, frame: pd.DataFrame, degenerate: dict, seed: int = 0) -> pd.DataFrame:
    """The sample as the published figures count it: per architecture, not per class, degenerate cells included.

    Each sampled class becomes all its member architectures (the class's scores, each member's own
    accuracy, and, for the complexity member, each member's own FLOPs from the table, dead edges
    counted, as AZ-NAS took them from the NB201 API); degenerate architectures (constant networks, all
    scored as the all-'none' cell, `degenerate`) are added, drawn with `seed`, in the share they have in
    the whole space. Twins tie here, where the published runs scored each twin on its own network.
    """
    acc = table.accuracy(slice(None))
    flops = table.model_size(slice(None), "cifar10", "flops_m")
    members = [np.flatnonzero(table.iso_class == table.iso_class[int(i)]) for i in frame["index"]]
    rows = [{**{n: r[n] for n in SINGLE}, "acc_cifar10": acc[m], "flops": flops[m]}
            for (_, r), ms in zip(frame.iterrows(), members) for m in ms]
    pool = np.flatnonzero(table.degenerate)
    k = int(round(len(pool) * len(rows) / (len(table) - len(pool))))
    pick = np.random.default_rng(seed).choice(pool, k, replace=False)
    rows += [{**{n: degenerate[n] for n in SINGLE}, "acc_cifar10": acc[m], "flops": flops[m]} for m in pick]
    return pd.DataFrame(rows)


def summarise(frame: pd.DataFrame, weighted: pd.DataFrame, boot: int) -> tuple[str, pd.DataFrame]:
    """The Markdown table of the scored rows (and its numbers as a frame)."""
    scores = member_scores(frame)
    wscores = member_scores(weighted)
    truth = frame["acc_cifar10"].to_numpy(float)
    wtruth = weighted["acc_cifar10"].to_numpy(float)
    top = truth >= np.median(truth)
    seconds = {name: frame.get(f"seconds_{name}") for name in SINGLE}
    seconds["az_nas"] = frame["seconds_az_nas"]
    order = ["az_nas", "az_nas_3", *AZ, "flops", "meco", "zico", "params", "synflow", "naswot"]
    lines = [
        f"| proxy | Kendall tau (n={len(frame)} classes) | Spearman rho | tau / rho, architecture-weighted (n={len(weighted)}) "
        "| published tau / rho (whole space) | tau, top half | tau CIFAR-100 | tau ImageNet16-120 | median CPU s/arch |",
        "|---|---|---|---|---|---|---:|---:|---:|",
    ]
    records = []
    for name in order:
        values = scores[name]
        all_ = rank_correlations(values, truth, n_boot=boot)
        half = rank_correlations(values[top], truth[top], n_boot=boot)
        w_tau = float(kendalltau(wscores[name], wtruth).statistic)
        w_rho = float(spearmanr(wscores[name], wtruth).statistic)
        transfer = {d: float(kendalltau(values, frame[f"acc_{d}"].to_numpy(float)).statistic) for d in TRANSFER}
        tau_pub, rho_pub, _ = PUBLISHED.get(name, ("-", "-", ""))
        sec = seconds.get(name)
        sec_text = f"{np.nanmedian(sec):.3g}" if sec is not None and sec.notna().any() else ""
        if name == "az_nas":
            sec_text += " (3 members in one pass; FLOPs ~0)"
        lines.append(
            f"| {LABELS[name]} | {fmt(all_, 'kendall_tau')} | {fmt(all_, 'spearman_rho')} | {w_tau:.3f} / {w_rho:.3f} "
            f"| {tau_pub} / {rho_pub} | {fmt(half, 'kendall_tau')} | {transfer['cifar100']:.3f} "
            f"| {transfer['ImageNet16-120']:.3f} | {sec_text} |"
        )
        records.append({"proxy": name, **{f"all_{k}": v for k, v in all_.items()},
                        **{f"top_{k}": v for k, v in half.items()},
                        "weighted_kendall_tau": w_tau, "weighted_spearman_rho": w_rho,
                        **{f"{d}_kendall_tau": transfer[d] for d in TRANSFER},
                        "seconds": float(np.nanmedian(sec)) if sec is not None and sec.notna().any() else math.nan})
    return "\n".join(lines), pd.DataFrame(records)


def calibration(table: NB201Table, indices: np.ndarray) -> str:
    """Sample vs full space for one metric known everywhere: the table's #params column (dead edges counted)."""
    acc = table.accuracy(slice(None))
    params = table.model_size(slice(None), "cifar10", "params_mb")
    classes = np.unique(table.iso_class[~table.degenerate])
    lines = ["Calibration, #params from the table (per architecture, dead edges counted), CIFAR-10:", "",
             "| set | n | Kendall tau | Spearman rho |", "|---|---:|---:|---:|"]
    for label, rows in (("all architectures (the published figures' set)", np.arange(len(acc))),
                        ("all non-degenerate classes", classes), ("this sample", indices)):
        tau = kendalltau(params[rows], acc[rows]).statistic
        rho = spearmanr(params[rows], acc[rows]).statistic
        lines.append(f"| {label} | {len(rows)} | {tau:.3f} | {rho:.3f} |")
    return "\n".join(lines)


def validate_zerocost(
    command: str, n: int = 300, seed: int = 0, init_seed: int = 0, table_path: str = "resources/tables/nb201.h5",
    sources: str = "resources/sources", batch_dir: str = "resources/proxy", out_dir: str = "results/zerocost_validation",
    time_members: int = 20, retime: int = 0, boot: int = 1000,
) -> int:
    """Score the sample (resuming OUT/scores.csv), then write OUT/table.md (headed by `command`) and correlations.csv.

    `time_members`: also time each AZ-NAS member alone (as the registered proxies run) on this many archs;
    `retime`: time every metric alone, one fresh network each, on the first K archs of the sample, into
    OUT/timing.csv, from which the seconds column then comes."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    table = NB201Table.open(table_path)
    indices = stratified_sample(table, n, seed)
    batch = load_or_build_batch(get_preset("quick"), Path(sources), Path(batch_dir))
    images, labels = batch.images, batch.labels
    path = out / "scores.csv"
    done = pd.read_csv(path) if path.is_file() else pd.DataFrame()
    if len(done) and not set(done["index"]).issubset(set(indices.tolist())):
        print(f"{path} holds architectures outside this sample; use another --out", file=sys.stderr)
        return 2
    seen = set(done["index"].tolist()) if len(done) else set()
    rows = done.to_dict("records") if len(done) else []
    start = time.perf_counter()
    with pinned_threads():
        for position, index in enumerate(indices):
            if int(index) in seen:
                continue
            ops = nb201.representative(table.ops[index])
            row = {"index": int(index), "arch": table.arch_strings[index],
                   "representative": nb201.ops_to_arch(ops)}
            for dataset in ("cifar10", *TRANSFER):
                row[f"acc_{dataset}"] = float(table.accuracy(int(index), dataset))
            row.update(score_one(ops, images, labels, init_seed, position < time_members))
            rows.append(row)
            pd.DataFrame(rows).to_csv(path, index=False)
            print(f"[{len(rows)}/{len(indices)}] {row['arch']} az={row['seconds_az_nas']:.2f}s "
                  f"elapsed {time.perf_counter() - start:.0f}s", flush=True)
    frame = pd.DataFrame(rows).set_index("index").loc[indices].reset_index()
    timing_note = f"the {len(frame)} scoring runs (AZ-NAS members alone: the first {time_members})"
    if retime:
        with pinned_threads():
            timing = pd.DataFrame([
                {"index": int(i), **time_alone(nb201.representative(table.ops[i]), images, labels, init_seed)}
                for i in indices[: retime]
            ])  # fmt: skip
        timing.to_csv(out / "timing.csv", index=False)
    if (out / "timing.csv").is_file():
        timing = pd.read_csv(out / "timing.csv")
        timing_note = f"{len(timing)} architectures, each metric alone on its own network ({out / 'timing.csv'})"
        frame = frame.drop(columns=[c for c in frame.columns if c.startswith("seconds_")])
        frame = frame.merge(timing, on="index", how="left")
    degenerate_ops = np.zeros(nb201.NUM_EDGES, dtype=np.uint8)  # the all-'none' cell stands for every degenerate one
    with pinned_threads():
        degenerate = score_one(degenerate_ops, images, labels, init_seed, False)
    weighted = architecture_weighted(table, frame, degenerate)
    text, numbers = summarise(frame, weighted, boot)
    command = f"    {command}"
    header = (
        f"NB201 / CIFAR-10, stratified sample of {len(frame)} non-degenerate classes (seed {seed}), "
        f"networks C=16 N=5 after torch.manual_seed({init_seed}), quick-preset proxy batch "
        f"({images.shape[0]} images, {batch.checksum[:12]}), platform {platform('cpu')}, one thread.\n"
        f"Intervals: 95 % percentile bootstrap over the sample. Seconds: median over {timing_note}, "
        "on a shared, loaded CPU. Transfer columns: Kendall tau against the "
        "200-epoch CIFAR-100 / ImageNet16-120 test accuracy of the same classes.\n"
    )
    text += "\n\n" + calibration(table, indices)
    (out / "table.md").write_text(f"{command}\n\n{header}\n{text}\n")
    numbers.to_csv(out / "correlations.csv", index=False)
    print(f"\n{command}\n\n{header}\n{text}")
    return 0


__all__ = ["LABELS", "PUBLISHED", "architecture_weighted", "calibration", "summarise", "validate_zerocost"]
