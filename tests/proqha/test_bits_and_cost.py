"""Quantizer enumeration, construction bits (model_init_bits.json), lowering, and the cost (cost.json)."""

from __future__ import annotations

import json
import random

import pytest

from common.bitconfig import to_proqha
from common.cost import evaluate_bitconfig
from proqha.bits import get_bits, initial_bits, lower_bits, quantizer_names, set_bits
from proqha.cost import cost_model
from proqha.export import bitconfig_of
from proqha.models import build_quant_model

# golden model key -> (dataset, arch, num_layers)
MODELS = {
    "imagenet/resnet18": ("imagenet", "resnet", 18),
    "imagenet/resnet34": ("imagenet", "resnet", 34),
    "cifar10/resnet2020": ("cifar10", "resnet20", 20),
    "cifar10/resnet18": ("cifar10", "resnet", 18),
    "cifar10/mobilenetv252": ("cifar10", "mobilenetv2", 52),
}


def _model(key: str):
    dataset, arch, depth = MODELS[key]
    return build_quant_model(dataset, arch, depth, 1000 if dataset == "imagenet" else 10)


def _ours(name: str) -> str:
    return "fc" + name[len("linear") :] if name.startswith("linear") else name


@pytest.mark.parametrize("key", list(MODELS))
def test_cost_golden(cost_golden, key) -> None:
    g = cost_golden[key]
    model, _ = _model(key)
    assert quantizer_names(model) == [_ours(n) for n in g["quantizer_names"]]
    costs = cost_model(model)
    assert costs.layer_names == [_ours(n) for n in g["weight_layer_names"]]
    assert costs.weight_sizes == g["wsize_list"]
    assert costs.original_bits == g["ori_size_bits"]
    for b, expected in g["uniform"].items():
        assert costs.cost([int(b)] * g["n_quantizers"]) == pytest.approx(expected, rel=1e-12)
    for mixed in g["mixed"]:
        assert costs.current_bits(mixed["bits"]) == mixed["cur_size_bits"]
        assert costs.cost(mixed["bits"]) == pytest.approx(mixed["cost_original"], rel=1e-12)
        assert costs.cost(mixed["bits"], "weight_bits") == pytest.approx(
            mixed["cost_using_true_weight_bits"], rel=1e-12
        )


def test_resnet18_enumeration_and_the_pairing_bug(cost_golden) -> None:
    model, layout = _model("imagenet/resnet18")
    assert layout.common_arch == "resnet18"
    assert sum(p.numel() for p in model.parameters()) == 11_689_528
    assert sum(cost_model(model).weight_sizes) == 10_985_472
    types = ["W" if n.endswith("quantize_weight") else "A" for n in quantizer_names(model)]
    assert types == ["W", "A"] * 16
    mixed = cost_golden["imagenet/resnet18"]["mixed"][0]
    assert mixed["cost_original"] != mixed["cost_using_true_weight_bits"]


@pytest.mark.parametrize("key", ["imagenet/resnet18", "cifar10/resnet2020"])
def test_bitconfig_round_trip_and_common_cost_agree(cost_golden, key) -> None:
    model, layout = _model(key)
    bits = cost_golden[key]["mixed"][1]["bits"]
    cfg = bitconfig_of(model, layout, bits, 1000 if key.startswith("imagenet") else 10, source="test")
    assert to_proqha(cfg) == bits
    assert evaluate_bitconfig(cfg, "proqha").totals["cost"] == pytest.approx(cfg.costs["proqha_cost"])
    assert evaluate_bitconfig(cfg, "proqha_weight").totals["cost"] == pytest.approx(
        cfg.costs["proqha_cost_weight_bits"]
    )


def test_construction_bits_golden(golden_dir) -> None:
    cases = json.loads((golden_dir / "model_init_bits.json").read_text())
    model, _ = _model("imagenet/resnet18")
    for case in cases:
        random.seed(case["python_random_seed"])
        bits = initial_bits(case["k_bits"], 32, case["pre_k_bits"], case["ratio"])
        assert bits == case["actual_quantizer_bits"] == case["returned_model_k_bits"]
        set_bits(model, bits)
        assert get_bits(model) == bits


def test_construction_draws_a_sample_even_at_ratio_one() -> None:
    random.seed(3)
    assert initial_bits(5, 8, 8, 1.0) == [5] * 8
    after = random.random()
    random.seed(3)
    random.sample(range(8), 8)
    assert random.random() == after


def test_lowering_matches_every_golden_candidate(greedy_golden) -> None:
    g, _ = greedy_golden
    for run in g["runs"]:
        for cand in run["candidates"]:
            assert lower_bits(run["base_bits"], cand["chosen_positions"], run["interval"]) == cand["new_bits"]


def test_lowering_floor() -> None:
    assert lower_bits([3, 2, 8, 5], [0, 1, 2], 4) == [2, 2, 4, 5]
    assert lower_bits([3, 2], [0, 1], 1) == [2, 2]
