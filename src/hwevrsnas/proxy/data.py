"""CIFAR-10 images for the proxy: loaders for the layouts available, augmentation, normalisation.

Images are uint8 arrays (N, 32, 32, 3) in RGB, labels int64 (N,) indexing ``CLASSES``.
Layouts read:

(a) an image folder ``<split>/<class name>/<file>.jpg`` (the JPEG copy in the data mirror);
(b) the official python archive ``cifar-10-batches-py`` (``data_batch_1..5``, ``test_batch``);
(c) lossless PNG sets: a folder of ``<id>.png`` with a ``<id>,<class name>`` CSV, and the
    foolbox sample files ``cifar10_<index>_<label>.png``.
"""

from __future__ import annotations

import csv
import pickle
import re
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from torch import Tensor

from hwevrsnas.errors import DamagedFile
from hwevrsnas.proxy.reference import NORMALIZE_MEAN, NORMALIZE_STD, REFETCH

# The official CIFAR-10 label order (batches.meta of the python archive).
CLASSES: tuple[str, ...] = (
    "airplane",
    "automobile",
    "bird",
    "cat",
    "deer",
    "dog",
    "frog",
    "horse",
    "ship",
    "truck",
)
IMAGE_SHAPE = (32, 32, 3)
PAD = 4
SPLITS = ("train", "test")
IMAGE_FOLDER = "CIFAR-10-images"
ARCHIVE_FOLDER = "cifar-10-batches-py"
_ARCHIVE_FILES = {"train": tuple(f"data_batch_{i}" for i in range(1, 6)), "test": ("test_batch",)}
_FOOLBOX_NAME = re.compile(r"cifar10_(\d+)_(\d+)\.png")


def _read_image(path: Path) -> np.ndarray:
    try:
        with Image.open(path) as image:
            array = np.asarray(image.convert("RGB"))
    except (OSError, SyntaxError, ValueError) as err:  # PIL's errors for truncated or corrupt files
        raise DamagedFile(path, f"unreadable image ({err})", REFETCH) from err
    if array.shape != IMAGE_SHAPE:
        raise ValueError(f"{path}: expected a 32x32 RGB image, got shape {array.shape}")
    return array


def _read_images(paths: list[Path]) -> np.ndarray:
    images = np.empty((len(paths), *IMAGE_SHAPE), dtype=np.uint8)
    for index, path in enumerate(paths):
        images[index] = _read_image(path)
    return images


def load_image_folder(split_dir: Path) -> tuple[np.ndarray, np.ndarray]:
    """Images and labels from ``split_dir/<class name>/*`` (layout a), classes in official order, files by name."""
    split_dir = Path(split_dir)
    folders = {path.name for path in split_dir.iterdir() if path.is_dir()}
    if folders != set(CLASSES):
        raise ValueError(
            f"{split_dir}: expected exactly the ten CIFAR-10 class folders {CLASSES}; "
            f"missing {sorted(set(CLASSES) - folders)}, unexpected {sorted(folders - set(CLASSES))}"
        )
    paths: list[Path] = []
    labels: list[int] = []
    for label, name in enumerate(CLASSES):
        files = sorted(path for path in (split_dir / name).iterdir() if path.is_file())
        paths.extend(files)
        labels.extend([label] * len(files))
    return _read_images(paths), np.asarray(labels, dtype=np.int64)


def load_python_archive(archive_dir: Path, split: str) -> tuple[np.ndarray, np.ndarray]:
    """Images and labels of a split from the official ``cifar-10-batches-py`` folder (layout b)."""
    if split not in SPLITS:
        raise ValueError(f"unknown split {split!r}; expected one of {SPLITS}")
    images, labels = [], []
    for name in _ARCHIVE_FILES[split]:
        # The official batches are Python 2 pickles: keys and strings come back as bytes.
        # Unpickling runs code from the file, so only local, user-provided archives are read.
        with open(Path(archive_dir) / name, "rb") as handle:
            batch = pickle.load(handle, encoding="bytes")
        data = np.asarray(batch[b"data"], dtype=np.uint8)
        if data.ndim != 2 or data.shape[1] != 3 * 32 * 32:
            raise ValueError(f"{archive_dir / name}: expected data of shape (N, 3072), got {data.shape}")
        # Each row is the red, green and blue 32x32 planes in turn (CHW, row-major).
        images.append(data.reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1))
        labels.append(np.asarray(batch[b"labels"], dtype=np.int64))
    return np.ascontiguousarray(np.concatenate(images)), np.concatenate(labels)


