"""The FBNet latency tables: exact recovery from HELP, golden HW-NAS-Bench values, the file and its reader."""

from __future__ import annotations

import json
from pathlib import Path

import h5py
import numpy as np
import pytest
import torch

from hwevrsnas.spaces.fbnet import LAYOUT, OPS, sample
from hwevrsnas.tables.fbnet import (
    DEVICES,
    FBNetTable,
    TableFitError,
    build_fbnet_tables,
    fit_table,
    predict,
)

PROVENANCE = {"help_commit": "45f70eb92d0d735970a33b608d1544ad3c52f285", "builder": "test"}


def _inputs(mirror: Path) -> tuple[Path, Path, dict[str, Path]]:
    root = mirror / "HELP/data/fbnet"
    return root / "arch.pt", root / "metainfo.pt", {d: root / "latency" / f"{d}.pt" for d in DEVICES}


@pytest.fixture(scope="module")
def built(mirror: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("fbnet") / "fbnet.h5"
    build_fbnet_tables(*_inputs(mirror), out, PROVENANCE)
    return out


def test_golden_hw_nas_bench_values(built: Path, mirror: Path) -> None:
    examples = json.loads((mirror / "HW-NAS-Bench/hw_nas_bench_example_outputs.json").read_text())
    rows = examples["fbnet"]["cifar100"]
    assert len(rows) == 3
    table = FBNetTable.open(built)
    ops = np.array([row["op_idx_list"] for row in rows])
    for device in DEVICES:
        expected = np.array([row[f"{device}_latency"] for row in rows])
        np.testing.assert_allclose(table.latency(device, ops), expected, rtol=0, atol=1e-9)
    all_k3_e1 = {"raspi4": 17.6186, "pixel3": 7.7890, "eyeriss": 3.9409, "fpga": 10.7395}
    for device, value in all_k3_e1.items():
        assert table.latency(device, np.zeros(22, dtype=np.uint8)) == pytest.approx(value, abs=5e-5)


def test_file_contents(built: Path) -> None:
    with h5py.File(built, "r") as handle:
        assert handle.attrs["space"] == "fbnet" and handle.attrs["dataset"] == "cifar100"
        assert handle.attrs["schema_version"] == 1
        assert all(handle.attrs[key] == value for key, value in PROVENANCE.items())
        assert [name.decode() for name in handle["ops"][()]] == list(OPS)
        assert np.array_equal(handle["layout"][()], LAYOUT)
        assert sorted(handle["latency"]) == sorted(DEVICES)
        for device in DEVICES:
            group = handle["latency"][device]
            assert group["table"].shape == (22, 9) and group["table"].dtype == np.float64
            assert group["table"].attrs["unit"] == "ms"
            assert not np.isnan(group["table"][()]).any()
            assert (group["table"][:, 0] == 0).all()  # the gauge
            assert group.attrs["max_holdout_error_ms"] < 1e-9
            assert group.attrs["max_fit_error_ms"] < 1e-9
            assert (group.attrs["n_fit"], group.attrs["n_holdout"]) == (4000, 1000)
            assert group.attrs["source"] == f"{device}.pt"
            kind = "measured" if device in ("raspi4", "pixel3") else "simulated"
            assert group.attrs["measured_or_simulated"] == kind


def test_reader_reproduces_help_latencies(built: Path, mirror: Path) -> None:
    arch_pt, _, latency_pts = _inputs(mirror)
    archs = np.array(torch.load(arch_pt, weights_only=True))
    table = FBNetTable.open(built)
    assert set(table.devices) == set(DEVICES)
    for device in DEVICES:
        listed = np.array(torch.load(latency_pts[device], weights_only=True))
        predicted = table.latency(device, archs)
        assert predicted.shape == (5000,)
        assert np.abs(predicted - listed).max() < 1e-9
        assert table.latency(device, archs[7]).shape == ()


def test_unknown_device_lists_valid_ones(built: Path) -> None:
    with pytest.raises(KeyError, match="'edgegpu'.*valid devices: eyeriss, fpga, pixel3, raspi4"):
        FBNetTable.open(built).latency("edgegpu", np.zeros(22, dtype=np.uint8))


def test_double_build_is_byte_identical(built: Path, mirror: Path, tmp_path: Path) -> None:
    again = tmp_path / "again.h5"
    build_fbnet_tables(*_inputs(mirror), again, PROVENANCE)
    assert again.read_bytes() == built.read_bytes()
    assert [p.name for p in tmp_path.iterdir()] == ["again.h5"]  # no temporary left behind


@pytest.mark.parametrize("row", [123, 4567], ids=["fit_row", "holdout_row"])
def test_corrupted_latency_fails(mirror: Path, tmp_path: Path, row: int) -> None:
    arch_pt, metainfo_pt, latency_pts = _inputs(mirror)
    latency = torch.load(latency_pts["raspi4"], weights_only=True)
    latency[row] += 1.0
    corrupted = tmp_path / "raspi4.pt"
    torch.save(latency, corrupted)
    out = tmp_path / "out.h5"
    with pytest.raises(TableFitError, match="raspi4: .* more than 1e-09 ms"):
        build_fbnet_tables(arch_pt, metainfo_pt, {"raspi4": corrupted}, out, {})
    assert not out.exists()


def test_build_rejects_non_additive_device(mirror: Path, tmp_path: Path) -> None:
    arch_pt, metainfo_pt, latency_pts = _inputs(mirror)
    with pytest.raises(ValueError, match="no additive FBNet table exists for \\['pixel2'\\]"):
        build_fbnet_tables(arch_pt, metainfo_pt, {"pixel2": latency_pts["raspi4"]}, tmp_path / "x.h5", {})


def test_fit_recovers_a_synthetic_table_and_marks_unseen_pairs() -> None:
    rng = np.random.default_rng(5)
    truth = rng.uniform(0.1, 2.0, size=(22, 9))
    archs = sample(rng, 3000)
    archs[archs[:, 5] == 3, 5] = 4  # op 3 never reaches block 5
    latency = truth[np.arange(22), archs].sum(axis=1) + 1.5
    table, constant = fit_table(archs, latency)
    assert np.isnan(table[5, 3]) and np.isnan(table).sum() == 1
    gauged = truth - truth[:, :1]
    gauged[5, 3] = np.nan
    np.testing.assert_allclose(table, gauged, atol=1e-12)
    assert constant == pytest.approx(1.5 + truth[:, 0].sum(), abs=1e-12)
    np.testing.assert_allclose(predict(table, constant, archs[:10]), latency[:10], atol=1e-12)
