"""Why HMQ's eval-mode top-1 can collapse on a short run while the training top-1 stays high.

The search stage runs BatchNorm in training mode under the *soft* weight quantizer (expected threshold
``E[T]`` over Gumbel samples); eval mode uses the *hard* argmax choice but normalises with the running
statistics gathered under the soft one (momentum 0.1; the original does the same). A layer whose argmax
threshold is far below ``E[T]`` then has a running variance many times its real (hard-path) variance. These
tests build that situation on one conv + BN layer and pin it: eval output != hard train-mode output, and after
:func:`hmq.train.recalibrate_batchnorm` (statistics re-estimated under the hard choice) the two agree.
"""

from __future__ import annotations

import copy

import pytest
import torch
from torch import nn

from hmq.block import HmqControl
from hmq.modules import attach_weight_hmq
from hmq.train import recalibrate_batchnorm

BITS = (8, 2)
N_T = 8


def _model(seed: int = 0) -> tuple[nn.Sequential, HmqControl]:
    """conv (HMQ weight block: argmax = 2 bits at the smallest threshold, 55 %; the other 45 % on 8 bits at the four
    largest thresholds) followed by a float BatchNorm."""
    torch.manual_seed(seed)
    gen = torch.Generator().manual_seed(seed + 1)
    control = HmqControl(quant_weights=True)
    control.uniform = lambda shape, device: torch.rand(shape, generator=gen).to(device)
    conv = nn.Conv2d(3, 8, 3, padding=1, bias=False)
    attach_weight_hmq(conv, control, BITS, N_T)
    with torch.no_grad():
        p = torch.zeros(len(BITS), N_T)
        p[1, N_T - 1] = 0.55  # the hard choice: 2 bits, T_max / 2^7
        p[0, :4] = 0.45 / 4  # the rest of the mass on large thresholds at 8 bits
        conv.q.search_matrix.copy_(p.clamp_min(1e-6).log().reshape(conv.q.search_matrix.shape))
    return nn.Sequential(conv, nn.BatchNorm2d(8)), control


def _hard_train_mode(model: nn.Module, control: HmqControl, x: torch.Tensor) -> torch.Tensor:
    """Output in training mode on the hard path (BN batch statistics); the BN buffers are put back after."""
    saved = copy.deepcopy(model.state_dict())
    tau, control.temperature = control.temperature, -1.0
    was_training = model.training
    try:
        with torch.no_grad():
            return model.train()(x)
    finally:
        control.temperature = tau
        model.load_state_dict(saved)
        model.train(was_training)


def _search_forwards(model: nn.Module, control: HmqControl, steps: int = 30) -> None:
    """BN running statistics gathered as in the search stage: training mode, temperature 1 (soft)."""
    model.train()
    control.temperature = 1.0
    with torch.no_grad():
        for _ in range(steps):
            model(torch.randn(16, 3, 8, 8))


def test_hard_choice_is_far_below_the_soft_threshold() -> None:
    model, control = _model()
    q = model[0].q
    assert q.bit_width() == 2 and q.threshold() == pytest.approx(float(q.thresholds()[-1]))
    _, delta, qs = q.soft_parameters(model[0].weight)
    expected_t = (delta.reshape(qs.shape) * qs).mean().detach()  # E[T] = q * E[delta]
    assert float(expected_t) > 10 * q.threshold()


def test_eval_after_search_uses_stale_soft_statistics() -> None:
    model, control = _model()
    _search_forwards(model, control)
    x = torch.randn(64, 3, 8, 8)
    ref = _hard_train_mode(model, control, x)
    model.eval()
    with torch.no_grad():
        out = model(x)
        hard_conv = model[0](x)  # eval mode: the hard choice, as in the fine-tune stage
    batch_var = hard_conv.var(dim=(0, 2, 3))
    assert float((model[1].running_var / batch_var).median()) > 10  # stale soft-state variance
    # the eval output is squashed towards the BN shift: far from the hard train-mode output
    assert float((out - ref).abs().mean()) > 0.5 * float(ref.abs().mean())


def test_recalibration_makes_eval_equal_hard_train_mode() -> None:
    model, control = _model()
    _search_forwards(model, control)
    x = torch.randn(64, 3, 8, 8)
    ref = _hard_train_mode(model, control, x)
    momentum = model[1].momentum
    control.temperature = 0.7
    seen = recalibrate_batchnorm(model, [(x, None)], control, torch.device("cpu"))
    assert seen == 1
    assert model[1].momentum == momentum and control.temperature == 0.7  # restored
    model.eval()
    with torch.no_grad():
        out = model(x)
    # running_var is the unbiased variance of the one batch (n = 64 * 8 * 8), batch norm uses the biased one
    torch.testing.assert_close(out, ref, rtol=2e-3, atol=2e-3)


def test_recalibration_keeps_everything_but_bn_statistics() -> None:
    model, control = _model()
    _search_forwards(model, control)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    recalibrate_batchnorm(
        model, [(torch.randn(8, 3, 8, 8), None)] * 3, control, torch.device("cpu"), max_batches=2
    )
    after = model.state_dict()
    changed = {k for k in before if not torch.equal(before[k], after[k])}
    assert changed == {"1.running_mean", "1.running_var", "1.num_batches_tracked"}
    assert int(after["1.num_batches_tracked"]) == 2
