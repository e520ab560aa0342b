"""What a run through profiles/slurm will ask of the cluster, checked before anything is submitted.

    python -m hwevrsnas.cluster check --profile profiles/slurm [--configfile ...] [--cores 16 ...]
    snakemake -n --profile profiles/slurm --configfile config/presets/paper.yaml > plan.txt
    python -m hwevrsnas.cluster submissions plan.txt

`check` takes the snakemake options of the run and resolves them with Snakemake's own parser (the
profile, its environment variables, and command-line values that replace the profile's), then
reports, with the exit status 1 when anything is wrong:

- settings that are still the placeholder CHANGE_ME (account, partition);
- submissions whose CPUs exceed what a node of the partition has: SLURM accepts such a job and
  leaves it pending forever (Reason=PartitionConfig), and Snakemake says nothing;
- memory beyond a node's, which sbatch rejects only once the run is under way;
- a status command the cluster cannot answer: sacct without accounting, or squeue where
  MinJobAge is shorter than three status intervals (the plugin then silently uses sacct).

Without SLURM commands on the machine (a laptop preparing a run) only the placeholders are checked.
`submissions` counts the sbatch calls a dry run plans: one per group job and one per job outside
a group, local rules (the Snakefile's `localrules`) aside.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable, Mapping, Sequence

PLACEHOLDER = "CHANGE_ME"
# The slurm plugin's default seconds before its first status check (its status interval starts there).
PLUGIN_STATUS_INTERVAL = 40
# Rules that run only when a config switch is on: (section, key).
SWITCHED_RULES = {
    "fidelity_study": ("fidelity_study", "enabled"),
    "score_shard": ("scores", "enabled"),
    "scores": ("scores", "enabled"),
}
# A rule's header, and a `threads:` directive that reads the config's `threads` section.
RULE = re.compile(r"^(?:rule|checkpoint) (\w+):", re.M)
THREADS_KEY = re.compile(r"threads:\s*config\[\"threads\"\]\[\"(\w+)\"\]")
# A `localrules:` directive: names on its line and on the indented lines below it.
LOCALRULES = re.compile(r"^localrules:((?:[ \t]*\w+[ \t]*,?[ \t]*)?(?:\n[ \t]+\w+[ \t]*,?[ \t]*)*)", re.M)


@dataclass(frozen=True)
class Partition:
    name: str
    cpus_per_node: int  # the largest node's (a job fits if one node can hold it)
    mem_mb_per_node: int
    max_cpus_per_node: int | None  # the partition's own caps (None: unlimited)
    max_mem_mb_per_node: int | None

    @property
    def cpus(self) -> int:
        return min(self.cpus_per_node, self.max_cpus_per_node or self.cpus_per_node)

    @property
    def mem_mb(self) -> int:
        return min(self.mem_mb_per_node, self.max_mem_mb_per_node or self.mem_mb_per_node)


@dataclass(frozen=True)
class Request:
    """What one kind of submission asks for: a rule's job, or a group's."""

    name: str
    cpus: int
    mem_mb: int | None
    note: str = ""


def _raw(resource: Any) -> str:
    """A parsed Snakemake resource as the text the user wrote (environment variables expanded)."""
    raw = getattr(resource, "raw", resource)
    return os.path.expandvars(str(raw)).strip("'\"")


def _int(resource: Any) -> int | None:
    try:
        return int(_raw(resource))
    except ValueError:
        return None


def _mapping(resources: Any) -> dict[str, Any]:
    """Snakemake's parsed resource options (Resources objects, or None) as plain dicts."""
    return dict(resources.items()) if resources else {}


def snakemake_settings(argv: Sequence[str]) -> argparse.Namespace:
    """The options a `snakemake ARGV` run would use: profile, its templating, and command-line overrides."""
    from snakemake.cli import parse_args

    return parse_args(list(argv))[1]


def workflow_config(configfiles: Iterable[Path], repo: Path) -> dict[str, Any]:
    """The config the Snakefile sees: config/config.yaml, every --configfile over it, the schema's defaults."""
    import yaml
    from snakemake.utils import update_config, validate

    config: dict[str, Any] = {}
    for path in [repo / "config" / "config.yaml", *configfiles]:
        update_config(config, yaml.safe_load(Path(path).read_text()) or {})
    validate(config, str((repo / "config" / "schema.yaml").resolve()))
    return config


def placeholders(settings: argparse.Namespace) -> list[str]:
    settings_by_place = {"default-resources ": _mapping(settings.default_resources)}
    for rule, resources in _mapping(settings.set_resources).items():
        settings_by_place[f"set-resources {rule}:"] = _mapping(resources)
    return [
        place + name
        for place, values in settings_by_place.items()
        for name, value in values.items()
        if PLACEHOLDER in _raw(value)
    ]


