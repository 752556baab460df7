"""InceptionV3 in pytorchcv's ``inceptionv3`` layout, the float network HAWQ-V3 quantizes.

Same computation as torchvision's ``inception_v3`` without the auxiliary head (23,834,568 parameters, 5.71 GMACs
at 299x299), with pytorchcv's module names and numerics:

* every conv is ``ConvBlock``: ``conv`` (no bias) -> ``bn`` (eps 1e-3, pytorchcv's InceptionV3 setting) -> ReLU;
* ``features.init_block.conv1..conv5`` with max pools ``pool1``/``pool2`` (the stem, 299 -> 35);
* ``features.stage1`` (Inception-A x3), ``features.stage2`` (Reduction-A, Inception-B x4),
  ``features.stage3`` (Reduction-B, Inception-C x2); every unit holds ``branches.branch{k}`` whose outputs are
  concatenated in order; a branch is a single 1x1 ``conv``, a ``conv_list`` of ``conv{i}`` (Inception-C adds
  ``conv1x3``/``conv3x1`` applied to the same input and concatenated), an average pool (3x3, stride 1, pad 1,
  padding counted) then a 1x1 ``conv``, or a 3x3/2 max pool;
* ``features.final_pool``, ``output.dropout`` (p = 0.5) and ``output.fc``.

One deviation: pytorchcv's final pool is a fixed 8x8 average; here it averages the whole last feature map, which
is the same at 299x299 (the map is 8x8) and lets the small inputs of the tests (from 75x75) run.

``width`` scales every channel count (rounded, at least 1) for fast tests; 1.0 is the published network.
"""

from __future__ import annotations

import torch
from torch import nn

#: (out_channels, kernel, stride, padding) of one conv of a sequence branch
Conv = tuple[int, int | tuple[int, int], int, int | tuple[int, int]]

BN_EPS = 1e-3
DROPOUT = 0.5
STEM: tuple[Conv, ...] = ((32, 3, 2, 0), (32, 3, 1, 0), (64, 3, 1, 1), (80, 1, 1, 0), (192, 3, 1, 0))
#: Inception-A's pooled-branch widths (unit outputs 256, 288, 288) and Inception-B's 7x7 inner widths
A_POOL_CHANNELS = (32, 64, 64)
B_MID_CHANNELS = (128, 160, 160, 192)
MIN_INPUT = 75


