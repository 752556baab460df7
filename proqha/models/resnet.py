"""ProQHA's torchvision-layout ResNets (docs/proqha.md section 4), with torchvision module names.

* ``post`` blocks (``OriQuantBasicBlock``, ImageNet ResNet-18): conv1 -> BN -> PACT relu1 -> conv2 -> BN
  -> (+ identity or downsample(x)) -> PACT relu2. Quantizer order per block: W, A, W, A.
* ``pre`` blocks (``QuantBasicBlock``, ImageNet ResNet-34 and the CIFAR ResNet-18/34): BN -> PACT relu1 ->
  conv1 -> BN -> PACT relu2 -> conv2, plus the shortcut (x, or downsample of the pre-activated input); no
  activation after the add. Quantizer order per block: A, W, A, W.

Float layers: the stem conv (7x7/2 on ImageNet, 3x3/1 on CIFAR) with BN, plain ReLU and 3x3/2 max-pool, the
1x1 downsample convs and the classifier ``fc``.

``tiny_resnet`` (not in the original) is the post-activation layout at stage widths 16/32/64/128 with one block
per stage, a 3x3 stride-1 stem and no max-pool (``maxpool`` is an ``Identity``): the module names and shapes of
``common``'s float ``tiny_resnet``, so its checkpoint loads by name (PACT ``alpha`` keeps its initial value).
"""

from __future__ import annotations

import torch
from torch import nn

from proqha.quantizers import PACT, QuantConv2d

INIT_BITS = 8


class PostActBlock(nn.Module):
    """Post-activation basic block (the original ``OriQuantBasicBlock``)."""

    def __init__(self, cin: int, cout: int, stride: int, downsample: nn.Module | None) -> None:
        super().__init__()
        self.conv1 = QuantConv2d(cin, cout, 3, stride, 1, bits=INIT_BITS)
        self.bn1 = nn.BatchNorm2d(cout)
        self.relu1 = PACT(INIT_BITS)
        self.conv2 = QuantConv2d(cout, cout, 3, 1, 1, bits=INIT_BITS)
        self.bn2 = nn.BatchNorm2d(cout)
        self.relu2 = PACT(INIT_BITS)
        self.downsample = downsample

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.relu1(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        identity = x if self.downsample is None else self.downsample(x)
        return self.relu2(out + identity)


class PreActBlock(nn.Module):
    """Pre-activation basic block (the original ``QuantBasicBlock``)."""

    def __init__(self, cin: int, cout: int, stride: int, downsample: nn.Module | None) -> None:
        super().__init__()
        self.bn1 = nn.BatchNorm2d(cin)
        self.relu1 = PACT(INIT_BITS)
        self.conv1 = QuantConv2d(cin, cout, 3, stride, 1, bits=INIT_BITS)
        self.bn2 = nn.BatchNorm2d(cout)
        self.relu2 = PACT(INIT_BITS)
        self.conv2 = QuantConv2d(cout, cout, 3, 1, 1, bits=INIT_BITS)
        self.downsample = downsample

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        pre = self.relu1(self.bn1(x))
        shortcut = x if self.downsample is None else self.downsample(pre)
        out = self.conv1(pre)
        out = self.conv2(self.relu2(self.bn2(out)))
        return out + shortcut


BLOCKS = {"post": PostActBlock, "pre": PreActBlock}


class ResNetTrunk(nn.Module):
    """What ProQHA's ResNets share (basic and bottleneck units): the float stem, ``layer1`` .. ``layer4``, the
    average pool and the float ``fc``, their initialisation and the forward pass."""

    def _build_stem(self, width: int, stem: str, maxpool: bool = True) -> None:
        """``conv1`` (7x7/2 on ImageNet, 3x3/1 on CIFAR), ``bn1``, ReLU and the 3x3/2 max-pool (or an identity)."""
        if stem == "imagenet":
            self.conv1 = nn.Conv2d(3, width, 7, 2, 3, bias=False)
        else:
            self.conv1 = nn.Conv2d(3, width, 3, 1, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(width)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(3, 2, 1) if maxpool else nn.Identity()

    def _init_weights(self) -> None:
        """Quantized convs ~ Kaiming normal (fan-out, ReLU); BN (1, 0); float layers keep torch's defaults."""
        for m in self.modules():
            if isinstance(m, QuantConv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
        return self.fc(torch.flatten(self.avgpool(x), 1))


class QuantResNet(ResNetTrunk):
    """Stem, four stages of basic blocks (``widths`` channels, 64/128/256/512 by default), average pool, float
    ``fc``; ``maxpool=False`` replaces the stem's max-pool by an identity."""

    def __init__(
        self,
        depths: list[int],
        block: str,
        num_classes: int,
        stem: str = "imagenet",
        widths: tuple[int, int, int, int] = (64, 128, 256, 512),
        maxpool: bool = True,
    ) -> None:
        super().__init__()
        self._build_stem(widths[0], stem, maxpool)
        block_cls = BLOCKS[block]
        cin = widths[0]
        for i, (cout, n) in enumerate(zip(widths, depths, strict=True), start=1):
            stride = 1 if i == 1 else 2
            blocks = []
            for b in range(n):
                s = stride if b == 0 else 1
                down = None
                if s != 1 or cin != cout:
                    down = nn.Sequential(nn.Conv2d(cin, cout, 1, s, bias=False), nn.BatchNorm2d(cout))
                blocks.append(block_cls(cin, cout, s, down))
                cin = cout
            self.add_module(f"layer{i}", nn.Sequential(*blocks))
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(widths[-1], num_classes)
        self._init_weights()


def imagenet_resnet(num_layers: int, num_classes: int = 1000) -> QuantResNet:
    """ImageNet ResNet-18 (post-activation) or ResNet-34 (pre-activation)."""
    if num_layers == 18:
        return QuantResNet([2, 2, 2, 2], "post", num_classes, "imagenet")
    return QuantResNet([3, 4, 6, 3], "pre", num_classes, "imagenet")


def cifar_resnet(num_layers: int, num_classes: int = 10) -> QuantResNet:
    """CIFAR ResNet-18/34: pre-activation blocks, 3x3 stride-1 stem (the max-pool is kept, as in the original)."""
    depths = [2, 2, 2, 2] if num_layers == 18 else [3, 4, 6, 3]
    return QuantResNet(depths, "pre", num_classes, "cifar")


#: stage widths of ``tiny_resnet`` (common/models/tiny.py)
TINY_WIDTHS = (16, 32, 64, 128)


def tiny_resnet(num_classes: int = 10) -> QuantResNet:
    """``tiny_resnet`` (ResNet-10: one post-activation block per stage, 16/32/64/128, 3x3/1 stem, no max-pool)."""
    return QuantResNet([1, 1, 1, 1], "post", num_classes, "cifar", widths=TINY_WIDTHS, maxpool=False)
