"""HAWQ-V3 quantized modules: ``QuantAct``, ``QuantLinear``, ``QuantConv2d``, ``QuantBnConv2d``,
``QuantAveragePool2d`` (``docs/hawq.md`` §3.2, §3.4).

Numerics follow the original ``utils/quantization_utils/quant_modules.py`` (checked against
``tests/golden/hawq/quant_modules.npz``). Differences, all deliberate:

* Range buffers keep shape ``[1]`` also with ``act_range_momentum=-1`` (quirk 6, fixed): the original turns them
  into 0-d tensors, which breaks reloading a state_dict. Values are identical.
* The range update is branch-free (``torch.where``) so it never synchronises with the host.
* The InceptionV3 multi-branch requantization (list of previous scales) returns a new tensor built with
  ``torch.cat`` instead of writing into the caller's input in place; the values are identical.
* A conv/linear without bias is supported (quirk 5, fixed); the original crashes for a bias-free FC.
* ``QuantConv2d`` with ``per_channel=False`` and ``weight_percentile > 0`` uses the per-channel percentile
  rule over the flattened weight; the original crashes there.
* The original's ``full_precision_flag`` (broken in QuantLinear, quirk 5) is not offered.
* ``QuantBnConv2d`` in unfolded training mode works with ``per_channel=False`` (quirk 5, fixed; the original
  crashes); its running-stat update is done without gradient (the original keeps no gradient either).

All modules return ``(tensor, scale)`` pairs like the original, except ``QuantLinear`` (output only).

Two switches beyond the original, both off by default (``hawq.quant_train --round-folded-input`` and
``--float64-bn-stats``):

* ``round_input`` (QuantLinear, QuantConv2d, folded QuantBnConv2d): the input ``x / s_in`` is rounded to the
  integer it stands for (straight-through, so gradients are unchanged) instead of carrying the float32 residue
  of the division (quirk 21). Every conv and linear then sums exact integers, and as long as each partial sum
  stays below 2^24 in magnitude (float32's exact-integer range) the result does not depend on the order in which
  the CPU kernel (oneDNN, BLAS, thread count) adds the products.
* ``float64_bn_stats`` (unfolded QuantBnConv2d): the batch mean and variance are reduced in float64 and rounded
  to float32, so their value no longer depends on the reduction order at float32 precision.

Two DDP switches, off by default (``--sync-bn`` and ``--sync-act-range``; the second does nothing without a
process group of more than one rank). The original's DDP keeps per-rank statistics: each rank's unfolded BN normalises with its
own share of the batch, and each QuantAct moves its range by its own share's min/max (DDP then broadcasts rank
0's buffers before every forward). With them a DDP run computes what one process computes on the global batch:

* ``sync_bn`` (unfolded QuantBnConv2d): batch mean and variance over every rank's batch
  (:func:`common.runtime.ddp_sync.global_moments`, differentiable, float64 sums; with one process this is the
  ``float64_bn_stats`` arithmetic, so a one-process run with the flag is the exact reference of a DDP one);
* ``sync_range`` (QuantAct): the batch min/max all-reduced (with ``act_percentile`` the percentiles of all ranks'
  activations gathered together).
"""

from __future__ import annotations

import copy
import functools
import math
from collections.abc import Callable
from typing import Any, TypeVar

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from common.runtime.ddp_sync import all_gather_rows, all_reduce_min_max, global_moments, world_active

from .quant_utils import (
    AsymmetricQuantFunction,
    SymmetricQuantFunction,
    asymmetric_linear_quantization_params,
    fixedpoint_fn,
    get_percentile_min_max,
    ste_round,
    symmetric_linear_quantization_params,
    transfer_float_averaging_to_int_averaging,
)

__all__ = [
    "QuantAct",
    "QuantAveragePool2d",
    "QuantBnConv2d",
    "QuantConv2d",
    "QuantLinear",
    "float32_forward",
]

_F = TypeVar("_F", bound=Callable[..., Any])


def _as_float32(obj: Any) -> Any:
    if isinstance(obj, Tensor) and obj.is_floating_point() and obj.dtype != torch.float32:
        return obj.float()
    if isinstance(obj, (tuple, list)):
        return type(obj)(_as_float32(o) for o in obj)
    return obj


