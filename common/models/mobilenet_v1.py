"""MobileNetV1-1.0-224 in the layout of HMQ's released ImageNet model (docs/hmq.md section 4).

``model.0`` is the stem (``conv2d`` 3x3/2 3->32, ``bn``, ``relu``); ``model.1`` .. ``model.13`` are
depthwise-separable blocks (``dw_conv`` 3x3 depthwise, ``bn_0``, ``relu_0``, ``conv`` 1x1, ``bn_1``,
``relu_1``); then 7x7 average pooling, dropout 0.2 and ``fc`` 1024->classes. The names match the
state-dict keys of ``mobilenet_v1_imagenet.pth`` so it loads without renaming.
"""

from __future__ import annotations

import torch
from torch import nn

# (output channels, stride) of the 13 depthwise-separable blocks.
BLOCKS: tuple[tuple[int, int], ...] = (
    (64, 1),
    (128, 2),
    (128, 1),
    (256, 2),
    (256, 1),
    (512, 2),
    (512, 1),
    (512, 1),
    (512, 1),
    (512, 1),
    (512, 1),
    (1024, 2),
    (1024, 1),
)


class StemConv(nn.Module):
    def __init__(self, cin: int, cout: int, stride: int) -> None:
        super().__init__()
        self.conv2d = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
        self.bn = nn.BatchNorm2d(cout)
        self.relu = nn.ReLU(inplace=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.relu(self.bn(self.conv2d(x)))


class DepthwiseSeparable(nn.Module):
    def __init__(self, cin: int, cout: int, stride: int) -> None:
        super().__init__()
        self.dw_conv = nn.Conv2d(cin, cin, 3, stride, 1, groups=cin, bias=False)
        self.bn_0 = nn.BatchNorm2d(cin)
        self.relu_0 = nn.ReLU(inplace=True)
        self.conv = nn.Conv2d(cin, cout, 1, 1, 0, bias=False)
        self.bn_1 = nn.BatchNorm2d(cout)
        self.relu_1 = nn.ReLU(inplace=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.relu_0(self.bn_0(self.dw_conv(x)))
        return self.relu_1(self.bn_1(self.conv(x)))


class MobileNetV1(nn.Module):
    def __init__(self, num_classes: int = 1000, width: float = 1.0, dropout: float = 0.2) -> None:
        super().__init__()
        first = int(32 * width)
        layers: list[nn.Module] = [StemConv(3, first, 2)]
        cin = first
        for cout, stride in BLOCKS:
            cout = int(cout * width)
            layers.append(DepthwiseSeparable(cin, cout, stride))
            cin = cout
        self.model = nn.Sequential(*layers)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.dropout = nn.Dropout(dropout)
        self.fc = nn.Linear(cin, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.pool(self.model(x)).flatten(1)
        return self.fc(self.dropout(x))


def mobilenet_v1(num_classes: int) -> nn.Module:
    return MobileNetV1(num_classes)
