"""Small HDF5 helpers shared by the table builders: reproducible datasets and atomic, sealed files."""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import Iterator

import h5py
import numpy as np

from hwevrsnas.atomic import atomic_path
from hwevrsnas.integrity import USERBLOCK_SIZE, seal_h5


@contextlib.contextmanager
def atomic_h5(path: Path) -> Iterator[h5py.File]:
    """Open a temporary HDF5 file beside `path`; if the block succeeds, seal it (integrity.seal_h5) and rename it into place."""
    with atomic_path(path) as tmp:
        # libver pinned and no object timestamps, so two builds of the same inputs are byte-identical.
        with h5py.File(tmp, "w", libver=("v110", "v110"), track_order=True, userblock_size=USERBLOCK_SIZE) as handle:
            yield handle
        seal_h5(tmp)


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
