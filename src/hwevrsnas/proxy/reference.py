"""Reference models of the proxy: the CIFAR-10 ResNet-20/32/44/56 of He et al. (2016).

Architecture (He et al., "Deep Residual Learning for Image Recognition", section 4.2): a 3x3
conv 3->16 + BN + ReLU, three stages of n BasicBlocks (depth = 6n + 2) at 16/32/64 channels,
the first block of stages 2 and 3 with stride 2, option-A shortcuts (parameter-free:
stride-2 subsampling plus zero channel padding), global average pooling and Linear(64, 10).
Module names follow the pretrained checkpoints of akamaster/pytorch_resnet_cifar10
(``conv1``, ``bn1``, ``layer1.0.conv1``, ..., ``linear``) so they load strictly.
"""

from __future__ import annotations

from pathlib import Path

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from hwevrsnas.errors import DamagedFile, MissingFile

REFETCH = "run `hwevrsnas fetch` to restore the pinned source"

# The statistics the pretrained checkpoints were trained with (ImageNet's, not CIFAR-10's).
NORMALIZE_MEAN: tuple[float, float, float] = (0.485, 0.456, 0.406)
NORMALIZE_STD: tuple[float, float, float] = (0.229, 0.224, 0.225)

DEPTHS: tuple[int, ...] = (20, 32, 44, 56)
STAGE_CHANNELS: tuple[int, int, int] = (16, 32, 64)
NUM_CLASSES = 10


class OptionAShortcut(nn.Module):
    """Parameter-free shortcut: stride-2 spatial subsampling and zero padding from planes // 2 to planes channels."""

    def __init__(self, planes: int) -> None:
        super().__init__()
        self.pad = planes // 4

    def forward(self, x: Tensor) -> Tensor:
        """Subsample x by 2 in both spatial dims and pad planes // 4 zero channels on each side."""
        return F.pad(x[:, :, ::2, ::2], (0, 0, 0, 0, self.pad, self.pad))


class BasicBlock(nn.Module):
    """Two 3x3 conv + BN layers with a residual connection, ReLU after the sum."""

    def __init__(self, in_planes: int, planes: int, stride: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(in_planes, planes, 3, stride=stride, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, 3, stride=1, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        if stride != 1 or in_planes != planes:
            if stride != 2 or planes != 2 * in_planes:
                raise ValueError("option-A shortcuts only double the channels while halving the resolution")
            self.shortcut: nn.Module = OptionAShortcut(planes)
        else:
            self.shortcut = nn.Identity()

    def forward(self, x: Tensor) -> Tensor:
        """The block's output, relu(bn2(conv2(relu(bn1(conv1(x))))) + shortcut(x))."""
        out = F.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return F.relu(out + self.shortcut(x))


class CifarResNet(nn.Module):
    """CIFAR ResNet with n BasicBlocks per stage; exposes the three stage outputs as CKA taps."""

    def __init__(self, blocks_per_stage: int, num_classes: int = NUM_CLASSES) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(3, STAGE_CHANNELS[0], 3, stride=1, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(STAGE_CHANNELS[0])
        in_planes = STAGE_CHANNELS[0]
        stages = []
        for index, planes in enumerate(STAGE_CHANNELS):
            blocks = []
            for block in range(blocks_per_stage):
                stride = 2 if index > 0 and block == 0 else 1
                blocks.append(BasicBlock(in_planes, planes, stride))
                in_planes = planes
            stages.append(nn.Sequential(*blocks))
        self.layer1, self.layer2, self.layer3 = stages
        self.linear = nn.Linear(STAGE_CHANNELS[-1], num_classes)
        for module in self.modules():
            if isinstance(module, (nn.Conv2d, nn.Linear)):
                nn.init.kaiming_normal_(module.weight)

    def forward_with_taps(self, x: Tensor) -> tuple[Tensor, list[Tensor]]:
        """Logits and the outputs of layer1, layer2, layer3 ((N,16,32,32), (N,32,16,16), (N,64,8,8) for 32x32 input)."""
        out = F.relu(self.bn1(self.conv1(x)))
        taps = []
        for stage in (self.layer1, self.layer2, self.layer3):
            out = stage(out)
            taps.append(out)
        pooled = F.adaptive_avg_pool2d(out, 1).flatten(1)
        return self.linear(pooled), taps

    def forward(self, x: Tensor) -> Tensor:
        """Logits for a batch of normalised images (N, 3, H, W)."""
        return self.forward_with_taps(x)[0]


def build_resnet(depth: int) -> CifarResNet:
    """A freshly initialised CIFAR ResNet of the given depth (20, 32, 44 or 56)."""
    if depth not in DEPTHS:
        raise ValueError(f"unsupported ResNet depth {depth}; expected one of {DEPTHS}")
    return CifarResNet((depth - 2) // 6)


def load_checkpoint(checkpoint: Path) -> tuple[dict[str, Tensor], float | None]:
    """The state_dict (``module.`` prefix stripped) and ``best_prec1`` of an akamaster checkpoint."""
    try:
        payload = torch.load(Path(checkpoint), map_location="cpu", weights_only=True)
    except FileNotFoundError:
        raise MissingFile(f"reference checkpoint {checkpoint} not found; {REFETCH}") from None
    except (EOFError, RuntimeError, OSError, ValueError) as err:
        raise DamagedFile(checkpoint, f"unreadable checkpoint ({type(err).__name__}: {err})", REFETCH) from err
    state = payload.get("state_dict", payload)
    # The checkpoints were saved from nn.DataParallel, which prefixes every key with "module.".
    state = {key.removeprefix("module."): value for key, value in state.items()}
    best = payload.get("best_prec1")
    return state, None if best is None else float(best)


def load_reference(depth: int, checkpoint: Path) -> CifarResNet:
    """The pretrained ResNet of the given depth, strictly loaded from checkpoint, frozen and in eval mode."""
    model = build_resnet(depth)
    state, _ = load_checkpoint(checkpoint)
    model.load_state_dict(state, strict=True)
    # The reference is a fixed target: no gradients are needed through or into it.
    model.requires_grad_(False)
    return model.eval()