def float32_forward(forward: _F) -> _F:
    """Run a quantized module's forward in float32 with autocast off (integer simulation must stay exact).

    Under ``torch.autocast`` (bf16/fp16) the convolutions of integer-valued tensors would otherwise run in low
    precision and break the rounding steps; inputs in another float dtype are cast to float32.
    """

    @functools.wraps(forward)
    def wrapper(self: nn.Module, *args: Any, **kwargs: Any) -> Any:
        first = args[0][0] if args and isinstance(args[0], (tuple, list)) else (args[0] if args else None)
        device_type = first.device.type if isinstance(first, Tensor) else "cpu"
        with torch.autocast(device_type=device_type, enabled=False):
            return forward(self, *_as_float32(args), **{k: _as_float32(v) for k, v in kwargs.items()})

    return wrapper  # type: ignore[return-value]


class QuantAct(nn.Module):
    """Activation quantizer and integer-only requantizer (§3.2).

    Range tracking (while ``running_stat``): batch ``(min, max)`` — or, with ``act_percentile = p > 0``, the
    ``(100 − p, p)`` percentiles (symmetric) or ``(0, p)`` (asymmetric) — then

    * first call (``x_min == x_max``): ``x_min, x_max ← batch``;
    * ``act_range_momentum = −1``: ``x_min ← min(x_min, batch_min)``, ``x_max ← max(x_max, batch_max)``;
    * else EMA: ``x ← m · x + (1 − m) · batch``.

    The scale ``s_a`` is recomputed from the buffers on every call: symmetric (§3.1) for
    ``quant_mode='symmetric'``, ``(x_max − x_min) / (2^b − 1)`` for ``'asymmetric'``. Output ``(q · s_a, s_a)``:

    * no previous scale, or ``fixed_point_quantization``: ``q = Quant(x, s_a)`` (STE);
    * previous scales ``(s_in, s_w)``: ``q = fixedpoint_fn`` case 0 (§3.3);
    * plus ``identity`` with ``(s_id, s_wid)``: case 1 (residual, unclamped);
    * a list of previous scales (InceptionV3 concat): each channel slice requantized by case 0 with its own
      scale and weight scale 1.

    ``x`` may also be a tuple ``(x, s_in)`` or ``(x, [s_1, …], [c_1, …])`` as produced by the previous module.
    """

    x_min: Tensor
    x_max: Tensor
    act_scaling_factor: Tensor
    pre_weight_scaling_factor: Tensor
    identity_weight_scaling_factor: Tensor

    def __init__(
        self,
        activation_bit: int = 4,
        act_range_momentum: float = 0.95,
        running_stat: bool = True,
        quant_mode: str = "symmetric",
        fix_flag: bool = False,
        act_percentile: float = 0,
        fixed_point_quantization: bool = False,
    ) -> None:
        super().__init__()
        if quant_mode not in ("symmetric", "asymmetric"):
            raise ValueError(f"unknown quant_mode {quant_mode!r}")
        self.activation_bit = activation_bit
        self.act_range_momentum = act_range_momentum
        self.running_stat = running_stat
        self.quant_mode = quant_mode
        self.fix_flag = fix_flag
        self.act_percentile = act_percentile
        self.fixed_point_quantization = fixed_point_quantization
        self.sync_range = False
        self.register_buffer("x_min", torch.zeros(1))
        self.register_buffer("x_max", torch.zeros(1))
        self.register_buffer("act_scaling_factor", torch.zeros(1))
        self.register_buffer("pre_weight_scaling_factor", torch.ones(1))
        self.register_buffer("identity_weight_scaling_factor", torch.ones(1))

    def extra_repr(self) -> str:
        return (
            f"activation_bit={self.activation_bit}, quant_mode={self.quant_mode}, "
            f"act_range_momentum={self.act_range_momentum}, act_percentile={self.act_percentile}, "
            f"running_stat={self.running_stat}, fixed_point_quantization={self.fixed_point_quantization}"
        )

    def fix(self) -> None:
        """Freeze the range (validation / export)."""
        self.running_stat = False

    def unfix(self) -> None:
        """Resume range tracking."""
        self.running_stat = True

    def _batch_range(self, x: Tensor) -> tuple[Tensor, Tensor]:
        flat = x.detach().reshape(-1)
        synced = self.sync_range and world_active()
        if self.act_percentile == 0:
            if synced:
                lo, hi = all_reduce_min_max(*(v.reshape(1) for v in torch.aminmax(flat)))
                return lo.reshape(()), hi.reshape(())
            return torch.aminmax(flat)  # one pass instead of two
        if synced:
            flat = all_gather_rows(flat)
        lower = 100 - self.act_percentile if self.quant_mode == "symmetric" else 0
        lo, hi = get_percentile_min_max(flat, lower, self.act_percentile, output_tensor=True)
        return lo, hi  # type: ignore[return-value]

    @torch.no_grad()
    def _update_range(self, x: Tensor) -> None:
        batch_min, batch_max = self._batch_range(x)
        batch_min = batch_min.to(self.x_min.dtype)
        batch_max = batch_max.to(self.x_max.dtype)
        first = self.x_min == self.x_max
        m = self.act_range_momentum
        if m == -1:
            new_min = torch.minimum(self.x_min, batch_min)
            new_max = torch.maximum(self.x_max, batch_max)
        else:
            new_min = self.x_min * m + batch_min * (1 - m)
            new_max = self.x_max * m + batch_max * (1 - m)
        # first call: the original adds the batch value to the zero buffers, which is exactly the batch value
        self.x_min.copy_(torch.where(first, self.x_min + batch_min, new_min))
        self.x_max.copy_(torch.where(first, self.x_max + batch_max, new_max))

    def _quantizer(self) -> type[SymmetricQuantFunction] | type[AsymmetricQuantFunction]:
        return SymmetricQuantFunction if self.quant_mode == "symmetric" else AsymmetricQuantFunction

    @float32_forward
    def forward(
        self,
        x: Tensor | tuple,
        pre_act_scaling_factor: Tensor | list[Tensor] | None = None,
        pre_weight_scaling_factor: Tensor | None = None,
        identity: Tensor | None = None,
        identity_scaling_factor: Tensor | None = None,
        identity_weight_scaling_factor: Tensor | None = None,
    ) -> tuple[Tensor, Tensor]:
        channel_num: list[int] | None = None
        if isinstance(x, tuple):
            if len(x) == 3:
                channel_num = list(x[2])
            pre_act_scaling_factor = x[1]
            x = x[0]

        if self.running_stat:
            self._update_range(x)

        with torch.no_grad():
            if self.quant_mode == "symmetric":
                scale = symmetric_linear_quantization_params(
                    self.activation_bit, self.x_min, self.x_max, False
                )
            else:
                scale, _ = asymmetric_linear_quantization_params(
                    self.activation_bit, self.x_min, self.x_max, integral_zero_point=True
                )
        # a fresh tensor every call, so a scale saved for backward is never modified in place
        self.act_scaling_factor = scale

        if pre_act_scaling_factor is None or self.fixed_point_quantization:
            q = self._quantizer().apply(x, self.activation_bit, scale)
        elif isinstance(pre_act_scaling_factor, (list, tuple)):
            if channel_num is None or len(channel_num) != len(pre_act_scaling_factor):
                raise ValueError("a list of previous scales needs the matching list of branch channel counts")
            parts = []
            for chunk, s_branch in zip(
                torch.split(x, channel_num, dim=1), pre_act_scaling_factor, strict=True
            ):
                parts.append(
                    fixedpoint_fn.apply(
                        chunk,
                        self.activation_bit,
                        self.quant_mode,
                        scale,
                        0,
                        s_branch,
                        s_branch / s_branch,
                    )
                )
            q = torch.cat(parts, dim=1)
        else:
            s_w = (
                self.pre_weight_scaling_factor
                if pre_weight_scaling_factor is None
                else pre_weight_scaling_factor
            )
            if identity is None:
                q = fixedpoint_fn.apply(
                    x, self.activation_bit, self.quant_mode, scale, 0, pre_act_scaling_factor, s_w
                )
            else:
                s_wid = (
                    self.identity_weight_scaling_factor
                    if identity_weight_scaling_factor is None
                    else identity_weight_scaling_factor
                )
                q = fixedpoint_fn.apply(
                    x,
                    self.activation_bit,
                    self.quant_mode,
                    scale,
                    1,
                    pre_act_scaling_factor,
                    s_w,
                    identity,
                    identity_scaling_factor,
                    s_wid,
                )
        return q.mul_(scale.view(-1)), scale  # q is this call's own tensor: scaled in place


