"""Pinned sources: manifest agrees with the mirror, checksums are enforced, nothing partial is left."""

from __future__ import annotations

import csv
import shutil
from pathlib import Path

import pytest

from hwevrsnas.tables.sources import SourceError, fetch, load_manifest, sha256_file

NATS = "nats-bench-landscape/nats_bench.csv"
DERIVED = "HW-NAS-Bench/hw_nas_bench_example_outputs.json"


def test_manifest_matches_mirror_manifest(mirror: Path) -> None:
    ours = load_manifest()
    with open(mirror / "MANIFEST.tsv") as handle:
        theirs = {row["mirror_path"].rstrip("/"): row for row in csv.DictReader(handle, delimiter="\t")}
    assert len(ours) == 47
    for key, source in ours.items():
        assert theirs[key]["sha256"] == source.sha256, key
        assert theirs[key]["commit"] == source.commit, key
    assert ours[NATS].url == (
        "https://raw.githubusercontent.com/v-tao/nats-bench-landscape/"
        "b307ae5fe6e8d7043cd4fe7d1c3532288271adb7/nats_bench.csv"
    )
    assert ours[DERIVED].url is None  # derived from notebook outputs: mirror only


def test_fetch_copies_and_verifies(mirror: Path, tmp_path: Path) -> None:
    paths = fetch(tmp_path, mirror, [NATS])
    assert sha256_file(paths[NATS]) == load_manifest()[NATS].sha256
    assert fetch(tmp_path, None, [NATS])[NATS] == paths[NATS]  # already there and valid: no mirror needed


def _fake_mirror(mirror: Path, tmp_path: Path, rel: str) -> Path:
    fake = tmp_path / "mirror"
    (fake / rel).parent.mkdir(parents=True)
    shutil.copyfile(mirror / rel, fake / rel)
    return fake


def test_corrupted_source_names_file_and_checksums(mirror: Path, tmp_path: Path) -> None:
    fake = _fake_mirror(mirror, tmp_path, NATS)
    with open(fake / NATS, "r+b") as handle:
        handle.seek(100)
        handle.write(b"X")
    dest = tmp_path / "dest"
    with pytest.raises(SourceError) as err:
        fetch(dest, fake, [NATS])
    message = str(err.value)
    assert "nats_bench.csv" in message and str(fake) in message
    assert load_manifest()[NATS].sha256 in message and sha256_file(fake / NATS) in message
    assert not any(p.is_file() for p in dest.rglob("*")), "a partial or temporary file was left behind"


def test_missing_mirror_only_source_says_where_it_looked(tmp_path: Path) -> None:
    with pytest.raises(SourceError, match=r"hw_nas_bench_example_outputs\.json.*not found in mirror .*empty"):
        fetch(tmp_path / "dest", tmp_path / "empty", [DERIVED])


def test_unknown_source_lists_valid_ones(tmp_path: Path) -> None:
    with pytest.raises(SourceError, match="unknown source.*nats_bench.csv"):
        fetch(tmp_path, None, ["no/such/file.csv"])


def test_folder_source_checks_every_member(mirror: Path, tmp_path: Path) -> None:
    dest = fetch(tmp_path / "ok", mirror, ["small-cifar-10"])["small-cifar-10"]
    assert len(list((dest / "image_data_format_1/train").glob("*.png"))) == 200
    fake = tmp_path / "mirror"
    shutil.copytree(mirror / "small-cifar-10", fake / "small-cifar-10", copy_function=shutil.copyfile)
    (fake / "small-cifar-10/image_data_format_1/train/7.png").write_bytes(b"not a png")
    with pytest.raises(SourceError, match=r"7\.png.*expected sha256"):
        fetch(tmp_path / "bad", fake, ["small-cifar-10"])
