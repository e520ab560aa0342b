"""CIFAR-10 loaders (image folder, official archive, lossless PNGs), augmentation and normalisation."""

from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from hwevrsnas.proxy.data import (
    ARCHIVE_FOLDER,
    CLASSES,
    augment,
    crop_and_flip,
    load_cifar10,
    load_foolbox_cifar10,
    load_image_folder,
    load_png_folder,
    to_tensor,
)
from hwevrsnas.proxy.reference import NORMALIZE_MEAN, NORMALIZE_STD

FOOLBOX = Path("foolbox-3.3.4/foolbox/data")
SMALL = Path("small-cifar-10/image_data_format_1")
# Labels of the first 20 CIFAR-10 test images (the foolbox sample file names agree).
FIRST_TEST_LABELS = [3, 8, 8, 0, 6, 6, 1, 6, 3, 1, 0, 9, 5, 7, 9, 8, 5, 7, 8, 6]


def _pixels(count: int, seed: int) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, size=(count, 32, 32, 3), dtype=np.uint8)


def test_mirror_train_split_has_1000_per_class(mirror: Path) -> None:
    images, labels = load_cifar10(mirror, "train")
    assert images.shape == (10_000, 32, 32, 3) and images.dtype == np.uint8
    assert labels.dtype == np.int64
    np.testing.assert_array_equal(labels, np.repeat(np.arange(10), 1000))
    # Classes come in the official order, files sorted by name within each class.
    for label in (0, 3, 9):
        for index in (0, 999):
            path = mirror / "CIFAR-10-images" / "train" / CLASSES[label] / f"{index:04d}.jpg"
            np.testing.assert_array_equal(images[1000 * label + index], np.asarray(Image.open(path).convert("RGB")))


def test_foolbox_pngs_are_the_first_test_images(mirror: Path) -> None:
    images, labels = load_foolbox_cifar10(mirror / FOOLBOX)
    assert images.shape == (20, 32, 32, 3) and images.dtype == np.uint8
    assert labels.tolist() == FIRST_TEST_LABELS
    # The JPEG folder keeps test-set order within a class, so test image i is the k-th of its
    # class there; JPEG loss is a few grey levels, a channel swap or another image far more.
    seen = [0] * 10
    for image, label in zip(images, labels):
        path = mirror / "CIFAR-10-images" / "test" / CLASSES[label] / f"{seen[label]:04d}.jpg"
        seen[label] += 1
        jpeg = np.asarray(Image.open(path).convert("RGB")).astype(np.int16)
        assert np.abs(jpeg - image).mean() < 12
        assert np.abs(jpeg - image[..., ::-1]).mean() > np.abs(jpeg - image).mean()


def test_small_cifar10_png_folder(mirror: Path) -> None:
    images, labels = load_png_folder(mirror / SMALL / "train", mirror / SMALL / "trainLabels.csv")
    assert images.shape == (200, 32, 32, 3)
    assert [CLASSES[label] for label in labels[:5]] == ["frog", "truck", "truck", "deer", "automobile"]
    np.testing.assert_array_equal(images[1], np.asarray(Image.open(mirror / SMALL / "train" / "2.png").convert("RGB")))


def test_png_folder_with_header_and_bare_ids(tmp_path: Path) -> None:
    pixels = _pixels(2, seed=0)
    for identifier, image in zip((7, 3), pixels):
        Image.fromarray(image).save(tmp_path / f"{identifier}.png")
    (tmp_path / "labels.csv").write_text("id,label\n7,ship\n3,cat\n")
    images, labels = load_png_folder(tmp_path, tmp_path / "labels.csv")
    np.testing.assert_array_equal(images, pixels)
    assert labels.tolist() == [8, 3]


def _write_archive(directory: Path) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    directory.mkdir()
    written = {}
    for seed, name in enumerate([f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]):
        images = _pixels(3, seed)
        labels = [(seed + k) % 10 for k in range(3)]
        rows = images.transpose(0, 3, 1, 2).reshape(3, 3072)  # CHW row-major, as the official files
        with open(directory / name, "wb") as handle:
            pickle.dump({b"batch_label": name.encode(), b"data": rows, b"labels": labels}, handle)
        written[name] = images, np.asarray(labels)
    return written


