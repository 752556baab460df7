"""HAWQ-V3 quantization primitives (``docs/hawq.md`` §3.1 and §3.3).

Every function here reproduces the numerics of the original ``utils/quantization_utils/quant_utils.py``
bit for bit (checked against ``tests/golden/hawq/quant_utils.npz``) while being device-agnostic and
vectorised:

* "Integer" tensors are float32 tensors holding integral values, as in the original.
* Rounding is ``torch.round`` (round half to even) everywhere except the mantissa of :func:`batch_frexp`,
  which rounds half *up* (away from zero), as the original's ``Decimal.ROUND_HALF_UP`` does.
* The dyadic requantization (:class:`fixedpoint_fn`) works in float64, because the product of a 32-bit
  accumulator and a 31-bit mantissa needs it to match the golden integers exactly. float64 is therefore
  required on the device (CPU and CUDA have it; Apple MPS does not).
* Nothing here calls ``.item()`` or moves data to the host; percentile indices depend only on shapes.

The STE quantizers take their scale as an explicit argument (``Function.apply(x, bits, scale)``); the
original's unused ``percentile_mode`` positional argument is dropped.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor
from torch.autograd import Function

__all__ = [
    "AsymmetricQuantFunction",
    "SymmetricQuantFunction",
    "asymmetric_linear_quantization_params",
    "batch_frexp",
    "fixedpoint_fn",
    "fixedpoint_requantize",
    "get_percentile_min_max",
    "linear_dequantize",
    "linear_quantize",
    "requant_multiplier",
    "ste_round",
    "symmetric_linear_quantization_params",
    "transfer_float_averaging_to_int_averaging",
]


def _channel_view(param: Tensor | float, ndim: int) -> Tensor | float:
    """Reshape a per-output-channel parameter so that it broadcasts along dim 0 of an ``ndim``-D tensor.

    4-D → ``(-1, 1, 1, 1)``, 2-D → ``(-1, 1)``, anything else → ``(-1,)``. Python scalars pass through.
    """
    if not isinstance(param, Tensor):
        return param
    if ndim == 4:
        return param.view(-1, 1, 1, 1)
    if ndim == 2:
        return param.view(-1, 1)
    return param.view(-1)


def _feature_view(param: Tensor, ndim: int) -> Tensor:
    """Reshape a per-channel scale to broadcast along dim 1 (the channel axis of an activation).

    4-D → ``(1, -1, 1, 1)``, 2-D → ``(1, -1)``, anything else unchanged (§3.3).
    """
    if ndim == 4:
        return param.view(1, -1, 1, 1)
    if ndim == 2:
        return param.view(1, -1)
    return param


def linear_quantize(x: Tensor, scale: Tensor | float, zero_point: Tensor | float) -> Tensor:
    """Affine quantization without clamping (§3.1): ``q = ⌊x / s + z⌉`` (round half to even).

    ``scale`` and ``zero_point`` are scalars or per-output-channel vectors (broadcast along dim 0). As in
    the original, the division is computed as ``(1 / s) * x``.
    """
    scale = _channel_view(scale, x.dim())
    zero_point = _channel_view(zero_point, x.dim())
    return torch.round(1.0 / scale * x + zero_point)


def linear_dequantize(q: Tensor, scale: Tensor | float, zero_point: Tensor | float) -> Tensor:
    """Inverse of :func:`linear_quantize` (§3.1): ``x̂ = (q − z) · s``, per output channel along dim 0."""
    scale = _channel_view(scale, q.dim())
    zero_point = _channel_view(zero_point, q.dim())
    return (q - zero_point) * scale


@torch.no_grad()
def symmetric_linear_quantization_params(
    num_bits: int, saturation_min: Tensor, saturation_max: Tensor, per_channel: bool = False
) -> Tensor:
    """Symmetric scale (§3.1): ``s = max(max(|min|, |max|), 1e-8) / (2^(b−1) − 1)``.

    With ``per_channel`` the inputs are vectors of per-channel ranges and the result has their shape;
    otherwise they are per-tensor scalars. Computed without gradient.
    """
    n = 2 ** (num_bits - 1) - 1
    del per_channel  # elementwise maximum is the same rule for both layouts
    scale = torch.maximum(saturation_min.abs(), saturation_max.abs())
    return torch.clamp(scale, min=1e-8) / n


@torch.no_grad()
def asymmetric_linear_quantization_params(
    num_bits: int,
    saturation_min: Tensor,
    saturation_max: Tensor,
    integral_zero_point: bool = True,
    signed: bool = False,
) -> tuple[Tensor, Tensor]:
    """Asymmetric scale and zero point (§3.1).

    ``s = max(max − min, 1e-8) / (2^b − 1)`` and ``z = −min / s``, rounded (half to even) when
    ``integral_zero_point``; ``signed`` adds ``2^(b−1)`` to ``z``. Note that HAWQ's quantizer never uses
    ``z`` (spec §8 quirk 9): :class:`AsymmetricQuantFunction` quantizes with zero point 0.
    """
    n = 2**num_bits - 1
    scale = torch.clamp(saturation_max - saturation_min, min=1e-8) / float(n)
    zero_point = -saturation_min / scale
    if integral_zero_point:
        zero_point = zero_point.round()
    if signed:
        zero_point = zero_point + 2 ** (num_bits - 1)
    return scale, zero_point


def get_percentile_min_max(
    x: Tensor, lower_percentile: float, upper_percentile: float, output_tensor: bool = True
) -> tuple[Tensor, Tensor] | tuple[float, float]:
    """Percentile range of a 1-D tensor by order statistics (§3.1, activations).

    ``upper = kthvalue(x, round(N · upper_pct / 100))`` and, unless ``lower_pct == 0`` (then the lower
    bound is 0), ``lower = −kthvalue(−x, round(N · (1 − lower_pct / 100)))``. Indices use Python's
    ``round`` on the float expressions of the original, so they depend only on the shape (no host sync).
    ``output_tensor=False`` returns Python floats (this one does synchronise).
    """
    n = x.shape[0]
    lower_index = round(n * (1 - lower_percentile * 0.01))
    upper_index = round(n * upper_percentile * 0.01)
    upper = torch.kthvalue(x, k=upper_index).values
    if lower_percentile == 0:
        lower = upper * 0
    else:
        lower = -torch.kthvalue(-x, k=lower_index).values
    if not output_tensor:
        return lower.item(), upper.item()
    return lower, upper


def _quantize_clamped(x: Tensor, scale: Tensor, low: int, high: int) -> Tensor:
    """``clamp(⌊(1 / s) · x⌉, low, high)`` into one new tensor: :func:`linear_quantize` with zero point 0, then clamp.

    The same float32 operations as ``clamp(linear_quantize(x, s, 0), low, high)`` without its ``+ 0`` pass and its
    two extra full-size temporaries (round and clamp run in place): one pass over ``x`` instead of four. The values
    are identical; the only bit that can differ is the sign of a zero (``-0.0 + 0`` is ``+0.0``), which no
    comparison, product or sum can see. Measured in benchmarks/README.md (HAWQ, "in-place quantizer").
    """
    q = torch.mul(x, 1.0 / _channel_view(scale, x.dim()))
    return q.round_().clamp_(low, high)


class SymmetricQuantFunction(Function):
    """Signed b-bit quantizer with a straight-through estimator (§3.1).

    Forward: ``q = clamp(⌊x / s⌉, −2^(b−1), 2^(b−1) − 1)`` with ``s`` per output channel (dim 0) or
    scalar. Backward: ``∂q/∂x = 1 / s`` (no clipping mask), so ``q · s`` has an identity gradient.
    Usage: ``SymmetricQuantFunction.apply(x, bits, scale)``.
    """

    @staticmethod
    def forward(ctx: Any, x: Tensor, k: int, scale: Tensor) -> Tensor:
        n = 2 ** (k - 1) - 1
        ctx.save_for_backward(scale)
        return _quantize_clamped(x, scale, -n - 1, n)

    @staticmethod
    def backward(ctx: Any, grad_output: Tensor) -> tuple[Tensor, None, None]:
        (scale,) = ctx.saved_tensors
        return grad_output / _channel_view(scale, grad_output.dim()), None, None


class AsymmetricQuantFunction(Function):
    """Unsigned b-bit quantizer with a straight-through estimator (§3.1, quirk 9: zero point is 0).

    Forward: ``q = clamp(⌊x / s⌉, 0, 2^b − 1)``. Backward: ``∂q/∂x = 1 / s`` (no clipping mask).
    Usage: ``AsymmetricQuantFunction.apply(x, bits, scale)``.
    """

    @staticmethod
    def forward(ctx: Any, x: Tensor, k: int, scale: Tensor) -> Tensor:
        n = 2**k - 1
        ctx.save_for_backward(scale)
        return _quantize_clamped(x, scale, 0, n)

    @staticmethod
    def backward(ctx: Any, grad_output: Tensor) -> tuple[Tensor, None, None]:
        (scale,) = ctx.saved_tensors
        return grad_output / _channel_view(scale, grad_output.dim()), None, None


class _RoundSTE(Function):
    """``⌊x⌉`` (half to even) forward, identity backward."""

    @staticmethod
    def forward(ctx: Any, x: Tensor) -> Tensor:
        return torch.round(x)

    @staticmethod
    def backward(ctx: Any, grad_output: Tensor) -> Tensor:
        return grad_output


class _IntAverageSTE(Function):
    """``trunc(x + 0.01)`` forward, identity backward."""

    @staticmethod
    def forward(ctx: Any, x: Tensor) -> Tensor:
        return torch.trunc(x + 0.01)

    @staticmethod
    def backward(ctx: Any, grad_output: Tensor) -> Tensor:
        return grad_output


def ste_round(x: Tensor) -> Tensor:
    """Straight-through round (§3.4): forward ``⌊x⌉`` (half to even), backward identity."""
    return _RoundSTE.apply(x)


def transfer_float_averaging_to_int_averaging(x: Tensor) -> Tensor:
    """Integer average-pool correction (§3.4): forward ``trunc(x + 0.01)``, backward identity.

    The +0.01 absorbs float error of the 7×7 average (it needs 48/49 + 0.01 < 1).
    """
    return _IntAverageSTE.apply(x)


@torch.no_grad()
def batch_frexp(inputs: Tensor, max_bit: int = 31) -> tuple[Tensor, Tensor]:
    """Dyadic decomposition ``x ≈ m / 2^e`` (§3.3 step 3), elementwise, in float64.

    With ``(f, k) = frexp(x)`` (``f ∈ [0.5, 1)``): ``m = round_half_up(f · 2^max_bit)`` (ties away from
    zero, like ``Decimal.ROUND_HALF_UP``) and ``e = max_bit − k``. ``f · 2^31`` is exact in float64 and
    ``floor(|y| + 0.5)`` is exact for ``|y| < 2^31``, so this is bit-identical to the original's numpy +
    Decimal loop. ``m`` can equal ``2^31`` (for ``f ≥ 1 − 2^−32``), hence float64 rather than int32. For
    ``x = 0``: ``m = 0``, ``e = max_bit``. Returns float64 ``(m, e)`` with the input's shape and device.
    """
    mantissa, exponent = frexp64(inputs.to(torch.float64))
    shifted = mantissa * float(2**max_bit)
    m = torch.sign(shifted) * torch.floor(shifted.abs() + 0.5)
    return m, float(max_bit) - exponent


def frexp64(x: Tensor) -> tuple[Tensor, Tensor]:
    """``torch.frexp`` for float64 (normal numbers and 0) with a float64 exponent, in float arithmetic only.

    ``k = ⌊log2|x|⌋ + 1`` corrected by one step either way, ``f = x / 2^k`` (exact: a power-of-two division), so
    ``f ∈ [0.5, 1)``. ``torch.frexp`` returns an int32 exponent, which ``torch.compile`` cannot lower on CPU.
    """
    a = x.abs()
    nonzero = a > 0
    k = torch.floor(torch.log2(torch.where(nonzero, a, torch.ones_like(a)))) + 1
    f = a / torch.exp2(k)
    k = torch.where(f >= 1, k + 1, k)
    f = torch.where(f >= 1, f / 2, f)
    low = (f < 0.5) & nonzero
    k = torch.where(low, k - 1, k)
    f = torch.where(low, f * 2, f)
    return torch.sign(x) * f, torch.where(nonzero, k, torch.zeros_like(k))


def _integer_accumulator(z: Tensor, s_in: Tensor, s_w: Tensor) -> Tensor:
    """``⌊z / s_in / s_w⌉`` in float32, the two divisions in the original's order, into one new tensor."""
    out = z / s_in
    return out.div_(s_w).round_()


