"""HAWQ-V3's Q-InceptionV3 (``hawq/utils/models/q_inceptionv3.py``) and its float model ``inceptionv3_cv``.

Module names do not depend on the width, so the name checks and the cost check run on a quarter-width model; the
cost itself is counted on the full-width layers of ``inceptionv3_cv`` at 299x299.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from common.bitconfig import BitConfig, LayerBits
from common.cost import evaluate_cost
from common.layers import enumerate_arch, enumerate_layers
from common.models import build_model
from common.models.inceptionv3_cv import inceptionv3_cv
from common.runtime import UsageError
from hawq import export_onnx, quant_train
from hawq.bit_config import bit_config_dict
from hawq.utils.integer_inference import lower
from hawq.utils.models import build_quantized_model, load_float_weights
from hawq.utils.quant_config import (
    QuantSettings,
    bitconfig_module_bits,
    configure_quant_modules,
    freeze_model,
    scheme_module_bits,
)
from hawq.utils.quantization_utils.quant_modules import QuantAct, QuantBnConv2d, QuantLinear

SCHEMES = ("uniform8", "uniform4")
SMALL = 75  # the smallest input the network takes


def _small(width: float = 0.25, classes: int = 10) -> torch.nn.Module:
    torch.manual_seed(0)
    return build_quantized_model("inceptionv3", inceptionv3_cv(classes, width), input_size=SMALL)


@pytest.fixture(scope="module")
def qmodel() -> torch.nn.Module:
    return _small()


def _quantized_names(model: torch.nn.Module) -> set[str]:
    return {n for n, m in model.named_modules() if isinstance(m, (QuantAct, QuantBnConv2d, QuantLinear))}


@pytest.mark.parametrize("scheme", SCHEMES)
def test_shipped_config_keys_are_exactly_the_quantized_modules(qmodel, scheme) -> None:
    keys = set(bit_config_dict[f"bit_config_inceptionv3_{scheme}"])
    assert len(keys) == 257
    assert keys == _quantized_names(qmodel)
    settings = QuantSettings()
    bits = scheme_module_bits("inceptionv3", scheme, qmodel)
    assert configure_quant_modules(qmodel, bits, settings) == len(bits) == 257


def test_layer_map_follows_the_float_layers_in_forward_order(qmodel) -> None:
    float_layers = [l.name for l in enumerate_arch("inceptionv3_cv")]
    assert len(float_layers) == 95 and list(qmodel.layer_map) == float_layers
    modules = dict(qmodel.named_modules())
    weights = [w for w, _ in qmodel.layer_map.values()]
    assert len(set(weights)) == 95
    assert {n for n, m in modules.items() if isinstance(m, (QuantBnConv2d, QuantLinear))} == set(weights)
    # the quantized layer holds the float layer's weight (reduced width: shapes differ from layer to layer)
    fp = inceptionv3_cv(10, 0.25)
    fmods = dict(fp.named_modules())
    for layer, (w, a) in qmodel.layer_map.items():
        assert isinstance(modules[a], QuantAct)
        qw = modules[w].conv.weight if isinstance(modules[w], QuantBnConv2d) else modules[w].weight
        assert qw.shape == fmods[layer].weight.shape, layer
    # inputs: a branch's first conv reads its q_input_act (q_pool_act after the average pool), the Inception-C
    # 1x3/3x1 pair share the last q_activ of the branch's conv list
    lm = qmodel.layer_map
    assert lm["features.stage1.unit1.branches.branch1.conv.conv"][1].endswith("branch1.q_input_act")
    assert lm["features.stage1.unit1.branches.branch4.conv.conv"][1].endswith("branch4.q_pool_act")
    assert lm["features.init_block.conv4.conv"][1] == "features.q_init_block.q_conv3.q_activ"
    pair = [lm[f"features.stage3.unit3.branches.branch3.{c}.conv"][1] for c in ("conv1x3", "conv3x1")]
    assert pair == ["features.stage3.unit3.branches.branch3.q_conv_list.q_conv2.q_activ"] * 2


@pytest.mark.parametrize("scheme,bits", [("uniform8", 8), ("uniform4", 4)])
def test_cost_of_the_shipped_configs_equals_torchvision_inception_counts(qmodel, scheme, bits) -> None:
    configure_quant_modules(qmodel, scheme_module_bits("inceptionv3", scheme, qmodel), QuantSettings())
    modules = dict(qmodel.named_modules())
    layer_bits = {
        layer: (int(modules[w].weight_bit), int(modules[a].activation_bit))
        for layer, (w, a) in qmodel.layer_map.items()
    }
    ours = evaluate_cost("inceptionv3_cv", "hawq", layer_bits=layer_bits).totals
    ref = evaluate_cost("inception_v3", "hawq", bits=(bits, bits)).totals
    assert ours["size_MB"] == pytest.approx(ref["size_MB"], rel=1e-12)
    assert ours["GBOPs"] == pytest.approx(ref["GBOPs"], rel=1e-12)
    expected = {8: (22.698, 365.65), 4: (12.326, 92.43)}[bits]  # docs/hawq.md §7 (torchvision counts)
    assert (round(ours["size_MB"], 3), round(ours["GBOPs"], 2)) == expected


def test_float_model_matches_torchvision_inception_layer_for_layer() -> None:
    ours, tv = enumerate_arch("inceptionv3_cv"), enumerate_arch("inception_v3")
    assert [(l.kind, l.macs, l.weight_params) for l in ours] == [
        (l.kind, l.macs, l.weight_params) for l in tv
    ]
    fp32 = evaluate_cost("inceptionv3_cv", "hawq", bits=(32, 32)).totals
    assert (
        fp32["params"] == 23_834_568
        and round(fp32["size_MB"], 2) == 90.92
        and round(fp32["GBOPs"], 2) == 5850.33
    )
    small = build_model("inceptionv3_cv", 10, width=0.25)
    assert all(m.eps == 1e-3 for m in small.modules() if isinstance(m, torch.nn.BatchNorm2d))
    assert len(enumerate_layers(small, SMALL)) == 95


def _on_grid(x: torch.Tensor, scale: torch.Tensor, bits: int) -> bool:
    q = x / scale.view(1, -1, *([1] * (x.dim() - 2)))
    return bool(torch.allclose(q, q.round(), atol=1e-3)) and float(q.abs().max()) <= 2 ** (bits - 1)


def test_forward_backward_and_frozen_eval_at_75px() -> None:
    model = _small()
    configure_quant_modules(model, scheme_module_bits("inceptionv3", "uniform4", model), QuantSettings())
    x = torch.rand(4, 3, SMALL, SMALL)
    target = torch.tensor([0, 1, 2, 3])
    model.train()
    loss = torch.nn.functional.cross_entropy(model(x), target)
    loss.backward()
    grads = [p.grad for p in model.parameters() if p.requires_grad]
    assert torch.isfinite(loss) and all(g is not None and torch.isfinite(g).all() for g in grads)
    stem = model.features["q_init_block"].q_conv1.q_convbn
    assert stem.conv.weight.grad.abs().sum() > 0  # gradient reaches the first layer through every requant

    # frozen (folded BN): every concat requant puts each branch on the unit's one 16-bit grid
    freeze_model(model)
    model.eval()
    seen = {}

    def keep(name):
        def hook(module, inputs, output):
            seen[name] = output

        return hook

    unit = model.features["stage2"]["unit1"]  # Reduction-A: two conv branches and a max-pool branch
    handles = [unit.q_rescaling_activ.register_forward_hook(keep("concat"))]
    c3 = model.features["stage3"]["unit2"].branches["branch3"]
    handles.append(c3.q_rescaling_activ.register_forward_hook(keep("split")))
    with torch.no_grad():
        out = model(x)
    for h in handles:
        h.remove()
    assert out.shape == (4, 10) and torch.isfinite(out).all()
    for key in ("concat", "split"):
        y, s = seen[key]
        assert s.numel() == 1 and _on_grid(y, s, 16), key


@pytest.mark.slow
def test_quant_train_digits_one_step(tmp_path, monkeypatch) -> None:
    """One training step on 7 digits, validated on the first 16 of the 360 validation digits (the whole set costs
    20 s through Q-InceptionV3 at 75 px and adds nothing here)."""
    real = quant_train.build_datasets

    def first_val_images(*args, **kwargs):
        train, val, classes = real(*args, **kwargs)
        return train, torch.utils.data.Subset(val, range(16)), classes

    monkeypatch.setattr(quant_train, "build_datasets", first_val_images)
    out = tmp_path / "run"
    result = quant_train.main(
        ["-a", "inceptionv3", "--data", "digits", "-b", "8", "--epochs", "1", "--data-percentage", "0.005",
         "--quant-scheme", "uniform4", "--seed", "0", "-j", "0", "--device", "cpu", "--lr", "0.01",
         "--save-path", str(out) + "/"]
    )  # fmt: skip
    assert "match all modules defined in bit_config: True" in (out / "log.log").read_text()
    assert 0 <= result["val_acc1"] <= 100
    cfg = json.loads((out / "bit_config.json").read_text())
    assert cfg["arch"] == "inceptionv3_cv" and cfg["input_size"] == SMALL and len(cfg["layers"]) == 95
    ckpt = torch.load(out / "checkpoint.pth.tar", weights_only=True)
    assert "features.stage1.unit1.q_rescaling_activ.x_max" in ckpt["state_dict"]


def test_image_size_below_75_is_a_usage_error(tmp_path) -> None:
    with pytest.raises(UsageError, match="--image-size must be >= 75"):
        quant_train.main(["-a", "inceptionv3", "--data", "digits", "--image-size", "32",
                          "--save-path", str(tmp_path) + "/"])  # fmt: skip
    assert not any(tmp_path.iterdir())


def _calibrated(scheme: str, x: torch.Tensor) -> torch.nn.Module:
    """A reduced-width model whose float BN statistics come from ``x`` (so activations neither vanish nor
    explode), wrapped with folded BN and activation ranges taken from one pass over ``x``."""
    torch.manual_seed(0)
    fp = inceptionv3_cv(10, 0.25)
    for m in fp.modules():
        if isinstance(m, torch.nn.BatchNorm2d):
            m.momentum = None  # running statistics = the batch's
    with torch.no_grad():
        fp.train()(x)
    model = build_quantized_model("inceptionv3", fp, input_size=SMALL)
    settings = QuantSettings(fix_BN=True)
    configure_quant_modules(model, scheme_module_bits("inceptionv3", scheme, model), settings)
    with torch.no_grad():
        model.eval()(x)
    return model


@pytest.mark.parametrize("scheme", SCHEMES)
def test_integer_only_inference_equals_fake_quant(scheme) -> None:
    torch.manual_seed(1)
    x = torch.randn(6, 3, SMALL, SMALL)
    model = _calibrated(scheme, x)
    program = lower(model, x[:1])
    with torch.no_grad():
        fake = model(x)
    assert torch.equal(program.run(x), fake)
    assert fake.std(dim=0).sum() > 0  # the logits depend on the input
    kinds = {op.kind for op in program.ops}
    assert {"concat", "maxpool", "avgpool"} <= kinds
    assert sum(op.kind in ("conv", "linear") for op in program.ops) == 95


def test_onnx_export_passes_the_checker_and_follows_the_fake_quant_model(tmp_path) -> None:
    torch.manual_seed(2)
    x = torch.randn(8, 3, SMALL, SMALL)
    model = _calibrated("uniform8", x)
    onnx_model = export_onnx.export_onnx(model, x[:1], tmp_path / "q.onnx")  # runs onnx.checker (full_check)
    ops = {n.op_type for n in onnx_model.graph.node}
    assert {"Concat", "AveragePool", "MaxPool", "QuantizeLinear", "Gemm"} <= ops
    ort = pytest.importorskip("onnxruntime")
    with torch.no_grad():
        fake = model.eval()(x)
    options = ort.SessionOptions()
    # ORT's QDQ propagation moves a QuantizeLinear across the max pools of 16-bit values and then rejects its own
    # node (int8 output, uint8 zero point); the graph itself passes onnx.checker
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    session = ort.InferenceSession(str(tmp_path / "q.onnx"), options)
    got = session.run(None, {"input": x.numpy()})[0]
    # QDQ rescales in float, so values land a step away from the integer result here and there; over 95 layers of an
    # untrained network the logits drift (max |diff| ~ half the largest logit), the predicted class mostly not
    assert got.shape == (8, 10) and np.isfinite(got).all()
    assert np.mean(got.argmax(1) == fake.numpy().argmax(1)) >= 0.75


@pytest.mark.parametrize("scheme", SCHEMES)
def test_portable_bit_config_gives_back_the_shipped_module_bits(qmodel, scheme) -> None:
    shipped = scheme_module_bits("inceptionv3", scheme, qmodel)
    configure_quant_modules(qmodel, shipped, QuantSettings())
    modules = dict(qmodel.named_modules())
    layers = {
        layer: LayerBits(int(modules[w].weight_bit), int(modules[a].activation_bit))
        for layer, (w, a) in qmodel.layer_map.items()
    }
    cfg = BitConfig(arch="inceptionv3_cv", layers=layers, method="hawq", num_classes=10, input_size=SMALL)
    assert bitconfig_module_bits(cfg, qmodel, ("inceptionv3", "inceptionv3_cv")) == shipped


def test_float_state_dict_has_pytorchcv_names(tmp_path) -> None:
    fp = inceptionv3_cv(10, 0.25)
    keys = set(fp.state_dict())
    for key in (
        "features.init_block.conv1.conv.weight",
        "features.init_block.conv5.bn.running_var",
        "features.stage1.unit1.branches.branch4.conv.bn.weight",
        "features.stage2.unit1.branches.branch2.conv_list.conv3.conv.weight",
        "features.stage2.unit5.branches.branch3.conv_list.conv5.bn.bias",
        "features.stage3.unit3.branches.branch3.conv3x1.conv.weight",
        "output.fc.bias",
    ):
        assert key in keys, key
    torch.save(fp.state_dict(), tmp_path / "inceptionv3.pth")
    again = inceptionv3_cv(10, 0.25)
    load_float_weights(again, tmp_path / "inceptionv3.pth")  # what --pretrained does with pytorchcv's file
    assert all(
        torch.equal(a, b) for a, b in zip(fp.state_dict().values(), again.state_dict().values(), strict=True)
    )
