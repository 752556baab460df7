"""Small models for the embedded ``digits`` data (a few seconds per epoch on a CPU).

They reuse torchvision's building blocks and module names, so every method that knows how to
quantize ``resnet18`` or ``mobilenet_v2`` handles them unchanged:

* ``tiny_resnet``: torchvision's ResNet with one BasicBlock per stage at widths 16/32/64/128, a 3x3
  stride-1 stem and no max-pool (the input is 32x32), so it has the ``conv1``, ``layerS.B.convK``,
  ``layerS.0.downsample.0`` and ``fc`` layers of ResNet-18 (9 conv + 1 linear, about 0.3 M params).
* ``tiny_mobilenet_v2``: torchvision's MobileNetV2 at width 0.25 (depthwise convs included).
"""

from __future__ import annotations

from torch import nn
from torchvision import models as tvm
from torchvision.models.resnet import BasicBlock, ResNet


class TinyResNet(ResNet):
    """torchvision ResNet[1,1,1,1] with narrow stages and a CIFAR-style stem."""

    def __init__(self, num_classes: int = 10, widths: tuple[int, int, int, int] = (16, 32, 64, 128)) -> None:
        super().__init__(BasicBlock, [1, 1, 1, 1], num_classes=num_classes)
        self.inplanes = widths[0]
        self.conv1 = nn.Conv2d(3, widths[0], 3, 1, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(widths[0])
        self.maxpool = nn.Identity()
        self.layer1 = self._make_layer(BasicBlock, widths[0], 1)
        self.layer2 = self._make_layer(BasicBlock, widths[1], 1, stride=2)
        self.layer3 = self._make_layer(BasicBlock, widths[2], 1, stride=2)
        self.layer4 = self._make_layer(BasicBlock, widths[3], 1, stride=2)
        self.fc = nn.Linear(widths[3], num_classes)
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")


def tiny_resnet(num_classes: int) -> nn.Module:
    return TinyResNet(num_classes)


def tiny_mobilenet_v2(num_classes: int) -> nn.Module:
    return tvm.mobilenet_v2(weights=None, num_classes=num_classes, width_mult=0.25)