def _weight_range(w: Tensor, per_channel: bool, percentile: float) -> tuple[Tensor, Tensor]:
    """Per-output-channel (rows of ``w`` reshaped to ``(C_out, −1)``) or per-tensor weight range (§3.1).

    With ``percentile = p > 0``: k-th values with ``k_low = ceil(L · (100 − p) / 100)`` and
    ``k_high = ceil(L · p / 100)`` along each row (the flattened weight when per-tensor).
    """
    w = w.detach()
    rows = w.reshape(w.shape[0], -1) if per_channel else w.reshape(1, -1)
    if percentile == 0:
        # amin/amax: min(dim)/max(dim) also find the argmin/argmax, about 10x slower on CPU
        lo, hi = rows.amin(dim=1), rows.amax(dim=1)
    else:
        length = rows.shape[1]
        k_low = math.ceil(length * (100 - percentile) * 0.01)
        k_high = math.ceil(length * percentile * 0.01)
        lo = torch.kthvalue(rows, k=k_low, dim=1).values
        hi = torch.kthvalue(rows, k=k_high, dim=1).values
    if not per_channel:
        lo, hi = lo.reshape(()), hi.reshape(())
    return lo, hi


def _integer_input(x_over_scale: Tensor, round_input: bool) -> Tensor:
    """The integer input of a conv/linear: ``x / s_in`` as the original leaves it, or its straight-through round."""
    return ste_round(x_over_scale) if round_input else x_over_scale


