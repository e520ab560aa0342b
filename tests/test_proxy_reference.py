"""CIFAR ResNet reference models: shapes, option-A shortcuts, strict checkpoint loading, accuracy."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from hwevrsnas.proxy.data import load_foolbox_cifar10, to_tensor
from hwevrsnas.proxy.reference import (
    DEPTHS,
    OptionAShortcut,
    build_resnet,
    load_checkpoint,
    load_reference,
)

CHECKPOINTS = "pytorch_resnet_cifar10/pretrained_models"
# best_prec1 stored in each checkpoint (DATA.md, "Reference models").
BEST_PREC1 = {20: 91.78, 32: 92.78, 44: 93.14, 56: 93.62}


def _checkpoint(mirror: Path, depth: int) -> Path:
    (path,) = sorted((mirror / CHECKPOINTS).glob(f"resnet{depth}-*.th"))
    return path


def test_taps_and_logits_shapes() -> None:
    model = build_resnet(20).eval()
    logits, taps = model.forward_with_taps(torch.randn(2, 3, 32, 32))
    assert logits.shape == (2, 10)
    assert [tuple(tap.shape) for tap in taps] == [(2, 16, 32, 32), (2, 32, 16, 16), (2, 64, 8, 8)]
    torch.testing.assert_close(model(torch.zeros(2, 3, 32, 32)), model.forward_with_taps(torch.zeros(2, 3, 32, 32))[0])


@pytest.mark.parametrize("depth", DEPTHS)
def test_depth_sets_blocks_per_stage(depth: int) -> None:
    model = build_resnet(depth)
    blocks = (depth - 2) // 6
    assert [len(stage) for stage in (model.layer1, model.layer2, model.layer3)] == [blocks] * 3
    convs = sum(isinstance(module, torch.nn.Conv2d) for module in model.modules())
    assert convs + 1 == depth  # the linear layer is the last weighted layer


def test_unknown_depth_is_rejected() -> None:
    with pytest.raises(ValueError, match="unsupported ResNet depth"):
        build_resnet(18)


def test_option_a_shortcut() -> None:
    x = torch.randn(2, 16, 32, 32)
    out = OptionAShortcut(32)(x)
    assert out.shape == (2, 32, 16, 16)
    assert not out[:, :8].any() and not out[:, 24:].any()
    torch.testing.assert_close(out[:, 8:24], x[:, :, ::2, ::2])
    assert not list(OptionAShortcut(32).parameters())
    model = build_resnet(20)
    for stage in (model.layer2, model.layer3):
        assert isinstance(stage[0].shortcut, OptionAShortcut)
        assert all(isinstance(block.shortcut, torch.nn.Identity) for block in stage[1:])
    assert all(isinstance(block.shortcut, torch.nn.Identity) for block in model.layer1)


@pytest.mark.parametrize("depth", DEPTHS)
def test_checkpoint_loads_strictly(mirror: Path, depth: int) -> None:
    state, best_prec1 = load_checkpoint(_checkpoint(mirror, depth))
    assert best_prec1 == pytest.approx(BEST_PREC1[depth], abs=1e-4)
    assert "conv1.weight" in state and "linear.weight" in state
    assert not any(key.startswith("module.") for key in state)
    model = load_reference(depth, _checkpoint(mirror, depth))
    assert not model.training
    assert not any(parameter.requires_grad for parameter in model.parameters())
    torch.testing.assert_close(model.linear.weight, state["linear.weight"])


def test_wrong_depth_checkpoint_fails_strict_load(mirror: Path) -> None:
    with pytest.raises(RuntimeError, match="Unexpected key"):
        load_reference(20, _checkpoint(mirror, 32))


def test_resnet20_on_lossless_foolbox_pngs(mirror: Path) -> None:
    images, labels = load_foolbox_cifar10(mirror / "foolbox-3.3.4" / "foolbox" / "data")
    model = load_reference(20, _checkpoint(mirror, 20))
    with torch.inference_mode():
        logits, taps = model.forward_with_taps(to_tensor(images))
    # Measured with `hwevrsnas evidence eval-references`: ResNet-20 classifies all 20 correctly.
    assert int((logits.argmax(dim=1).numpy() == labels).sum()) == 20
    assert all(torch.isfinite(tap).all() for tap in taps)
