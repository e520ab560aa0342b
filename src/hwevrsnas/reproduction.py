"""Does a score table reproduce here? Recompute a random sample of its classes on this machine and compare.

The sample is scored by `hwevrsnas scores build --archs` in a fresh process, with this machine's default
kernels or with a lower vector ISA forced (proxy.determinism.kernel_environment): the second case makes
one machine differ from itself only in its kernels' rounding and summation order, as two machines do.
With the lower kernels the proxy batch is rebuilt under them too (a temporary batch folder), so nothing
computed with the default kernels enters the comparison.

A float64 preset's scores agree to their last few bits whatever the kernels, so its tolerance is 1e-9; a float32
preset promises equality only on the platform that computed it (its identity names the platform), so its
tolerance is 0 and a table of another processor is reported as such.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from hwevrsnas.errors import InputError
from hwevrsnas.paths import BATCH_DIR, SOURCES_DIR, TABLES_DIR
from hwevrsnas.proxy.evaluator import differing_keys
from hwevrsnas.proxy.presets import PRESETS, Preset
from hwevrsnas.scores import ScoreTable

FLOAT64_TOLERANCE = 1e-9


def tolerance(preset: Preset) -> float:
    """The largest difference a reproduction of the preset's scores may show."""
    return FLOAT64_TOLERANCE if preset.float64 else 0.0


def preset_of(identity: dict[str, Any]) -> Preset:
    """The named preset, at the column's proxy seed, whose knobs made a representation-similarity column (by its
    digest)."""
    digest = identity.get("preset")
    for named in PRESETS.values():
        preset = replace(named, seed=int(identity.get("seed", named.seed)))
        if preset.digest == digest:
            return preset
    raise InputError(f"the table's proxy was computed with preset digest {digest!r}, which no named preset has "
                     f"(valid: {', '.join(f'{p.name}={p.digest}' for p in PRESETS.values())})")  # fmt: skip


@dataclass
class Reproduction:
    """What recomputing a sample of one proxy column gave."""

    table: str
    proxy: str
    preset: str
    dtype: str
    kernels: str
    sample: int
    seed: int
    tolerance: float
    largest_difference: float
    median_difference: float
    kendall_tau: float
    # |difference| / |stored score|: what compares proxies of different scales (zero-cost raw values).
    largest_relative_difference: float = float("nan")
    median_relative_difference: float = float("nan")
    identity_differs: list[str] = field(default_factory=list)
    differing_rows: list[dict[str, Any]] = field(default_factory=list)
    provenance: dict[str, Any] = field(default_factory=dict)

    @property
    def passed(self) -> bool:
        """Whether the recomputed identity and every recomputed score agree with the table."""
        return not self.identity_differs and not self.differing_rows

    def to_json(self) -> dict[str, Any]:
        return {**asdict(self), "passed": self.passed}


def sample_rows(table: ScoreTable, n: int, seed: int) -> np.ndarray:
    """`n` distinct rows of the table drawn with `seed`, in row order."""
    if n < 1:
        raise InputError(f"--sample must be at least 1, got {n}")
    rng = np.random.default_rng(seed)
    return np.sort(rng.choice(table.rows, size=min(n, table.rows), replace=False))


