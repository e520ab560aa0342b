"""The pretrained CIFAR ResNets (the proxy's references) on the mirror's 10,000 JPEG test images and 20 lossless
foolbox PNGs: each checkpoint's recorded best_prec1 beside the accuracy measured here."""

from __future__ import annotations

import sys
import time
from pathlib import Path

import numpy as np
import torch

from hwevrsnas.proxy.data import load_cifar10, load_foolbox_cifar10, to_tensor
from hwevrsnas.proxy.reference import DEPTHS, load_checkpoint, load_reference

BATCH = 500
CHECKPOINTS = "pytorch_resnet_cifar10/pretrained_models"
FOOLBOX = "foolbox-3.3.4/foolbox/data"


def count_correct(model: torch.nn.Module, images: np.ndarray, labels: np.ndarray) -> int:
    """Number of images whose top-1 prediction equals the label, evaluated in batches of BATCH."""
    correct = 0
    with torch.inference_mode():
        for start in range(0, len(images), BATCH):
            logits = model(to_tensor(images[start : start + BATCH]))
            correct += int((logits.argmax(dim=1).numpy() == labels[start : start + BATCH]).sum())
    return correct


def evaluate_references(mirror: Path) -> None:
    """Print a Markdown table: depth, the checkpoint's best_prec1, JPEG accuracy, PNG accuracy, seconds."""
    torch.set_num_threads(2)
    start = time.perf_counter()
    jpeg_images, jpeg_labels = load_cifar10(mirror, "test")
    load_seconds = time.perf_counter() - start
    png_images, png_labels = load_foolbox_cifar10(mirror / FOOLBOX)
    print(f"loaded {len(jpeg_images)} JPEG test images in {load_seconds:.2f} s", file=sys.stderr)

    print("| depth | best_prec1 | JPEG test accuracy (%) | foolbox PNG correct | seconds |")
    print("|---:|---:|---:|---:|---:|")
    for depth in DEPTHS:
        (checkpoint,) = sorted((mirror / CHECKPOINTS).glob(f"resnet{depth}-*.th"))
        _, best_prec1 = load_checkpoint(checkpoint)
        start = time.perf_counter()
        model = load_reference(depth, checkpoint)
        jpeg_accuracy = 100.0 * count_correct(model, jpeg_images, jpeg_labels) / len(jpeg_labels)
        png_correct = count_correct(model, png_images, png_labels)
        seconds = time.perf_counter() - start
        best = "n/a" if best_prec1 is None else f"{best_prec1:.2f}"
        print(f"| {depth} | {best} | {jpeg_accuracy:.2f} | {png_correct}/{len(png_labels)} | {seconds:.1f} |")


__all__ = ["evaluate_references"]