def _integer_weight_and_bias(
    weight: Tensor,
    bias: Tensor | None,
    weight_bit: int,
    bias_bit: int | None,
    s_w: Tensor,
    s_in: Tensor,
    owner: str,
) -> tuple[Tensor, Tensor | None, Tensor]:
    """``w_int = SymQuant(W, b_w, s_w)``, ``s_b = s_w · s_in``, ``b_int = SymQuant(bias, bias_bit, s_b)`` (§3.4).

    Shared by QuantLinear, QuantConv2d and the folded QuantBnConv2d; returns ``(w_int, b_int, s_b)``.
    """
    w_int = SymmetricQuantFunction.apply(weight, weight_bit, s_w)
    s_b = s_w.reshape(-1) * s_in.reshape(-1)
    if bias is None:
        return w_int, None, s_b
    if bias_bit is None:
        raise ValueError(f"{owner} with a bias needs bias_bit")
    return w_int, SymmetricQuantFunction.apply(bias, bias_bit, s_b), s_b


def _take_weight_and_bias(module: nn.Module, source: nn.Conv2d | nn.Linear, scale_name: str) -> None:
    """Copy ``source``'s weight (and bias) into ``module`` as parameters, with the buffers of their integer
    versions and the per-output-channel weight scale ``scale_name``."""
    module.weight = nn.Parameter(source.weight.detach().clone())
    module.register_buffer(scale_name, torch.zeros(source.weight.shape[0]))
    module.register_buffer("weight_integer", torch.zeros_like(module.weight))
    if source.bias is not None:
        module.bias = nn.Parameter(source.bias.detach().clone())
        module.register_buffer("bias_integer", torch.zeros_like(module.bias))
    else:
        module.bias = None
        module.bias_integer = None