def _dyadic_requant(z_int: Tensor, s_in: Tensor, s_w: Tensor, s_out: Tensor, ndim: int) -> Tensor:
    """``⌊z_int · m / 2^e⌉`` in float64 with ``m / 2^e ≈ M = f32(s_in · s_w) / f32(s_out)`` (§3.3 steps 2–4).

    ``M`` mimics TVM's float32 scales: the product of the two input scales is rounded to float32 before the
    float64 division by the (float32) output scale.

    The original multiplies by ``m`` and then divides by ``2^e``; here the (per-channel) factor ``m / 2^e`` is
    formed first and applied in one multiply. Scaling by a power of two is exact in float64 (no subnormals at
    these magnitudes), so ``fl(z · (m / 2^e)) = fl(z · m) / 2^e`` and the integers are identical. The one
    full-size float64 tensor is the cast of ``z_int``, multiplied and rounded in place; the caller may keep
    working on it in place.
    """
    m, e = requant_multiplier(s_in, s_w, s_out, ndim)
    out = z_int.to(torch.float64)
    return out.mul_(m / (2.0**e)).round_()


def requant_multiplier(s_in: Tensor, s_w: Tensor, s_out: Tensor, ndim: int) -> tuple[Tensor, Tensor]:
    """Dyadic ``(m, e)`` with ``m / 2^e ≈ M = f32(s_in · s_w) / f32(s_out)`` (float64), shaped to broadcast along
    dim 1 of an ``ndim``-D activation (§3.3 steps 2–3). Shared by the fake-quant path and integer inference."""
    product = (s_in.to(torch.float64) * s_w.to(torch.float32).to(torch.float64)).to(torch.float32)
    new_scale = product.to(torch.float64) / s_out.to(torch.float32).to(torch.float64)
    return batch_frexp(_feature_view(new_scale, ndim))


