"""ONNX export of a frozen HAWQ-V3 model in the QDQ format (QuantizeLinear / DequantizeLinear around float ops).

``python -m hawq.export_onnx -a resnet18 --resume runs/r18/checkpoint.pth.tar --quant-scheme bops_0.5 --out r18.onnx``

The graph is written from the :class:`~hawq.utils.integer_inference.IntegerProgram` of the model:

* weights are stored as int8 integers (``weight_integer``; 4-bit weights too, in [-8, 7]) with a per-channel
  ``DequantizeLinear`` (axis 0); the bias as int32 ``bias_integer`` with its scale ``s_in · s_w``;
* every requantization becomes ``QuantizeLinear`` → ``DequantizeLinear`` at the quantizer's scale: int8 for signed
  ≤8-bit activations, uint8 for the unsigned 4-bit ones (with an integer ``Clip`` to [0, 15], or [-8, 7] for signed
  4-bit), int16 for the 16-bit residual and block outputs (hence opset 21);
* conv, Gemm, max/average pooling, ReLU and ReLU6 (``Clip``) stay float ops between the pairs, as in any QDQ model.

QDQ rather than QONNX: QDQ uses only standard ONNX operators, so ``onnx.checker`` validates it and ONNX Runtime,
TensorRT and other runtimes execute it; QONNX needs the ``qonnx`` package's custom operator domain. What QDQ cannot
say is the dyadic integer requantization: a runtime rescales in float, so an activation can land one step away
from the integer-only result (:mod:`hawq.utils.integer_inference`, which stays the exact reference). The residual
sums are saturated to int16 where the original leaves them unclamped (quirk 10), and the average pool is a float
average followed by the next quantizer rather than ``trunc(Σ / k² + 0.01)``.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import onnx
import torch
from onnx import TensorProto, helper, numpy_helper
from torch import Tensor, nn

from common.runtime import UsageError, check_output_file, run_main
from hawq.utils.integer_inference import IntegerProgram, Op, lower

OPSET = 21


class _GraphBuilder:
    def __init__(self) -> None:
        self.nodes: list[onnx.NodeProto] = []
        self.inits: list[onnx.TensorProto] = []
        self._n = 0

    def name(self, stem: str) -> str:
        self._n += 1
        return f"{stem}_{self._n}"

    def const(self, stem: str, array: np.ndarray) -> str:
        name = self.name(stem)
        self.inits.append(numpy_helper.from_array(np.ascontiguousarray(array), name))
        return name

    def node(self, op_type: str, inputs: list[str], stem: str, **attrs) -> str:
        out = self.name(stem)
        self.nodes.append(helper.make_node(op_type, inputs, [out], name=out + "_node", **attrs))
        return out

    def qdq(self, x: str, scale: Tensor, bits: int, signed: bool) -> str:
        """Quantize ``x`` to ``bits`` at ``scale`` (one value) and dequantize it back."""
        if bits > 16:
            raise ValueError(f"QDQ export supports at most 16-bit activations, got {bits}")
        dtype = (np.int8 if signed else np.uint8) if bits <= 8 else (np.int16 if signed else np.uint16)
        s = self.const("scale", np.array(float(scale.reshape(-1)[0]), dtype=np.float32))
        zp = self.const("zero_point", np.array(0, dtype=dtype))
        q = self.node("QuantizeLinear", [x, s, zp], "q")
        if bits not in (8, 16):
            lo, hi = (-(2 ** (bits - 1)), 2 ** (bits - 1) - 1) if signed else (0, 2**bits - 1)
            q = self.node(
                "Clip",
                [q, self.const("lo", np.array(lo, dtype=dtype)), self.const("hi", np.array(hi, dtype=dtype))],
                "clip",
            )
        return self.node("DequantizeLinear", [q, s, zp], "dq")

    def weight(self, w: Tensor, s_w: Tensor) -> str:
        """int8 weight initializer with its per-output-channel (axis 0) or single scale."""
        w8 = self.const("w_int", w.cpu().numpy().astype(np.int8))
        channels = w.shape[0]
        scale = s_w.reshape(-1).expand(channels) if s_w.numel() == 1 else s_w.reshape(-1)
        s = self.const("w_scale", scale.cpu().numpy().astype(np.float32))
        zp = self.const("w_zp", np.zeros(channels, dtype=np.int8))
        return self.node("DequantizeLinear", [w8, s, zp], "w", axis=0)

    def bias(self, b: Tensor | None, s_b: Tensor, channels: int) -> list[str]:
        if b is None:
            return []
        scale = s_b.reshape(-1).expand(channels) if s_b.numel() == 1 else s_b.reshape(-1)
        b32 = self.const("b_int", b.cpu().numpy().astype(np.int32))
        s = self.const("b_scale", scale.cpu().numpy().astype(np.float32))
        zp = self.const("b_zp", np.zeros(channels, dtype=np.int32))
        return [self.node("DequantizeLinear", [b32, s, zp], "b", axis=0)]


def _emit(builder: _GraphBuilder, op: Op, inputs: list[str], program: IntegerProgram) -> str:
    a = op.attrs
    if op.kind == "quantize":
        return builder.qdq(inputs[0], a["act_scale"], a["bits"], True)
    if op.kind in ("conv", "linear"):
        w = builder.weight(a["weight"], a["s_w"])
        b = builder.bias(a["bias"], op.scale, a["weight"].shape[0])
        if op.kind == "linear":
            return builder.node("Gemm", [inputs[0], w, *b], "gemm", transB=1)
        pads = [*a["padding"], *a["padding"]]
        return builder.node(
            "Conv", [inputs[0], w, *b], "conv", strides=list(a["stride"]), pads=pads,
            dilations=list(a["dilation"]), group=a["groups"],
        )  # fmt: skip
    if op.kind == "maxpool":
        k, s, p = (v if isinstance(v, int) else v[0] for v in (a["kernel"], a["stride"], a["padding"]))
        return builder.node("MaxPool", inputs, "maxpool", kernel_shape=[k, k], strides=[s, s], pads=[p] * 4)
    if op.kind == "clamp":
        if a.get("upper") is None:
            return builder.node("Relu", inputs, "relu")
        lo = builder.const("zero", np.array(0.0, dtype=np.float32))
        hi = builder.const("six", np.array(6.0, dtype=np.float32))
        return builder.node("Clip", [inputs[0], lo, hi], "relu6")
    if op.kind == "requant":
        if a["lo"] is None:  # one branch of a residual sum: the sum is quantized once, after the Add
            return inputs[0]
        return builder.qdq(inputs[0], op.scale, a["bits"], a["signed"])
    if op.kind == "add":
        total = builder.node("Add", inputs, "add")
        first = next(o for o in program.ops if o.out == op.inputs[0])
        return builder.qdq(total, op.scale, first.attrs["bits"], True)
    if op.kind == "avgpool":
        k, p = a["kernel"], a.get("padding", 0)
        return builder.node(
            "AveragePool",
            inputs,
            "avgpool",
            kernel_shape=[k, k],
            strides=[1, 1],
            pads=[p] * 4,
            count_include_pad=1,
        )
    if op.kind == "concat":  # InceptionV3: every input is already requantized to the concat's scale
        return builder.node("Concat", inputs, "concat", axis=1)
    if op.kind == "flatten":
        return builder.node("Flatten", inputs, "flatten", axis=1)
    if op.kind == "dequantize":
        return builder.node("Flatten", inputs, "logits", axis=1) if a.get("flatten") else inputs[0]
    raise ValueError(f"no ONNX lowering for {op.kind!r}")


def program_to_onnx(program: IntegerProgram, input_shape: Sequence[int], num_classes: int) -> onnx.ModelProto:
    """The QDQ ONNX model of ``program`` (batch dimension dynamic)."""
    builder = _GraphBuilder()
    names = {"input": "input"}
    for op in program.ops:
        names[op.out] = _emit(builder, op, [names[i] for i in op.inputs], program)
    builder.nodes.append(helper.make_node("Identity", [names["logits"]], ["logits"], name="output"))
    graph = helper.make_graph(
        builder.nodes,
        "hawq_qdq",
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, ["batch", *list(input_shape)[1:]])],
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["batch", num_classes])],
        builder.inits,
    )
    model = helper.make_model(
        graph, opset_imports=[helper.make_opsetid("", OPSET)], producer_name="mpq-reference"
    )
    model.ir_version = 10
    return model


@torch.no_grad()
def export_onnx(model: nn.Module, sample: Tensor, path: str | Path) -> onnx.ModelProto:
    """Freeze and calibrate-check ``model`` on ``sample``, write the QDQ ONNX file, and check it with onnx.checker."""
    program = lower(model, sample[:1])
    num_classes = int(program.ops[-1].scale.numel())
    onnx_model = program_to_onnx(program, tuple(sample.shape), num_classes)
    onnx.checker.check_model(onnx_model, full_check=True)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    onnx.save(onnx_model, path)
    return onnx_model


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m hawq.export_onnx", description=__doc__.split("\n\n")[0])
    p.add_argument("-a", "--arch", default="resnet18")
    p.add_argument(
        "--resume", required=True, help="checkpoint.pth.tar of quant_train (a quantized state dict)"
    )
    p.add_argument("--quant-scheme", default="uniform4")
    p.add_argument("--bit-config", type=Path, default=None)
    p.add_argument("--num-classes", type=int, default=None, help="default: from the checkpoint's classifier")
    p.add_argument("--image-size", type=int, default=None, help="default 224 (32 for tiny_resnet)")
    p.add_argument(
        "--channel-wise", action="store_false", help="per-channel ON by default; this turns it OFF"
    )
    p.add_argument("--out", type=Path, required=True, help="ONNX file to write")
    return p


def main(argv: Sequence[str] | None = None) -> Path:
    from common.models import get_spec
    from common.runtime import load_checkpoint
    from hawq.utils.checkpoints import load_quantized_state, state_dict_of
    from hawq.utils.models import build_float_model, build_quantized_model, resolve_arch
    from hawq.utils.quant_config import (
        QuantSettings,
        check_supported_bits,
        configure_quant_modules,
        read_module_bits,
        scheme_module_bits,
    )

    args = build_parser().parse_args(argv)
    check_output_file("--out", args.out)
    arch = resolve_arch(args.arch)
    state = state_dict_of(load_checkpoint(args.resume))
    classifier = [
        v
        for k, v in state.items()
        if k.endswith(("quant_output.weight", "output.weight", "output.q_fc.weight"))
    ]
    classes = args.num_classes or (int(classifier[0].shape[0]) if classifier else None)
    if classes is None:
        raise UsageError(
            f"--resume {args.resume}: no quantized classifier (quant_output.weight) in it; export needs a "
            "checkpoint written by hawq.quant_train (or pass --num-classes)"
        )
    size = args.image_size or get_spec(arch.float_name).input_size
    model = build_quantized_model(args.arch, build_float_model(args.arch, classes), input_size=size)
    if args.bit_config is not None:
        bits = read_module_bits(args.bit_config, model, (args.arch, arch.float_name))
    else:
        bits = scheme_module_bits(args.arch, args.quant_scheme, model)
    configure_quant_modules(model, bits, QuantSettings(channel_wise=args.channel_wise, fix_BN=True))
    check_supported_bits(model)
    load_quantized_state(model, state)
    export_onnx(model, torch.zeros(1, 3, size, size), args.out)
    print(f"wrote {args.out} (QDQ, opset {OPSET}; onnx.checker passed)")
    return args.out


if __name__ == "__main__":
    run_main(main)