class QuantLinear(nn.Module):
    """Fully connected layer with integer weights and int32 bias (§3.4).

    ``s_w`` = symmetric scale of each output row (``per_channel``) or of the whole weight (shape ``[1]``);
    ``w_int = SymQuant(W, b_w, s_w)``; ``s_b = s_w · s_in``; ``b_int = SymQuant(bias, bias_bit, s_b)``;
    output ``= STE-round(linear(x / s_in, w_int, b_int)) · s_b``. Returns the output only.
    Build with ``QuantLinear(...)`` then ``set_param(nn.Linear)``.
    """

    weight_integer: Tensor
    bias_integer: Tensor | None
    fc_scaling_factor: Tensor

    def __init__(
        self,
        weight_bit: int = 4,
        bias_bit: int | None = None,
        per_channel: bool = False,
        fix_flag: bool = False,
        quant_mode: str = "symmetric",
    ) -> None:
        super().__init__()
        if quant_mode != "symmetric":
            raise ValueError("QuantLinear supports only symmetric weight quantization")
        self.weight_bit = weight_bit
        self.bias_bit = bias_bit
        self.per_channel = per_channel
        self.fix_flag = fix_flag
        self.quant_mode = quant_mode
        self.round_input = False

    def extra_repr(self) -> str:
        return (
            f"in_features={self.in_features}, out_features={self.out_features}, weight_bit={self.weight_bit}, "
            f"bias_bit={self.bias_bit}, per_channel={self.per_channel}"
        )

    def set_param(self, linear: nn.Linear) -> None:
        """Take the float weight and bias of ``linear`` (copied)."""
        self.in_features = linear.in_features
        self.out_features = linear.out_features
        _take_weight_and_bias(self, linear, "fc_scaling_factor")

    def fix(self) -> None:
        self.fix_flag = True

    def unfix(self) -> None:
        self.fix_flag = False

    @float32_forward
    def forward(self, x: Tensor | tuple, prev_act_scaling_factor: Tensor | None = None) -> Tensor:
        if isinstance(x, tuple):
            prev_act_scaling_factor = x[1]
            x = x[0]
        if prev_act_scaling_factor is None:
            raise ValueError("QuantLinear needs the previous activation scaling factor")
        lo, hi = _weight_range(self.weight, self.per_channel, 0)
        if not self.per_channel:
            lo, hi = lo.reshape(1), hi.reshape(1)
        s_w = symmetric_linear_quantization_params(self.weight_bit, lo, hi, self.per_channel)
        self.fc_scaling_factor = s_w
        w_int, b_int, s_b = _integer_weight_and_bias(
            self.weight,
            self.bias,
            self.weight_bit,
            self.bias_bit,
            s_w,
            prev_act_scaling_factor,
            "QuantLinear",
        )
        self.weight_integer = w_int.detach()
        if b_int is not None:
            self.bias_integer = b_int.detach()
        x_int = _integer_input(x / prev_act_scaling_factor.view(1, -1), self.round_input)
        return ste_round(F.linear(x_int, w_int, b_int)) * s_b.view(1, -1)


class QuantConv2d(nn.Module):
    """Conv2d with integer weights and int32 bias, without BN (§3.4).

    ``s_w`` per output channel (``per_channel``; optionally by ``weight_percentile``) or per tensor (0-d);
    ``w_int = SymQuant(W, b_w, s_w)``; ``s_b = s_w · s_in``; ``b_int = SymQuant(bias, bias_bit, s_b)``;
    output ``= conv(x / s_in, w_int, b_int) · s_b`` — ``x / s_in`` is not re-rounded (quirk 21).
    Returns ``(output, s_w)``. Build with ``QuantConv2d(...)`` then ``set_param(nn.Conv2d)``.
    """

    weight_integer: Tensor
    bias_integer: Tensor | None
    conv_scaling_factor: Tensor

    def __init__(
        self,
        weight_bit: int = 4,
        bias_bit: int | None = None,
        per_channel: bool = False,
        fix_flag: bool = False,
        weight_percentile: float = 0,
        quant_mode: str = "symmetric",
    ) -> None:
        super().__init__()
        if quant_mode != "symmetric":
            raise ValueError("QuantConv2d supports only symmetric weight quantization")
        self.weight_bit = weight_bit
        self.bias_bit = bias_bit
        self.per_channel = per_channel
        self.fix_flag = fix_flag
        self.weight_percentile = weight_percentile
        self.quant_mode = quant_mode
        self.round_input = False

    def extra_repr(self) -> str:
        return (
            f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, stride={self.stride}, "
            f"weight_bit={self.weight_bit}, bias_bit={self.bias_bit}, per_channel={self.per_channel}, "
            f"weight_percentile={self.weight_percentile}"
        )

    def set_param(self, conv: nn.Conv2d) -> None:
        """Take the geometry, float weight and bias of ``conv`` (copied)."""
        if conv.padding_mode != "zeros" or isinstance(conv.padding, str):
            raise ValueError("QuantConv2d supports only numeric zero padding")
        self.in_channels = conv.in_channels
        self.out_channels = conv.out_channels
        self.kernel_size = conv.kernel_size
        self.stride = conv.stride
        self.padding = conv.padding
        self.dilation = conv.dilation
        self.groups = conv.groups
        _take_weight_and_bias(self, conv, "conv_scaling_factor")

    def fix(self) -> None:
        self.fix_flag = True

    def unfix(self) -> None:
        self.fix_flag = False

    @float32_forward
    def forward(
        self, x: Tensor | tuple, pre_act_scaling_factor: Tensor | None = None
    ) -> tuple[Tensor, Tensor]:
        if isinstance(x, tuple):
            pre_act_scaling_factor = x[1]
            x = x[0]
        if pre_act_scaling_factor is None:
            raise ValueError("QuantConv2d needs the previous activation scaling factor")
        lo, hi = _weight_range(self.weight, self.per_channel, self.weight_percentile)
        s_w = symmetric_linear_quantization_params(self.weight_bit, lo, hi, self.per_channel)
        self.conv_scaling_factor = s_w
        w_int, b_int, s_b = _integer_weight_and_bias(
            self.weight, self.bias, self.weight_bit, self.bias_bit, s_w, pre_act_scaling_factor, "QuantConv2d"
        )
        self.weight_integer = w_int.detach()
        if b_int is not None:
            self.bias_integer = b_int.detach()
        x_int = _integer_input(x / pre_act_scaling_factor.view(1, -1, 1, 1), self.round_input)
        out = F.conv2d(x_int, w_int, b_int, self.stride, self.padding, self.dilation, self.groups)
        return out.mul_(s_b.view(1, -1, 1, 1)), s_w  # the conv's output is not saved for backward


