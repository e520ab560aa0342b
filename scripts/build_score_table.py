"""Build a whole-space rsnas score table on one machine in parallel lanes, under a deadline.

Made for a GPU lent for a few minutes: the classes are cut into jobs of whole stacks (blocks of
`--stack` consecutive classes, the stacks the GPU engine always trains together), the jobs run in a
fixed shuffled order so that whatever finishes before the deadline is a spread sample of the space,
and `--lanes` processes (each one `hwevrsnas scores build --archs <job>` after another, in-process,
so torch and CUDA start once per lane) share the device. At the end it writes to --out:

- `nb201-<preset>.h5`, the merged table, when every job finished; else `jobs.tar` with the finished
  job tables (each a valid table of its classes), which a later run continues with `--resume jobs.tar`
  (a GPU lent for a few minutes at a time builds the table over several leases);
- `probe.json`: one stack scored twice with the same stack size (equal bits: reproducible) and its
  classes in stacks half that size (the effect of the companions);
- `build.log`: the device, every job's seconds and the overall rate.

    python scripts/build_score_table.py --preset paper --device cuda --stack 32 --lanes 8 \\
        --deadline 520 --out OUT
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import shutil
import sys
import tarfile
import tempfile
import time
import traceback
from pathlib import Path

import numpy as np

JOB_SEED = 0


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--preset", default="paper")
    parser.add_argument("--device", default="cuda")
    parser.add_argument("--stack", type=int, default=32, help="classes per stacked training step")
    parser.add_argument("--stacks-per-job", type=int, default=2)
    parser.add_argument("--lanes", type=int, default=8, help="processes sharing the device")
    parser.add_argument("--deadline", type=float, default=520.0, help="seconds after which unfinished jobs are dropped")
    parser.add_argument("--limit", type=int, default=None, help="only the first N jobs of the shuffled order (tests)")
    parser.add_argument("--tables", default="resources/tables")
    parser.add_argument("--batch-dir", default="resources/proxy")
    parser.add_argument("--sources", default="resources/sources", help="to build the proxy batch when --batch-dir lacks it")
    parser.add_argument("--resume", nargs="*", default=[], metavar="TAR",
                        help="jobs.tar of earlier runs with the same preset, stack and jobs: their jobs are kept, not run")
    parser.add_argument("--out", required=True)
    return parser.parse_args(argv)


def jobs_of(n_classes: int, stack: int, per_job: int) -> list[range]:
    """Rows of the class list per job, whole stacks each, in a fixed shuffled order."""
    size = stack * per_job
    jobs = [range(start, min(n_classes, start + size)) for start in range(0, n_classes, size)]
    order = np.random.default_rng(JOB_SEED).permutation(len(jobs))
    return [jobs[i] for i in order]


def build_argv(args: argparse.Namespace, archs: Path, out: Path, stack: int) -> list[str]:
    return [
        "scores", "build", "--preset", args.preset, "--device", args.device, "--engine", "stacked",
        "--batch-size", str(stack), "--archs", str(archs), "--cache", "", "--no-progress",
        "--tables", args.tables, "--batch-dir", args.batch_dir, "--sources", args.sources, "--out", str(out),
    ]  # fmt: skip


def lane(queue: "multiprocessing.Queue[tuple | None]", done: "multiprocessing.Queue[tuple]") -> None:
    from hwevrsnas.cli import main

    while (task := queue.get()) is not None:
        name, argv = task
        start = time.perf_counter()
        try:
            status = main(argv)
        except Exception:  # a lane reports a failed job and goes on with the next one
            status = traceback.format_exc()
        done.put((name, status, time.perf_counter() - start))


def device_description(device: str) -> str:
    import torch

    if device.startswith("cuda"):
        props = torch.cuda.get_device_properties(0)
        return f"{props.name}, {props.total_memory / 2**30:.0f} GiB, torch {torch.__version__}, CUDA {torch.version.cuda}"
    from hwevrsnas.proxy.determinism import platform

    return platform(device)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    from hwevrsnas.spaces import get_space

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    log = (out / "build.log").open("a")

    def say(text: str) -> None:
        print(text, flush=True)
        log.write(text + "\n")
        log.flush()

    space = get_space("nb201")
    classes = space.classes()
    work = Path(tempfile.mkdtemp(prefix="score-jobs-"))
    tasks: list[tuple[str, list[str]]] = []

    def task(name: str, rows: range, stack: int) -> None:
        archs = work / f"{name}.txt"
        archs.write_text("\n".join(space.arch_str(classes[r]) for r in rows) + "\n")
        tasks.append((name, build_argv(args, archs, work / f"{name}.h5", stack)))

    kept = set()
    for path in args.resume:
        with tarfile.open(path) as tar:
            members = [m for m in tar.getmembers() if m.name.startswith("job-") and m.name.endswith(".h5")]
            tar.extractall(work, members=members, filter="data")
        kept |= {Path(m.name).stem for m in members}
    if not args.resume:  # a resumed build already has its probe
        probe_rows = range(args.stack, 2 * args.stack)
        task("probe-a", probe_rows, args.stack)
        task("probe-b", probe_rows, args.stack)
        task("probe-half", probe_rows, args.stack // 2)
    jobs = jobs_of(len(classes), args.stack, args.stacks_per_job)[: args.limit]
    for index, rows in enumerate(jobs):
        if f"job-{index:04d}" not in kept:
            task(f"job-{index:04d}", rows, args.stack)

    say(f"device: {device_description(args.device)}; preset {args.preset}, stack {args.stack}, lanes {args.lanes}")
    say(f"{len(jobs)} jobs covering {sum(len(r) for r in jobs)} of {len(classes)} classes, {len(kept)} kept from "
        f"earlier runs, deadline {args.deadline:.0f} s")
    context = multiprocessing.get_context("spawn")
    queue, done = context.Queue(), context.Queue()
    for item in tasks:
        queue.put(item)
    for _ in range(args.lanes):
        queue.put(None)
    lanes = [context.Process(target=lane, args=(queue, done), daemon=True) for _ in range(args.lanes)]
    start = time.perf_counter()
    for process in lanes:
        process.start()
    finished: dict[str, float] = {}
    failed: set[str] = set()
    classes_done = 0
    rows_of = {f"job-{i:04d}": len(r) for i, r in enumerate(jobs)}
    while len(finished) + len(failed) < len(tasks):
        remaining = args.deadline - (time.perf_counter() - start)
        if remaining <= 0:
            break
        try:
            name, status, seconds = done.get(timeout=min(remaining, 5.0))
        except Exception:  # queue.Empty: check the deadline again
            continue
        if status != 0:
            say(f"{name}: FAILED ({status})")
            failed.add(name)
            if len(failed) >= 3 and not finished:
                say("the first three jobs failed: stopping")
                break
            continue
        finished[name] = seconds
        classes_done += rows_of.get(name, 0)
        elapsed = time.perf_counter() - start
        say(f"{name}: {seconds:.1f} s; {classes_done} classes in {elapsed:.0f} s ({elapsed / max(classes_done, 1):.3f} s/class)")
    for process in lanes:
        process.terminate()
    elapsed = time.perf_counter() - start
    ok = sorted(kept | {name for name in finished if name.startswith("job-")})
    say(f"finished {len(ok) - len(kept)} jobs ({classes_done} classes) in {elapsed:.0f} s; {len(ok)} of {len(jobs)} jobs done")
    if not args.resume:
        probe(work, out, say)
    if len(ok) == len(jobs) and args.limit is None:
        from hwevrsnas.cli import main as cli

        cli(["scores", "merge", *(str(work / f"{name}.h5") for name in ok), "--out", str(out / f"nb201-{args.preset}.h5")])
    else:
        with tarfile.open(out / "jobs.tar", "w") as tar:
            for name in ok:
                tar.add(work / f"{name}.h5", arcname=f"{name}.h5")
    shutil.rmtree(work, ignore_errors=True)
    return 0


def probe(work: Path, out: Path, say) -> None:
    """Compare the probe stack's scores across repeats and stack sizes; write probe.json."""
    from hwevrsnas.scores import ScoreTable

    paths = {name: work / f"probe-{name}.h5" for name in ("a", "b", "half")}
    if not all(p.is_file() for p in paths.values()):
        say("probe: not finished")
        return
    scores = {name: next(iter(ScoreTable.open(p).proxies.values())).score for name, p in paths.items()}
    report = {
        "repeat_bitwise_equal": bool(np.array_equal(scores["a"], scores["b"])),
        "repeat_max_abs_diff": float(np.nanmax(np.abs(scores["a"] - scores["b"]))),
        "half_stack_max_abs_diff": float(np.nanmax(np.abs(scores["a"] - scores["half"]))),
        "scores": {name: values.tolist() for name, values in scores.items()},
    }
    (out / "probe.json").write_text(json.dumps(report, indent=1) + "\n")
    say(f"probe: repeat equal {report['repeat_bitwise_equal']} (max {report['repeat_max_abs_diff']:.3g}), "
        f"half-size stacks max |diff| {report['half_stack_max_abs_diff']:.3g}")  # fmt: skip


if __name__ == "__main__":
    sys.exit(main())
