"""Integer-only inference of a frozen HAWQ-V3 model (``docs/hawq.md`` §3.3, §3.5).

:func:`lower` turns a frozen, calibrated :class:`~hawq.utils.models.QResNet`,
:class:`~hawq.utils.models.QMobileNetV2` or :class:`~hawq.utils.models.QInceptionV3` into an :class:`IntegerProgram`: a list of integer operations on named
values, each value carrying its real-valued scale. :meth:`IntegerProgram.run` executes it with ``int64`` tensors
only:

* the image is quantized once (``QuantAct`` on the input: ``clamp(⌊x / s⌉)``), the only float step in;
* convolutions and the classifier multiply integer weights by integer activations and accumulate in integers
  (im2col + integer matmul), adding the int32 bias;
* requantization is dyadic: ``⌊acc · m / 2^e⌉`` (round half to even, by an integer shift), clamped to the
  quantizer's range; residual sums requantize both branches separately and add them unclamped (quirk 10);
* ReLU is ``max(q, 0)``, ReLU6 ``min(max(q, 0), t)`` with the per-channel integer ``t = ⌊6 / (s_in · s_w)⌉``;
  max-pooling runs on the accumulator; the average pool is ``trunc(Σ / k² + 0.01)`` in integers;
* the logits are the classifier's accumulator times its scale, the only float step out.

The multipliers ``(m, e)`` are the ones the fake-quant path uses (:func:`requant_multiplier`), so on inputs where
``acc · m < 2^53`` (always, for 8-bit layers) the result equals the fake-quant evaluation output exactly; tests check
this on ``digits``. ``--fixed-point-quantization`` models are not integer-only and are rejected.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from hawq.utils.models import QInceptionV3, QMobileNetV2, QResNet
from hawq.utils.quant_config import freeze_model
from hawq.utils.quantization_utils.quant_modules import (
    QuantAct,
    QuantBnConv2d,
    QuantConv2d,
    QuantLinear,
)
from hawq.utils.quantization_utils.quant_utils import SymmetricQuantFunction, requant_multiplier


def _flat(t: Tensor) -> Tensor:
    return t.detach().reshape(-1).to(torch.float32)


@dataclass
class Op:
    """One integer operation: ``kind`` on ``inputs`` (value names) writes ``out``; ``attrs`` are constants.

    ``scale`` is the real value of one unit of ``out`` (per channel or a single element).
    """

    kind: str
    out: str
    inputs: tuple[str, ...]
    scale: Tensor
    attrs: dict = field(default_factory=dict)


def rounding_shift(p: Tensor, e: Tensor) -> Tensor:
    """``⌊p / 2^e⌉`` for int64 ``p`` and integer ``e`` (broadcast), ties to even; a left shift where ``e ≤ 0``."""
    e = e.to(torch.int64)
    pos = torch.clamp(e, min=0)
    q = torch.bitwise_right_shift(p, pos)
    r = p - torch.bitwise_left_shift(q, pos)
    half = torch.where(
        pos > 0, torch.bitwise_left_shift(torch.ones_like(pos), pos - 1), torch.zeros_like(pos)
    )
    up = (pos > 0) & ((r > half) | ((r == half) & (q % 2 != 0)))
    q = q + up.to(torch.int64)
    return torch.where(e < 0, torch.bitwise_left_shift(p, torch.clamp(-e, min=0)), q)


def int_conv2d(x: Tensor, w: Tensor, stride, padding, dilation, groups: int) -> Tensor:
    """Integer convolution: im2col, then an int64 matmul per group (exact accumulation)."""
    n, _, h, width = x.shape
    out_ch, cin_g, kh, kw = w.shape
    cols = F.unfold(x.to(torch.float64), (kh, kw), dilation=dilation, padding=padding, stride=stride)
    cols = cols.to(torch.int64).view(n, groups, cin_g * kh * kw, -1)
    weight = w.to(torch.int64).view(groups, out_ch // groups, cin_g * kh * kw)
    out = torch.einsum("gok,ngkl->ngol", weight, cols)
    ho = (h + 2 * padding[0] - dilation[0] * (kh - 1) - 1) // stride[0] + 1
    wo = (width + 2 * padding[1] - dilation[1] * (kw - 1) - 1) // stride[1] + 1
    return out.reshape(n, out_ch, ho, wo)


class IntegerProgram:
    """An ordered list of :class:`Op` from the input image (``"input"``) to the logits (``"logits"``)."""

    def __init__(self) -> None:
        self.ops: list[Op] = []
        self._count = 0

    def add(self, kind: str, inputs: tuple[str, ...], scale: Tensor, **attrs) -> str:
        self._count += 1
        out = "logits" if kind == "dequantize" else f"v{self._count}_{kind}"
        self.ops.append(Op(kind, out, inputs, _flat(scale), attrs))
        return out

    def scale_of(self, name: str) -> Tensor:
        for op in self.ops:
            if op.out == name:
                return op.scale
        raise KeyError(name)

    # -- execution -------------------------------------------------------------------------------------------
    @torch.no_grad()
    def run(self, x: Tensor) -> Tensor:
        env: dict[str, Tensor] = {"input": x.to(torch.float32)}
        for op in self.ops:
            env[op.out] = getattr(self, f"_run_{op.kind}")(op, *(env[i] for i in op.inputs))
        return env["logits"]

    @staticmethod
    def _bcast(t: Tensor, ndim: int) -> Tensor:
        return t.view(1, -1, *([1] * (ndim - 2))) if ndim > 2 else t.view(1, -1)

    def _run_quantize(self, op: Op, x: Tensor) -> Tensor:
        q = SymmetricQuantFunction.apply(x, op.attrs["bits"], op.attrs["act_scale"])
        return q.to(torch.int64)

    def _run_conv(self, op: Op, x: Tensor) -> Tensor:
        a = op.attrs
        acc = int_conv2d(x, a["weight"], a["stride"], a["padding"], a["dilation"], a["groups"])
        if a["bias"] is not None:
            acc = acc + a["bias"].view(1, -1, 1, 1)
        return acc

    def _run_linear(self, op: Op, x: Tensor) -> Tensor:
        acc = x @ op.attrs["weight"].t()
        if op.attrs["bias"] is not None:
            acc = acc + op.attrs["bias"].view(1, -1)
        return acc

    def _run_maxpool(self, op: Op, x: Tensor) -> Tensor:
        a = op.attrs
        return F.max_pool2d(x, a["kernel"], a["stride"], a["padding"])

    def _run_clamp(self, op: Op, x: Tensor) -> Tensor:
        x = torch.clamp(x, min=0)
        upper = op.attrs.get("upper")
        return x if upper is None else torch.minimum(x, self._bcast(upper, x.dim()))

    def _run_requant(self, op: Op, x: Tensor) -> Tensor:
        m, e = op.attrs["m"], op.attrs["e"]
        shape = (1, -1, 1, 1) if x.dim() == 4 else (1, -1)
        out = rounding_shift(x * m.reshape(shape), e.reshape(shape))
        lo, hi = op.attrs["lo"], op.attrs["hi"]
        return out if lo is None else torch.clamp(out, lo, hi)

    def _run_add(self, op: Op, a: Tensor, b: Tensor) -> Tensor:
        return a + b

    def _run_avgpool(self, op: Op, x: Tensor) -> Tensor:
        if bool((x < 0).any()):
            raise ValueError("integer average pooling expects non-negative inputs (after ReLU)")
        k = op.attrs["kernel"]
        pad = op.attrs.get("padding", 0)  # zero padding counted in the divisor (InceptionV3's branch pools)
        total = F.avg_pool2d(x.to(torch.float64), k, stride=1, padding=pad) * (k * k)
        total = torch.round(total).to(torch.int64)
        return torch.div(100 * total + k * k, 100 * k * k, rounding_mode="floor")

    def _run_concat(self, op: Op, *parts: Tensor) -> Tensor:
        return torch.cat(parts, dim=1)

    def _run_flatten(self, op: Op, x: Tensor) -> Tensor:
        return x.flatten(1)

    def _run_dequantize(self, op: Op, x: Tensor) -> Tensor:
        out = x.to(torch.float32) * op.scale.view(1, -1, *([1] * (x.dim() - 2)))
        return out.flatten(1) if op.attrs.get("flatten") else out


# ---------------------------------------------------------------------------------------------------------------
# lowering


class _Lowering:
    def __init__(self, program: IntegerProgram) -> None:
        self.p = program

    def quantize_input(self, act: QuantAct) -> str:
        s = act.act_scaling_factor.detach()
        return self.p.add("quantize", ("input",), s, bits=act.activation_bit, act_scale=s.clone())

    def conv(self, module: QuantBnConv2d | QuantConv2d, x: str) -> str:
        if isinstance(module, QuantBnConv2d):
            if not module.fix_BN:
                raise ValueError("integer inference needs folded BN (freeze the model first)")
            geometry, s_w, bias = module.conv, module.convbn_scaling_factor, module.bias_integer
        else:
            geometry, s_w, bias = module, module.conv_scaling_factor, module.bias_integer
        s_in = self.p.scale_of(x)
        s_w = _flat(s_w)
        return self.p.add(
            "conv",
            (x,),
            (s_in * s_w),
            weight=module.weight_integer.detach().to(torch.int64),
            bias=None if bias is None else bias.detach().reshape(-1).to(torch.int64),
            stride=tuple(geometry.stride),
            padding=tuple(geometry.padding),
            dilation=tuple(geometry.dilation),
            groups=int(geometry.groups),
            s_w=s_w,
        )

    def linear(self, module: QuantLinear, x: str) -> str:
        s_in = self.p.scale_of(x)
        s_w = _flat(module.fc_scaling_factor)
        bias = module.bias_integer
        return self.p.add(
            "linear",
            (x,),
            s_in * s_w,
            weight=module.weight_integer.detach().to(torch.int64),
            bias=None if bias is None else bias.detach().reshape(-1).to(torch.int64),
            s_w=s_w,
        )

    def requant(self, act: QuantAct, x: str, s_in: Tensor, s_w: Tensor, clamp: bool = True) -> str:
        if act.fixed_point_quantization:
            raise ValueError("a --fixed-point-quantization model is not integer-only")
        s_out = act.act_scaling_factor.detach()
        m, e = requant_multiplier(_flat(s_in), _flat(s_w), s_out, 2)
        bits = act.activation_bit
        if act.quant_mode == "symmetric":
            lo, hi = -(2 ** (bits - 1)), 2 ** (bits - 1) - 1
        else:
            lo, hi = 0, 2**bits - 1
        return self.p.add(
            "requant",
            (x,),
            s_out,
            m=m.reshape(-1).to(torch.int64),
            e=e.reshape(-1).to(torch.int64),
            lo=lo if clamp else None,
            hi=hi if clamp else None,
            bits=bits,
            signed=act.quant_mode == "symmetric",
            s_in=_flat(s_in),
            s_w=_flat(s_w),
        )

    def _conv_op(self, value: str) -> Op:
        for op in self.p.ops:
            if op.out == value:
                return op
        raise KeyError(value)

    def requant_acc(self, act: QuantAct, acc: str, clamp: bool = True) -> str:
        """Requantize a conv accumulator (possibly max-pooled / ReLU'd after the conv) with its conv's scales."""
        op = self._conv_op(acc)
        while op.kind not in ("conv", "linear"):
            op = self._conv_op(op.inputs[0])
        return self.requant(act, acc, self.p.scale_of(op.inputs[0]), op.attrs["s_w"], clamp)

    def relu(self, x: str) -> str:
        return self.p.add("clamp", (x,), self.p.scale_of(x))

    def relu6(self, acc: str) -> str:
        op = self._conv_op(acc)
        s_in = self.p.scale_of(op.inputs[0]).view(1, -1)
        s_w = op.attrs["s_w"].view(1, -1)
        upper = torch.round(torch.tensor(6.0) / s_in / s_w).reshape(-1).to(torch.int64)
        return self.p.add("clamp", (acc,), self.p.scale_of(acc), upper=upper)

    def residual(self, act: QuantAct, acc: str, identity: str, s_id: Tensor, s_wid: Tensor) -> str:
        main = self.requant_acc(act, acc, clamp=False)
        side = self.requant(act, identity, s_id, s_wid, clamp=False)
        return self.p.add("add", (main, side), act.act_scaling_factor)

    def requant_from_16(self, act: QuantAct, x: str) -> str:
        return self.requant(act, x, self.p.scale_of(x), act.pre_weight_scaling_factor)


def _lower_resnet(model: QResNet, low: _Lowering) -> None:
    x = low.quantize_input(model.quant_input)
    acc = low.conv(getattr(model, model.init_name), x)
    if isinstance(model.pool, nn.MaxPool2d):
        pool = model.pool
        acc = low.p.add(
            "maxpool",
            (acc,),
            low.p.scale_of(acc),
            kernel=pool.kernel_size,
            stride=pool.stride,
            padding=pool.padding,
        )
    x16 = low.relu(low.requant_acc(model.quant_act_int32, acc))
    for _, unit in model.units():
        s16 = low.p.scale_of(x16)
        a = low.requant_from_16(unit.quant_act, x16)
        if unit.resize_identity:
            identity = low.conv(unit.quant_identity_convbn, a)
            s_id, s_wid = low.p.scale_of(a), low.p.ops[-1].attrs["s_w"]
        else:
            identity, s_id, s_wid = x16, s16, torch.ones(1)
        for k in range(1, unit.num_convs + 1):
            acc = low.conv(getattr(unit, f"quant_convbn{k}"), a)
            if k < unit.num_convs:
                a = low.requant_acc(getattr(unit, f"quant_act{k}"), low.relu(acc))
        x16 = low.relu(low.residual(unit.quant_act_int32, acc, identity, s_id, s_wid))
    pooled = low.p.add("avgpool", (x16,), low.p.scale_of(x16), kernel=int(model.final_pool.kernel_size))
    a = low.requant_from_16(model.quant_act_output, pooled)
    a = low.p.add("flatten", (a,), low.p.scale_of(a))
    acc = low.linear(model.quant_output, a)
    low.p.add("dequantize", (acc,), low.p.scale_of(acc))


def _lower_mobilenetv2(model: QMobileNetV2, low: _Lowering) -> None:
    x = low.quantize_input(model.quant_input)
    acc = low.conv(model.init_block, x)
    x16 = low.requant_acc(model.quant_act_int32, low.relu6(acc))
    for _, unit in model.units():
        s16 = low.p.scale_of(x16)
        a = low.requant_from_16(unit.quant_act, x16)
        a = low.requant_acc(unit.quant_act1, low.relu6(low.conv(unit.conv1, a)))
        a = low.requant_acc(unit.quant_act2, low.relu6(low.conv(unit.conv2, a)))
        acc = low.conv(unit.conv3, a)
        if unit.residual:
            x16 = low.residual(
                unit.quant_act_int32, acc, x16, s16, unit.quant_act_int32.identity_weight_scaling_factor
            )
        else:
            x16 = low.requant_acc(unit.quant_act_int32, acc)
    a = low.requant_from_16(model.quant_act_before_final_block, x16)
    x16 = low.requant_acc(model.quant_act_int32_final, low.relu6(low.conv(model.features.final_block, a)))
    pool = model.features.final_pool
    pooled = low.p.add("avgpool", (x16,), low.p.scale_of(x16), kernel=int(pool.kernel_size))
    a = low.requant_from_16(model.quant_act_output, pooled)
    acc = low.conv(model.output, a)
    low.p.add("dequantize", (acc,), low.p.scale_of(acc), flatten=True)


def _lower_inceptionv3(model: QInceptionV3, low: _Lowering) -> None:
    """Q-InceptionV3: conv blocks (conv, ReLU, requant), max pools on quantized values, per-branch requants of the
    16-bit unit input, the padded 3x3 integer average of the pool branches, and concat requants (every branch
    requantized from its own scale to the unit's, then concatenated)."""

    def block(q: nn.Module, a: str) -> str:
        return low.requant_acc(q.q_activ, low.relu(low.conv(q.q_convbn, a)))

    def maxpool(pool: nn.MaxPool2d, a: str) -> str:
        k, s, p = pool.kernel_size, pool.stride, pool.padding
        return low.p.add("maxpool", (a,), low.p.scale_of(a), kernel=k, stride=s, padding=p)

    def concat(act: QuantAct, parts: list[str]) -> str:
        ones = act.pre_weight_scaling_factor
        parts = [low.requant(act, v, low.p.scale_of(v), ones) for v in parts]
        return low.p.add("concat", tuple(parts), act.act_scaling_factor)

    def branch(b: nn.Module, x16: str) -> str:
        a = low.requant_from_16(b.q_input_act, x16)
        if b.kind == "MaxPoolBranch":
            return maxpool(b.q_pool.pool, a)
        if b.kind == "AvgPoolBranch":
            pool = b.q_pool
            a = low.p.add(
                "avgpool", (a,), low.p.scale_of(a), kernel=int(pool.kernel_size), padding=pool.padding
            )
            return block(b.q_conv, low.requant_from_16(b.q_pool_act, a))
        if b.kind == "Conv1x1Branch":
            return block(b.q_conv, a)
        for q in b.q_conv_list:
            a = block(q, a)
        return concat(b.q_rescaling_activ, [block(b.q_conv1x3, a), block(b.q_conv3x1, a)]) if b.split else a

    stem = model.features["q_init_block"]
    a = low.quantize_input(stem.q_input_activ)
    for i in range(1, 6):
        a = block(getattr(stem, f"q_conv{i}"), a)
        if i in (3, 5):
            a = maxpool(getattr(stem, "q_pool1" if i == 3 else "q_pool2").pool, a)
    for _, unit in model.units():
        a = concat(unit.q_rescaling_activ, [branch(b, a) for b in unit.branches.values()])
    pooled = low.p.add(
        "avgpool", (a,), low.p.scale_of(a), kernel=int(model.features["q_final_pool"].kernel_size)
    )
    a = low.requant_from_16(model.features["q_concat_activ"], pooled)
    a = low.p.add("flatten", (a,), low.p.scale_of(a))
    acc = low.linear(model.output["q_fc"], a)
    low.p.add("dequantize", (acc,), low.p.scale_of(acc))


@torch.no_grad()
def lower(model: nn.Module, sample: Tensor) -> IntegerProgram:
    """Freeze ``model`` (ranges fixed, BN folded), run one fake-quant forward on ``sample`` so the integer weights
    and scales are current, and build its :class:`IntegerProgram`."""
    freeze_model(model)
    model.eval()
    model(sample)
    program = IntegerProgram()
    low = _Lowering(program)
    if isinstance(model, QResNet):
        if any(not isinstance(unit.shortcut, (type(None), nn.Identity)) for _, unit in model.units()):
            raise TypeError("integer inference does not lower the option-A shortcuts of Q-ResNet20 yet")
        _lower_resnet(model, low)
    elif isinstance(model, QMobileNetV2):
        _lower_mobilenetv2(model, low)
    elif isinstance(model, QInceptionV3):
        _lower_inceptionv3(model, low)
    else:
        raise TypeError(
            f"integer inference supports QResNet, QMobileNetV2 and QInceptionV3, not {type(model).__name__}"
        )
    return program


@torch.no_grad()
def integer_forward(model: nn.Module, x: Tensor) -> Tensor:
    """Logits of ``model`` on ``x`` computed by integer-only inference (lowering on ``x`` itself)."""
    return lower(model, x[:1]).run(x)