class ConvBlock(nn.Module):
    """conv -> BN -> ReLU under pytorchcv's attribute names (``conv``, ``bn``, ``activ``)."""

    def __init__(self, cin: int, spec: Conv) -> None:
        super().__init__()
        cout, kernel, stride, padding = spec
        self.conv = nn.Conv2d(cin, cout, kernel, stride, padding, bias=False)
        self.bn = nn.BatchNorm2d(cout, eps=BN_EPS)
        self.activ = nn.ReLU(inplace=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.activ(self.bn(self.conv(x)))


class ConvSeqBranch(nn.Module):
    """``conv_list`` of blocks run one after the other; with ``split`` the last output also feeds a 1x3 and a 3x1
    block (``conv1x3``, ``conv3x1``) whose outputs are concatenated (Inception-C)."""

    def __init__(self, cin: int, convs: tuple[Conv, ...], split: bool = False) -> None:
        super().__init__()
        self.conv_list = nn.Sequential()
        for i, spec in enumerate(convs, start=1):
            self.conv_list.add_module(f"conv{i}", ConvBlock(cin, spec))
            cin = spec[0]
        self.split = split
        self.out_channels = 2 * cin if split else cin
        if split:
            self.conv1x3 = ConvBlock(cin, (cin, (1, 3), 1, (0, 1)))
            self.conv3x1 = ConvBlock(cin, (cin, (3, 1), 1, (1, 0)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.conv_list(x)
        if self.split:
            x = torch.cat((self.conv1x3(x), self.conv3x1(x)), dim=1)
        return x


class Conv1x1Branch(nn.Module):
    def __init__(self, cin: int, cout: int) -> None:
        super().__init__()
        self.conv = ConvBlock(cin, (cout, 1, 1, 0))
        self.out_channels = cout

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(x)


class AvgPoolBranch(nn.Module):
    """3x3 average pool (stride 1, pad 1, zero padding counted) then a 1x1 block."""

    def __init__(self, cin: int, cout: int) -> None:
        super().__init__()
        self.pool = nn.AvgPool2d(3, stride=1, padding=1, count_include_pad=True)
        self.conv = ConvBlock(cin, (cout, 1, 1, 0))
        self.out_channels = cout

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(self.pool(x))


class MaxPoolBranch(nn.Module):
    def __init__(self, cin: int) -> None:
        super().__init__()
        self.pool = nn.MaxPool2d(3, stride=2, padding=0)
        self.out_channels = cin

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.pool(x)


class Concurrent(nn.Sequential):
    """Runs every child on the same input and concatenates the outputs along channels."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cat([branch(x) for branch in self], dim=1)


class InceptionUnit(nn.Module):
    """One unit: ``branches`` (a :class:`Concurrent`); ``kind`` is A, RA, B, RB or C."""

    def __init__(self, kind: str, cin: int, c, extra: int = 0) -> None:
        super().__init__()
        self.kind = kind
        self.branches = Concurrent()
        for k, branch in enumerate(_branches(kind, cin, c, extra), start=1):
            self.branches.add_module(f"branch{k}", branch)
        self.out_channels = sum(b.out_channels for b in self.branches)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.branches(x)


def _branches(kind: str, cin: int, c, extra: int) -> list[nn.Module]:
    """The branches of one unit; ``c`` scales a published width, ``extra`` is the A pool / B inner width."""
    k17, k71 = (1, 7), (7, 1)
    p17, p71 = (0, 3), (3, 0)
    if kind == "A":
        return [
            Conv1x1Branch(cin, c(64)),
            ConvSeqBranch(cin, ((c(48), 1, 1, 0), (c(64), 5, 1, 2))),
            ConvSeqBranch(cin, ((c(64), 1, 1, 0), (c(96), 3, 1, 1), (c(96), 3, 1, 1))),
            AvgPoolBranch(cin, extra),
        ]
    if kind == "RA":
        return [
            ConvSeqBranch(cin, ((c(384), 3, 2, 0),)),
            ConvSeqBranch(cin, ((c(64), 1, 1, 0), (c(96), 3, 1, 1), (c(96), 3, 2, 0))),
            MaxPoolBranch(cin),
        ]
    if kind == "B":
        m = extra
        return [
            Conv1x1Branch(cin, c(192)),
            ConvSeqBranch(cin, ((m, 1, 1, 0), (m, k17, 1, p17), (c(192), k71, 1, p71))),
            ConvSeqBranch(
                cin,
                ((m, 1, 1, 0), (m, k71, 1, p71), (m, k17, 1, p17), (m, k71, 1, p71), (c(192), k17, 1, p17)),
            ),
            AvgPoolBranch(cin, c(192)),
        ]
    if kind == "RB":
        return [
            ConvSeqBranch(cin, ((c(192), 1, 1, 0), (c(320), 3, 2, 0))),
            ConvSeqBranch(
                cin, ((c(192), 1, 1, 0), (c(192), k17, 1, p17), (c(192), k71, 1, p71), (c(192), 3, 2, 0))
            ),
            MaxPoolBranch(cin),
        ]
    if kind == "C":
        return [
            Conv1x1Branch(cin, c(320)),
            ConvSeqBranch(cin, ((c(384), 1, 1, 0),), split=True),
            ConvSeqBranch(cin, ((c(448), 1, 1, 0), (c(384), 3, 1, 1)), split=True),
            AvgPoolBranch(cin, c(192)),
        ]
    raise ValueError(f"unknown Inception unit kind {kind!r}")


#: unit kinds of the three stages and the per-unit extra width (A: pooled branch, B: 7x7 inner width)
STAGES: tuple[tuple[tuple[str, int], ...], ...] = (
    tuple(("A", p) for p in A_POOL_CHANNELS),
    (("RA", 0), *(("B", m) for m in B_MID_CHANNELS)),
    (("RB", 0), ("C", 0), ("C", 0)),
)


class InitBlock(nn.Module):
    """The stem: ``conv1..conv3``, ``pool1`` (3x3/2 max), ``conv4``, ``conv5``, ``pool2`` (3x3/2 max)."""

    def __init__(self, cin: int, specs: tuple[Conv, ...]) -> None:
        super().__init__()
        for i, spec in enumerate(specs, start=1):
            setattr(self, f"conv{i}", ConvBlock(cin, spec))
            cin = spec[0]
            if i == 3:
                self.pool1 = nn.MaxPool2d(3, stride=2)
        self.pool2 = nn.MaxPool2d(3, stride=2)
        self.out_channels = cin

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.conv3(self.conv2(self.conv1(x)))
        x = self.conv5(self.conv4(self.pool1(x)))
        return self.pool2(x)


class InceptionV3CV(nn.Module):
    """pytorchcv's InceptionV3 (module docstring); ``width`` scales every channel count."""

    def __init__(self, num_classes: int = 1000, width: float = 1.0, dropout: float = DROPOUT) -> None:
        if isinstance(width, bool) or not isinstance(width, (int, float)) or not width > 0:
            raise ValueError(f"width must be a positive number, got {width!r}")
        super().__init__()

        def c(channels: int) -> int:
            return max(1, round(channels * width))

        self.features = nn.Sequential()
        stem = tuple((c(s[0]), *s[1:]) for s in STEM)
        self.features.add_module("init_block", InitBlock(3, stem))
        cin = self.features.init_block.out_channels
        for s, units in enumerate(STAGES, start=1):
            stage = nn.Sequential()
            for u, (kind, extra) in enumerate(units, start=1):
                unit = InceptionUnit(kind, cin, c, c(extra) if extra else 0)
                stage.add_module(f"unit{u}", unit)
                cin = unit.out_channels
            self.features.add_module(f"stage{s}", stage)
        self.features.add_module("final_pool", nn.AdaptiveAvgPool2d(1))
        self.output = nn.Sequential()
        self.output.add_module("dropout", nn.Dropout(p=dropout))
        self.output.add_module("fc", nn.Linear(cin, num_classes))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if min(x.shape[-2:]) < MIN_INPUT:
            raise ValueError(
                f"InceptionV3 needs inputs of at least {MIN_INPUT}x{MIN_INPUT}, got {tuple(x.shape[-2:])}"
            )
        return self.output(self.features(x).flatten(1))


def inceptionv3_cv(num_classes: int, width: float | None = None) -> nn.Module:
    """pytorchcv's ``inceptionv3`` (``width`` None or 1.0), or the same layout at a reduced ``width``."""
    return InceptionV3CV(num_classes, 1.0 if width is None else width)
