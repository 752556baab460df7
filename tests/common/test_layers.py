"""Layer enumeration (contract 1): names, kinds, shapes, parameters and MACs."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from common.layers import CONV, DEPTHWISE, LINEAR, enumerate_arch, enumerate_layers


class Toy(nn.Module):
    """A grouped conv, a depthwise conv with BN, a strided downsample and a linear head."""

    def __init__(self) -> None:
        super().__init__()
        self.stem = nn.Conv2d(3, 8, 3, stride=2, padding=1, bias=True)
        self.grouped = nn.Conv2d(8, 16, 3, padding=1, groups=2, bias=False)
        self.dw = nn.Conv2d(16, 16, 3, stride=2, padding=1, groups=16, bias=False)
        self.bn = nn.BatchNorm2d(16)
        self.down = nn.Conv2d(8, 16, 1, stride=2, bias=False)
        self.head = nn.Linear(16, 5)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.stem(x)
        y = self.bn(self.dw(self.grouped(x)))
        y = y + self.down(x)
        return self.head(y.mean((2, 3)))


@pytest.mark.parametrize("size", [32, 37, (20, 28)])
def test_toy_enumeration(size) -> None:
    h, w = (size, size) if isinstance(size, int) else size
    layers = enumerate_layers(Toy(), size)
    assert [l.name for l in layers] == ["stem", "grouped", "dw", "down", "head"]
    stem, grouped, dw, down, head = layers
    sh, sw = (h + 1) // 2, (w + 1) // 2
    assert stem.kind == CONV and stem.out_hw == (sh, sw) and stem.in_hw == (h, w)
    assert stem.macs == 8 * 3 * 9 * sh * sw and stem.bias_params == 8 and stem.bn_params == 0
    assert grouped.kind == CONV and grouped.groups == 2 and grouped.macs == 16 * 4 * 9 * sh * sw
    assert grouped.weight_params == 16 * 4 * 9
    dh, dw_ = (sh + 1) // 2, (sw + 1) // 2
    assert dw.kind == DEPTHWISE and dw.macs == 16 * 9 * dh * dw_ and dw.bn_params == 32
    assert down.stride == (2, 2) and down.out_hw == (dh, dw_) and down.macs == 16 * 8 * dh * dw_
    assert head.kind == LINEAR and head.macs == 80 and head.bias_params == 5 and head.in_hw == (1, 1)
    assert [l.index for l in layers] == list(range(5))


def test_restores_training_mode() -> None:
    model = Toy().train()
    enumerate_layers(model, 16)
    assert model.training
    model.eval()
    enumerate_layers(model, 16)
    assert not model.training


def test_resnet18_matches_published_counts() -> None:
    layers = enumerate_arch("resnet18")
    assert len(layers) == 21
    assert sum(l.macs for l in layers) == 1_814_073_344
    assert sum(l.weight_params + l.bias_params + l.bn_params for l in layers) == 11_689_512
    names = [l.name for l in layers]
    assert names[0] == "conv1" and names[-1] == "fc"
    assert names.index("layer2.0.downsample.0") == names.index("layer2.0.conv2") + 1


def test_resnet50_v1_and_v15_macs() -> None:
    assert sum(l.macs for l in enumerate_arch("resnet50_v1")) == 3_857_973_248
    assert sum(l.macs for l in enumerate_arch("resnet50")) == 4_089_184_256


def test_mobilenet_v2_depthwise_kinds() -> None:
    layers = enumerate_arch("mobilenet_v2")
    assert len(layers) == 53
    assert sum(l.kind == DEPTHWISE for l in layers) == 17
    assert sum(l.weight_params for l in layers) == 3_469_760


def test_linear_on_sequences_counts_every_row() -> None:
    class Seq(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.proj = nn.Linear(4, 6)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.proj(x.flatten(2).transpose(1, 2))

    (proj,) = enumerate_layers(Seq(), 5, in_channels=4)
    assert proj.macs == 4 * 6 * 25


def test_module_called_twice_accumulates_macs() -> None:
    class Twice(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.conv = nn.Conv2d(3, 3, 1)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.conv(self.conv(x))

    (conv,) = enumerate_layers(Twice(), 4)
    assert conv.macs == 2 * 9 * 16
