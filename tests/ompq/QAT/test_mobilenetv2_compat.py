"""OMPQ QAT ``--compat``: its MobileNetV2 scale bug, off by default (docs/ompq.md)."""

from __future__ import annotations

import pytest
import torch

from common.runtime import UsageError
from hawq.utils.models import QLinearBottleneck, build_float_model, build_quantized_model
from ompq.QAT.quant_train import build_parser, check_args


def _scales_seen(bug: bool) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    torch.manual_seed(0)
    model = build_quantized_model("mobilenetv2_w1", build_float_model("mobilenetv2_w1", 10), input_size=32)
    unit = next(m for m in model.modules() if isinstance(m, QLinearBottleneck))
    unit.ompq_scale_bug = bug
    seen: dict[str, torch.Tensor] = {}

    def keep(key: str, value: torch.Tensor) -> None:  # hooks must return None to leave the forward alone
        seen.setdefault(key, value.detach().clone())

    unit.quant_act.register_forward_hook(lambda _m, _a, out: keep("in", out[1]))
    unit.quant_act1.register_forward_hook(lambda _m, _a, out: keep("act1", out[1]))
    unit.conv2.register_forward_pre_hook(lambda _m, args: keep("conv2", args[1]))
    model.train()
    model(torch.randn(2, 3, 32, 32))
    return seen["in"], seen["act1"], seen["conv2"]


def test_conv2_scale_default_and_compat():
    unit_in, act1, conv2 = _scales_seen(bug=False)
    assert not torch.equal(unit_in, act1)  # the two candidates differ, so the check below can fail
    assert torch.equal(conv2, act1)  # fixed: conv2 is fed quant_act1's scale
    unit_in, act1, conv2 = _scales_seen(bug=True)
    assert torch.equal(conv2, unit_in)  # OMPQ: the unit input's scale


def test_compat_only_for_mobilenetv2():
    args = build_parser().parse_args(["--data", "digits", "-a", "resnet18", "--compat"])
    with pytest.raises(UsageError, match="--compat"):
        check_args(args)
