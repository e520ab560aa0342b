"""The bodies of the workflow's `script:` rules (workflow_scripts/*.py only unpack `snakemake` and call these)."""

from __future__ import annotations

import contextlib
import csv
import hashlib
import io
import json
import logging
import shlex
import sys
from pathlib import Path
from typing import Any, Iterator, Mapping, Sequence

from hwevrsnas.atomic import write_text
from hwevrsnas.errors import DamagedFile, UserError
from hwevrsnas.workflow.grid import Slice, parse_threshold_label
from hwevrsnas.workflow.layout import (
    AGGREGATE_DIR, BATCH_DIR, CACHE_DIR, CHECKS_DIR, PLOTS_DIR, SLICES_DIR, SOURCES_DIR, STUDY_DIR, TABLES_DIR,
)  # fmt: skip

log = logging.getLogger(__name__)


@contextlib.contextmanager
def script_logging(log_path: str | Path | None) -> Iterator[None]:
    """Send stdout, stderr and logging (INFO) of a `script:` step to its rule's log file, tracebacks included.

    A user error (hwevrsnas.errors.UserError: a damaged file, a missing mirror) ends the step with its one-line
    message, in the log and on Snakemake's stderr, and no traceback, as the command line reports it.
    """
    if not log_path:
        yield
        return
    Path(log_path).parent.mkdir(parents=True, exist_ok=True)
    with open(log_path, "w") as handle:
        failure = None
        with contextlib.redirect_stdout(handle), contextlib.redirect_stderr(handle):
            handler = logging.StreamHandler(handle)
            handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
            root = logging.getLogger()
            old_level = root.level
            root.addHandler(handler)
            root.setLevel(logging.INFO)
            try:
                yield
            except UserError as err:
                failure = f"error: {err}"
                log.error("%s", failure)
            except BaseException:
                log.exception("step failed")
                raise
            finally:
                root.removeHandler(handler)
                root.setLevel(old_level)
    if failure:
        sys.exit(failure)


def pins_digest() -> str:
    """sha256 of the package's pinned-source manifest (a fetch param: new pins refetch)."""
    from importlib import resources

    return hashlib.sha256(resources.files("hwevrsnas").joinpath("data/sources.tsv").read_bytes()).hexdigest()


def resolve_mirror(config_mirror: str | None) -> Path | None:
    """The mirror fetch uses: $HWEVRSNAS_MIRROR, else the config's `mirror`, else none (upstream downloads); one that
    is set but does not exist is an error naming it."""
    from hwevrsnas.tables.sources import default_mirror, existing_mirror

    return default_mirror() or existing_mirror(config_mirror, "the config key `mirror`")


def fetch_sources(dest: str | Path, stamp: str | Path, config_mirror: str | None = None) -> Path:
    """Fetch and verify every pinned source under `dest`; write the stamp listing them (TSV)."""
    from hwevrsnas.tables.sources import fetch, load_manifest

    mirror = resolve_mirror(config_mirror)
    log.info("fetching pinned sources into %s (mirror: %s)", dest, mirror or "none: upstream downloads")
    paths = fetch(Path(dest), mirror)
    manifest = load_manifest()
    out = io.StringIO()
    writer = csv.writer(out, delimiter="\t", lineterminator="\n")
    writer.writerow(["mirror_path", "kind", "sha256", "path"])
    for key in sorted(paths):
        writer.writerow([key, manifest[key].kind, manifest[key].sha256, str(paths[key])])
    write_text(stamp, out.getvalue())
    log.info("%d sources verified", len(paths))
    return Path(stamp)


def build_proxy_batch(preset_name: str, sources: str | Path, out: str | Path, seed: int) -> Path:
    """Build the proxy batch of a preset at a proxy seed from the sources into `out` (never reading an existing,
    possibly damaged, file)."""
    from hwevrsnas.proxy.batch import ProxyBatch, make_proxy_batch
    from hwevrsnas.proxy.presets import get_preset

    preset = get_preset(preset_name, seed=seed)
    batch = make_proxy_batch(preset, Path(sources))
    batch.save(Path(out))
    log.info("proxy batch of preset %s, proxy seed %d: %s (checksum %s)", preset.name, seed, out,
             ProxyBatch.load(Path(out)).checksum)  # fmt: skip
    return Path(out)


def resolve_thresholds(tables_dir: str | Path, where: Slice, out: str | Path) -> dict[str, Any]:
    """Resolve (and so check) every threshold label of a slice against its cost column; write them as JSON."""
    from hwevrsnas.search.costs import CostModel

    model = CostModel.open(where.space, tables_dir, where.dataset, where.device, where.metric, where.cost_dataset)
    rows = []
    for label in where.thresholds:
        kind, number = parse_threshold_label(label)
        threshold = model.resolve_threshold(**({"quantile": number} if kind == "quantile" else {"value": number}))
        rows.append({"label": label, **threshold.to_json(), "uses_imputed": kind == "quantile" and model.any_imputed})
    record = {"slice": where.name, **model.describe(), "min_cost": model.min_cost, "thresholds": rows}
    write_text(out, json.dumps(record, indent=1, sort_keys=True) + "\n")
    return record


SLICE_COLUMNS = (
    "threshold_label", "threshold", "method", "seed", "proxy_seed", "feasible", "cost", "test_accuracy",
    "optimum_accuracy", "regret", "unique_evaluations", "status",
)  # fmt: skip


