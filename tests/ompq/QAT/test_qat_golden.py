"""OMPQ's QAT configuration on the hawq modules against qat_golden.* (bit configs, modes, QuantAct numerics)."""

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from hawq.utils.models import build_quantized_model
from hawq.utils.quant_config import QuantSettings, configure_quant_modules
from hawq.utils.quantization_utils.quant_modules import QuantAct
from ompq.QAT.bit_config import bit_config_dict
from ompq.QAT.quant_train import apply_ompq_modes, cosine_lr

GOLDEN = Path(__file__).parents[2] / "golden" / "ompq"
J = json.loads((GOLDEN / "qat_golden.json").read_text())
NPZ = np.load(GOLDEN / "qat_golden.npz")


@pytest.mark.parametrize("key", [k for k in J if k.startswith("bit_config_")])
def test_bit_config_modules_and_modes(key):
    expected = J[key]["modules"]
    assert bit_config_dict[key] == {m["name"]: m["bits"] for m in expected}
    model = build_quantized_model(
        "resnet18" if "resnet18" in key else "resnet50", num_classes=10, input_size=64
    )
    bits = bit_config_dict[key]
    matched = configure_quant_modules(model, bits, QuantSettings(act_range_momentum=0.99, fix_BN=True))
    apply_ompq_modes(model, bits)
    assert matched == len(bits)
    modules = dict(model.named_modules())
    for m in expected:
        assert modules[m["name"]].quant_mode == m["quant_mode"], m["name"]


def _quant_act(bits, mode):
    q = QuantAct(bits, act_range_momentum=0.99, quant_mode=mode)
    q.train()
    return q


@pytest.mark.parametrize(
    ("tag", "bits", "mode", "inp"),
    [
        ("sym8", 8, "symmetric", "act_x"),
        ("asym6", 6, "asymmetric", "act_x"),
        ("asym5", 5, "asymmetric", "act_x"),
        ("asym16_signed_input", 16, "asymmetric", "act_xneg"),
        ("sym16_signed_input", 16, "symmetric", "act_xneg"),
    ],
)
def test_quant_act_sequences(tag, bits, mode, inp):
    q = _quant_act(bits, mode)
    for k, step in enumerate(J[f"QuantAct_{tag}"]):
        out, scale = q(torch.tensor(NPZ[f"{inp}{k}"]))
        np.testing.assert_allclose(out.detach().numpy(), NPZ[f"QuantAct_{tag}_out{k}"], rtol=1e-6, atol=1e-6)
        assert float(q.x_min) == pytest.approx(step["x_min"], rel=1e-6, abs=1e-7)
        assert float(q.x_max) == pytest.approx(step["x_max"], rel=1e-6)
        assert float(scale) == pytest.approx(step["scale"], rel=1e-6)
    fresh = _quant_act(bits, mode)
    w_scales = torch.tensor([0.01, 0.02, 0.03, 0.04])
    out, scale = fresh(torch.tensor(NPZ[f"QuantAct_{tag}_requant_in"]), torch.tensor([0.05]), w_scales)
    np.testing.assert_allclose(out.detach().numpy(), NPZ[f"QuantAct_{tag}_requant_out"], rtol=1e-6, atol=1e-6)
    assert float(scale) == pytest.approx(J[f"QuantAct_{tag}_requant_scale"], rel=1e-6)


def test_per_iteration_cosine():
    assert cosine_lr(0.1, 0, 100) == pytest.approx(0.1)
    assert cosine_lr(0.1, 50, 100) == pytest.approx(0.05)
    assert cosine_lr(0.1, 100, 100) == pytest.approx(0.0, abs=1e-12)
