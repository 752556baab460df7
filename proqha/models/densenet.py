"""ProQHA's CIFAR DenseNet-40 (``--arch densenet --num_layers 40``; docs/proqha.md section 4).

Growth rate 12, three dense blocks of ``n = (40 - 4) / 3 = 12`` layers and, as the original's ``densenet40``
passes compression rate 1, transitions that keep the width::

    conv1 = Conv 3x3/1 3 -> 24 (float)
    dense layer   = [BN(c), PACT, QuantConv 3x3/1 c -> 12], output concat(x, new)     (c grows by 12)
    transition    = [BN(c), PACT, QuantConv 1x1 c -> c], 2x2 average pool
    widths: 24 -> 168 | 168 -> 312 | 312 -> 456, then BN, ReLU, 8x8 average pool, fc 456 -> classes (float)

The 36 dense convs and the 2 transition convs are quantized (A, W each): ``2 (40 - 2) = 76`` quantizers.
Quantized convs start as ``N(0, sqrt(2 / (k*k*out)))``; BN as 1/0. Module names: ``conv1``,
``dense<b>.<i>.{bn,relu,conv}``, ``trans<b>.{bn,relu,conv}``, ``bn``, ``fc``.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from proqha.quantizers import PACT, QuantConv2d

INIT_BITS = 8
GROWTH = 12
DEPTH = 40


class DenseLayer(nn.Module):
    def __init__(self, cin: int, growth: int) -> None:
        super().__init__()
        self.bn = nn.BatchNorm2d(cin)
        self.relu = PACT(INIT_BITS)
        self.conv = QuantConv2d(cin, growth, 3, 1, 1, bits=INIT_BITS)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cat((x, self.conv(self.relu(self.bn(x)))), 1)


class Transition(nn.Module):
    def __init__(self, cin: int, cout: int) -> None:
        super().__init__()
        self.bn = nn.BatchNorm2d(cin)
        self.relu = PACT(INIT_BITS)
        self.conv = QuantConv2d(cin, cout, 1, 1, 0, bits=INIT_BITS)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.avg_pool2d(self.conv(self.relu(self.bn(x))), 2)


class QuantDenseNet(nn.Module):
    def __init__(
        self, depth: int = DEPTH, num_classes: int = 10, growth: int = GROWTH, compression: int = 1
    ) -> None:
        super().__init__()
        if depth < 7 or (depth - 4) % 3:
            raise ValueError(f"DenseNet depth must be 3n+4, got {depth}")
        n = (depth - 4) // 3
        width = 2 * growth
        self.conv1 = nn.Conv2d(3, width, 3, 1, 1, bias=False)
        for b in (1, 2, 3):
            layers = []
            for _ in range(n):
                layers.append(DenseLayer(width, growth))
                width += growth
            self.add_module(f"dense{b}", nn.Sequential(*layers))
            if b < 3:
                out = width // compression
                self.add_module(f"trans{b}", Transition(width, out))
                width = out
        self.bn = nn.BatchNorm2d(width)
        self.relu = nn.ReLU(inplace=True)
        self.avgpool = nn.AvgPool2d(8)
        self.fc = nn.Linear(width, num_classes)
        for m in self.modules():
            if isinstance(m, QuantConv2d):
                fan_out = m.kernel_size[0] * m.kernel_size[1] * m.out_channels
                nn.init.normal_(m.weight, 0.0, math.sqrt(2.0 / fan_out))
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.trans1(self.dense1(self.conv1(x)))
        x = self.dense3(self.trans2(self.dense2(x)))
        x = self.avgpool(self.relu(self.bn(x)))
        return self.fc(torch.flatten(x, 1))


def densenet40(num_classes: int = 10, growth: int = GROWTH) -> QuantDenseNet:
    return QuantDenseNet(DEPTH, num_classes, growth)
