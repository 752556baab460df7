"""HAQ's own MobileNetV2 layout (docs/haq.md section 4.1), so its released checkpoints load key for key.

Stem conv 3x3/2 -> 32, inverted residual stages (t, c, n, s) = (1,16,1,1) (6,24,2,2) (6,32,3,2) (6,64,4,2)
(6,96,3,1) (6,160,3,2) (6,320,1,1), a last 1x1 conv -> 1280, spatial mean, one ``Linear(1280, classes)`` (no
dropout); BN + ReLU6; a residual add when the stride is 1 and the widths match. Module names are the original's
(``features.<i>.conv.<j>``, ``features.<i>.0``, ``classifier``): 53 quantizable layers, the same order and shapes
as torchvision's ``mobilenet_v2`` (our bit-config arch for it).

``qmobilenetv2`` builds the same network from :class:`QConv2d`/:class:`QLinear`; inputs of the expansion 1x1
convs (t = 6) and of the last 1x1 conv are block outputs without ReLU, so their input quantizers are signed;
every other layer's input is post-ReLU6 (unsigned). It always has 1000 outputs (the original ignores
``num_classes``; ImageNet-100 is the first 100 ImageNet classes, so the 1000-way head is reused).
"""

from __future__ import annotations

from torch import nn

from common.models.mobilenet_v1_haq import init_haq_weights
from haq.lib.utils.linear_quant import QConv2d, QLinear

STAGES = (
    (1, 16, 1, 1),
    (6, 24, 2, 2),
    (6, 32, 3, 2),
    (6, 64, 4, 2),
    (6, 96, 3, 1),
    (6, 160, 3, 2),
    (6, 320, 1, 1),
)


class _Maker:
    """Creates conv/linear layers: plain torch layers, or HAQ's quantized ones with a signedness."""

    def __init__(self, quantized: bool) -> None:
        self.quantized = quantized

    def conv(
        self, cin: int, cout: int, k: int, stride: int = 1, groups: int = 1, signed: bool = False
    ) -> nn.Module:
        if self.quantized:
            return QConv2d(cin, cout, k, stride, k // 2, groups=groups, bias=False, half_wave=not signed)
        return nn.Conv2d(cin, cout, k, stride, k // 2, groups=groups, bias=False)

    def linear(self, cin: int, cout: int) -> nn.Module:
        return QLinear(cin, cout) if self.quantized else nn.Linear(cin, cout)


class InvertedResidual(nn.Module):
    """Expansion 1x1 (skipped when t = 1) -> depthwise 3x3 -> projection 1x1, BN after each, ReLU6 after two."""

    def __init__(self, make: _Maker, cin: int, cout: int, stride: int, t: int) -> None:
        super().__init__()
        hidden = cin * t
        self.use_res_connect = stride == 1 and cin == cout
        layers: list[nn.Module] = []
        if t != 1:
            layers += [make.conv(cin, hidden, 1, signed=True), nn.BatchNorm2d(hidden), nn.ReLU6(inplace=True)]
        layers += [
            make.conv(hidden, hidden, 3, stride, groups=hidden),
            nn.BatchNorm2d(hidden),
            nn.ReLU6(inplace=True),
            make.conv(hidden, cout, 1),
            nn.BatchNorm2d(cout),
        ]
        self.conv = nn.Sequential(*layers)

    def forward(self, x):
        y = self.conv(x)
        return x + y if self.use_res_connect else y


class MobileNetV2(nn.Module):
    """Width-1.0 MobileNetV2 in HAQ's module layout; ``quantized`` selects QConv2d/QLinear layers."""

    def __init__(self, num_classes: int = 1000, quantized: bool = False) -> None:
        super().__init__()
        make = _Maker(quantized)
        width = 32
        blocks: list[nn.Module] = [
            nn.Sequential(make.conv(3, width, 3, 2), nn.BatchNorm2d(width), nn.ReLU6(inplace=True))
        ]
        for t, c, n, s in STAGES:
            for i in range(n):
                blocks.append(InvertedResidual(make, width, c, s if i == 0 else 1, t))
                width = c
        blocks.append(
            nn.Sequential(
                make.conv(width, 1280, 1, signed=True), nn.BatchNorm2d(1280), nn.ReLU6(inplace=True)
            )
        )
        self.features = nn.Sequential(*blocks)
        self.classifier = make.linear(1280, num_classes)
        init_haq_weights(self)

    def forward(self, x):
        return self.classifier(self.features(x).mean(3).mean(2))


def mobilenetv2(num_classes: int = 1000) -> MobileNetV2:
    return MobileNetV2(num_classes)


def qmobilenetv2(num_classes: int = 1000) -> MobileNetV2:
    """Always 1000 outputs, whatever ``num_classes`` says (faithful, spec section 8 item 11)."""
    del num_classes
    return MobileNetV2(1000, quantized=True)
