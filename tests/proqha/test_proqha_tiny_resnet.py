"""ProQHA's ``--arch tiny_resnet --num_layers 10`` layout: names, quantizers, float checkpoint, bit lists."""

from __future__ import annotations

import pytest
import torch

from common.bitconfig import from_proqha, proqha_quant_layers, to_proqha
from common.bitconfig.proqha import default_order
from common.cost import evaluate_bitconfig, evaluate_cost
from common.models import build_model
from common.runtime import UsageError
from proqha.bits import quantizer_names, set_bits
from proqha.checkpoints import load_weights
from proqha.cost import cost_model
from proqha.export import bitconfig_of, list_order
from proqha.models import build_quant_model, resolve_layout, to_float
from proqha.quantizers import PACT, QuantConv2d

BLOCK_CONVS = [f"layer{s}.0.conv{k}" for s in range(1, 5) for k in (1, 2)]


def test_layout_and_errors() -> None:
    layout = resolve_layout("digits", "tiny_resnet", 10)
    assert (layout.family, layout.common_arch, layout.input_size) == ("cifar", "tiny_resnet", 32)
    assert resolve_layout("cifar10", "tiny_resnet", 10).common_arch == "tiny_resnet"
    with pytest.raises(UsageError, match="--num_layers 10"):
        resolve_layout("digits", "tiny_resnet", 18)
    with pytest.raises(UsageError, match="32-pixel"):
        resolve_layout("imagenet", "tiny_resnet", 10)


def test_quantizers_in_weight_activation_order() -> None:
    model, _ = build_quant_model("digits", "tiny_resnet", 10, 10)
    names = quantizer_names(model)
    assert len(names) == 2 * (10 - 2) == 16
    expected = []
    for conv in BLOCK_CONVS:
        expected += [f"{conv}.quantize_weight", f"{conv[:-5]}relu{conv[-1]}"]
    assert names == expected
    assert list_order(model) == "WA" and default_order("tiny_resnet") == "WA"
    assert [n for n, m in model.named_modules() if isinstance(m, QuantConv2d)] == BLOCK_CONVS
    assert proqha_quant_layers("tiny_resnet") == BLOCK_CONVS
    assert not isinstance(model.conv1, QuantConv2d) and isinstance(model.maxpool, torch.nn.Identity)


def test_float_checkpoint_loads_by_name_and_matches_common_tiny_resnet() -> None:
    torch.manual_seed(0)
    ref = build_model("tiny_resnet", 10)
    with torch.no_grad():  # non-trivial BN statistics
        for m in ref.modules():
            if isinstance(m, torch.nn.BatchNorm2d):
                m.running_mean.uniform_(-0.1, 0.1)
                m.running_var.uniform_(0.5, 1.5)
    model, _ = build_quant_model("digits", "tiny_resnet", 10, 10)
    assert load_weights(model, {"state_dict": ref.state_dict()}["state_dict"]) == "name"
    alphas = [m.alpha.item() for m in model.modules() if isinstance(m, PACT)]
    assert alphas == [10.0] * 8  # the clips keep their initial value
    x = torch.randn(3, 3, 32, 32)
    ref.eval()
    to_float(model).eval()
    torch.testing.assert_close(model(x), ref(x), rtol=0, atol=0)


def test_bit_list_round_trip_and_costs() -> None:
    model, layout = build_quant_model("digits", "tiny_resnet", 10, 10)
    kbits = [8, 7, 6, 5, 4, 3, 2, 8, 7, 6, 5, 4, 3, 2, 8, 7]
    set_bits(model, kbits)
    cfg = bitconfig_of(model, layout, kbits, 10, source="test")
    assert cfg.layers["layer1.0.conv2"].w == 6 and cfg.layers["layer1.0.conv2"].a == 7
    assert cfg.layers["layer1.0.conv1"].a == 32 and cfg.layers["fc"].a == 7  # float stem output, last PACT
    assert to_proqha(cfg) == kbits
    assert from_proqha(kbits, "tiny_resnet").layers == cfg.layers  # the default order is WA
    costs = cost_model(model)
    n = [2304, 2304, 4608, 9216, 18432, 36864, 73728, 147456]
    assert costs.weight_sizes == n
    weight = sum(b * k for b, k in zip(kbits[0::2], n, strict=True)) / (32 * sum(n))
    odd = sum(b * k for b, k in zip(kbits[1::2], n, strict=True)) / (32 * sum(n))
    assert costs.cost(kbits, "weight_bits") == pytest.approx(weight)
    assert costs.cost(kbits, "odd_position") == pytest.approx(odd)
    assert evaluate_bitconfig(cfg, "proqha").totals["cost"] == pytest.approx(odd)
    assert evaluate_bitconfig(cfg, "proqha_weight").totals["cost"] == pytest.approx(weight)
    layer_bits = {
        name: (lb.w, lb.a) for name, lb in cfg.layers.items()
    }  # no list: the pairing from the layers
    assert evaluate_cost("tiny_resnet", "proqha", layer_bits=layer_bits).totals["cost"] == pytest.approx(odd)