class fixedpoint_fn(Function):  # noqa: N801 - original name kept for the modules that import it
    """Integer-only (dyadic) requantization of an accumulator to b bits (§3.3).

    ``fixedpoint_fn.apply(z, bits, quant_mode, z_scaling_factor, case, pre_act_scaling_factor,
    pre_weight_scaling_factor, identity=None, identity_scaling_factor=None,
    identity_weight_scaling_factor=None)`` returns integers (float32), *not* multiplied by the output scale.

    * Case 0: ``z_int = ⌊z / s_in / s_w⌉`` (float32, per-channel ``s_w`` along dim 1), then
      ``out = clamp(⌊z_int · m / 2^e⌉)`` to ``[−2^(b−1), 2^(b−1) − 1]`` (symmetric) or ``[0, 2^b − 1]``.
    * Case 1 (residual, ``z = w·y + identity``): the identity and ``z − identity`` are requantized
      separately with their own scales (``s_id, s_wid`` and ``s_in, s_w``) and summed, **without** clamp
      (quirk 10).

    Backward: ``grad / z_scaling_factor`` for ``z``, so the module's ``q · s_out`` has an identity gradient.
    """

    @staticmethod
    def forward(
        ctx: Any,
        z: Tensor,
        bitwidth: int,
        quant_mode: str,
        z_scaling_factor: Tensor,
        case: int = 0,
        pre_act_scaling_factor: Tensor | None = None,
        pre_weight_scaling_factor: Tensor | None = None,
        identity: Tensor | None = None,
        identity_scaling_factor: Tensor | None = None,
        identity_weight_scaling_factor: Tensor | None = None,
    ) -> Tensor:
        if quant_mode == "symmetric":
            n = 2 ** (bitwidth - 1) - 1
        elif quant_mode == "asymmetric":
            n = 2**bitwidth - 1
        else:
            raise ValueError(f"unknown quant_mode {quant_mode!r}")
        if pre_act_scaling_factor is None:
            raise ValueError("fixedpoint_fn needs pre_act_scaling_factor")
        ctx.save_for_backward(z_scaling_factor)
        ndim = z.dim()
        s_in = _feature_view(pre_act_scaling_factor, ndim)
        s_w = (
            torch.ones(1, dtype=z.dtype, device=z.device)
            if pre_weight_scaling_factor is None
            else pre_weight_scaling_factor
        )
        s_w = _feature_view(s_w, ndim)
        with torch.no_grad():
            if case == 0:
                out = _dyadic_requant(_integer_accumulator(z, s_in, s_w), s_in, s_w, z_scaling_factor, ndim)
                out.clamp_(-n - 1 if quant_mode == "symmetric" else 0, n)
                return out.to(torch.float32)
            if case == 1:
                if identity is None or identity_scaling_factor is None:
                    raise ValueError("fixedpoint_fn case 1 needs identity and identity_scaling_factor")
                s_id = _feature_view(identity_scaling_factor, ndim)
                s_wid = (
                    torch.ones(1, dtype=z.dtype, device=z.device)
                    if identity_weight_scaling_factor is None
                    else identity_weight_scaling_factor
                )
                s_wid = _feature_view(s_wid, ndim)
                id_int = _integer_accumulator(identity, s_id, s_wid)
                id_out = _dyadic_requant(id_int, s_id, s_wid, z_scaling_factor, ndim)
                del id_int
                wx_int = (z - identity).div_(s_in).div_(s_w).round_()
                wx_out = _dyadic_requant(wx_int, s_in, s_w, z_scaling_factor, ndim)
                del wx_int
                return wx_out.add_(id_out).to(torch.float32)
            raise ValueError(f"unknown fixedpoint_fn case {case!r}")

    @staticmethod
    def backward(ctx: Any, grad_output: Tensor) -> tuple[Tensor | None, ...]:
        (z_scaling_factor,) = ctx.saved_tensors
        return (grad_output / z_scaling_factor,) + (None,) * 9


def fixedpoint_requantize(
    z: Tensor,
    bitwidth: int,
    quant_mode: str,
    z_scaling_factor: Tensor,
    pre_act_scaling_factor: Tensor,
    pre_weight_scaling_factor: Tensor | None = None,
    identity: Tensor | None = None,
    identity_scaling_factor: Tensor | None = None,
    identity_weight_scaling_factor: Tensor | None = None,
) -> Tensor:
    """Keyword-friendly wrapper of :class:`fixedpoint_fn`: case 1 when ``identity`` is given, else case 0."""
    case = 0 if identity is None else 1
    return fixedpoint_fn.apply(
        z,
        bitwidth,
        quant_mode,
        z_scaling_factor,
        case,
        pre_act_scaling_factor,
        pre_weight_scaling_factor,
        identity,
        identity_scaling_factor,
        identity_weight_scaling_factor,
    )
