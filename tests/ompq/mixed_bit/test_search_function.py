"""``ompq.mixed_bit.search`` on models built here (not files on disk): the whole chain in one call."""

import numpy as np
import pytest
import torch
from torch import nn
from torchvision.models import mobilenet_v2
from torchvision.models.resnet import BasicBlock

from common.bitconfig import BitConfig
from common.layers import enumerate_layers
from ompq.mixed_bit import search
from ompq.mixed_bit.allocation import MIB, AllocationError, allocate
from ompq.mixed_bit.features import extract_features
from ompq.mixed_bit.orm import gamma_of, negated_importance, orm_matrix
from ompq.mixed_bit.searchable import searchable_entries


class SmallResNet(nn.Module):
    """A user's own ResNet: torchvision BasicBlocks, one per stage, narrow widths, 32x32 input."""

    def __init__(self, widths=(8, 16, 24, 32), classes=5) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(3, widths[0], 3, 1, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(widths[0])
        self.relu = nn.ReLU(inplace=True)
        c_in = widths[0]
        for s, c in enumerate(widths):
            stride = 1 if s == 0 else 2
            down = None
            if stride != 1 or c_in != c:
                down = nn.Sequential(nn.Conv2d(c_in, c, 1, stride, bias=False), nn.BatchNorm2d(c))
            setattr(self, f"layer{s + 1}", nn.Sequential(BasicBlock(c_in, c, stride, down)))
            c_in = c
        self.fc = nn.Linear(c_in, classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.relu(self.bn1(self.conv1(x)))
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
        return self.fc(torch.flatten(nn.functional.adaptive_avg_pool2d(x, 1), 1))


@pytest.fixture(scope="module")
def images():
    return torch.randn(8, 3, 32, 32, generator=torch.Generator().manual_seed(0))


def small_resnet() -> nn.Module:
    torch.manual_seed(0)
    return SmallResNet()


def test_search_returns_a_bit_config_for_every_layer(images):
    model = small_resnet()
    cfg = search(model, images, budget=0.022, beta=1.0, quant_type="QAT", abits=6, rounding="dfs")
    assert isinstance(cfg, BitConfig) and cfg.method == "ompq" and cfg.arch == "SmallResNet"
    names = [i.name for i in enumerate_layers(model, 32)]
    assert list(cfg.layers) == names and cfg.num_classes == 5 and cfg.input_size == 32
    assert (cfg.layers["conv1"].w, cfg.layers["conv1"].a) == (8, 8) and (
        cfg.layers["fc"].w,
        cfg.layers["fc"].a,
    ) == (8, 8)
    searched = [lb for n, lb in cfg.layers.items() if n not in ("conv1", "fc")]
    assert all(4 <= lb.w <= 8 and lb.a == 6 for lb in searched)
    assert cfg.layers["layer2.0.downsample.0"].w == cfg.layers["layer2.0.conv2"].w
    assert len(set(lb.w for lb in searched)) > 1  # the budget forces a mix
    assert cfg.costs["size_Mb"] <= 0.022  # DFS never rounds above the continuous size


def test_search_is_the_chain_of_its_steps(images):
    model = small_resnet()
    record = {}
    cfg = search(model, images, 0.022, 1.0, rounding="dfs", record=record)
    entries = searchable_entries(model, "QAT")
    feats = extract_features(model, entries, images)
    gamma = gamma_of(orm_matrix(feats))
    np.testing.assert_allclose(record["gamma"], gamma, rtol=0, atol=1e-12)
    p = np.array(record["params"], dtype=np.float64) / MIB
    alloc = allocate(negated_importance(gamma, 1.0), p, 0.022, record["fl_params"] / MIB, "QAT", "dfs")
    assert cfg.extra["search"]["bits"] == alloc.bits
    size = (
        sum(b * q for b, q in zip(alloc.bits, record["params"], strict=True)) / 8 + record["fl_params"]
    ) / MIB
    assert cfg.costs["size_Mb"] == pytest.approx(size, rel=1e-12)
    bops = (
        64 * record["fl_flops"] + 8 * sum(f * b for f, b in zip(record["flops"], alloc.bits, strict=True))
    ) / 1e9
    assert cfg.costs["GBOPs"] == pytest.approx(bops, rel=1e-12)


def test_search_is_deterministic_and_leaves_the_model_as_it_was(images):
    model = small_resnet().train()
    state = {k: v.clone() for k, v in model.state_dict().items()}
    first = search(model, images, 0.022, 1.0)
    second = search(model, images, 0.022, 1.0)
    assert first.extra["search"]["bits"] == second.extra["search"]["bits"]
    assert first.extra["search"]["gamma"] == second.extra["search"]["gamma"]
    assert all(m.training for m in model.modules())
    assert all(torch.equal(v, state[k]) for k, v in model.state_dict().items())


def test_search_ptq_on_torchvision_mobilenet_v2(images):
    torch.manual_seed(0)
    model = mobilenet_v2(num_classes=4, width_mult=0.25)  # keeps torchvision's Dropout(0.2)
    cfg = search(model, images, budget=0.09, beta=1.0, quant_type="PTQ")
    assert len(cfg.extra["search"]["bits"]) == 53
    assert list(cfg.layers) == [i.name for i in enumerate_layers(model, 32)]
    assert all(2 <= lb.w <= 4 and lb.a == 8 for lb in cfg.layers.values())
    assert (
        cfg.extra["search"]["bits"]
        == search(model, images, 0.09, 1.0, quant_type="PTQ").extra["search"]["bits"]
    )


def test_search_rejects_a_budget_below_the_lowest_bits(images):
    with pytest.raises(AllocationError, match="below the smallest QAT size") as exc:
        search(small_resnet(), images, 0.001, 1.0)
    assert exc.value.user_error


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [({"quant_type": "INT"}, "QAT or PTQ"), ({"bn_mode": "x"}, "bn_mode"), ({"abits": 0}, "activation bits")],
)
def test_search_rejects_bad_arguments(images, kwargs, match):
    with pytest.raises(ValueError, match=match):
        search(small_resnet(), images, 0.022, 1.0, **kwargs)
    with pytest.raises(ValueError, match="N >= 2"):
        search(small_resnet(), images[:1], 0.022, 1.0)
