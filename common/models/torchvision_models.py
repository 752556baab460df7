"""ImageNet architectures taken from torchvision, plus the ResNet v1 stride placement.

torchvision's ResNet-50/101 put the stride of a downsampling bottleneck on the 3x3 conv (the "v1.5"
layout). pytorchcv, which HAWQ-V3 and OMPQ's QAT use, puts it on the first 1x1 conv (the original
"v1" layout, 3.858 GMACs for ResNet-50 instead of 4.089). The ``*_v1`` builders move the stride and
keep every module name and parameter shape, so torchvision weights load into them unchanged.

The ResNet builders also take pytorchcv's width arguments, for reduced-width models (:class:`ChannelResNet`):
``channels``, one list per stage of the output width of each unit, and ``init_block_channels``, the stem's
width. Left out, they build torchvision's model itself.
"""

from __future__ import annotations

from collections.abc import Sequence

from torch import nn
from torchvision import models as tvm
from torchvision.models.resnet import BasicBlock, Bottleneck, ResNet

#: pytorchcv's widths: output channels of every unit, one tuple per stage, and the stem's channels
RESNET18_CHANNELS: tuple[tuple[int, ...], ...] = ((64, 64), (128, 128), (256, 256), (512, 512))
RESNET50_CHANNELS: tuple[tuple[int, ...], ...] = ((256,) * 3, (512,) * 4, (1024,) * 6, (2048,) * 3)
RESNET101_CHANNELS: tuple[tuple[int, ...], ...] = ((256,) * 3, (512,) * 4, (1024,) * 23, (2048,) * 3)
INIT_BLOCK_CHANNELS = 64
#: a bottleneck unit of output width ``c`` has inner width ``c // BOTTLENECK_FACTOR`` (pytorchcv's rule)
BOTTLENECK_FACTOR = 4


def check_channels(
    channels: Sequence[Sequence[int]], init_block_channels: int, stages: int | None = None
) -> None:
    """Raise ``ValueError`` unless ``channels`` is a list of non-empty lists of positive ints (``stages`` of them
    when given) and ``init_block_channels`` a positive int."""
    if (
        isinstance(init_block_channels, bool)
        or not isinstance(init_block_channels, int)
        or init_block_channels < 1
    ):
        raise ValueError(f"init_block_channels must be a positive int, got {init_block_channels!r}")
    if isinstance(channels, (str, bytes)) or not isinstance(channels, Sequence) or not channels:
        raise ValueError(f"channels must be a list of per-stage lists of unit widths, got {channels!r}")
    if stages is not None and len(channels) != stages:
        raise ValueError(f"channels must have {stages} stages (one list each), got {len(channels)}")
    for s, stage in enumerate(channels, start=1):
        if isinstance(stage, (str, bytes)) or not isinstance(stage, Sequence) or not stage:
            raise ValueError(f"channels: stage {s} must be a non-empty list of unit widths, got {stage!r}")
        for c in stage:
            if isinstance(c, bool) or not isinstance(c, int) or c < 1:
                raise ValueError(f"channels: stage {s} has a width that is not a positive int: {c!r}")


class ChannelResNet(ResNet):
    """torchvision's ResNet (its module names, its forward) at the per-unit widths of pytorchcv's convention.

    ``channels[s][u]`` is the output width ``c`` of unit ``u`` of stage ``s`` (four stages, so ``layer1`` to
    ``layer4``; the first unit of stages 2 to 4 has stride 2) and ``init_block_channels`` the width of the 7x7/2
    stem (followed by the 3x3/2 max-pool). With input width ``c_in`` a unit is

    * ``BasicBlock``: 3x3 ``c_in -> c`` (stride s), 3x3 ``c -> c``;
    * ``Bottleneck``: 1x1 ``c_in -> m``, 3x3 ``m -> m`` (stride s), 1x1 ``m -> c`` with ``m = c // 4``
      (torchvision's v1.5 stride placement; :func:`move_stride_to_first_conv` makes it v1);

    plus a ``downsample`` (1x1 conv with stride s, BN) when ``s = 2`` or ``c_in != c``. The classifier is
    ``fc: Linear(channels[-1][-1], num_classes)``. Init as torchvision's: Kaiming-normal (fan-out, ReLU) convs,
    BN weight 1 and bias 0, default ``Linear``. At the default widths the state dict has exactly torchvision's
    keys and shapes.
    """

    def __init__(
        self,
        block: type[BasicBlock] | type[Bottleneck],
        channels: Sequence[Sequence[int]],
        init_block_channels: int,
        num_classes: int,
    ) -> None:
        check_channels(channels, init_block_channels, stages=4)
        if block is Bottleneck and min(min(stage) for stage in channels) < BOTTLENECK_FACTOR:
            raise ValueError(f"channels: a bottleneck unit needs a width of at least {BOTTLENECK_FACTOR}")
        nn.Module.__init__(self)
        self._norm_layer = nn.BatchNorm2d
        self.dilation, self.groups, self.base_width = 1, 1, 64
        self.inplanes = init_block_channels
        self.conv1 = nn.Conv2d(3, init_block_channels, kernel_size=7, stride=2, padding=3, bias=False)
        self.bn1 = nn.BatchNorm2d(init_block_channels)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(kernel_size=3, stride=2, padding=1)
        cin = init_block_channels
        for s, stage in enumerate(channels, start=1):
            units = []
            for u, cout in enumerate(stage):
                stride = 2 if (u == 0 and s > 1) else 1
                units.append(self._unit(block, cin, cout, stride))
                cin = cout
            setattr(self, f"layer{s}", nn.Sequential(*units))
        self.inplanes = cin
        self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
        self.fc = nn.Linear(cin, num_classes)
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)

    @staticmethod
    def _unit(block: type[BasicBlock] | type[Bottleneck], cin: int, cout: int, stride: int) -> nn.Module:
        downsample = None
        if stride != 1 or cin != cout:
            downsample = nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout))
        if block is BasicBlock:
            return BasicBlock(cin, cout, stride, downsample)
        mid = cout // BOTTLENECK_FACTOR
        unit = Bottleneck(cin, mid, stride, downsample)
        if mid * Bottleneck.expansion != cout:  # pytorchcv allows widths that are not a multiple of 4
            unit.conv3 = nn.Conv2d(mid, cout, 1, bias=False)
            unit.bn3 = nn.BatchNorm2d(cout)
        return unit


