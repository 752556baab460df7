"""Tiny BRECQ reconstruction against the ``recon_*`` items of ptq_brecq_golden.* (original code, CPU, torch 2.13).

Setting rebuilt with our code: ResNet(BasicBlock, [1, 1, 1, 1], 10 classes) drawn after ``torch.manual_seed(0)``.
torchvision's ResNet registers and initialises its modules in the same order as BRECQ's ``PTQ/models/resnet.py``
(construction-time default init, then Kaiming-normal fan-out on every conv, BN to 1/0), so the same seed gives
bit-identical float weights. BN folded, weights 4 bit per output channel (MSE range search), stem and fc 8 bit,
weight quantizers initialised by a weight-only quantized forward over ``recon_cali``. Then block reconstruction of
``layer1.0`` after ``torch.manual_seed(123)`` and layer reconstruction of ``fc`` after ``torch.manual_seed(321)``,
both with 20 iterations, batch 4, λ = 0.01, asym inputs, β 20 → 2, warm-up 0.2.

Tolerances. The original BRECQ code run on this environment's torch (2.15) gives exactly our numbers: the same α,
the same hard weights, the same logits, bit for bit. Against the golden (torch 2.13) what remains is version drift:

* logits (before and after): float32 noise of the conv kernels, ≤ 3e-7; asserted to 1e-6.
* ``recon_block_conv1_alpha``: 20 Adam steps (lr 1e-3) over gradients that differ in their last bits between the
  two versions; Adam divides by sqrt(v), so components with tiny gradients move differently by a few 1e-6
  (max 7.1e-6 observed). Asserted to atol 1e-5, and the rounding decisions (α ≥ 0) must agree everywhere.
* hard-rounded weights of ``layer1.0.conv1`` and ``fc``: exact (same integers, same step sizes).
"""

from pathlib import Path

import numpy as np
import pytest
import torch
from torchvision.models.resnet import BasicBlock, ResNet

from ompq.PTQ.quant.fold_bn import fold_all_bn
from ompq.PTQ.quant.quant_model import QuantModel
from ompq.PTQ.quant.reconstruction import reconstruct

GOLDEN = Path(__file__).parents[2] / "golden" / "ompq" / "ptq_brecq_golden.npz"
SETTINGS = {
    "batch_size": 4,
    "iters": 20,
    "weight": 0.01,
    "asym": True,
    "b_range": (20, 2),
    "warmup": 0.2,
    "act_quant": False,
}


@pytest.fixture(scope="module")
def run():
    """Everything the golden recorded, computed once for the module's tests (on one intra-op thread: with two on
    the shared 2-core machine, OpenMP spinning makes the weight-range search over ten times slower)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        return _reconstruct()
    finally:
        torch.set_num_threads(threads)


def _reconstruct():
    gold = np.load(GOLDEN)
    torch.manual_seed(0)
    net = ResNet(BasicBlock, [1, 1, 1, 1], num_classes=10).eval()
    wq = {"n_bits": 4, "channel_wise": True, "scale_method": "mse"}
    aq = {"n_bits": 4, "channel_wise": False, "scale_method": "mse"}
    qnn = QuantModel(fold_all_bn(net), wq, aq).eval()
    qnn.set_first_last_layer_to_8bit()
    cali = torch.tensor(gold["recon_cali"])
    got = {}
    qnn.set_quant_state(True, False)
    with torch.no_grad():
        got["recon_logits_nearest_before"] = qnn(cali)
    torch.manual_seed(123)
    block = qnn.model.layer1[0]
    reconstruct(qnn, block, cali, **SETTINGS)
    conv1 = block.conv1
    got["recon_block_conv1_alpha"] = conv1.weight_quantizer.alpha.detach().clone()
    with torch.no_grad():
        got["recon_block_conv1_wq_hard"] = conv1.weight_quantizer(conv1.org_weight)
    torch.manual_seed(321)
    fc = qnn.model.fc
    reconstruct(qnn, fc, cali, **SETTINGS)
    with torch.no_grad():
        got["recon_fc_wq_hard"] = fc.weight_quantizer(fc.org_weight)
        qnn.set_quant_state(True, False)
        got["recon_logits_after"] = qnn(cali)
    return {k: v.detach().numpy() for k, v in got.items()}, gold


@pytest.mark.parametrize("key", ["recon_logits_nearest_before", "recon_logits_after"])
def test_logits(run, key):
    got, gold = run
    np.testing.assert_allclose(got[key], gold[key], rtol=1e-6, atol=1e-6)


def test_block_alpha(run):
    got, gold = run
    alpha, ref = got["recon_block_conv1_alpha"], gold["recon_block_conv1_alpha"]
    np.testing.assert_array_equal(alpha >= 0, ref >= 0)
    np.testing.assert_allclose(alpha, ref, rtol=0, atol=1e-5)


@pytest.mark.parametrize("key", ["recon_block_conv1_wq_hard", "recon_fc_wq_hard"])
def test_hard_weights(run, key):
    got, gold = run
    np.testing.assert_array_equal(got[key], gold[key])
