"""ProQHA's bottleneck ResNets (``--arch resnet --num_layers 50|101|152``; docs/proqha.md section 4, "Other quant
models shipped"), with torchvision's module names.

A ``QuantBottleneck`` is pre-activation, like ProQHA's ResNet-34 block: with ``p`` the unit's planes and the
output width ``4p``::

    pre = PACT(BN(x));  shortcut = x, or downsample(pre) = [1x1/s conv, BN] when the shape changes
    out = conv3(PACT(BN(conv2(PACT(BN(conv1(pre)))))))  + shortcut      (no activation after the add)

with ``conv1`` 1x1 ``c_in -> p``, ``conv2`` 3x3/s ``p -> p`` (the stride sits on the 3x3, torchvision's v1.5
placement) and ``conv3`` 1x1 ``p -> 4p``, all three quantized. Quantizer order per unit: A, W, A, W, A, W, so
``3 * units`` convs give ``2 (num_layers - 2)`` quantizers (96 for ResNet-50, 198 for ResNet-101, 300 for
ResNet-152). The stem (7x7/2 on ImageNet, 3x3/1 on CIFAR, both followed by BN, ReLU and the 3x3/2 max-pool),
the downsample convs and ``fc`` stay float. (The original builds ``relu1`` with ``k_bits`` = the input width,
which construction then overwrites with the list's bits: every PACT here starts at 8 bits.)

``planes`` scales the four stages (64/128/256/512 in the original; smaller only for smoke tests).
"""

from __future__ import annotations

import torch
from torch import nn

from proqha.models.resnet import ResNetTrunk
from proqha.quantizers import PACT, QuantConv2d

INIT_BITS = 8
EXPANSION = 4
#: units per stage of each depth
DEPTHS = {50: (3, 4, 6, 3), 101: (3, 4, 23, 3), 152: (3, 8, 36, 3)}
PLANES = (64, 128, 256, 512)


class PreActBottleneck(nn.Module):
    """Pre-activation bottleneck (the original ``QuantBottleneck``); see the module docstring."""

    def __init__(self, cin: int, planes: int, stride: int, downsample: nn.Module | None) -> None:
        super().__init__()
        self.bn1 = nn.BatchNorm2d(cin)
        self.relu1 = PACT(INIT_BITS)
        self.conv1 = QuantConv2d(cin, planes, 1, 1, 0, bits=INIT_BITS)
        self.bn2 = nn.BatchNorm2d(planes)
        self.relu2 = PACT(INIT_BITS)
        self.conv2 = QuantConv2d(planes, planes, 3, stride, 1, bits=INIT_BITS)
        self.bn3 = nn.BatchNorm2d(planes)
        self.relu3 = PACT(INIT_BITS)
        self.conv3 = QuantConv2d(planes, planes * EXPANSION, 1, 1, 0, bits=INIT_BITS)
        self.downsample = downsample

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        pre = self.relu1(self.bn1(x))
        shortcut = x if self.downsample is None else self.downsample(pre)
        out = self.conv2(self.relu2(self.bn2(self.conv1(pre))))
        out = self.conv3(self.relu3(self.bn3(out)))
        return out + shortcut


class BottleneckResNet(ResNetTrunk):
    """Stem, four stages of :class:`PreActBottleneck`, average pool and a float ``fc``."""

    def __init__(
        self,
        depths: tuple[int, ...],
        num_classes: int,
        stem: str = "imagenet",
        planes: tuple[int, int, int, int] = PLANES,
    ) -> None:
        super().__init__()
        self._build_stem(planes[0], stem)
        cin = planes[0]
        for i, (p, n) in enumerate(zip(planes, depths, strict=True), start=1):
            units = []
            for u in range(n):
                stride = 2 if i > 1 and u == 0 else 1
                down = None
                if stride != 1 or cin != p * EXPANSION:
                    down = nn.Sequential(
                        nn.Conv2d(cin, p * EXPANSION, 1, stride, bias=False), nn.BatchNorm2d(p * EXPANSION)
                    )
                units.append(PreActBottleneck(cin, p, stride, down))
                cin = p * EXPANSION
            self.add_module(f"layer{i}", nn.Sequential(*units))
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(cin, num_classes)
        self._init_weights()


def bottleneck_resnet(
    num_layers: int,
    num_classes: int = 1000,
    stem: str = "imagenet",
    planes: tuple[int, int, int, int] = PLANES,
) -> BottleneckResNet:
    """ResNet-50/101/152 in ProQHA's pre-activation layout (``stem``: ``imagenet`` or ``cifar``)."""
    if num_layers not in DEPTHS:
        raise ValueError(f"bottleneck ResNets have 50, 101 or 152 layers, got {num_layers}")
    return BottleneckResNet(DEPTHS[num_layers], num_classes, stem, planes)
