"""The FP models OMPQ searches on (spec ompq.md §3.1, §4.1, §5) and their checkpoints.

The search models are torchvision's ResNet-18/50 and MobileNetV2 (``common.models``), plus, for ResNet-18 loaded
from OMPQ's own base checkpoint, the 1x1 conv+BN projection shortcut of ``layer1.0`` that OMPQ's search ResNet
has. Random initialisation follows the original's ``he_fout``: conv N(0, sqrt(2/(k·k·C_out))), BN γ=1 β=0, linear
U(±1/sqrt(fan_in)) with zero bias. Checkpoints: ``<path>/checkpoint/model_best.pth.tar`` with an optional
``state_dict`` entry, DDP ``module.`` prefixes, and OMPQ's module names (``conv1.conv``, ``layer1.0.conv1.bn``,
``downsample.conv``...), renamed to torchvision's; other layouts are matched by tensor order and shape.
"""

from __future__ import annotations

import math
import re
from pathlib import Path

import torch
from torch import nn

from common.models import build_model
from common.runtime import UsageError, load_checkpoint, strip_module_prefix

#: --model choices of the original (``mobilenet`` has no model there) and the digits models, -> common.models
MODEL_NAMES = {
    "resnet18": "resnet18",
    "resnet50": "resnet50",
    "mobilenetv2": "mobilenet_v2",
    "tiny_resnet": "tiny_resnet",
    "tiny_mobilenet_v2": "tiny_mobilenet_v2",
}


def resolve_model(model: str) -> str:
    """``common.models`` name of a ``--model`` value; anything else is a :class:`UsageError`."""
    if model == "mobilenet":
        raise UsageError(
            "--model mobilenet has no search model in OMPQ (the original crashes); use mobilenetv2"
        )
    if model not in MODEL_NAMES:
        raise UsageError(f"unknown --model {model!r}; choose one of: {', '.join(MODEL_NAMES)}")
    return MODEL_NAMES[model]


def he_fout_init(model: nn.Module) -> None:
    """The original ``model_init='he_fout'`` initialisation (see the module docstring)."""
    for m in model.modules():
        if isinstance(m, nn.Conv2d):
            n = m.kernel_size[0] * m.kernel_size[1] * m.out_channels
            nn.init.normal_(m.weight, 0.0, math.sqrt(2.0 / n))
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, nn.BatchNorm2d):
            nn.init.ones_(m.weight)
            nn.init.zeros_(m.bias)
        elif isinstance(m, nn.Linear):
            bound = 1.0 / math.sqrt(m.weight.size(1))
            nn.init.uniform_(m.weight, -bound, bound)
            if m.bias is not None:
                nn.init.zeros_(m.bias)


def add_layer1_projection(model: nn.Module) -> None:
    """Give ``layer1.0`` a 1x1 conv+BN projection shortcut (OMPQ's search ResNet-18)."""
    block = model.layer1[0]
    c_in, c_out = block.conv1.in_channels, block.conv2.out_channels
    block.downsample = nn.Sequential(nn.Conv2d(c_in, c_out, 1, 1, bias=False), nn.BatchNorm2d(c_out))


_RENAMES = (
    (re.compile(r"^conv1\.conv\."), "conv1."),
    (re.compile(r"^conv1\.bn\."), "bn1."),
    (re.compile(r"^(layer\d+\.\d+)\.conv(\d)\.conv\."), r"\1.conv\2."),
    (re.compile(r"^(layer\d+\.\d+)\.conv(\d)\.bn\."), r"\1.bn\2."),
    (re.compile(r"^(layer\d+\.\d+)\.downsample\.conv\."), r"\1.downsample.0."),
    (re.compile(r"^(layer\d+\.\d+)\.downsample\.bn\."), r"\1.downsample.1."),
)


def ompq_to_torchvision(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Rename OMPQ search-ResNet keys to torchvision's; keys that match no rule are kept."""
    out = {}
    for key, value in state.items():
        for pattern, repl in _RENAMES:
            new = pattern.sub(repl, key)
            if new != key:
                key = new
                break
        out[key] = value
    return out


def _by_order(model: nn.Module, state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Pair the model's state entries with ``state``'s in order when every shape agrees."""
    mine = [(k, v) for k, v in model.state_dict().items() if not k.endswith("num_batches_tracked")]
    theirs = [v for k, v in state.items() if not k.endswith("num_batches_tracked")]
    if len(mine) != len(theirs) or any(a.shape != b.shape for (_, a), b in zip(mine, theirs, strict=True)):
        raise UsageError("checkpoint does not fit the search model (names and tensor order/shapes differ)")
    return {k: v for (k, _), v in zip(mine, theirs, strict=True)}


def load_search_checkpoint(model: nn.Module, path: str | Path) -> None:
    """Load OMPQ's base checkpoint (or a torchvision-named state dict) strictly into ``model``."""
    ckpt = load_checkpoint(path)
    state = ckpt.get("state_dict", ckpt) if isinstance(ckpt, dict) else ckpt
    state = ompq_to_torchvision(strip_module_prefix(dict(state)))
    expected = set(model.state_dict())
    if set(state) - {k for k in state if k.endswith("num_batches_tracked")} <= expected and all(
        k in state for k in expected if not k.endswith("num_batches_tracked")
    ):
        model.load_state_dict(state, strict=False)
        return
    model.load_state_dict(_by_order(model, state), strict=False)


def checkpoint_has_layer1_projection(path: str | Path) -> bool:
    """Whether a checkpoint carries weights for a ``layer1.0`` projection shortcut."""
    ckpt = load_checkpoint(path)
    state = ckpt.get("state_dict", ckpt) if isinstance(ckpt, dict) else ckpt
    return any(re.search(r"layer1\.0\.downsample\.", k) for k in state)


def build_search_model(
    name: str,
    num_classes: int,
    checkpoint: str | Path | None = None,
    pretrained: bool = False,
    projection: str = "auto",
) -> nn.Module:
    """Search model ``name`` (a ``common.models`` name): he_fout init, optional projection, weights.

    ``projection``: ``on``/``off`` forces the ResNet-18 ``layer1.0`` shortcut; ``auto`` adds it when the
    checkpoint has one.
    """
    model = build_model(name, num_classes, pretrained=pretrained)
    if not pretrained:
        he_fout_init(model)
    if name in ("resnet18", "tiny_resnet"):
        want = projection == "on" or (
            projection == "auto" and checkpoint is not None and checkpoint_has_layer1_projection(checkpoint)
        )
        if want:
            add_layer1_projection(model)
            if not pretrained:
                he_fout_init(model.layer1[0].downsample)
    if checkpoint is not None:
        load_search_checkpoint(model, checkpoint)
    return model
