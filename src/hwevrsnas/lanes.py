"""Building a whole score table on one machine in parallel lanes, under a deadline, over as many runs as it takes.

Made for a GPU lent for a few minutes at a time: the classes are cut into jobs of whole stacks (blocks of
`stack` consecutive classes, the stacks the GPU engine always trains together), the jobs run in a fixed
shuffled order so that whatever finishes before the deadline is a spread sample of the space, and lane
processes (each one `hwevrsnas scores build --archs <job>` after another, in-process, so torch and CUDA
start once per lane) share the device. At the end `build` writes to its output folder:

- `nb201-<preset>-seed<J>.h5`, the merged table of proxy seed J, when every job finished; else `jobs.tar` with the finished job
  tables (each a valid table of its classes), which a later run continues with `resume`, so that short
  leases of a GPU add up to one table;
- `probe.json`: one stack scored twice with the same stack size (equal bits: reproducible) and its
  classes in stacks half that size (the effect of the companions);
- `build.log`: the device, every job's seconds and the overall rate.
"""

from __future__ import annotations

import json
import multiprocessing
import shutil
import tarfile
import tempfile
import time
import traceback
from pathlib import Path
from queue import Empty
from typing import Callable, Sequence

import numpy as np

from hwevrsnas.paths import BATCH_DIR, SOURCES_DIR, TABLES_DIR

# Fixed, so that every run of a build (and every resumed one) cuts and orders the jobs alike.
JOB_SEED = 0


def jobs_of(n_classes: int, stack: int, per_job: int) -> list[range]:
    """Rows of the class list per job, whole stacks each, in a fixed shuffled order."""
    size = stack * per_job
    jobs = [range(start, min(n_classes, start + size)) for start in range(0, n_classes, size)]
    order = np.random.default_rng(JOB_SEED).permutation(len(jobs))
    return [jobs[i] for i in order]


def _lane(queue: "multiprocessing.Queue[tuple | None]", done: "multiprocessing.Queue[tuple]") -> None:
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
    """The device as the build log names it: the GPU's model and memory, or the CPU platform."""
    import torch

    if device.startswith("cuda"):
        props = torch.cuda.get_device_properties(0)
        return f"{props.name}, {props.total_memory / 2**30:.0f} GiB, torch {torch.__version__}, CUDA {torch.version.cuda}"
    from hwevrsnas.proxy.determinism import platform

    return platform(device)


def build(
    out: Path | str, *, preset: str, device: str, stack: int, stacks_per_job: int, lanes: int, deadline: float,
    proxy_seed: int = 0, limit: int | None = None, tables: str = TABLES_DIR, batch_dir: str = BATCH_DIR, sources: str = SOURCES_DIR,
    resume: Sequence[Path | str] = (),
) -> None:  # fmt: skip
    """Score the jobs not kept from `resume` (the probe too on a first run) until the deadline; write to `out`."""
    from hwevrsnas.errors import InputError
    from hwevrsnas.scores import ScoreTable
    from hwevrsnas.spaces import get_space

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    with (out / "build.log").open("a") as log:

        def say(text: str) -> None:
            print(text, flush=True)
            log.write(text + "\n")
            log.flush()

        space = get_space("nb201")
        classes = space.classes()
        work = Path(tempfile.mkdtemp(prefix="score-jobs-"))
        tasks: list[tuple[str, list[str]]] = []

        def task(name: str, rows: range, task_stack: int) -> None:
            archs = work / f"{name}.txt"
            archs.write_text("\n".join(space.arch_str(classes[r]) for r in rows) + "\n")
            tasks.append((name, [
                "scores", "build", "--preset", preset, "--proxy-seed", str(proxy_seed), "--device", device, "--engine", "stacked",
                "--batch-size", str(task_stack), "--archs", str(archs), "--cache", "", "--no-progress",
                "--tables", str(tables), "--batch-dir", str(batch_dir), "--sources", str(sources),
                "--out", str(work / f"{name}.h5"),
            ]))  # fmt: skip

        kept = set()
        for path in resume:
            with tarfile.open(path) as tar:
                members = [m for m in tar.getmembers() if m.name.startswith("job-") and m.name.endswith(".h5")]
                tar.extractall(work, members=members, filter="data")
            for member in members:
                seeds = {c.identity.get("seed") for c in ScoreTable.open(work / member.name).proxies.values()}
                if seeds != {proxy_seed}:
                    raise InputError(f"--resume {path}: {member.name} holds proxy seed(s) {sorted(map(str, seeds))}, "
                                     f"not {proxy_seed}; resume a build with its own jobs.tar (--proxy-seed as then)")  # fmt: skip
            kept |= {Path(m.name).stem for m in members}
        if not resume:  # a resumed build already has its probe
            probe_rows = range(stack, 2 * stack)
            task("probe-a", probe_rows, stack)
            task("probe-b", probe_rows, stack)
            task("probe-half", probe_rows, stack // 2)
        jobs = jobs_of(len(classes), stack, stacks_per_job)[:limit]
        for index, rows in enumerate(jobs):
            if f"job-{index:04d}" not in kept:
                task(f"job-{index:04d}", rows, stack)

        say(f"device: {device_description(device)}; preset {preset}, proxy seed {proxy_seed}, stack {stack}, lanes {lanes}")
        say(f"{len(jobs)} jobs covering {sum(len(r) for r in jobs)} of {len(classes)} classes, {len(kept)} kept from "
            f"earlier runs, deadline {deadline:.0f} s")  # fmt: skip
        # Spawned, not forked: a forked child cannot use the CUDA a parent has started.
        context = multiprocessing.get_context("spawn")
        queue, done = context.Queue(), context.Queue()
        for item in tasks:
            queue.put(item)
        for _ in range(lanes):
            queue.put(None)
        processes = [context.Process(target=_lane, args=(queue, done), daemon=True) for _ in range(lanes)]
        start = time.perf_counter()
        for process in processes:
            process.start()
        finished: dict[str, float] = {}
        failed: set[str] = set()
        classes_done = 0
        rows_of = {f"job-{i:04d}": len(r) for i, r in enumerate(jobs)}
        while len(finished) + len(failed) < len(tasks):
            remaining = deadline - (time.perf_counter() - start)
            if remaining <= 0:
                break
            try:
                name, status, seconds = done.get(timeout=min(remaining, 5.0))
            except Empty:
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
            say(f"{name}: {seconds:.1f} s; {classes_done} classes in {elapsed:.0f} s "
                f"({elapsed / max(classes_done, 1):.3f} s/class)")  # fmt: skip
        for process in processes:
            process.terminate()
        elapsed = time.perf_counter() - start
        ok = sorted(kept | {name for name in finished if name.startswith("job-")})
        say(f"finished {len(ok) - len(kept)} jobs ({classes_done} classes) in {elapsed:.0f} s; "
            f"{len(ok)} of {len(jobs)} jobs done")  # fmt: skip
        if not resume:
            probe(work, out, say)
        if len(ok) == len(jobs) and limit is None:
            from hwevrsnas.cli import main as cli

            cli(["scores", "merge", *(str(work / f"{name}.h5") for name in ok), "--out", str(out / f"nb201-{preset}-seed{proxy_seed}.h5")])
        else:
            with tarfile.open(out / "jobs.tar", "w") as tar:
                for name in ok:
                    tar.add(work / f"{name}.h5", arcname=f"{name}.h5")
        shutil.rmtree(work, ignore_errors=True)


def probe(work: Path, out: Path, say: Callable[[str], None]) -> None:
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
