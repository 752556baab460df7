"""HMQ block placement on the four ImageNet networks against golden/hmq/network_costs.json, and the
original weight-file layouts (docs/hmq.md sections 4 and 5)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from common.models import build_model
from hmq.block import HmqControl
from hmq.compression import activation_blocks, weight_blocks
from hmq.networks import build_hmq_network
from hmq.weights import load_weights, map_by_position

COSTS = json.loads(
    (Path(__file__).resolve().parents[1] / "golden" / "hmq" / "network_costs.json").read_text()
)


@pytest.mark.parametrize(
    ("network", "key"),
    [
        ("mobilenet_v1", "mobilenet_v1"),
        ("mobilenet_v2", "mobilenet_v2"),
        ("resnet50", "resnet50"),
        ("efficient_net", "efficientnet_b0"),
    ],
)
def test_block_counts_and_weight_sizes(network, key) -> None:
    ref = COSTS[key]
    model = build_hmq_network(network, 1000, HmqControl())
    wb, ab = weight_blocks(model), activation_blocks(model)
    assert len(wb) == ref["n_weight_quantizers"] and len(ab) == ref["n_activation_quantizers"]
    assert [int(b.tensor_size) for _, b in wb] == [n for _, n in ref["weights_per_layer"]]
    assert sum(int(b.tensor_size) for _, b in wb) == ref["quantized_weight_count"]
    if network == "resnet50":
        assert type(model.fc) is torch.nn.Linear  # HMQ keeps ResNet-50's classifier float


def test_mobilenet_v1_activation_sizes_and_signs() -> None:
    ref = COSTS["mobilenet_v1"]["activation_sizes"]
    control = HmqControl(quant_weights=True, quant_acts=True, statistics=True)
    model = build_hmq_network("mobilenet_v1", 1000, control).eval()
    with torch.no_grad():
        model(torch.randn(1, 3, 224, 224))
    got = [
        (name.removesuffix(".q"), int(b.tensor_size), "signed" if b.signed else "unsigned")
        for name, b in activation_blocks(model)
    ]
    assert got == [tuple(r) for r in ref]


def _original_mobilenet_v1_key(key: str) -> str:
    """Our key -> the key an original HMQ MobileNetV1 checkpoint uses (the wrapper level inserted)."""
    for old, new in (
        (".conv2d.", ".conv2d.conv."),
        (".bn.", ".conv2d.bn."),
        (".bn_0.", ".dw_conv.bn."),
        (".bn_1.", ".conv.bn."),
        (".dw_conv.", ".dw_conv.conv."),
    ):
        if old in key and ".q." not in key:
            return "module." + key.replace(old, new)
    if ".conv." in key and ".q." not in key:
        return "module." + key.replace(".conv.", ".conv.conv.")
    if key.startswith("fc.") and ".q." not in key:
        return "module.fc.fc." + key[3:]
    return "module." + key


def test_original_mobilenet_v1_checkpoint_layout_loads(tmp_path) -> None:
    torch.manual_seed(0)
    src = build_hmq_network("mobilenet_v1", 10, HmqControl())
    state = {_original_mobilenet_v1_key(k): v for k, v in src.state_dict().items()}
    assert "module.model.1.conv.conv.weight" in state and "module.model.1.dw_conv.bn.weight" in state
    torch.save({"state_dict": state}, tmp_path / "final_best.pt")
    dst = build_hmq_network("mobilenet_v1", 10, HmqControl())
    assert load_weights(dst, tmp_path / "final_best.pt", "mobilenet_v1") == []
    for k, v in src.state_dict().items():
        assert torch.equal(dst.state_dict()[k], v), k


def test_float_mobilenet_v1_file_loads(tmp_path) -> None:
    src = build_model("mobilenet_v1", 1000)
    torch.save({"state_dict": {f"module.{k}": v for k, v in src.state_dict().items()}}, tmp_path / "w.pth")
    dst = build_model("mobilenet_v1", 1000)
    load_weights(dst, tmp_path / "w.pth", "mobilenet_v1")
    assert torch.equal(dst.model[3].conv.weight, src.model[3].conv.weight)


def test_positional_mapping_checks_shapes() -> None:
    model = build_model("tiny_resnet", 10)
    tensors = [v for k, v in model.state_dict().items() if not k.endswith("num_batches_tracked")]
    state = {f"x{i}": v.clone() for i, v in enumerate(tensors)}
    mapped = map_by_position(state, model)
    assert torch.equal(mapped["conv1.weight"], model.conv1.weight)
    broken = dict(state)
    broken["x0"] = torch.zeros(1)
    with pytest.raises(ValueError, match="does not fit"):
        map_by_position(broken, model)