def score_archs(
    space: str, archs: list[str], proxies: list[str], preset: Preset, kernels: str, out: Path, workers: int = 1,
    sources: str = SOURCES_DIR, tables: str = TABLES_DIR, batch_dir: str = BATCH_DIR,
) -> ScoreTable:  # fmt: skip
    """`archs` scored by `proxies` in a fresh process with the given kernel set, as a table at `out` (no score cache)."""
    from hwevrsnas.proxy.determinism import kernel_environment

    _, variables = kernel_environment(kernels)
    flag = [option for proxy in proxies for option in ("--proxy", proxy)]
    arch_file = out.with_suffix(".archs.txt")
    arch_file.write_text("".join(arch + "\n" for arch in archs))
    command = [
        sys.executable, "-m", "hwevrsnas.cli", "scores", "build", "--space", space, "--preset", preset.name,
        "--proxy-seed", str(preset.seed), *flag, "--archs", str(arch_file), "--cache", "", "--workers", str(workers),
        "--no-progress", "--sources", sources, "--tables", tables,
        "--batch-dir", str(out.with_suffix(".batch")) if variables else batch_dir, "--out", str(out),
    ]  # fmt: skip
    done = subprocess.run(command, env={**os.environ, **variables}, capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(f"scoring the sample failed (exit {done.returncode}):\n{done.stderr.strip()}")
    return ScoreTable.open(out)


def recompute(
    table: ScoreTable, proxy: str, preset: Preset, rows: np.ndarray, kernels: str, workers: int = 1, **locations: str
) -> ScoreTable:
    """The table's classes at `rows`, scored anew by `proxy` in a fresh process with the given kernel set."""
    archs = [table.space.arch_str(table.representatives[row]) for row in rows]
    with tempfile.TemporaryDirectory(prefix="hwevrsnas-verify-") as tmp:
        return score_archs(table.space.name, archs, [proxy], preset, kernels, Path(tmp) / "recomputed.h5", workers,
                           **locations)  # fmt: skip


def verify(
    path: Path | str, sample: int = 16, seed: int = 0, kernels: str = "default", proxy: str | None = None,
    workers: int = 1, limit: float | None = None, **locations: str,
) -> Reproduction:  # fmt: skip
    """Recompute `sample` random classes of one proxy of a table and compare them with the stored scores."""
    from scipy.stats import kendalltau

    table = ScoreTable.open(path)
    rsnas = [name for name, columns in table.proxies.items() if columns.identity.get("kind") == "rsnas"]
    if proxy is None:
        if not rsnas:
            raise InputError(f"{path}: no representation-similarity proxy in this table; name one with --proxy "
                             f"({', '.join(table.proxies)})")  # fmt: skip
        proxy = rsnas[0]
    if proxy not in table.proxies:
        raise InputError(f"{path}: no proxy {proxy!r} in this table; it holds {', '.join(table.proxies)}")
    if not rsnas:
        raise InputError(f"{path}: the preset of {proxy!r} is named by the table's rsnas column, and it has none")
    preset = preset_of(table.proxies[rsnas[0]].identity)
    rows = sample_rows(table, sample, seed)
    fresh = recompute(table, proxy, preset, rows, kernels, workers, **locations)
    stored, again = table.proxies[proxy], fresh.proxies[proxy]
    order = [fresh.row_of(table.space.canonical_key(table.representatives[row])) for row in rows]
    recomputed = again.score[order]
    difference = np.abs(stored.score[rows] - recomputed)
    with np.errstate(divide="ignore", invalid="ignore"):
        relative = np.where(difference == 0, 0.0, difference / np.abs(stored.score[rows]))
    allowed = tolerance(preset) if limit is None else limit
    differing = [
        {"arch": table.space.arch_str(table.representatives[row]), "stored": float(stored.score[row]),
         "recomputed": float(value), "difference": float(diff)}
        for row, value, diff in zip(rows, recomputed, difference) if not diff <= allowed
    ]  # fmt: skip
    tau = float(kendalltau(stored.score[rows], recomputed).statistic) if len(rows) > 1 else float("nan")
    identity_differs = differing_keys(stored.identity, again.identity)
    return Reproduction(
        str(path), proxy, preset.name, preset.dtype, kernels, len(rows), seed, allowed, float(difference.max()),
        float(np.median(difference)), tau, float(relative.max()), float(np.median(relative)), identity_differs, differing,
        again.provenance,
    )  # fmt: skip


def kernel_comparison(
    preset_name: str, proxies: list[str], n: int = 16, seed: int = 0, proxy_seed: int = 0, space: str = "nb201",
    workers: int = 1, **locations: str,
) -> list[Reproduction]:  # fmt: skip
    """`n` random classes of the space scored by each proxy with this machine's default kernels, then recomputed,
    one proxy at a time, with the lower ones.

    Two machines differ in the same way (their kernels' rounding and summation order), so this measures on one
    machine what a score of the preset may move between two.
    """
    from hwevrsnas.proxy.presets import get_preset
    from hwevrsnas.spaces import get_space

    if n < 2:
        raise InputError(f"a kernel comparison needs at least 2 classes (a rank correlation), got {n}")
    the_space = get_space(space)
    classes = the_space.classes()
    rows = np.sort(np.random.default_rng(seed).choice(len(classes), size=min(n, len(classes)), replace=False))
    archs = [the_space.arch_str(classes[row]) for row in rows]
    preset = get_preset(preset_name, seed=proxy_seed)
    results = []
    with tempfile.TemporaryDirectory(prefix="hwevrsnas-kernels-") as tmp:
        here = Path(tmp) / "default.h5"
        # verify reads the preset off the rsnas column, so the table always has one.
        table = score_archs(space, archs, list(dict.fromkeys(["rsnas", *proxies])), preset, "default", here, workers,
                            **locations)  # fmt: skip
        for proxy in proxies:
            result = verify(here, len(archs), 0, "lower", proxy, workers, 0.0, **locations)
            result.table = f"{len(archs)} classes of {space}, default_rng({seed})"
            result.seed = seed
            result.provenance = {**result.provenance, "machine": table.proxies[proxy].provenance.get("platform")}
            results.append(result)
    return results


def reproduction_markdown(results: list[Reproduction], platform: bool = True) -> str:
    """One row per comparison: what was recomputed, with which kernels, and how far the scores moved (and where:
    leave the platform out of a page that must read the same on any machine)."""
    lines = [
        "| scores | proxy | preset | dtype | kernels | classes | largest difference | median | largest relative "
        "| Kendall tau | moved > 0.1 % | identity differs in |" + (" machine (its default kernels) |" if platform else ""),
        "|---|---|---|---|---|---:|---:|---:|---:|---:|---:|---|" + ("---|" if platform else ""),
    ]
    for result in results:
        moved = sum(row["difference"] > 1e-3 * abs(row["stored"]) for row in result.differing_rows)
        lines.append(
            f"| {result.table} | {result.proxy} | `{result.preset}` | {result.dtype} | {result.kernels} | {result.sample} | "
            f"{result.largest_difference:.3g} | {result.median_difference:.3g} | {result.largest_relative_difference:.2g} | "
            f"{result.kendall_tau:.3f} | {moved} | "
            f"{', '.join(result.identity_differs) or 'none'} |"
            + (f" `{result.provenance.get('machine', '?')}` |" if platform else "")
        )
    return "\n".join(lines) + "\n"


def read_json(path: Path | str) -> Reproduction:
    """A reproduction written by write_json."""
    record = json.loads(Path(path).read_text())
    record.pop("passed", None)
    return Reproduction(**record)


def report_lines(result: Reproduction) -> list[str]:
    """A short human-readable account of a reproduction."""
    lines = [
        f"{result.table}: {result.proxy} ({result.preset}, {result.dtype}), {result.sample} classes recomputed with the "
        f"{result.kernels} kernels ({result.provenance.get('platform', '?')}): largest difference "
        f"{result.largest_difference:.3g}, median {result.median_difference:.3g}, Kendall tau {result.kendall_tau:.4f} "
        f"(tolerance {result.tolerance:g})",
    ]  # fmt: skip
    if result.identity_differs:
        lines.append(f"  the recomputed identity differs in: {', '.join(result.identity_differs)}")
    for row in result.differing_rows:
        lines.append(f"  {row['arch']}: stored {row['stored']!r}, recomputed {row['recomputed']!r} "
                     f"(difference {row['difference']:.3g})")  # fmt: skip
    lines.append("reproduced" if result.passed else "NOT reproduced")
    return lines


def write_json(result: Reproduction, path: Path | str) -> None:
    """The reproduction as JSON (for the evidence pages)."""
    from hwevrsnas.atomic import write_text

    write_text(path, json.dumps(result.to_json(), indent=1, sort_keys=True) + "\n")
