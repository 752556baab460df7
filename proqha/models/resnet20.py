"""ProQHA's CIFAR ResNet-20/32/56/110 (docs/proqha.md section 4; the original ``quant/resnet20.py``).

Pre-activation blocks: BN -> PACT relu1 -> conv1 -> BN -> PACT relu2 -> conv2, plus an option-A shortcut of
the *pre-activated* input (stride-2 subsampling, channels zero-padded by a quarter on each side). Float 3x3
stem to 16 channels with BN and ReLU, no activation after the last block, float linear 64 -> classes.
Quantizer order per block: A, W, A, W. The classifier is named ``fc`` (the original: ``linear``) so that
the layer names are those of ``common``'s ``resnet20``; :func:`proqha.checkpoints.rename_original_keys`
maps original checkpoints.

The head pools as the original does, with ``F.avg_pool2d`` and a kernel equal to the final map's width (see
:func:`final_pool`), not with ``adaptive_avg_pool2d``: both compute the mean, but they sum in a different order,
and the last-bit differences grow through the 7/8-bit fine-tunes of the progressive search enough to select a
different candidate after round 0.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from proqha.quantizers import PACT, QuantConv2d

INIT_BITS = 8


class OptionAShortcut(nn.Module):
    """Subsample by 2 and zero-pad ``planes // 4`` channels on each side."""

    def __init__(self, planes: int) -> None:
        super().__init__()
        self.pad = planes // 4

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.pad(x[:, :, ::2, ::2], (0, 0, 0, 0, self.pad, self.pad))


class PreActBlock(nn.Module):
    def __init__(self, cin: int, cout: int, stride: int) -> None:
        super().__init__()
        self.bn1 = nn.BatchNorm2d(cin)
        self.relu1 = PACT(INIT_BITS)
        self.conv1 = QuantConv2d(cin, cout, 3, stride, 1, bits=INIT_BITS)
        self.bn2 = nn.BatchNorm2d(cout)
        self.relu2 = PACT(INIT_BITS)
        self.conv2 = QuantConv2d(cout, cout, 3, 1, 1, bits=INIT_BITS)
        self.shortcut = OptionAShortcut(cout) if (stride != 1 or cin != cout) else nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        pre = self.relu1(self.bn1(x))
        out = self.conv2(self.relu2(self.bn2(self.conv1(pre))))
        return out + self.shortcut(pre)


def final_pool(x: torch.Tensor) -> torch.Tensor:
    """The original head's pooling: ``F.avg_pool2d(x, W)`` with kernel and stride ``W = x.size(3)``.

    For a square ``H x W`` map this is ``y[n, c] = (1 / (H W)) sum_{i, j} x[n, c, i, j]``, summed in
    ``avg_pool2d``'s order (bitwise equal to the original, unlike ``adaptive_avg_pool2d``). Returns
    ``(N, C)``. The original fails where the pooled map is not ``1 x 1`` (``H < W``: empty window; ``H >= 2 W``:
    several windows, so ``fc`` gets too many features); here that is a :class:`ValueError` naming the sizes. A
    map with ``W < H < 2 W`` pools only its top ``W x W`` window, as in the original.
    """
    h, w = int(x.size(2)), int(x.size(3))
    if not w <= h < 2 * w:
        raise ValueError(
            f"ResNet-20 head: final feature map is {h}x{w}, but the original's avg_pool2d with kernel {w} "
            "(the map's width) needs a 1x1 result; use a square input (32x32 on CIFAR)"
        )
    return F.avg_pool2d(x, w).flatten(1)


class QuantResNet20(nn.Module):
    def __init__(self, num_layers: int = 20, num_classes: int = 10) -> None:
        super().__init__()
        if num_layers < 8 or (num_layers - 2) % 6:
            raise ValueError(f"CIFAR ResNet depth must be 6n+2 (20, 32, 56, 110), got {num_layers}")
        n = (num_layers - 2) // 6
        self.conv1 = nn.Conv2d(3, 16, 3, 1, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(16)
        cin = 16
        for i, cout in enumerate((16, 32, 64), start=1):
            blocks = []
            for b in range(n):
                blocks.append(PreActBlock(cin, cout, 2 if (b == 0 and i > 1) else 1))
                cin = cout
            self.add_module(f"layer{i}", nn.Sequential(*blocks))
        self.fc = nn.Linear(64, num_classes)
        for m in self.modules():
            if isinstance(m, (QuantConv2d, nn.Linear)):
                nn.init.kaiming_normal_(m.weight)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.relu(self.bn1(self.conv1(x)))
        x = self.layer3(self.layer2(self.layer1(x)))
        return self.fc(final_pool(x))
