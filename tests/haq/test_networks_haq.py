"""HAQ's MobileNetV1 (``mobilenet`` / ``qmobilenet``) and torchvision models by name (issue 18 item 3)."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from common.cost import evaluate_cost
from common.layers import enumerate_arch
from common.models import build_model
from common.models.mobilenet_v1_haq import STEM_CHANNELS, UNITS
from haq import rl_quantize
from haq.lib.utils.linear_quant import QConv2d, QLinear
from haq.models import ArchError, base_arch, build_haq_model, is_quantized_arch


def _expected_layers(size: int = 224, classes: int = 1000) -> list[tuple[str, int, int]]:
    """(name, weights, MACs) of HAQ's MobileNetV1 from its unit table, counted by hand."""
    cin, hw = STEM_CHANNELS, size // 2
    rows = [("conv1.0", 3 * STEM_CHANNELS * 9, 3 * STEM_CHANNELS * 9 * hw * hw)]
    for i, (cout, stride) in enumerate(UNITS):
        hw //= stride
        rows.append((f"features.{i}.0", cin * 9, cin * 9 * hw * hw))
        rows.append((f"features.{i}.3", cin * cout, cin * cout * hw * hw))
        cin = cout
    rows.append(("classifier.0", cin * classes, cin * classes))
    return rows


def test_mobilenet_layers_and_haq_size_cost() -> None:
    layers = enumerate_arch("mobilenet_v1_haq", 224, 1000)
    expected = _expected_layers()
    assert [(l.name, l.weight_params, l.macs) for l in layers] == expected
    n = sum(w for _, w, _ in expected)
    report = evaluate_cost("mobilenet_v1_haq", "haq_size", bits=(4, 32))
    assert report.totals["size_ratio"] == pytest.approx(4 / 32)
    assert report.totals["size_MB"] == pytest.approx(4 * n / 8 / 1e6)
    assert base_arch("mobilenet") == base_arch("qmobilenet") == "mobilenet_v1_haq"
    assert is_quantized_arch("qmobilenet") and not is_quantized_arch("mobilenet")


def test_qmobilenet_quantizers_and_reduced_width_step() -> None:
    full = build_haq_model("qmobilenet", 1000)
    convs = [m for m in full.modules() if isinstance(m, (QConv2d, QLinear))]
    assert len(convs) == 28
    # the stem sees the normalised image (signed); every other input is post-ReLU/ReLU6
    assert not full.conv1[0].half_wave and all(m.half_wave for m in convs[1:])
    small = build_model("mobilenet_v1_haq", 10, width=0.125)
    out = small(torch.randn(2, 3, 32, 32))
    out.sum().backward()
    assert out.shape == (2, 10) and small.conv1[0].weight.grad is not None
    with pytest.raises(ArchError, match="no published float weights"):
        build_haq_model("mobilenet", 10, pretrained=True)


@pytest.mark.parametrize("arch", ["qmnasnet0_5", "squeezenet1_1"])
def test_torchvision_model_by_name(arch: str) -> None:
    model = build_haq_model(arch, 10)
    quantized = any(isinstance(m, QConv2d) for m in model.modules())
    assert quantized == arch.startswith("q")
    if quantized:  # every plain conv was replaced by its quantized twin
        assert not any(type(m) is nn.Conv2d for m in model.modules())
    out = model.train()(torch.randn(2, 3, 64, 64))
    out.sum().backward()
    assert out.shape == (2, 10)
    with pytest.raises(ArchError, match="unknown architecture"):
        base_arch("not_a_torchvision_model")


def test_kmeans_search_on_mobilenet(tmp_path) -> None:
    small = ["--dataset", "digits", "--pretrained", "none", "--train_episode", "1", "--warmup", "0",
             "--train_size", "8", "--val_size", "8", "--data_bsize", "8", "--n_worker", "0", "--bsize", "4",
             "--seed", "3"]  # fmt: skip
    res = rl_quantize.main(
        ["--arch", "mobilenet", "--preserve_ratio", "0.2", "--output", str(tmp_path), *small]
    )
    assert len(res["best_policy"]) == 28 and res["costs"]["size_ratio"] <= 0.2