def _channel_resnet(
    block: type[BasicBlock] | type[Bottleneck],
    default_channels: Sequence[Sequence[int]],
    num_classes: int,
    channels: Sequence[Sequence[int]] | None,
    init_block_channels: int | None,
) -> ChannelResNet:
    """A :class:`ChannelResNet` whose unset width arguments take the standard model's values."""
    return ChannelResNet(
        block,
        default_channels if channels is None else channels,
        INIT_BLOCK_CHANNELS if init_block_channels is None else init_block_channels,
        num_classes,
    )


def resnet18(
    num_classes: int, channels: Sequence[Sequence[int]] | None = None, init_block_channels: int | None = None
) -> nn.Module:
    """torchvision's ResNet-18, or a :class:`ChannelResNet` of basic blocks at the given widths (default
    :data:`RESNET18_CHANNELS`, stem 64)."""
    if channels is None and init_block_channels is None:
        return tvm.resnet18(weights=None, num_classes=num_classes)
    return _channel_resnet(BasicBlock, RESNET18_CHANNELS, num_classes, channels, init_block_channels)


def resnet50(
    num_classes: int, channels: Sequence[Sequence[int]] | None = None, init_block_channels: int | None = None
) -> nn.Module:
    """torchvision's ResNet-50 (v1.5), or a bottleneck :class:`ChannelResNet` at the given widths (default
    :data:`RESNET50_CHANNELS`, stem 64)."""
    if channels is None and init_block_channels is None:
        return tvm.resnet50(weights=None, num_classes=num_classes)
    return _channel_resnet(Bottleneck, RESNET50_CHANNELS, num_classes, channels, init_block_channels)


def resnet101(
    num_classes: int, channels: Sequence[Sequence[int]] | None = None, init_block_channels: int | None = None
) -> nn.Module:
    """torchvision's ResNet-101 (v1.5), or a bottleneck :class:`ChannelResNet` at the given widths (default
    :data:`RESNET101_CHANNELS`, stem 64)."""
    if channels is None and init_block_channels is None:
        return tvm.resnet101(weights=None, num_classes=num_classes)
    return _channel_resnet(Bottleneck, RESNET101_CHANNELS, num_classes, channels, init_block_channels)


def move_stride_to_first_conv(model: nn.Module) -> nn.Module:
    """Turn a torchvision v1.5 bottleneck ResNet into the v1 layout (stride on ``conv1``)."""
    for block in model.modules():
        if isinstance(block, Bottleneck) and block.conv2.stride != (1, 1):
            block.conv1.stride, block.conv2.stride = block.conv2.stride, (1, 1)
    return model


def resnet50_v1(
    num_classes: int, channels: Sequence[Sequence[int]] | None = None, init_block_channels: int | None = None
) -> nn.Module:
    """:func:`resnet50` with the stride of each downsampling bottleneck on its first 1x1 conv (pytorchcv's)."""
    return move_stride_to_first_conv(resnet50(num_classes, channels, init_block_channels))


def resnet101_v1(
    num_classes: int, channels: Sequence[Sequence[int]] | None = None, init_block_channels: int | None = None
) -> nn.Module:
    """:func:`resnet101` with the stride of each downsampling bottleneck on its first 1x1 conv (pytorchcv's)."""
    return move_stride_to_first_conv(resnet101(num_classes, channels, init_block_channels))


def mobilenet_v2(num_classes: int) -> nn.Module:
    return tvm.mobilenet_v2(weights=None, num_classes=num_classes)


def inception_v3(num_classes: int) -> nn.Module:
    """Inception-V3 without the auxiliary head (299x299 input)."""
    return tvm.inception_v3(weights=None, num_classes=num_classes, aux_logits=False, init_weights=False)


def efficientnet_b0(num_classes: int) -> nn.Module:
    return tvm.efficientnet_b0(weights=None, num_classes=num_classes)