def threads_keys(snakefile: Path) -> dict[str, str]:
    """rule -> the key of the config's `threads` section its `threads:` reads, from the workflow's files."""
    keys = {}
    for path in [snakefile, *sorted(snakefile.parent.glob("rules/*.smk"))]:
        text = path.read_text()
        headers = [(match.start(), match.group(1)) for match in RULE.finditer(text)]
        for match in THREADS_KEY.finditer(text):
            owners = [rule for start, rule in headers if start < match.start()]
            if owners:
                keys[owners[-1]] = match.group(1)
    return keys


def requests(settings: argparse.Namespace, config: Mapping[str, Any], keys: Mapping[str, str]) -> list[Request]:
    """CPUs and memory of each kind of submission: rules with their own threads or resources, and groups.

    A rule's threads are set-threads, else the config's `threads` entry the rule reads (`keys`), else 1,
    capped at --cores as Snakemake caps them. A group job runs its jobs side by side on at most --cores
    CPUs (the rest in series) and asks for the memory of the jobs it runs side by side.
    """
    defaults = _mapping(settings.default_resources)
    set_resources = {rule: _mapping(resources) for rule, resources in _mapping(settings.set_resources).items()}
    set_threads = {rule: _int(value) for rule, value in _mapping(settings.set_threads).items()}
    cores = settings.cores if isinstance(settings.cores, int) else None
    rules = sorted(
        rule
        for rule in set(set_resources) | set(set_threads) | set(keys)
        if rule not in SWITCHED_RULES or config[SWITCHED_RULES[rule][0]][SWITCHED_RULES[rule][1]]
    )

    def threads(rule: str) -> int:
        value = set_threads.get(rule) or config["threads"].get(keys.get(rule, ""), 1)
        return min(value, cores) if cores else value

    def mem_mb(rule: str) -> int | None:
        return _int(set_resources.get(rule, {}).get("mem_mb", defaults.get("mem_mb", "")))

    groups = settings.groups or {}
    out = [Request(rule, threads(rule), mem_mb(rule)) for rule in rules if rule not in groups]
    for group in sorted(set(groups.values())):
        members = sorted(rule for rule, name in groups.items() if name == group)
        per_job = max(threads(rule) for rule in members)
        leaves = int((settings.group_components or {}).get(group, 1))
        side_by_side = min(leaves, cores // per_job) if cores else leaves
        mems = [m for m in map(mem_mb, members) if m is not None]
        note = f"{leaves} x ({' + '.join(members)}), {side_by_side} side by side"
        out.append(Request(f"group {group}", side_by_side * per_job, side_by_side * max(mems) if mems else None, note))
    return out


def _run(command: Sequence[str]) -> str:
    return subprocess.run(list(command), capture_output=True, text=True, check=True, timeout=60).stdout


def _key_values(text: str) -> dict[str, str]:
    return dict(re.findall(r"(\w+)\s*=\s*(\S+)", text))


def _limit(value: str | None) -> int | None:
    return int(value) if value and value.isdigit() and int(value) > 0 else None


def partition(name: str | None) -> Partition:
    """The named partition, or the cluster's default one, as sinfo and scontrol describe it."""
    if not name:
        default = [p.rstrip("*") for p in _run(["sinfo", "-h", "-o", "%P"]).split() if p.endswith("*")]
        if not default:
            raise RuntimeError("no partition given and the cluster has no default partition")
        name = default[0]
    nodes = [line.split() for line in _run(["sinfo", "-h", "-N", "-p", name, "-o", "%c %m"]).splitlines()]
    nodes = [node for node in nodes if node]
    if not nodes:
        raise RuntimeError(f"sinfo knows no partition {name!r} (or it has no nodes)")
    limits = _key_values(_run(["scontrol", "show", "partition", name, "-o"]))
    return Partition(
        name,
        max(int(cpus.rstrip("+")) for cpus, _ in nodes),
        max(int(mem.rstrip("+")) for _, mem in nodes),
        _limit(limits.get("MaxCPUsPerNode")),
        _limit(limits.get("MaxMemPerNode")),
    )


def status_problem(settings: argparse.Namespace, slurm_config: Mapping[str, str]) -> str | None:
    """Why the plugin's job status queries would never see a job finish here, or None."""
    if "slurmdbd" in slurm_config.get("AccountingStorageType", ""):
        return None  # sacct answers, and the plugin falls back to it from squeue when MinJobAge is short
    command = settings.slurm_status_command or ("sacct" if shutil.which("sacct") else "squeue")
    interval = settings.slurm_init_seconds_before_status_checks
    interval = interval if isinstance(interval, int) else PLUGIN_STATUS_INTERVAL
    min_job_age = _limit(slurm_config.get("MinJobAge")) or 0
    if command == "sacct":
        return (
            "slurm-status-command is sacct, but this cluster has no accounting (AccountingStorageType="
            f"{slurm_config.get('AccountingStorageType')}): sacct fails and the run waits forever; use squeue"
        )
    if min_job_age < 3 * interval:
        return (
            f"MinJobAge is {min_job_age} s, under 3 status intervals ({3 * interval} s): finished jobs leave squeue "
            "before the plugin looks (and it switches to sacct, which fails without accounting); lower "
            f"slurm-init-seconds-before-status-checks to at most {min_job_age // 3} or ask for a longer MinJobAge"
        )
    return None


def cluster_problems(settings: argparse.Namespace, part: Partition, snakefile: Path) -> list[str]:
    """Print the run's submissions against the partition; return what cannot work."""
    problems = []
    slurm_config = _key_values(_run(["scontrol", "show", "config"]))
    print(
        f"partition {part.name}: {part.cpus} CPUs and {part.mem_mb} MB per node; accounting "
        f"{slurm_config.get('AccountingStorageType')}, MinJobAge {slurm_config.get('MinJobAge')} s",
    )
    if settings.executor == "slurm":
        print(f"status command: {settings.slurm_status_command or 'the plugin default'}")
        if problem := status_problem(settings, slurm_config):
            problems.append(problem)
    config = workflow_config(settings.configfile or [], snakefile.parent)
    for request in requests(settings, config, threads_keys(snakefile)):
        mem = f"{request.mem_mb} MB" if request.mem_mb is not None else "memory set by an expression"
        print(f"  {request.name}: {request.cpus} CPUs, {mem}" + (f" ({request.note})" if request.note else ""))
        if request.cpus > part.cpus:
            fix = "lower --cores" if request.name.startswith("group") else f"lower set-threads {request.name}"
            problems.append(
                f"{request.name} asks for {request.cpus} CPUs, but partition {part.name} offers {part.cpus} per node: "
                f"SLURM would leave it pending forever (Reason=PartitionConfig); {fix} to at most {part.cpus}"
            )
        if request.mem_mb is not None and request.mem_mb > part.mem_mb:
            problems.append(
                f"{request.name} asks for {request.mem_mb} MB, but partition {part.name} offers {part.mem_mb} MB per "
                "node: sbatch would reject it; lower its mem_mb (set-resources) or, for a group, --cores"
            )
    return problems


def check(argv: Sequence[str]) -> int:
    """Print what the run `snakemake ARGV` asks of the cluster; return the number of problems."""
    settings = snakemake_settings(argv)
    snakefile = Path(settings.snakefile or "Snakefile")
    problems = [
        f"{where} is still the placeholder {PLACEHOLDER} (profiles/slurm reads HWEVRSNAS_SLURM_ACCOUNT and "
        "HWEVRSNAS_SLURM_PARTITION from the environment)"
        for where in placeholders(settings)
    ]
    if not shutil.which("sinfo"):
        print("no SLURM commands on this machine: only the profile's placeholders were checked")
    else:
        wanted = _raw(_mapping(settings.default_resources).get("slurm_partition", ""))
        try:
            part = partition(None if wanted in ("", PLACEHOLDER) else wanted)
        except (RuntimeError, subprocess.CalledProcessError) as err:
            problems.append(f"cannot describe the partition {wanted!r}: {getattr(err, 'stderr', None) or err}")
        else:
            problems += cluster_problems(settings, part, snakefile)
    for problem in problems:
        print(f"PROBLEM: {problem}")
    print("ok" if not problems else f"{len(problems)} problem(s)")
    return len(problems)


def local_rules(snakefile: Path) -> set[str]:
    """Rule names of every `localrules:` directive in the Snakefile and the rule files next to it."""
    names: set[str] = set()
    for path in [snakefile, *sorted(snakefile.parent.glob("rules/*.smk"))]:
        for match in LOCALRULES.finditer(path.read_text()):
            names.update(re.findall(r"\w+", match.group(1)))
    return names


def submissions(plan: str, local: set[str]) -> Counter[str]:
    """sbatch calls in a dry run's printout: each group job, and each job outside a group that is not local."""
    count: Counter[str] = Counter()
    for line in plan.splitlines():
        if match := re.match(r"\[[^]]*\] Group job (\S+)", line):
            count[f"group {match.group(1)}"] += 1
        elif (match := re.match(r"(?:local)?(?:rule|checkpoint) (\w+):$", line)) and match.group(1) not in local:
            count[match.group(1)] += 1
    return count


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m hwevrsnas.cluster", description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("check", help="check a run's settings against the cluster; the rest are snakemake options")
    count = sub.add_parser("submissions", help="count the submissions of a dry run's printout")
    count.add_argument("plan", type=Path, help="the output of `snakemake -n ...` (- for stdin)")
    count.add_argument(
        "--snakefile", type=Path, default=Path("Snakefile"), help="for its localrules (default: %(default)s)"
    )
    args, rest = parser.parse_known_args(argv)
    if args.command == "check":
        return 1 if check(rest) else 0
    if rest:
        parser.error(f"unrecognized arguments: {' '.join(rest)}")
    plan = sys.stdin.read() if str(args.plan) == "-" else args.plan.read_text()
    counts = submissions(plan, local_rules(args.snakefile))
    print(f"{sum(counts.values())} submissions: " + ", ".join(f"{name} {n}" for name, n in sorted(counts.items())))
    return 0


if __name__ == "__main__":
    sys.exit(main())
