"""BRECQ's quantized conv/linear (docs/ompq.md §3.4): weight quantizer, activation function, output quantizer.

``forward``: y = act_fn(op(x, Q_w(W) or W, b)); then, unless ``disable_act_quant``, Q_a(y) when activation
quantization is on. The BN must be folded into the layer first.
"""

from __future__ import annotations

from typing import Any

import torch.nn.functional as F
from torch import Tensor, nn

from ompq.PTQ.quant.quantizer import UniformAffineQuantizer


class QuantModule(nn.Module):
    """Quantized ``nn.Conv2d`` / ``nn.Linear`` keeping the original weight for reference."""

    def __init__(
        self,
        org: nn.Module,
        weight_quant_params: dict[str, Any],
        act_quant_params: dict[str, Any],
        disable_act_quant: bool = False,
    ) -> None:
        super().__init__()
        if isinstance(org, nn.Conv2d):
            self.fwd_kwargs = dict(
                stride=org.stride, padding=org.padding, dilation=org.dilation, groups=org.groups
            )
            self.fwd_func = F.conv2d
        elif isinstance(org, nn.Linear):
            self.fwd_kwargs = {}
            self.fwd_func = F.linear
        else:
            raise TypeError(f"QuantModule wraps Conv2d or Linear, not {type(org).__name__}")
        self.weight = org.weight
        self.org_weight = org.weight.data.clone()
        self.bias = org.bias
        self.org_bias = None if org.bias is None else org.bias.data.clone()
        self.use_weight_quant = False
        self.use_act_quant = False
        self.disable_act_quant = disable_act_quant
        self.weight_quantizer: nn.Module = UniformAffineQuantizer(**weight_quant_params)
        self.act_quantizer = UniformAffineQuantizer(**act_quant_params)
        self.activation_function: nn.Module = nn.Identity()
        self.ignore_reconstruction = False

    def forward(self, x: Tensor) -> Tensor:
        if self.use_weight_quant:
            weight, bias = self.weight_quantizer(self.weight), self.bias
        else:
            weight, bias = self.org_weight, self.org_bias
        out = self.activation_function(self.fwd_func(x, weight, bias, **self.fwd_kwargs))
        if self.disable_act_quant:
            return out
        return self.act_quantizer(out) if self.use_act_quant else out

    def set_quant_state(self, weight_quant: bool = False, act_quant: bool = False) -> None:
        self.use_weight_quant = weight_quant
        self.use_act_quant = act_quant
