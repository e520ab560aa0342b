"""A float64 score does not depend on the CPU's kernels: the same classes scored with this machine's default
kernels and, in another process, with the next lower vector ISA forced (hwevrsnas.reproduction) agree to 1e-9;
the float64 preset's identity leaves the platform out and its provenance keeps it."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from hwevrsnas.cli import main
from hwevrsnas.proxy.determinism import kernel_environment, platform
from hwevrsnas.proxy.presets import get_preset
from hwevrsnas.proxy.result import ProxyResult, of_record
from hwevrsnas.proxy.rsnas import RECORD_DECIMALS, build_candidate, portable_init
from hwevrsnas.reproduction import FLOAT64_TOLERANCE, preset_of, verify
from hwevrsnas.scores import ScoreTable
from hwevrsnas.spaces import get_space

REPO = Path(__file__).resolve().parents[1]

# Every op on some edge, conv-heavy and pool-heavy cells, and a cell whose output bypasses the input node.
ARCHS = [
    "|nor_conv_3x3~0|+|nor_conv_1x1~0|avg_pool_3x3~1|+|skip_connect~0|nor_conv_3x3~1|none~2|",
    "|avg_pool_3x3~0|+|skip_connect~0|nor_conv_1x1~1|+|none~0|avg_pool_3x3~1|nor_conv_3x3~2|",
    "|nor_conv_1x1~0|+|none~0|nor_conv_3x3~1|+|avg_pool_3x3~0|skip_connect~1|nor_conv_1x1~2|",
]


@pytest.mark.slow
def test_quick_scores_agree_to_1e9_under_a_lower_kernel_set(mirror: Path, nb201_h5: Path, tmp_path: Path) -> None:
    archs = tmp_path / "archs.txt"
    archs.write_text("\n".join(ARCHS) + "\n")
    locations = {"sources": str(mirror), "tables": str(nb201_h5.parent), "batch_dir": str(tmp_path / "proxy")}
    table = tmp_path / "quick.h5"
    assert main(["scores", "build", "--preset", "quick", "--archs", str(archs), "--cache", "", "--out", str(table),
                 "--sources", locations["sources"], "--tables", locations["tables"], "--batch-dir", locations["batch_dir"]]) == 0
    stored = ScoreTable.open(table).proxies["rsnas"]
    assert "platform" not in stored.identity and stored.provenance["platform"] == platform("cpu")
    assert all(round(value, RECORD_DECIMALS) == value for value in [*stored.score, *stored.loss])
    assert preset_of(stored.identity).name == "quick"

    lower = verify(table, sample=len(ARCHS), kernels="lower", **locations)
    assert lower.provenance["platform"] != platform("cpu"), "the lower kernel set did not take effect"
    assert not lower.identity_differs
    assert lower.largest_difference <= FLOAT64_TOLERANCE and lower.passed
    assert lower.sample == len(ARCHS) and 0.0 < lower.tolerance == FLOAT64_TOLERANCE


def test_the_lower_kernel_set_is_below_the_default_one() -> None:
    name, variables = kernel_environment("lower")
    capability = torch.backends.cpu.get_cpu_capability()
    assert variables["ATEN_CPU_CAPABILITY"] == {"AVX512": "avx2", "AVX2": "default"}[capability] and name != capability
    assert kernel_environment("default") == ("default", {})


def test_a_float64_candidate_starts_from_the_portable_draw_of_pytorchs_default_distributions() -> None:
    space, preset = get_space("nb201"), get_preset("quick")
    network = build_candidate(space, space.parse_arch(ARCHS[0]), preset)
    assert all(p.dtype == torch.float64 for p in network.parameters())
    again = build_candidate(space, space.parse_arch(ARCHS[0]), preset)
    assert all(torch.equal(a, b) for a, b in zip(network.parameters(), again.parameters()))
    for module in network.modules():
        if isinstance(module, (torch.nn.Conv2d, torch.nn.Linear)):
            bound = 1.0 / np.sqrt(module.weight[0].numel())
            assert float(module.weight.abs().max()) <= bound and float(module.weight.abs().max()) > 0.5 * bound
        if isinstance(module, torch.nn.BatchNorm2d):
            assert torch.all(module.weight == 1) and torch.all(module.bias == 0)
    # The first weights are numpy's PCG64 draw for the seed, scaled exactly: an independent recomputation.
    stem = next(m for m in network.modules() if isinstance(m, torch.nn.Conv2d))
    expected = (2.0 * np.random.default_rng(preset.seed).random(tuple(stem.weight.shape)) - 1.0) * (1.0 / np.sqrt(27.0))
    assert np.array_equal(stem.weight.detach().numpy(), expected)
    with pytest.raises(TypeError, match="GroupNorm"):
        portable_init(torch.nn.Sequential(torch.nn.GroupNorm(2, 4)), 0)


def test_float32_presets_keep_the_identity_they_had_before_the_dtype_knob() -> None:
    # The digests of the presets whose scores were published before the knob existed (docs/scores/*.csv).
    assert get_preset("paper").digest == get_preset("paper", dtype="float32").digest
    assert get_preset("quick-float32").digest == get_preset("quick", dtype="float32").digest
    assert get_preset("quick").digest != get_preset("quick-float32").digest
    assert "dtype" not in get_preset("paper").batch_fields() and get_preset("quick").batch_fields()["dtype"] == "float64"


def test_a_result_of_record_is_rounded_once_and_for_all() -> None:
    computed = ProxyResult(0.123456789012345, 1.99999999999996, [0.5000000000499, float("nan")], 1.25, raw=0.123456789012345)
    recorded = of_record(computed, 10)
    assert (recorded.score, recorded.raw, recorded.loss) == (0.123456789, 0.123456789, 2.0)
    assert recorded.cka[0] == 0.5 and np.isnan(recorded.cka[1]) and recorded.seconds == 1.25
    assert of_record(recorded, 10) == recorded and computed.score == 0.123456789012345  # idempotent, no mutation


def test_a_reproduction_fails_on_a_differing_identity_or_row_and_says_which() -> None:
    from hwevrsnas.reproduction import Reproduction, report_lines, tolerance

    assert tolerance(get_preset("quick")) == FLOAT64_TOLERANCE and tolerance(get_preset("paper")) == 0.0
    common = dict(table="t.h5", proxy="rsnas", preset="quick-float32", dtype="float32", kernels="lower", sample=2, seed=0,
                  tolerance=0.0, largest_difference=0.03, median_difference=0.015, kendall_tau=1.0)  # fmt: skip
    row = {"arch": ARCHS[0], "stored": 0.9, "recomputed": 0.93, "difference": 0.03}
    failed = Reproduction(**common, identity_differs=["batch", "platform"], differing_rows=[row])
    lines = report_lines(failed)
    assert not failed.passed and lines[-1] == "NOT reproduced" and "differs in: batch, platform" in lines[1]
    assert ARCHS[0] in lines[2] and failed.to_json()["passed"] is False
    assert Reproduction(**common).passed and report_lines(Reproduction(**common))[-1] == "reproduced"


@pytest.mark.slow
def test_a_kernel_comparison_records_each_proxy_and_its_relative_moves(mirror: Path, nb201_h5: Path, tmp_path: Path) -> None:
    from hwevrsnas.reproduction import kernel_comparison, read_json, reproduction_markdown, write_json

    locations = {"sources": str(mirror), "tables": str(nb201_h5.parent), "batch_dir": str(tmp_path / "proxy")}
    float64 = kernel_comparison("tiny", ["rsnas", "zc:synflow"], n=3, seed=5, **locations)
    assert [r.proxy for r in float64] == ["rsnas", "zc:synflow"] and all(r.sample == 3 for r in float64)
    for result in float64:
        assert result.passed and result.largest_difference == 0.0 == result.largest_relative_difference
        assert result.provenance["machine"] == platform("cpu") != result.provenance["platform"]
    [float32] = kernel_comparison("quick-float32", ["rsnas"], n=3, seed=5, **locations)
    assert float32.identity_differs == ["batch", "platform"]
    moves = [row["difference"] / abs(row["stored"]) for row in float32.differing_rows]
    assert float32.largest_relative_difference == pytest.approx(max(moves, default=0.0), rel=1e-12)
    write_json(float32, tmp_path / "record.json")
    assert read_json(tmp_path / "record.json") == float32
    page = reproduction_markdown([*float64, float32])
    assert page.count("\n") == 5 and "| zc:synflow | `tiny` | float64 | lower | 3 | 0 | 0 | 0 |" in page
    assert f"`{platform('cpu')}` |" in page and platform("cpu") not in reproduction_markdown(float64, platform=False)


@pytest.mark.slow
@pytest.mark.parametrize("table", sorted((REPO / "docs" / "scores").glob("nb201-quick-seed*.h5")), ids=lambda p: p.stem)
def test_a_published_float64_table_reproduces_here(table: Path, mirror: Path, nb201_h5: Path, tmp_path: Path) -> None:
    """Golden values that hold on any machine: a random sample of a published float64 table, recomputed here."""
    result = verify(table, sample=3, seed=11, sources=str(mirror), tables=str(nb201_h5.parent),
                    batch_dir=str(tmp_path / "proxy"))  # fmt: skip
    assert not result.identity_differs and result.sample == 3
    assert result.largest_difference <= FLOAT64_TOLERANCE and result.passed, result


# A zero-cost raw value of each architecture, printed as JSON by a fresh process (its kernels set by its environment).
RAW_VALUES = """
import json, sys
from pathlib import Path
from hwevrsnas.proxy import ProxyContext, make_proxy
from hwevrsnas.proxy.batch import load_or_build_batch
from hwevrsnas.proxy.presets import get_preset
from hwevrsnas.spaces import nb201
sources, batch_dir, proxies, archs = sys.argv[1], sys.argv[2], sys.argv[3].split(","), sys.argv[4:]
preset = get_preset("quick")
context = ProxyContext("nb201", preset, lambda: load_or_build_batch(preset, Path(sources), Path(batch_dir)))
out = {}
for name in proxies:
    evaluator = make_proxy(name, context)
    out[name] = {"identity": evaluator.identity(), "provenance": evaluator.provenance(),
                 "raw": [evaluator.raw_result(nb201.arch_to_ops(arch)).raw for arch in archs]}
