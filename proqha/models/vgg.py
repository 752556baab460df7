"""ProQHA's CIFAR VGG with batch norm (``--arch vgg --num_layers 11|13|16|19``; docs/proqha.md section 4).

Every conv but the first is pre-activated and quantized: ``[BN(c_in), PACT, QuantConv 3x3/1 (bias)]``; the first
is ``[BN(3), ReLU, Conv 3x3/1 (bias)]`` in float; ``M`` is a 2x2/2 max-pool. Then an adaptive average pool to
7x7 (a 32-pixel input reaches it as 1x1, so the pool repeats it: the original's layout) and the classifier
``[PACT, QuantLinear(512*49, 4096), PACT, QuantLinear(4096, 4096), Linear(4096, classes)]``. Quantizer order:
A, W per layer, so the ``depth - 3`` quantized convs and the two quantized linears give ``2 (depth - 2)``
quantizers (18 for VGG-11, 28 for VGG-16). ``--batchnorm`` is true for any non-empty value in the original, so
the ``_bn`` builders are the only ones used. Module names are torchvision's (``features.<i>``,
``classifier.<i>``).

``width`` divides every channel count and the hidden FC width (1 in the original; larger only for smoke tests).
"""

from __future__ import annotations

import torch
from torch import nn

from proqha.quantizers import PACT, QuantConv2d, QuantLinear

INIT_BITS = 8
CFGS: dict[int, tuple[int | str, ...]] = {
    11: (64, "M", 128, "M", 256, 256, "M", 512, 512, "M", 512, 512, "M"),
    13: (64, 64, "M", 128, 128, "M", 256, 256, "M", 512, 512, "M", 512, 512, "M"),
    16: (64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M", 512, 512, 512, "M"),
    19: (
        64,
        64,
        "M",
        128,
        128,
        "M",
        256,
        256,
        256,
        256,
        "M",
        512,
        512,
        512,
        512,
        "M",
        512,
        512,
        512,
        512,
        "M",
    ),
}
HIDDEN = 4096


class QuantVGG(nn.Module):
    def __init__(self, num_layers: int, num_classes: int = 10, width: int = 1) -> None:
        super().__init__()
        if num_layers not in CFGS:
            raise ValueError(f"VGG has 11, 13, 16 or 19 layers, got {num_layers}")
        layers: list[nn.Module] = []
        cin = 3
        for v in CFGS[num_layers]:
            if v == "M":
                layers.append(nn.MaxPool2d(2, 2))
                continue
            cout = int(v) // width
            if cin == 3:
                layers += [nn.BatchNorm2d(cin), nn.ReLU(inplace=True), nn.Conv2d(cin, cout, 3, 1, 1)]
            else:
                layers += [
                    nn.BatchNorm2d(cin),
                    PACT(INIT_BITS),
                    QuantConv2d(cin, cout, 3, 1, 1, bias=True, bits=INIT_BITS),
                ]
            cin = cout
        self.features = nn.Sequential(*layers)
        self.avgpool = nn.AdaptiveAvgPool2d((7, 7))
        hidden = HIDDEN // width
        self.classifier = nn.Sequential(
            PACT(INIT_BITS),
            QuantLinear(cin * 49, hidden, bits=INIT_BITS),
            PACT(INIT_BITS),
            QuantLinear(hidden, hidden, bits=INIT_BITS),
            nn.Linear(hidden, num_classes),
        )
        for m in self.modules():
            if isinstance(m, QuantConv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
                nn.init.zeros_(m.bias)
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)
            elif isinstance(m, nn.Linear):  # QuantLinear included
                nn.init.normal_(m.weight, 0.0, 0.01)
                nn.init.zeros_(m.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = torch.flatten(self.avgpool(self.features(x)), 1)
        return self.classifier(x)


def cifar_vgg(num_layers: int, num_classes: int = 10, width: int = 1) -> QuantVGG:
    return QuantVGG(num_layers, num_classes, width)
