"""ProQHA's bottleneck ResNets (``--arch resnet --num_layers 50|101|152``, issue 18 item 3)."""

from __future__ import annotations

import json

import pytest
import torch

from common.bitconfig import read_bitconfig
from common.cost import evaluate_bitconfig, evaluate_cost
from common.layers import enumerate_arch
from common.runtime import UsageError
from proqha.cost import cost_model
from proqha.export import bitconfig_of
from proqha.main import train
from proqha.measure import compute
from proqha.models import build_quant_model
from proqha.models.densenet import QuantDenseNet
from proqha.models.resnet_bottleneck import bottleneck_resnet
from proqha.models.vgg import cifar_vgg
from proqha.quantizers import PACT, WeightQuantizer


@pytest.mark.parametrize("depth", [50, 101])
def test_layers_match_torchvision_and_the_proqha_cost(depth: int) -> None:
    """Same conv/fc names, shapes and MACs as torchvision's ResNet (v1.5 stride placement); only the execution
    order differs (the pre-activated shortcut runs before ``conv1``)."""
    ours = enumerate_arch(f"proqha_resnet{depth}", 224, 1000)
    ref = enumerate_arch(f"resnet{depth}", 224, 1000)
    assert sorted((l.name, l.weight_params, l.macs) for l in ours) == sorted(
        (l.name, l.weight_params, l.macs) for l in ref
    )
    quantized = [l for l in ref if l.name.startswith("layer") and "downsample" not in l.name]
    assert len(quantized) == depth - 2
    report = evaluate_cost(f"proqha_resnet{depth}", "proqha", bits=(5, 5))
    assert report.totals["cost"] == pytest.approx(5 / 32)
    assert report.totals["quantized_weights"] == sum(l.weight_params for l in quantized)


@pytest.mark.parametrize(("dataset", "depth"), [("imagenet", 50), ("imagenet", 101), ("digits", 152)])
def test_quantizer_count_and_order(dataset: str, depth: int) -> None:
    model, layout = build_quant_model(dataset, "resnet", depth, 10)
    kinds = [
        "A" if isinstance(m, PACT) else "W" for m in model.modules() if isinstance(m, (PACT, WeightQuantizer))
    ]
    assert len(kinds) == 2 * (depth - 2) and kinds == ["A", "W"] * (depth - 2)
    assert layout.common_arch.endswith(f"resnet{depth}")


def test_reduced_width_step() -> None:
    model = bottleneck_resnet(50, 10, stem="cifar", planes=(4, 8, 16, 32))
    out = model(torch.randn(2, 3, 32, 32))
    out.sum().backward()
    assert out.shape == (2, 10) and model.layer4[0].conv3.weight.grad is not None


def test_train_entrypoint_on_digits(tmp_path) -> None:
    argv = ["--dataset", "digits", "--arch", "resnet", "--num_layers", "50", "--data_dir", "digits",
            "--train_fraction", "0.02", "--train_batch_size", "16", "--eval_batch_size", "400", "--workers", "0",
            "--archtype", "quant", "--k_bits", "8", "--ratio", "1.0", "--lr", "0.01", "--train_epochs", "1",
            "--seed", "0", "--out", str(tmp_path)]  # fmt: skip
    assert train.main(argv) == 0
    cfg = read_bitconfig(tmp_path / "bitconfig.json")
    # 48 quantized convs at 8 bits; the stem, the 4 downsample convs and fc stay float
    assert cfg.arch == "proqha_cifar_bottleneck_resnet50" and len(cfg.layers) == 54
    assert sorted(n for n, b in cfg.layers.items() if b.w == 8) == sorted(
        n for n in cfg.layers if n.startswith("layer") and "downsample" not in n
    )
    assert sum(b.w == 8 for b in cfg.layers.values()) == 48
    assert json.loads((tmp_path / "final.json").read_text())["archtype"] == "quant"


@pytest.mark.parametrize("depth", [11])
def test_vgg_quantizers_and_mixed_cost_agree_with_the_common_convention(depth: int) -> None:
    model, layout = build_quant_model("cifar10", "vgg", depth, 10)
    kinds = [
        "A" if isinstance(m, PACT) else "W" for m in model.modules() if isinstance(m, (PACT, WeightQuantizer))
    ]
    assert len(kinds) == 2 * (depth - 2) and kinds == ["A", "W"] * (depth - 2)
    bits = [
        int(b)
        for b in torch.randint(2, 9, (2 * (depth - 2),), generator=torch.Generator().manual_seed(depth))
    ]
    ours = cost_model(model).cost(bits, "odd_position")
    cfg = bitconfig_of(model, layout, bits, 10, source="test")
    # the common convention charges the hidden VGG linears too (the classifier and the first conv stay float)
    report = evaluate_bitconfig(cfg, "proqha")
    assert report.totals["cost"] == pytest.approx(ours)
    charged = [r["name"] for r in report.rows]
    assert charged[-2:] == ["classifier.1", "classifier.3"] and "features.2" not in charged


def test_vgg_reduced_width_step_and_compute_entrypoint(capsys) -> None:
    small = cifar_vgg(11, 10, width=16)
    out = small(torch.randn(2, 3, 32, 32))
    out.sum().backward()
    assert out.shape == (2, 10) and small.classifier[1].weight.grad is not None
    assert compute.main(["--dataset", "cifar10", "--arch", "vgg", "--num_layers", "11", "--k_bits", "4"]) == 0
    assert "computation ratio 0.125" in capsys.readouterr().out
    with pytest.raises(UsageError, match="CIFAR model"):
        build_quant_model("imagenet", "vgg", 16, 1000)


def test_densenet40_weights_quantizers_and_cost(capsys) -> None:
    model, layout = build_quant_model("digits", "densenet", 40, 10)
    kinds = [
        "A" if isinstance(m, PACT) else "W" for m in model.modules() if isinstance(m, (PACT, WeightQuantizer))
    ]
    assert layout.common_arch == "proqha_cifar_densenet40" and kinds == ["A", "W"] * 38
    # 36 dense 3x3 convs (input widths 24 + 12i, 168 + 12i, 312 + 12i; 12 outputs) and two width-keeping 1x1s
    dense_inputs = [start + 12 * i for start in (24, 168, 312) for i in range(12)]
    expected = 9 * 12 * sum(dense_inputs) + 168**2 + 312**2
    assert evaluate_cost(layout.common_arch, "proqha", bits=(4, 4)).totals["quantized_weights"] == expected
    bits = [int(b) for b in torch.randint(2, 9, (76,), generator=torch.Generator().manual_seed(0))]
    cfg = bitconfig_of(model, layout, bits, 10, source="test")
    assert evaluate_bitconfig(cfg, "proqha").totals["cost"] == pytest.approx(cost_model(model).cost(bits))
    small = QuantDenseNet(10, 10, growth=4)
    out = small(torch.randn(2, 3, 32, 32))
    out.sum().backward()
    assert out.shape == (2, 10) and small.dense1[0].conv.weight.grad is not None
    assert (
        compute.main(["--dataset", "digits", "--arch", "densenet", "--num_layers", "40", "--k_bits", "4"])
        == 0
    )
    assert "computation ratio 0.125" in capsys.readouterr().out
    with pytest.raises(UsageError, match="DenseNet-40"):
        build_quant_model("cifar10", "densenet", 100, 10)