print(json.dumps(out))
"""


@pytest.mark.slow
def test_float64_zero_cost_values_are_the_same_bytes_under_a_lower_kernel_set(mirror: Path, tmp_path: Path) -> None:
    """The zero-cost proxies that moved most in float32 (ZiCo, snip, AZ-NAS's trainability), in float64 under both
    kernel sets: equal recorded raw values, and one identity (no platform in it)."""
    import json
    import os
    import subprocess
    import sys

    _, lower = kernel_environment("lower")
    runs = {}
    for name, variables in (("default", {}), ("lower", lower)):
        command = [sys.executable, "-c", RAW_VALUES, str(mirror), str(tmp_path / name), "zc:zico,zc:snip,zc:az_trainability",
                   *ARCHS[:2]]  # fmt: skip
        proc = subprocess.run(command, env={**os.environ, **variables}, capture_output=True, text=True, timeout=900)
        assert proc.returncode == 0, proc.stderr[-2000:]
        runs[name] = json.loads(proc.stdout)
    for proxy, default in runs["default"].items():
        other = runs["lower"][proxy]
        assert default["identity"] == other["identity"] and default["identity"]["dtype"] == "float64", proxy
        assert default["provenance"]["platform"] != other["provenance"]["platform"], "the lower kernels did not take effect"
        assert default["raw"] == other["raw"], proxy