class QuantBnConv2d(nn.Module):
    """Conv2d followed by BatchNorm, quantized with BN folding (§3.4, quirks 5, 7, 8).

    Build with ``QuantBnConv2d(...)`` then ``set_param(conv, bn)``; both are copied (``self.conv``, ``self.bn``,
    so state_dict keys match the original) and ``bn.momentum`` is set to 0.99 on the copy.

    *Folded mode* (``fix_BN=True``), with running statistics ``μ, σ² `` and ``γ, β``:

    * ``γ' = γ / sqrt(σ² + eps)``, ``W_f = W · γ'[c]``, ``b_f = (b_conv or 0 − μ) · γ' + β``;
    * ``s_w`` = symmetric scale of ``W_f`` per output channel (optionally by ``weight_percentile``) or per tensor;
    * ``w_int = SymQuant(W_f, b_w, s_w)``, ``b_int = SymQuant(b_f, bias_bit, s_w · s_in)``;
    * output ``= conv(x / s_in, w_int, b_int) · (s_w · s_in)`` (``x / s_in`` not re-rounded, quirk 21);
      returns ``(output, s_w)``. Gradients reach ``W``, ``γ`` and ``β`` through the STE.

    *Unfolded training mode* (``fix_BN=False``):

    * ``s_w`` = symmetric min/max scale of the raw conv weight; ``y = conv(x, SymQuant(W), b_conv) · s_w``
      (as in the original the float conv bias sits inside the conv, so it is scaled by ``s_w`` as well);
    * ``μ_B = mean(y)``, ``σ²_B = var(y)`` over ``(N, H, W)``, **unbiased** (quirk 7);
    * ``running ← 0.99 · running + 0.01 · batch`` (``bn.momentum = 0.99``, reversed EMA; done on every call);
    * with ``standard_bn = True`` (``--standard-bn``, quirk 7 fixed): PyTorch's BatchNorm instead, i.e. the biased
      batch variance normalises and the running statistics move by 0.1 of the batch (unbiased variance);
    * ``out = γ / sqrt(σ²_B + eps) · (y − μ_B) + β``; returns ``(out, s_w · γ / sqrt(σ²_B + eps))``.

    *Mode switching*: ``fix()`` sets ``fix_flag`` and ``fix_BN``; ``unfix()`` restores ``fix_BN =
    training_BN_mode``. On each forward while not ``fix_flag``: ``counter += 1`` (it starts at 1), then
    ``fix_BN = training_BN_mode`` if ``fix_BN_threshold`` is None or ``counter < fix_BN_threshold``, else
    ``True`` — folding starts at call ``t − 1`` (quirk 8).

    The counter is a non-persistent int64 buffer incremented in place (the original's Python int is not in the
    state_dict either), so ``torch.compile`` neither guards on its value nor recompiles every step. Only with a
    ``fix_BN_threshold`` is its value read, on the host, outside the compiled graph; the mode then changes once,
    at the threshold, which costs one recompilation.
    """

    weight_integer: Tensor
    bias_integer: Tensor
    convbn_scaling_factor: Tensor
    counter: Tensor

    def __init__(
        self,
        weight_bit: int = 4,
        bias_bit: int | None = None,
        per_channel: bool = False,
        fix_flag: bool = False,
        weight_percentile: float = 0,
        fix_BN: bool = False,  # noqa: N803 - original option name
        fix_BN_threshold: int | None = None,  # noqa: N803
        quant_mode: str = "symmetric",
    ) -> None:
        super().__init__()
        if quant_mode != "symmetric":
            raise ValueError("QuantBnConv2d supports only symmetric weight quantization")
        self.weight_bit = weight_bit
        self.bias_bit = bias_bit
        self.per_channel = per_channel
        self.fix_flag = fix_flag
        self.weight_percentile = weight_percentile
        self.fix_BN = fix_BN
        self.training_BN_mode = fix_BN
        self.fix_BN_threshold = fix_BN_threshold
        self.register_buffer("counter", torch.ones((), dtype=torch.int64), persistent=False)
        self.quant_mode = quant_mode
        self.standard_bn = False
        self.round_input = False
        self.float64_bn_stats = False
        self.sync_bn = False

    def extra_repr(self) -> str:
        return (
            f"weight_bit={self.weight_bit}, bias_bit={self.bias_bit}, per_channel={self.per_channel}, "
            f"weight_percentile={self.weight_percentile}, fix_BN={self.fix_BN}, "
            f"fix_BN_threshold={self.fix_BN_threshold}"
        )

    def set_param(self, conv: nn.Conv2d, bn: nn.BatchNorm2d) -> None:
        """Take copies of ``conv`` and ``bn``; the copy's ``bn.momentum`` becomes 0.99 (§3.4)."""
        if conv.padding_mode != "zeros" or isinstance(conv.padding, str):
            raise ValueError("QuantBnConv2d supports only numeric zero padding")
        if not bn.affine or not bn.track_running_stats:
            raise ValueError("QuantBnConv2d needs an affine BatchNorm2d with running statistics")
        self.out_channels = conv.out_channels
        self.conv = copy.deepcopy(conv)
        self.bn = copy.deepcopy(bn)
        self.bn.momentum = 0.99
        self.register_buffer("convbn_scaling_factor", torch.zeros(self.out_channels))
        self.register_buffer("weight_integer", torch.zeros_like(self.conv.weight))
        self.register_buffer("bias_integer", torch.zeros(self.out_channels))

    def fix(self) -> None:
        """Validation / export: stop the counter and fold BN."""
        self.fix_flag = True
        self.fix_BN = True

    def unfix(self) -> None:
        """Back to training: BN mode as configured (``training_BN_mode``)."""
        self.fix_flag = False
        self.fix_BN = self.training_BN_mode

    def folded_weight_and_bias(self) -> tuple[Tensor, Tensor]:
        """Folded float parameters (with gradient to ``W, γ, β``): ``(W · γ'[c], (b or 0 − μ) · γ' + β)``,
        ``γ' = γ / sqrt(running_var + eps)``."""
        bn = self.bn
        running_mean = bn.running_mean.detach()
        running_std = torch.sqrt(bn.running_var.detach() + bn.eps)
        gamma_prime = bn.weight.view(-1) / running_std
        weight = self.conv.weight * gamma_prime.view(-1, 1, 1, 1)
        bias = self.conv.bias if self.conv.bias is not None else torch.zeros_like(running_mean)
        return weight, (bias - running_mean) * gamma_prime + bn.bias

    def _update_mode(self) -> None:
        if self.fix_flag:
            return
        with torch.no_grad():
            self.counter.add_(1)
        if self.fix_BN_threshold is None:
            self.fix_BN = self.training_BN_mode
        else:
            self._apply_threshold()

    @torch.compiler.disable
    def _apply_threshold(self) -> None:
        below = int(self.counter) < self.fix_BN_threshold
        self.fix_BN = self.training_BN_mode if below else True

    def _conv(self, x: Tensor, weight: Tensor, bias: Tensor | None) -> Tensor:
        c = self.conv
        return F.conv2d(x, weight, bias, c.stride, c.padding, c.dilation, c.groups)

    def _forward_unfolded(self, x: Tensor) -> tuple[Tensor, Tensor]:
        lo, hi = _weight_range(self.conv.weight, self.per_channel, 0)
        s_w = symmetric_linear_quantization_params(self.weight_bit, lo, hi, self.per_channel)
        w_int = SymmetricQuantFunction.apply(self.conv.weight, self.weight_bit, s_w)
        y = self._conv(x, w_int, self.conv.bias) * s_w.reshape(1, -1, 1, 1)
        if self.sync_bn:  # also with one process: the same float64 arithmetic as the DDP run
            mean64, m2, n = global_moments(y, (0, 2, 3), float64=True)
            batch_mean = mean64.to(y.dtype)
            batch_var = (m2 / max(n - 1, 1)).to(y.dtype)  # unbiased (quirk 7)
            biased_var = (m2 / n).to(y.dtype)
        else:
            stats_of = y.double() if self.float64_bn_stats else y
            batch_mean = stats_of.mean(dim=(0, 2, 3)).to(y.dtype)
            batch_var = stats_of.var(dim=(0, 2, 3)).to(y.dtype)  # unbiased (quirk 7)
            biased_var = None
        bn = self.bn
        # standard_bn: PyTorch's BatchNorm (biased variance to normalise, running stats with momentum 0.1)
        keep = 0.9 if self.standard_bn else bn.momentum
        with torch.no_grad():
            bn.running_mean.copy_(bn.running_mean * keep + (1 - keep) * batch_mean)
            bn.running_var.copy_(bn.running_var * keep + (1 - keep) * batch_var)
        if not self.standard_bn:
            norm_var = batch_var
        elif biased_var is not None:
            norm_var = biased_var
        else:
            norm_var = stats_of.var(dim=(0, 2, 3), unbiased=False).to(y.dtype)
        factor = bn.weight / torch.sqrt(norm_var + bn.eps)
        out = factor.view(1, -1, 1, 1) * (y - batch_mean.view(1, -1, 1, 1)) + bn.bias.view(1, -1, 1, 1)
        return out, s_w.reshape(-1) * factor

    def _forward_folded(self, x: Tensor, pre_act_scaling_factor: Tensor) -> tuple[Tensor, Tensor]:
        if self.bias_bit is None:
            raise ValueError("QuantBnConv2d with folded BN needs bias_bit (quirk 5)")
        weight, bias = self.folded_weight_and_bias()
        lo, hi = _weight_range(weight, self.per_channel, self.weight_percentile)
        s_w = symmetric_linear_quantization_params(self.weight_bit, lo, hi, self.per_channel)
        self.convbn_scaling_factor = s_w
        w_int, b_int, s_b = _integer_weight_and_bias(
            weight, bias, self.weight_bit, self.bias_bit, s_w, pre_act_scaling_factor, "QuantBnConv2d"
        )
        self.weight_integer = w_int.detach()
        self.bias_integer = b_int.detach()
        x_int = _integer_input(x / pre_act_scaling_factor.view(1, -1, 1, 1), self.round_input)
        out = self._conv(x_int, w_int, b_int)
        return out.mul_(s_b.view(1, -1, 1, 1)), s_w  # the conv's output is not saved for backward

    @float32_forward
    def forward(
        self, x: Tensor | tuple, pre_act_scaling_factor: Tensor | None = None
    ) -> tuple[Tensor, Tensor]:
        if isinstance(x, tuple):
            pre_act_scaling_factor = x[1]
            x = x[0]
        self._update_mode()
        if not self.fix_BN:
            return self._forward_unfolded(x)
        if pre_act_scaling_factor is None:
            raise ValueError("QuantBnConv2d with folded BN needs the previous activation scaling factor")
        return self._forward_folded(x, pre_act_scaling_factor)


