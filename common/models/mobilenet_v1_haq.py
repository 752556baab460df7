"""MobileNetV1 in HAQ's module layout (``mobilenet`` / ``qmobilenet`` of mit-han-lab/haq ``models/mobilenet.py``).

Layout (width 1.0, 224x224)::

    conv1     = [3x3/2 conv 3->32, BN, ReLU]
    features  = 13 depthwise-separable units [3x3 depthwise, BN, ReLU6, 1x1 pointwise, BN, ReLU6]
                with (output width, stride) 64/1, 128/2, 128/1, 256/2, 256/1, 512/2, 5 x 512/1, 1024/2, 1024/1
    pool      = spatial mean;  classifier = [Linear(1024, classes)]

so the quantizable layers are ``conv1.0``, ``features.<i>.0`` (depthwise), ``features.<i>.3`` (pointwise) and
``classifier.0``: 28 layers, 4.21 M weights, 568.7 M MACs at 224. The stem ends with a ReLU and the units
with ReLU6, as in the original (it differs there from HMQ's ``mobilenet_v1``, whose names also differ).
Weights are initialised like the original: conv ``N(0, sqrt(2 / (k*k*out)))``, linear ``N(0, 0.01)``, BN 1/0.
The original publishes no float weights for it (``pretrained=True`` raises there).
"""

from __future__ import annotations

import math

import torch
from torch import nn

#: (output channels, stride) of the 13 depthwise-separable units
UNITS: tuple[tuple[int, int], ...] = (
    (64, 1), (128, 2), (128, 1), (256, 2), (256, 1), (512, 2),
    (512, 1), (512, 1), (512, 1), (512, 1), (512, 1), (1024, 2), (1024, 1),
)  # fmt: skip
STEM_CHANNELS = 32


def _separable(cin: int, cout: int, stride: int) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(cin, cin, 3, stride, 1, groups=cin, bias=False),
        nn.BatchNorm2d(cin),
        nn.ReLU6(inplace=True),
        nn.Conv2d(cin, cout, 1, 1, 0, bias=False),
        nn.BatchNorm2d(cout),
        nn.ReLU6(inplace=True),
    )


def init_haq_weights(model: nn.Module) -> None:
    """HAQ's initialisation of its MobileNets: conv weights ~ N(0, 2 / (k_h k_w c_out)), BN (1, 0), linear
    weights ~ N(0, 0.01^2) with zero bias, in module order."""
    for m in model.modules():
        if isinstance(m, nn.Conv2d):
            fan_out = m.kernel_size[0] * m.kernel_size[1] * m.out_channels
            nn.init.normal_(m.weight, 0.0, math.sqrt(2.0 / fan_out))
        elif isinstance(m, nn.BatchNorm2d):
            nn.init.ones_(m.weight)
            nn.init.zeros_(m.bias)
        elif isinstance(m, nn.Linear):
            nn.init.normal_(m.weight, 0.0, 0.01)
            nn.init.zeros_(m.bias)


class HaqMobileNetV1(nn.Module):
    """HAQ's MobileNetV1; ``width`` scales every channel count (1.0 is the original; smaller for smoke tests)."""

    def __init__(self, num_classes: int = 1000, width: float = 1.0) -> None:
        super().__init__()
        if not width > 0:
            raise ValueError(f"width must be positive, got {width!r}")
        stem = max(1, int(STEM_CHANNELS * width))
        self.conv1 = nn.Sequential(
            nn.Conv2d(3, stem, 3, 2, 1, bias=False), nn.BatchNorm2d(stem), nn.ReLU(inplace=True)
        )
        units, cin = [], stem
        for cout, stride in UNITS:
            cout = max(1, int(cout * width))
            units.append(_separable(cin, cout, stride))
            cin = cout
        self.features = nn.Sequential(*units)
        self.classifier = nn.Sequential(nn.Linear(cin, num_classes))
        init_haq_weights(self)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.features(self.conv1(x))
        return self.classifier(x.mean(dim=(2, 3)))


def mobilenet_v1_haq(num_classes: int, width: float = 1.0) -> nn.Module:
    return HaqMobileNetV1(num_classes, width)
