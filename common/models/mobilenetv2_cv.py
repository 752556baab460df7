"""MobileNetV2 (width 1.0) in pytorchcv's ``mobilenetv2_w1`` layout, the network HAWQ-V3 quantizes.

It differs from torchvision's MobileNetV2 in three ways that change cost figures: the first
bottleneck keeps its 1x1 expansion conv (expansion factor 1: 32->32), the classifier is a 1x1 conv
without bias, and there is no dropout. Units are grouped in five stages by resolution
(``features.stage{s}.unit{u}``), each with ``conv1`` (1x1 expand), ``conv2`` (3x3 depthwise) and
``conv3`` (1x1 linear projection); ``features.final_block`` is the 1x1 conv to 1280 channels.
"""

from __future__ import annotations

import torch
from torch import nn

# Output channels of the units of each stage; the first unit of stages 2..5 has stride 2.
STAGES: tuple[tuple[int, ...], ...] = (
    (16,),
    (24, 24),
    (32, 32, 32),
    (64, 64, 64, 64, 96, 96, 96),
    (160, 160, 160, 320),
)


class ConvBlock(nn.Module):
    """conv -> BN -> optional ReLU6, with pytorchcv's attribute names (conv, bn, activ)."""

    def __init__(self, cin: int, cout: int, kernel: int, stride: int = 1, groups: int = 1, act: bool = True):
        super().__init__()
        self.conv = nn.Conv2d(cin, cout, kernel, stride, kernel // 2, groups=groups, bias=False)
        self.bn = nn.BatchNorm2d(cout)
        self.activ = nn.ReLU6(inplace=True) if act else nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.activ(self.bn(self.conv(x)))


class LinearBottleneck(nn.Module):
    def __init__(self, cin: int, cout: int, stride: int, expand: bool) -> None:
        super().__init__()
        mid = cin * 6 if expand else cin
        self.residual = cin == cout and stride == 1
        self.conv1 = ConvBlock(cin, mid, 1)
        self.conv2 = ConvBlock(mid, mid, 3, stride, groups=mid)
        self.conv3 = ConvBlock(mid, cout, 1, act=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.conv3(self.conv2(self.conv1(x)))
        return x + y if self.residual else y


class MobileNetV2CV(nn.Module):
    def __init__(self, num_classes: int = 1000) -> None:
        super().__init__()
        self.features = nn.Sequential()
        self.features.add_module("init_block", ConvBlock(3, 32, 3, 2))
        cin = 32
        for s, stage_channels in enumerate(STAGES, start=1):
            stage = nn.Sequential()
            for u, cout in enumerate(stage_channels, start=1):
                stride = 2 if (u == 1 and s > 1) else 1
                stage.add_module(f"unit{u}", LinearBottleneck(cin, cout, stride, expand=(s, u) != (1, 1)))
                cin = cout
            self.features.add_module(f"stage{s}", stage)
        self.features.add_module("final_block", ConvBlock(cin, 1280, 1))
        self.features.add_module("final_pool", nn.AdaptiveAvgPool2d(1))
        self.output = nn.Conv2d(1280, num_classes, 1, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.output(self.features(x)).flatten(1)


def mobilenetv2_w1(num_classes: int) -> nn.Module:
    return MobileNetV2CV(num_classes)
