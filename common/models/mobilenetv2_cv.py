"""MobileNetV2 (width 1.0) in pytorchcv's ``mobilenetv2_w1`` layout, the network HAWQ-V3 quantizes.

It differs from torchvision's MobileNetV2 in three ways that change cost figures: the first
bottleneck keeps its 1x1 expansion conv (expansion factor 1: 32->32), the classifier is a 1x1 conv
without bias, and there is no dropout. Units are grouped in five stages by resolution
(``features.stage{s}.unit{u}``), each with ``conv1`` (1x1 expand), ``conv2`` (3x3 depthwise) and
``conv3`` (1x1 linear projection); ``features.final_block`` is the 1x1 conv to 1280 channels.

Reduced widths use pytorchcv's arguments: ``channels`` (one list per stage of each unit's output width),
``init_block_channels`` (the stem's 32) and ``final_block_channels`` (the 1280 before the classifier).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from common.models.torchvision_models import check_channels

# Output channels of the units of each stage; the first unit of stages 2..5 has stride 2.
STAGES: tuple[tuple[int, ...], ...] = (
    (16,),
    (24, 24),
    (32, 32, 32),
    (64, 64, 64, 64, 96, 96, 96),
    (160, 160, 160, 320),
)
INIT_BLOCK_CHANNELS = 32
FINAL_BLOCK_CHANNELS = 1280
#: inner width of an expanding unit: ``EXPANSION * c_in``
EXPANSION = 6


class ConvBlock(nn.Module):
    """conv -> BN -> optional ReLU6, with pytorchcv's attribute names (conv, bn, activ)."""

    def __init__(self, cin: int, cout: int, kernel: int, stride: int = 1, groups: int = 1, act: bool = True):
        super().__init__()
        self.conv = nn.Conv2d(cin, cout, kernel, stride, kernel // 2, groups=groups, bias=False)
        self.bn = nn.BatchNorm2d(cout)
        self.activ = nn.ReLU6(inplace=True) if act else nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.activ(self.bn(self.conv(x)))


class LinearBottleneck(nn.Module):
    def __init__(self, cin: int, cout: int, stride: int, expand: bool) -> None:
        super().__init__()
        mid = cin * EXPANSION if expand else cin
        self.residual = cin == cout and stride == 1
        self.conv1 = ConvBlock(cin, mid, 1)
        self.conv2 = ConvBlock(mid, mid, 3, stride, groups=mid)
        self.conv3 = ConvBlock(mid, cout, 1, act=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.conv3(self.conv2(self.conv1(x)))
        return x + y if self.residual else y


class MobileNetV2CV(nn.Module):
    """pytorchcv's MobileNetV2: stem ``init_block`` (3x3/2, ``init_block_channels``), the stages of
    :class:`LinearBottleneck` units (``channels[s][u]`` output widths; the first unit of every stage after the first
    has stride 2; the very first unit does not expand, every other has inner width ``6 c_in``), ``final_block``
    (1x1 to ``final_block_channels``), global average pool and a 1x1 conv classifier without bias."""

    def __init__(
        self,
        num_classes: int = 1000,
        channels: Sequence[Sequence[int]] = STAGES,
        init_block_channels: int = INIT_BLOCK_CHANNELS,
        final_block_channels: int = FINAL_BLOCK_CHANNELS,
    ) -> None:
        check_channels(channels, init_block_channels)
        if (
            isinstance(final_block_channels, bool)
            or not isinstance(final_block_channels, int)
            or final_block_channels < 1
        ):
            raise ValueError(f"final_block_channels must be a positive int, got {final_block_channels!r}")
        super().__init__()
        self.features = nn.Sequential()
        self.features.add_module("init_block", ConvBlock(3, init_block_channels, 3, 2))
        cin = init_block_channels
        for s, stage_channels in enumerate(channels, start=1):
            stage = nn.Sequential()
            for u, cout in enumerate(stage_channels, start=1):
                stride = 2 if (u == 1 and s > 1) else 1
                stage.add_module(f"unit{u}", LinearBottleneck(cin, cout, stride, expand=(s, u) != (1, 1)))
                cin = cout
            self.features.add_module(f"stage{s}", stage)
        self.features.add_module("final_block", ConvBlock(cin, final_block_channels, 1))
        self.features.add_module("final_pool", nn.AdaptiveAvgPool2d(1))
        self.output = nn.Conv2d(final_block_channels, num_classes, 1, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.output(self.features(x)).flatten(1)


def mobilenetv2_w1(
    num_classes: int,
    channels: Sequence[Sequence[int]] | None = None,
    init_block_channels: int | None = None,
    final_block_channels: int | None = None,
) -> nn.Module:
    """pytorchcv's ``mobilenetv2_w1``, or the same layout at the given widths (unset ones keep the standard
    :data:`STAGES`, 32 and 1280)."""
    return MobileNetV2CV(
        num_classes,
        STAGES if channels is None else channels,
        INIT_BLOCK_CHANNELS if init_block_channels is None else init_block_channels,
        FINAL_BLOCK_CHANNELS if final_block_channels is None else final_block_channels,
    )