def load_cifar10(root: Path, split: str) -> tuple[np.ndarray, np.ndarray]:
    """CIFAR-10 ``split`` ('train' or 'test') from root, which holds layout (a) or (b) itself or in a subfolder."""
    if split not in SPLITS:
        raise ValueError(f"unknown split {split!r}; expected one of {SPLITS}")
    root = Path(root)
    # The lossless official archive is preferred over the JPEG copy when both are present.
    for archive_dir in (root, root / ARCHIVE_FOLDER):
        if all((archive_dir / name).is_file() for name in _ARCHIVE_FILES[split]):
            return load_python_archive(archive_dir, split)
    for folder in (root, root / IMAGE_FOLDER):
        if (folder / split / CLASSES[0]).is_dir():
            return load_image_folder(folder / split)
    raise FileNotFoundError(
        f"no CIFAR-10 {split!r} split under {root}: looked for the python archive "
        f"({', '.join(_ARCHIVE_FILES[split])} in {root} or {root / ARCHIVE_FOLDER}) and for the "
        f"image folder ({split}/<class>/ in {root} or {root / IMAGE_FOLDER})"
    )


def load_png_folder(folder: Path, labels_csv: Path) -> tuple[np.ndarray, np.ndarray]:
    """Images ``folder/<id>.png`` and labels from a CSV of (id, class name) rows, in the CSV's order."""
    folder = Path(folder)
    paths: list[Path] = []
    labels: list[int] = []
    with open(labels_csv, newline="") as handle:
        for row_number, row in enumerate(csv.reader(handle)):
            if not row:
                continue
            if len(row) != 2:
                raise ValueError(f"{labels_csv}: expected 'id,label' on line {row_number + 1}, got {row}")
            identifier, name = row[0].strip(), row[1].strip()
            if name not in CLASSES:
                if row_number == 0:
                    continue  # a header line such as "id,label"
                raise ValueError(f"{labels_csv}: unknown class {name!r} on line {row_number + 1}")
            # Kaggle's file gives bare ids; the small-cifar-10 copy gives file names.
            paths.append(folder / (identifier if identifier.endswith(".png") else f"{identifier}.png"))
            labels.append(CLASSES.index(name))
    return _read_images(paths), np.asarray(labels, dtype=np.int64)


def load_foolbox_cifar10(folder: Path) -> tuple[np.ndarray, np.ndarray]:
    """The foolbox CIFAR-10 samples ``cifar10_<index>_<label>.png`` (test images 0..19), in index order."""
    found = []
    for path in Path(folder).iterdir():
        match = _FOOLBOX_NAME.fullmatch(path.name)
        if match:
            found.append((int(match.group(1)), int(match.group(2)), path))
    if not found:
        raise FileNotFoundError(f"no cifar10_<index>_<label>.png files in {folder}")
    found.sort()
    return _read_images([path for _, _, path in found]), np.asarray([label for _, label, _ in found], dtype=np.int64)


def _check_images(images: np.ndarray) -> None:
    if images.dtype != np.uint8 or images.ndim != 4 or images.shape[1:] != IMAGE_SHAPE:
        raise ValueError(f"expected uint8 images of shape (N, 32, 32, 3), got {images.dtype} {images.shape}")


def crop_and_flip(images: np.ndarray, offsets: np.ndarray, flips: np.ndarray) -> np.ndarray:
    """Zero-pad by 4, crop 32x32 at offsets (N, 2) of (row, column) in 0..8, then mirror where flips (N,) is true."""
    _check_images(images)
    offsets = np.asarray(offsets)
    flips = np.asarray(flips, dtype=bool)
    count = images.shape[0]
    if offsets.shape != (count, 2) or flips.shape != (count,):
        raise ValueError(f"expected offsets ({count}, 2) and flips ({count},), got {offsets.shape} and {flips.shape}")
    if offsets.size and (offsets.min() < 0 or offsets.max() > 2 * PAD):
        raise ValueError(f"crop offsets must lie in 0..{2 * PAD}")
    padded = np.pad(images, ((0, 0), (PAD, PAD), (PAD, PAD), (0, 0)))
    span = np.arange(IMAGE_SHAPE[0])
    rows = offsets[:, :1] + span
    columns = offsets[:, 1:] + np.where(flips[:, None], span[::-1], span)
    return padded[np.arange(count)[:, None, None], rows[:, :, None], columns[:, None, :]]


def augment(images: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Random pad-4 crop and horizontal flip (p = 0.5) of uint8 images (N, 32, 32, 3), drawn from rng."""
    _check_images(images)
    count = images.shape[0]
    # Draw order is part of the seeded protocol: offsets first, then flips.
    offsets = rng.integers(0, 2 * PAD + 1, size=(count, 2))
    flips = rng.random(count) < 0.5
    return crop_and_flip(images, offsets, flips)


def to_tensor(images: np.ndarray) -> Tensor:
    """Float tensor (N, 3, 32, 32) of uint8 images (N, 32, 32, 3), scaled to [0, 1], normalised by NORMALIZE_*."""
    _check_images(images)
    tensor = torch.from_numpy(np.ascontiguousarray(images)).permute(0, 3, 1, 2).float().div_(255.0)
    mean = torch.tensor(NORMALIZE_MEAN).view(1, 3, 1, 1)
    std = torch.tensor(NORMALIZE_STD).view(1, 3, 1, 1)
    return ((tensor - mean) / std).contiguous()
