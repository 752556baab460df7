"""Reading the original HMQ weight files (docs/hmq.md section 5) into our module names.

* ``mobilenet_v1_imagenet.pth``: ``{"state_dict": {...}}`` already in the layout of
  :mod:`common.models.mobilenet_v1` (a ``module.`` prefix is stripped).
* HMQ MobileNetV1 checkpoints saved by the original (``last.pt``, ``final_best.pt``, ...): the wrapper
  level (``conv2d.conv.``, ``conv2d.bn.``, ``dw_conv.bn.``, ``conv.conv.``, ``conv.bn.``, ``fc.fc.``) is
  folded back; HMQ entries (``*.q.search_matrix`` and the buffers) keep their names, which ours share.
* ``EfficientNet_B0_IMAGENET.pt`` (HMQ's own EfficientNet naming, ``conv_blocks``/``conv_head``/``fc.fc``):
  renamed onto torchvision's B0 by :func:`common.models.weight_layouts.hmq_efficientnet_to_torchvision`, and
  the model is switched to HMQ's numerics (BN eps 1e-3, TF-"SAME" padding on the strided convs). Any other
  file of B0's tensor count is mapped by position, every tensor's shape checked.

``--pretrained`` (ImageNet) for ``efficient_net`` loads HMQ's own file from
``$MPQ_WEIGHTS_DIR/hmq/EfficientNet_B0_IMAGENET.pt`` (:func:`original_weights_file`), never torchvision's B0;
a missing file is a one-line error giving its URL.
"""

from __future__ import annotations

import re
from pathlib import Path

import torch
from torch import nn

from common.models.pretrained import read_state_dict
from common.models.weight_layouts import SOURCES, hmq_efficientnet_numerics, hmq_efficientnet_to_torchvision
from common.runtime import UsageError

__all__ = ["fold_mobilenet_v1_wrappers", "load_weights", "map_by_position", "original_weights_file"]


def original_weights_file(arch: str) -> Path | None:
    """HMQ's own float weights file for ``arch`` (``efficientnet_b0``), or ``None`` where the registry's
    published weights are the original's (MobileNetV1 in HMQ's layout, torchvision's MobileNetV2/ResNet-50).
    A missing file is a :class:`UsageError` naming it, its URL and its folder."""
    source = SOURCES.get(("hmq", arch))
    if source is None:
        return None
    if not source.path().is_file():
        raise UsageError(source.missing_message())
    return source.path()


_MBV1_RULES = (
    (r"\.conv2d\.conv\.", ".conv2d."),
    (r"\.conv2d\.bn\.", ".bn."),
    (r"\.dw_conv\.conv\.", ".dw_conv."),
    (r"\.dw_conv\.bn\.", ".bn_0."),
    (r"\.conv\.conv\.", ".conv."),
    (r"\.conv\.bn\.", ".bn_1."),
    (r"^fc\.fc\.", "fc."),
)


def fold_mobilenet_v1_wrappers(key: str) -> str:
    """Original HMQ MobileNetV1 key -> :mod:`common.models.mobilenet_v1` key."""
    for pattern, repl in _MBV1_RULES:
        key = re.sub(pattern, repl, key)
    return key


def _tensors(state: dict[str, torch.Tensor]) -> list[tuple[str, torch.Tensor]]:
    return [(k, v) for k, v in state.items() if not k.endswith("num_batches_tracked")]


def map_by_position(state: dict[str, torch.Tensor], model: nn.Module) -> dict[str, torch.Tensor]:
    """Assign the file's tensors to ``model``'s state-dict keys in order; every shape must agree."""
    ours = _tensors(model.state_dict())
    theirs = _tensors(state)
    if len(ours) != len(theirs):
        raise UsageError(
            f"weights hold {len(theirs)} tensors, the model has {len(ours)}: not the same architecture"
        )
    mapped = {}
    for (k_ours, v_ours), (k_theirs, v_theirs) in zip(ours, theirs, strict=True):
        if v_ours.shape != v_theirs.shape:
            raise UsageError(
                f"weights tensor {k_theirs} {tuple(v_theirs.shape)} does not fit {k_ours} {tuple(v_ours.shape)}"
            )
        mapped[k_ours] = v_theirs
    return mapped


def load_weights(model: nn.Module, path: str | Path, arch: str) -> list[str]:
    """Load a weights file of one of the layouts above into ``model``; returns the keys it left untouched."""
    state = read_state_dict(path)
    own = model.state_dict()
    if arch == "mobilenet_v1":
        state = {fold_mobilenet_v1_wrappers(k): v for k, v in state.items()}
    if arch == "efficientnet_b0" and "conv_head.0.conv.weight" in state:
        state = hmq_efficientnet_to_torchvision(state)
        hmq_efficientnet_numerics(model)
    elif not any(k in own for k in state) and arch == "efficientnet_b0":
        state = map_by_position(state, model)
    unknown = [k for k in state if k not in own]
    if unknown:
        raise UsageError(f"{path}: keys not in {arch}, e.g. {', '.join(unknown[:3])}")
    bad = [k for k, v in state.items() if own[k].shape != v.shape]
    if bad:
        raise UsageError(f"{path}: shape mismatch for {', '.join(bad[:3])} (another class count?)")
    model.load_state_dict(state, strict=False)
    return [k for k in own if k not in state]
