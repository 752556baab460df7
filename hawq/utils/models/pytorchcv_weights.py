"""pytorchcv ResNet state dicts -> torchvision names (the float weights HAWQ-V3 started from, spec §5, §10).

HAWQ-V3 fine-tunes pytorchcv's ImageNet models. Our float ResNets use torchvision's module names (the v1 stride
placement of ``resnet50_v1``/``resnet101_v1`` matches pytorchcv's ``resnet50``/``resnet101``), so a pytorchcv file
loads after this renaming:

================================================  ==========================================
pytorchcv key                                     torchvision key
================================================  ==========================================
``features.init_block.conv.conv.weight``          ``conv1.weight``
``features.init_block.conv.bn.*``                 ``bn1.*``
``features.stage{s}.unit{u}.body.conv{k}.conv.*``  ``layer{s}.{u-1}.conv{k}.*``
``features.stage{s}.unit{u}.body.conv{k}.bn.*``    ``layer{s}.{u-1}.bn{k}.*``
``features.stage{s}.unit{u}.identity_conv.conv.*`` ``layer{s}.{u-1}.downsample.0.*``
``features.stage{s}.unit{u}.identity_conv.bn.*``   ``layer{s}.{u-1}.downsample.1.*``
``output.*``                                      ``fc.*``
================================================  ==========================================

pytorchcv's ``mobilenetv2_w1`` needs no renaming: our ``mobilenetv2_w1`` has its names.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

from torch import Tensor

_RULES: tuple[tuple[re.Pattern[str], str], ...] = (
    (re.compile(r"^features\.init_block\.conv\.conv\.(.+)$"), r"conv1.\1"),
    (re.compile(r"^features\.init_block\.conv\.bn\.(.+)$"), r"bn1.\1"),
    (
        re.compile(r"^features\.stage(\d+)\.unit(\d+)\.body\.conv(\d)\.conv\.(.+)$"),
        "layer{0}.{1}.conv{2}.{3}",
    ),
    (re.compile(r"^features\.stage(\d+)\.unit(\d+)\.body\.conv(\d)\.bn\.(.+)$"), "layer{0}.{1}.bn{2}.{3}"),
    (
        re.compile(r"^features\.stage(\d+)\.unit(\d+)\.identity_conv\.conv\.(.+)$"),
        "layer{0}.{1}.downsample.0.{2}",
    ),
    (
        re.compile(r"^features\.stage(\d+)\.unit(\d+)\.identity_conv\.bn\.(.+)$"),
        "layer{0}.{1}.downsample.1.{2}",
    ),
    (re.compile(r"^output\.(.+)$"), r"fc.\1"),
)


def is_pytorchcv_resnet(state_dict: Mapping[str, Tensor]) -> bool:
    """True when the keys are pytorchcv ResNet keys (``features.init_block.conv.conv.weight`` present)."""
    return "features.init_block.conv.conv.weight" in state_dict


def _rename(key: str) -> str:
    for pattern, target in _RULES:
        match = pattern.match(key)
        if match is None:
            continue
        if "{" not in target:
            return pattern.sub(target, key)
        stage, unit, *rest = match.groups()
        return target.format(stage, int(unit) - 1, *rest)
    raise KeyError(f"unexpected key in a pytorchcv ResNet state dict: {key!r}")


def pytorchcv_resnet_to_torchvision(state_dict: Mapping[str, Tensor]) -> dict[str, Tensor]:
    """Rename a pytorchcv ResNet state dict to torchvision's names (table above); values are not copied."""
    return {_rename(k): v for k, v in state_dict.items()}