def test_official_archive_layout(tmp_path: Path) -> None:
    written = _write_archive(tmp_path / ARCHIVE_FOLDER)
    images, labels = load_cifar10(tmp_path, "train")
    assert images.shape == (15, 32, 32, 3) and images.dtype == np.uint8 and labels.dtype == np.int64
    np.testing.assert_array_equal(images, np.concatenate([written[f"data_batch_{i}"][0] for i in range(1, 6)]))
    np.testing.assert_array_equal(labels, np.concatenate([written[f"data_batch_{i}"][1] for i in range(1, 6)]))
    test_images, test_labels = load_cifar10(tmp_path / ARCHIVE_FOLDER, "test")
    np.testing.assert_array_equal(test_images, written["test_batch"][0])
    np.testing.assert_array_equal(test_labels, written["test_batch"][1])


def _write_image_folder(split_dir: Path, classes: tuple[str, ...]) -> np.ndarray:
    pixels = _pixels(len(classes), seed=42)
    for image, name in zip(pixels, classes):
        (split_dir / name).mkdir(parents=True)
        Image.fromarray(image).save(split_dir / name / "0000.png")
    return pixels


def test_image_folder_layout_and_archive_preference(tmp_path: Path) -> None:
    pixels = _write_image_folder(tmp_path / "test", CLASSES)
    images, labels = load_cifar10(tmp_path, "test")
    np.testing.assert_array_equal(images, pixels)
    assert labels.tolist() == list(range(10))
    written = _write_archive(tmp_path / ARCHIVE_FOLDER)
    np.testing.assert_array_equal(load_cifar10(tmp_path, "test")[0], written["test_batch"][0])


def test_missing_layout_names_what_was_looked_for(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="data_batch_1.*cifar-10-batches-py.*CIFAR-10-images"):
        load_cifar10(tmp_path, "train")
    with pytest.raises(ValueError, match="unknown split"):
        load_cifar10(tmp_path, "valid")


def test_image_folder_rejects_unknown_classes(tmp_path: Path) -> None:
    _write_image_folder(tmp_path, CLASSES[:9] + ("lorry",))
    with pytest.raises(ValueError, match=r"missing \['truck'\], unexpected \['lorry'\]"):
        load_image_folder(tmp_path)


def test_augment_is_seeded() -> None:
    images = _pixels(64, seed=1)
    first = augment(images, np.random.default_rng(0))
    assert first.dtype == np.uint8 and first.shape == images.shape
    np.testing.assert_array_equal(first, augment(images, np.random.default_rng(0)))
    assert not np.array_equal(first, augment(images, np.random.default_rng(1)))
    assert not np.array_equal(first, images)


def test_centre_crop_without_flip_is_identity() -> None:
    images = _pixels(5, seed=2)
    offsets = np.full((5, 2), 4)
    np.testing.assert_array_equal(crop_and_flip(images, offsets, np.zeros(5, bool)), images)
    np.testing.assert_array_equal(crop_and_flip(images, offsets, np.ones(5, bool)), images[:, :, ::-1])


def test_crop_and_flip_matches_per_image_reference() -> None:
    images = _pixels(16, seed=3)
    rng = np.random.default_rng(4)
    offsets, flips = rng.integers(0, 9, size=(16, 2)), rng.random(16) < 0.5
    out = crop_and_flip(images, offsets, flips)
    for image, (row, column), flip, result in zip(images, offsets, flips, out):
        padded = np.pad(image, ((4, 4), (4, 4), (0, 0)))
        expected = padded[row : row + 32, column : column + 32]
        np.testing.assert_array_equal(result, expected[:, ::-1] if flip else expected)
    corner = crop_and_flip(images[:1], np.zeros((1, 2), int), np.zeros(1, bool))[0]
    assert not corner[:4].any() and not corner[:, :4].any()
    np.testing.assert_array_equal(corner[4:, 4:], images[0, :28, :28])


def test_to_tensor_normalises() -> None:
    images = np.zeros((2, 32, 32, 3), dtype=np.uint8)
    images[1, 5, 7] = (255, 0, 128)
    tensor = to_tensor(images)
    assert tuple(tensor.shape) == (2, 3, 32, 32) and str(tensor.dtype) == "torch.float32"
    assert tensor[0, 0, 0, 0].item() == pytest.approx(-NORMALIZE_MEAN[0] / NORMALIZE_STD[0], rel=1e-6)
    expected = [(1.0 - NORMALIZE_MEAN[0]) / NORMALIZE_STD[0], -NORMALIZE_MEAN[1] / NORMALIZE_STD[1]]
    expected.append((128 / 255 - NORMALIZE_MEAN[2]) / NORMALIZE_STD[2])
    assert tensor[1, :, 5, 7].tolist() == pytest.approx(expected, rel=1e-6)
    with pytest.raises(ValueError, match="uint8"):
        to_tensor(images.astype(np.float32))
