"""ImageNet architectures taken from torchvision, plus the ResNet v1 stride placement.

torchvision's ResNet-50/101 put the stride of a downsampling bottleneck on the 3x3 conv (the "v1.5"
layout). pytorchcv, which HAWQ-V3 and OMPQ's QAT use, puts it on the first 1x1 conv (the original
"v1" layout, 3.858 GMACs for ResNet-50 instead of 4.089). The ``*_v1`` builders move the stride and
keep every module name and parameter shape, so torchvision weights load into them unchanged.
"""

from __future__ import annotations

from torch import nn
from torchvision import models as tvm
from torchvision.models.resnet import Bottleneck


def resnet18(num_classes: int) -> nn.Module:
    return tvm.resnet18(weights=None, num_classes=num_classes)


def resnet50(num_classes: int) -> nn.Module:
    return tvm.resnet50(weights=None, num_classes=num_classes)


def resnet101(num_classes: int) -> nn.Module:
    return tvm.resnet101(weights=None, num_classes=num_classes)


def move_stride_to_first_conv(model: nn.Module) -> nn.Module:
    """Turn a torchvision v1.5 bottleneck ResNet into the v1 layout (stride on ``conv1``)."""
    for block in model.modules():
        if isinstance(block, Bottleneck) and block.conv2.stride != (1, 1):
            block.conv1.stride, block.conv2.stride = block.conv2.stride, (1, 1)
    return model


def resnet50_v1(num_classes: int) -> nn.Module:
    return move_stride_to_first_conv(resnet50(num_classes))


def resnet101_v1(num_classes: int) -> nn.Module:
    return move_stride_to_first_conv(resnet101(num_classes))


def mobilenet_v2(num_classes: int) -> nn.Module:
    return tvm.mobilenet_v2(weights=None, num_classes=num_classes)


def inception_v3(num_classes: int) -> nn.Module:
    """Inception-V3 without the auxiliary head (299x299 input)."""
    return tvm.inception_v3(weights=None, num_classes=num_classes, aux_logits=False, init_weights=False)


def efficientnet_b0(num_classes: int) -> nn.Module:
    return tvm.efficientnet_b0(weights=None, num_classes=num_classes)
