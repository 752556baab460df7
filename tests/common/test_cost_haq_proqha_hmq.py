"""HAQ, ProQHA and HMQ cost conventions against their published figures and golden data."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from common.cost import CostError, arch_layers, evaluate_cost
from haq.strategies import MOBILENETV2_LINEAR_0_6, RESNET50_KMEANS_FINETUNE_PY, RESNET50_KMEANS_README

GOLDEN = Path(__file__).resolve().parents[1] / "golden"
HAQ = json.loads((GOLDEN / "haq" / "cost_golden.json").read_text())
PROQHA = json.loads((GOLDEN / "proqha" / "cost.json").read_text())
HMQ = json.loads((GOLDEN / "hmq" / "network_costs.json").read_text())


def by_index(arch: str, pairs) -> dict[str, tuple[int, int]]:
    layers = arch_layers(arch)
    assert len(layers) == len(pairs)
    return {l.name: (int(w), 32 if int(a) == -1 else int(a)) for l, (w, a) in zip(layers, pairs, strict=True)}


# ---- HAQ ----------------------------------------------------------------------------------------


def test_haq_resnet50_weight_counts_match_golden() -> None:
    layers = arch_layers("resnet50")
    golden = HAQ["resnet50_kmeans"]["layers"]
    assert [(l.name, l.weight_params) for l in layers] == [(g["name"], g["weights"]) for g in golden]


@pytest.mark.parametrize(
    ("strategy", "ratio", "key"),
    [(RESNET50_KMEANS_README, 0.0995816, "readme"), (RESNET50_KMEANS_FINETUNE_PY, 0.0988438, "finetune_py")],
)
def test_haq_kmeans_size_ratio(strategy, ratio, key) -> None:
    bits = by_index("resnet50", [(b, 32) for b in strategy])
    totals = evaluate_cost("resnet50", "haq_size", layer_bits=bits).totals
    assert round(totals["size_ratio"], 7) == ratio
    golden = HAQ["resnet50_kmeans"][key]
    assert totals["size_ratio"] == pytest.approx(golden["ratio_code_convention"], rel=1e-12)
    assert totals["size_bits"] == golden["quantized_weight_bits"]
    assert totals["size_MB"] == pytest.approx(golden["size_MB_code_convention"], rel=1e-12)
    assert totals["size_ratio"] <= 0.1  # the budget the strategy was searched under


def test_haq_latency_ratio_of_readme_strategy() -> None:
    bits = by_index("mobilenet_v2", MOBILENETV2_LINEAR_0_6)
    report = evaluate_cost("mobilenet_v2", "haq_latency", layer_bits=bits)
    golden = HAQ["mobilenetv2_linear_strategy"]
    assert round(report.totals["latency_ratio"], 7) == 0.5913801
    assert report.totals["latency"] == golden["cost"]
    assert report.totals["latency_w8a8"] == golden["org_cost"]
    assert [r["latency"] for r in report.rows] == [g["cost"] for g in golden["per_layer"]]
    fixed = evaluate_cost(
        "mobilenet_v2", "haq_latency", layer_bits=bits, extra={"haq": {"first_layer_a8": True}}
    )
    assert fixed.totals["latency_ratio"] == pytest.approx(
        golden["latency_ratio_if_first_layer_a8"], rel=1e-12
    )


@pytest.mark.parametrize(("b", "ratio"), [(4, 0.4126), (5, 0.5387), (6, 0.6782)])
def test_haq_uniform_latency_references(b, ratio) -> None:
    assert (
        round(evaluate_cost("mobilenet_v2", "haq_latency", bits=(b, b)).totals["latency_ratio"], 4) == ratio
    )


def test_haq_latency_rejects_other_archs_and_bits() -> None:
    with pytest.raises(CostError, match="mobilenet_v2"):
        evaluate_cost("resnet18", "haq_latency", bits=(4, 4))
    with pytest.raises(CostError, match="1..8"):
        evaluate_cost("mobilenet_v2", "haq_latency", bits=(16, 16))


# ---- ProQHA -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("bits", "cost", "printed"), [(32, 1.0, "1.0000"), (5, 0.15625, "0.1563"), (3, 0.09375, "0.0938")]
)
def test_proqha_uniform_costs(bits, cost, printed) -> None:
    from decimal import ROUND_HALF_UP, Decimal

    value = evaluate_cost("resnet18", "proqha", bits=(bits, bits)).totals["cost"]
    assert value == cost
    assert str(Decimal(repr(value)).quantize(Decimal("0.0001"), rounding=ROUND_HALF_UP)) == printed


def test_proqha_quantized_layers_match_golden() -> None:
    report = evaluate_cost("resnet18", "proqha", bits=(4, 4))
    golden = PROQHA["imagenet/resnet18"]
    assert [r["name"] for r in report.rows] == golden["weight_layer_names"]
    assert [r["weights"] for r in report.rows] == golden["wsize_list"]


@pytest.mark.parametrize("case", range(len(PROQHA["imagenet/resnet18"]["mixed"])))
def test_proqha_mixed_golden_costs(case: int) -> None:
    """Odd-position pairing (faithful) and the weight pairing, from the original list and from layer bits."""
    entry = PROQHA["imagenet/resnet18"]["mixed"][case]
    kbits = entry["bits"]
    layers = arch_layers("resnet18")
    quantized = [r["name"] for r in evaluate_cost("resnet18", "proqha", bits=(8, 8)).rows]
    # per-layer bits as the ResNet-18 (weight, activation) list defines them
    bits = {l.name: (32, 32) for l in layers}
    for j, name in enumerate(quantized):
        w_in = kbits[2 * j - 1] if j else 32
        bits[name] = (kbits[2 * j], w_in)
    bits["fc"] = (32, kbits[-1])
    via_list = evaluate_cost("resnet18", "proqha", layer_bits=bits, extra={"proqha": {"kbits": kbits}})
    via_layers = evaluate_cost("resnet18", "proqha", layer_bits=bits)
    fixed = evaluate_cost("resnet18", "proqha_weight", layer_bits=bits)
    assert via_list.totals["cost"] == pytest.approx(entry["cost_original"], rel=1e-12)
    assert via_layers.totals["cost"] == pytest.approx(entry["cost_original"], rel=1e-12)
    true_weight = sum(kbits[2 * j] * n for j, n in enumerate(PROQHA["imagenet/resnet18"]["wsize_list"]))
    assert fixed.totals["cost"] == pytest.approx(
        true_weight / PROQHA["imagenet/resnet18"]["ori_size_bits"], rel=1e-12
    )


# ---- HMQ ----------------------------------------------------------------------------------------

HMQ_COUNTS = {
    "mobilenet_v1": 4_209_088,
    "mobilenet_v2": 3_469_760,
    "resnet50": 23_454_912,
    "efficientnet_b0": 5_236_192,
}


@pytest.mark.parametrize("arch", sorted(HMQ_COUNTS))
def test_hmq_quantized_weight_counts(arch: str) -> None:
    report = evaluate_cost(arch, "hmq", bits=(8, 8))
    assert report.totals["quantized_weights"] == HMQ_COUNTS[arch]
    golden = HMQ[arch]
    assert report.totals["weight_quantizers"] == golden["n_weight_quantizers"]
    assert [r["weights"] for r in report.rows] == [n for _, n in golden["weights_per_layer"]]
    for b in (8, 4, 3, 2):
        totals = evaluate_cost(arch, "hmq", bits=(b, b)).totals
        assert totals["WCR"] == pytest.approx(golden[f"uniform_{b}bit"]["WCR"], rel=1e-12)
        assert totals["size_MB"] == pytest.approx(golden[f"uniform_{b}bit"]["size_MB(1e6)"], rel=1e-12)


def test_hmq_wcr_of_a_mixed_assignment() -> None:
    layers = arch_layers("mobilenet_v1")
    bits = {l.name: ((2 if i % 2 else 8), 8) for i, l in enumerate(layers)}
    n = [l.weight_params for l in layers]
    expected = 32 * sum(n) / sum(bits[l.name][0] * l.weight_params for l in layers)
    assert evaluate_cost("mobilenet_v1", "hmq", layer_bits=bits).totals["WCR"] == pytest.approx(expected)
