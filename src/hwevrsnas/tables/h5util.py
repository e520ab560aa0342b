"""Small HDF5 helpers shared by the table builders: reproducible datasets and atomic files."""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import Iterator

import h5py
import numpy as np

from hwevrsnas.atomic import atomic_path


@contextlib.contextmanager
def atomic_h5(path: Path) -> Iterator[h5py.File]:
    """Open a temporary HDF5 file beside `path` and rename it into place only if the block succeeds."""
    with atomic_path(path) as tmp:
        # libver pinned and no object timestamps, so two builds of the same inputs are byte-identical.
        with h5py.File(tmp, "w", libver=("v110", "v110"), track_order=True) as handle:
            yield handle


def put(group: h5py.Group, name: str, data: np.ndarray, **attrs: object) -> h5py.Dataset:
    """Write a dataset without timestamps (reproducible bytes) and attach attributes."""
    data = np.asarray(data)
    kwargs = {"compression": "gzip", "compression_opts": 4, "shuffle": True} if data.size > 1024 else {}
    dataset = group.create_dataset(name, data=data, track_times=False, **kwargs)
    for key, value in attrs.items():
        dataset.attrs[key] = value
    return dataset


def group(parent: h5py.Group, name: str) -> h5py.Group:
    """Get or create a subgroup with insertion order tracked (stable layout)."""
    return parent.require_group(name) if name in parent else parent.create_group(name, track_order=True)