def summarise_slice(
    check_files: Sequence[str | Path], run_files: Sequence[str | Path], out: str | Path, labels: Sequence[str] = ()
) -> Path:
    """One TSV line per (run, threshold) of a slice, from its check files (sorted by threshold, method, seed);
    `run_files` are the results they checked, in the same order; `labels` are the slice's threshold labels, in the
    order a multi-threshold run answers them.

    Every run must be the bytes its check passed: a search and its check are one job, so a result changed after it
    (by hand, by a copy) is caught here, by name, before anything is written (DamagedFile).
    """
    if len(check_files) != len(run_files):
        raise ValueError(f"{len(check_files)} check files for {len(run_files)} run files")
    checks = [json.loads(Path(path).read_text()) for path in check_files]
    undigested = [path for path, check in zip(check_files, checks) if "run_sha256" not in check]
    if undigested:
        # Checks of a version before checks recorded their run's digest. Both folders go: Snakemake does not rebuild
        # a missing check whose slice summary still exists.
        raise DamagedFile(undigested[0], f"records no digest of the run it checked, as {len(undigested)} of the "
                                         f"slice's {len(checks)} checks (written by an earlier version)",
                          f"repair: `rm -r {CHECKS_DIR} {SLICES_DIR}`, then `snakemake` reruns every leaf, its search and its check "
                          "(searches are deterministic: the same results)")  # fmt: skip
    for path, run, check in zip(check_files, run_files, checks):
        _require_checked(check, path, run)
    rows = []
    for check in checks:
        leaf = check["leaf"]
        common = {"method": leaf["method"], "seed": int(leaf["seed"]), "proxy_seed": check.get("proxy_seed"),
                  "unique_evaluations": check["unique_evaluations"]}  # fmt: skip
        # A multi-threshold run's check holds one answer per threshold of the slice, in the slice's order.
        pairs = zip(check["answers"], labels) if "answers" in check else [(check, leaf["threshold"])]
        for answer, label in pairs:
            rows.append({**answer, **common, "threshold_label": label})
    rows.sort(key=lambda r: (r["threshold"], r["method"], r["seed"], -1 if r["proxy_seed"] is None else r["proxy_seed"]))
    text = io.StringIO()
    writer = csv.writer(text, delimiter="\t", lineterminator="\n")
    writer.writerow(SLICE_COLUMNS)
    for row in rows:
        writer.writerow(["" if row[c] is None else row[c] for c in SLICE_COLUMNS])
    write_text(out, text.getvalue())
    return Path(out)


def _require_checked(check: Mapping[str, Any], check_file: str | Path, run: str | Path) -> None:
    from hwevrsnas.search.record import rerun_hint
    from hwevrsnas.search.verify import run_digest

    recorded = check["run_sha256"]
    digest = run_digest(run)
    if digest != recorded:
        raise DamagedFile(run, f"changed after its check ({check_file} passed sha256 {recorded}, it now has {digest})",
                          rerun_hint(run))  # fmt: skip


def run_aggregate(
    run_files: Sequence[str | Path], energy: Mapping[str, float] | None, study: bool = False,
    budgets: Sequence[int] = (), outputs: Sequence[str | Path] = (), workers: int = 1,
) -> list[Path]:
    """Call `analysis.report.aggregate` with the workflow's layout; RuntimeError if it did not write every one of
    the rule's `outputs` (marked update(), an output left unwritten would keep its previous, stale version)."""
    from hwevrsnas.analysis.report import aggregate

    written = aggregate(
        [Path(p) for p in run_files],
        Path(TABLES_DIR),
        Path(AGGREGATE_DIR),
        Path(PLOTS_DIR),
        energy=dict(energy) if energy else None,
        study_dir=Path(STUDY_DIR) if study else None,
        budgets=budgets,
        workers=workers,
    )
    for path in written:
        log.info("wrote %s", path)
    unwritten = sorted({str(Path(p)) for p in outputs} - {str(p) for p in written})
    if unwritten:
        raise RuntimeError(f"aggregate did not write {', '.join(unwritten)}, outputs its rule declares")
    return written


def study_argv(study: Mapping[str, Any], device: str, out: str | Path, workers: int) -> list[list[str]]:
    """The two `hwevrsnas` command lines of the fidelity study: `fidelity sample run`, then `fidelity sample summarise`."""
    run = ["fidelity", "sample", "run", "--n", str(study["n"]), "--seed", str(study["seed"]), "--out", str(out)]
    for variant in study.get("variants") or ():
        run += ["--variant", variant]
    run += ["--sources", SOURCES_DIR, "--tables", TABLES_DIR, "--batch-dir", BATCH_DIR, "--cache", CACHE_DIR]
    run += ["--device", device, "--workers", str(workers)]
    return [run, ["fidelity", "sample", "summarise", "--study", str(out), "--seed", str(study["seed"])]]


def run_fidelity_study(study: Mapping[str, Any], accelerator: str, out: str | Path, workers: int) -> None:
    """Run the fidelity study through the command line (one worker process per thread); raise if a step fails."""
    from hwevrsnas.cli import main as cli
    from hwevrsnas.proxy.determinism import resolve_accelerator

    for argv in study_argv(study, resolve_accelerator(accelerator), out, workers):
        log.info("hwevrsnas %s", shlex.join(argv))
        status = cli(["-v", *argv])
        if status:
            raise RuntimeError(f"`hwevrsnas {shlex.join(argv)}` exited with status {status}")
