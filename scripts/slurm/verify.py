"""The checks of `make test-slurm` (scripts/test_slurm.sh) on the runs it made.

    python scripts/slurm/verify.py jobs JOBCOMP_LOG WORKDIR N   # the N jobs SLURM ran in WORKDIR all COMPLETED
    python scripts/slurm/verify.py same REFERENCE WORKDIR...     # results equal to the reference run's

`same` compares every run file (results/runs/**/*.json, timing sidecars aside) byte for byte and every
result table (results/tables/*.csv) cell by cell without the columns that hold measured time, energy or
memory (they differ between any two runs); the two sets of files must also be the same.
"""

from __future__ import annotations

import csv
import re
import sys
from pathlib import Path

# Columns measured rather than computed: wall/CPU/proxy/cold seconds, benchmark seconds and RSS, and
# the energy, CO2 and published-cost ratios derived from seconds.
TIMING_COLUMN = re.compile(r"seconds|_s_total|max_rss|energy_kwh|co2_g|_over_this")


def jobs(log: Path, workdir: Path, expected: int) -> list[str]:
    """Problems with the jobcomp/filetxt records of the jobs that ran in `workdir`."""
    records = [dict(re.findall(r"(\w+)=(\S*)", line)) for line in log.read_text().splitlines() if line.strip()]
    ours = [r for r in records if Path(r.get("WorkDir", "")).resolve() == workdir.resolve()]
    problems = [
        f"job {r['JobId']} ({r.get('Name')}) ended {r.get('JobState')}"
        for r in ours
        if r.get("JobState") != "COMPLETED"
    ]
    if len(ours) != expected:
        problems.append(f"{len(ours)} jobs ran in {workdir}, the dry run planned {expected}")
    return problems


def run_files(root: Path) -> dict[str, bytes]:
    return {
        str(path.relative_to(root)): path.read_bytes()
        for path in sorted((root / "results" / "runs").rglob("*.json"))
        if not path.name.endswith(".timing.json")
    }


def table(path: Path) -> list[list[str]]:
    with path.open(newline="") as handle:
        rows = list(csv.reader(handle))
    keep = [i for i, name in enumerate(rows[0]) if not TIMING_COLUMN.search(name)]
    return [[row[i] for i in keep] for row in rows]


def same(reference: Path, other: Path) -> list[str]:
    """Problems: run files or result tables of `other` that differ from `reference`'s."""
    problems = []
    want, got = run_files(reference), run_files(other)
    if not want:
        problems.append(f"no run files in {reference}")
    if want.keys() != got.keys():
        problems.append(f"run files only in {reference}: {sorted(want.keys() - got.keys())}")
        problems.append(f"run files only in {other}: {sorted(got.keys() - want.keys())}")
    for name in sorted(want.keys() & got.keys()):
        if want[name] != got[name]:
            problems.append(f"{other / name} differs from {reference / name}")
    tables = sorted(path.name for path in (reference / "results" / "tables").glob("*.csv"))
    if tables != sorted(path.name for path in (other / "results" / "tables").glob("*.csv")):
        problems.append(f"the result tables of {other} are not those of {reference}: {tables}")
    for name in tables:
        a, b = (table(root / "results" / "tables" / name) for root in (reference, other))
        if a != b:
            cells = [
                (i, j, x, y) for i, (ra, rb) in enumerate(zip(a, b)) for j, (x, y) in enumerate(zip(ra, rb)) if x != y
            ]
            problems.append(
                f"{other}/results/tables/{name} differs (timing columns aside): {len(a)} vs {len(b)} rows, "
                f"first differing cells (row, column, reference, other) {cells[:3]}"
            )
    return problems


def main(argv: list[str]) -> int:
    if len(argv) == 4 and argv[0] == "jobs":
        problems = jobs(Path(argv[1]), Path(argv[2]), int(argv[3]))
        what = f"{argv[3]} SLURM jobs COMPLETED in {argv[2]}"
    elif len(argv) >= 3 and argv[0] == "same":
        reference = Path(argv[1])
        problems = [problem for other in argv[2:] for problem in same(reference, Path(other))]
        what = f"the run files and result tables (timing aside) of {', '.join(argv[2:])} equal {reference}'s"
    else:
        print(__doc__, file=sys.stderr)
        return 2
    for problem in problems:
        print(f"FAIL: {problem}", file=sys.stderr)
    if not problems:
        print(f"ok: {what}")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