class QuantAveragePool2d(nn.Module):
    """Integer average pooling (§3.4): ``x_int = STE-round(x / s)``, ``a = avg_pool(x_int)``,
    output ``= trunc(a + 0.01) · s`` (STE), returns ``(output, s)`` with the scale passed through.

    The +0.01 absorbs float error of the average; it needs ``(k² − 1) / k² + 0.01 < 1`` (k = 7: 48/49).
    Without a scale the module is a plain float average pool returning ``(output, None)``.
    """

    def __init__(
        self,
        kernel_size: int | tuple[int, int] = 7,
        stride: int | tuple[int, int] | None = 1,
        padding: int = 0,
    ) -> None:
        super().__init__()
        self.kernel_size = kernel_size
        self.stride = stride
        self.padding = padding
        self.final_pool = nn.AvgPool2d(kernel_size=kernel_size, stride=stride, padding=padding)

    @float32_forward
    def forward(
        self, x: Tensor | tuple, x_scaling_factor: Tensor | None = None
    ) -> tuple[Tensor, Tensor | None]:
        if isinstance(x, tuple):
            x_scaling_factor = x[1]
            x = x[0]
        if x_scaling_factor is None:
            return self.final_pool(x), None
        s = x_scaling_factor.view(1, -1, 1, 1)
        x_int = ste_round(x / s)
        pooled = transfer_float_averaging_to_int_averaging(self.final_pool(x_int))
        return pooled * s, x_scaling_factor
