"""ProQHA's MobileNetV2 (``mobilenetv252``; docs/proqha.md section 4), CIFAR and ImageNet settings.

Inside the inverted residuals every conv is pre-activated: BN -> PACT -> QuantConv2d (pointwise expand,
depthwise 3x3, pointwise project), so the quantizer order is A, W, A, W, ... (100 quantizers at width 1).
The stem (3x3 conv, BN, ReLU6), the last 1x1 conv to 1280 channels (BN, ReLU6) and the classifier are float.
CIFAR: stem stride 1 and the 24- and 32-channel stages at stride 1; ImageNet: the MobileNetV2 strides.
The head averages as the original does, over the width and then over the height (``x.mean(3).mean(2)``), which
sums in a different order than a single ``mean((2, 3))`` and so is not bitwise the same.
"""

from __future__ import annotations

import torch
from torch import nn

from proqha.quantizers import PACT, QuantConv2d

INIT_BITS = 8

#: (expansion t, channels c, repeats n, stride s) per stage
IMAGENET_SETTING = (
    (1, 16, 1, 1),
    (6, 24, 2, 2),
    (6, 32, 3, 2),
    (6, 64, 4, 2),
    (6, 96, 3, 1),
    (6, 160, 3, 2),
    (6, 320, 1, 1),
)
CIFAR_SETTING = (
    (1, 16, 1, 1),
    (6, 24, 2, 1),
    (6, 32, 3, 1),
    (6, 64, 4, 2),
    (6, 96, 3, 1),
    (6, 160, 3, 2),
    (6, 320, 1, 1),
)


def _pre_act_conv(cin: int, cout: int, kernel: int, stride: int, groups: int = 1) -> list[nn.Module]:
    return [
        nn.BatchNorm2d(cin),
        PACT(INIT_BITS),
        QuantConv2d(cin, cout, kernel, stride, kernel // 2, groups=groups, bits=INIT_BITS),
    ]


class InvertedResidual(nn.Module):
    def __init__(self, cin: int, cout: int, stride: int, expand: int) -> None:
        super().__init__()
        hidden = round(cin * expand)
        self.use_res_connect = stride == 1 and cin == cout
        layers: list[nn.Module] = []
        if expand != 1:
            layers += _pre_act_conv(cin, hidden, 1, 1)
        layers += _pre_act_conv(hidden, hidden, 3, stride, groups=hidden)
        layers += _pre_act_conv(hidden, cout, 1, 1)
        self.conv = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.conv(x) if self.use_res_connect else self.conv(x)


class QuantMobileNetV2(nn.Module):
    def __init__(self, num_classes: int = 10, width_mult: float = 1.0, cifar: bool = True) -> None:
        super().__init__()
        setting = CIFAR_SETTING if cifar else IMAGENET_SETTING
        cin = int(32 * width_mult)
        last = int(1280 * width_mult) if width_mult > 1.0 else 1280
        features: list[nn.Module] = [
            nn.Sequential(
                nn.Conv2d(3, cin, 3, 1 if cifar else 2, 1, bias=False), nn.BatchNorm2d(cin), nn.ReLU6(True)
            )
        ]
        for t, c, n, s in setting:
            cout = int(c * width_mult)
            for i in range(n):
                features.append(InvertedResidual(cin, cout, s if i == 0 else 1, t))
                cin = cout
        features.append(
            nn.Sequential(nn.Conv2d(cin, last, 1, 1, 0, bias=False), nn.BatchNorm2d(last), nn.ReLU6(True))
        )
        self.features = nn.Sequential(*features)
        self.classifier = nn.Sequential(nn.Linear(last, num_classes))
        for m in self.modules():
            if isinstance(m, QuantConv2d):
                fan_out = m.kernel_size[0] * m.kernel_size[1] * m.out_channels
                nn.init.normal_(m.weight, 0.0, (2.0 / fan_out) ** 0.5)
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)
            elif isinstance(m, nn.Linear):
                nn.init.normal_(m.weight, 0.0, 0.01)
                nn.init.zeros_(m.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``classifier(m)`` with ``m[n, c] = mean_i (mean_j f[n, c, i, j])``, the original's two-step mean."""
        return self.classifier(self.features(x).mean(3).mean(2))
