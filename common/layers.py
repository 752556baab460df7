"""Ordered enumeration of the quantizable layers of a model (contract 1 of docs/design.md).

One forward pass of a dummy input with hooks on every ``nn.Conv2d`` and ``nn.Linear`` records, in
execution order, each layer's module name, kind, channels, kernel, stride, groups, input and output
spatial size, parameter counts and MACs:

* conv MACs = C_out * (C_in / groups) * k_h * k_w * H_out * W_out
* linear MACs = in_features * out_features * (number of input rows per sample)
* ``bn_params`` = the affine parameters (gamma, beta) of a BatchNorm that directly consumes the
  layer's output (the BN a deployment folds into it), 0 otherwise.

Every method's search, every cost figure and every bit-config file speak in these module names.
"""

from __future__ import annotations

import functools
from dataclasses import asdict, dataclass

import torch
from torch import nn

CONV = "conv"
DEPTHWISE = "depthwise"
LINEAR = "linear"


@dataclass(frozen=True)
class LayerInfo:
    """One quantizable layer. Spatial sizes are ``(H, W)``; a linear layer has ``(1, 1)``."""

    index: int
    name: str
    kind: str
    in_channels: int
    out_channels: int
    kernel: tuple[int, int]
    stride: tuple[int, int]
    groups: int
    in_hw: tuple[int, int]
    out_hw: tuple[int, int]
    weight_params: int
    bias_params: int
    bn_params: int
    macs: int

    @property
    def params(self) -> int:
        """Weight plus bias parameters (BN excluded)."""
        return self.weight_params + self.bias_params

    def as_dict(self) -> dict:
        return asdict(self)


def layer_kind(module: nn.Module) -> str:
    """``depthwise`` for a conv with one input channel per group and more than one group."""
    if isinstance(module, nn.Linear):
        return LINEAR
    if module.groups > 1 and module.groups == module.in_channels:
        return DEPTHWISE
    return CONV


def _pair(v: int | tuple[int, ...]) -> tuple[int, int]:
    return (v, v) if isinstance(v, int) else (int(v[0]), int(v[1]))


def _spatial(t: torch.Tensor, is_linear: bool) -> tuple[int, int]:
    if is_linear or t.dim() < 4:
        return (1, 1)
    return (int(t.shape[-2]), int(t.shape[-1]))


def enumerate_layers(
    model: nn.Module,
    input_size: int | tuple[int, int] = 224,
    in_channels: int = 3,
) -> list[LayerInfo]:
    """Run one forward pass of a zero image of ``input_size`` and list the conv/linear layers.

    The model's training mode is restored afterwards. A module called more than once keeps its first
    call's shapes and accumulates the MACs of every call. Layers that never run are not listed.
    """
    h, w = _pair(input_size)
    names = {m: n for n, m in model.named_modules()}
    records: dict[nn.Module, dict] = {}
    order: list[nn.Module] = []
    last_output: dict[int, nn.Module] = {}

    def conv_hook(module: nn.Module, inputs: tuple, output: torch.Tensor) -> None:
        x = inputs[0]
        is_linear = isinstance(module, nn.Linear)
        if is_linear:
            rows = x.numel() // x.shape[0] // module.in_features if x.dim() > 1 else 1
            macs = module.in_features * module.out_features * rows
        else:
            oh, ow = output.shape[-2:]
            kh, kw = module.kernel_size
            macs = module.out_channels * (module.in_channels // module.groups) * kh * kw * oh * ow
        if module in records:
            records[module]["macs"] += int(macs)
        else:
            order.append(module)
            records[module] = {
                "macs": int(macs),
                "in_hw": _spatial(x, is_linear),
                "out_hw": _spatial(output, is_linear),
            }
        last_output[id(output)] = module

    def bn_hook(module: nn.Module, inputs: tuple, output: torch.Tensor) -> None:
        producer = last_output.get(id(inputs[0]))
        if producer is not None and module.affine and "bn" not in records[producer]:
            records[producer]["bn"] = module.weight.numel() + module.bias.numel()

    handles = []
    for m in model.modules():
        if isinstance(m, (nn.Conv2d, nn.Linear)):
            handles.append(m.register_forward_hook(conv_hook))
        elif isinstance(m, nn.modules.batchnorm._BatchNorm):
            handles.append(m.register_forward_hook(bn_hook))
    was_training = model.training
    try:
        model.eval()
        param = next(model.parameters(), None)
        device = param.device if param is not None else torch.device("cpu")
        dtype = param.dtype if param is not None and param.is_floating_point() else torch.float32
        with torch.no_grad():
            model(torch.zeros(1, in_channels, h, w, device=device, dtype=dtype))
    finally:
        for handle in handles:
            handle.remove()
        model.train(was_training)

    layers = []
    for i, m in enumerate(order):
        rec = records[m]
        is_linear = isinstance(m, nn.Linear)
        layers.append(
            LayerInfo(
                index=i,
                name=names[m],
                kind=layer_kind(m),
                in_channels=m.in_features if is_linear else m.in_channels,
                out_channels=m.out_features if is_linear else m.out_channels,
                kernel=(1, 1) if is_linear else _pair(m.kernel_size),
                stride=(1, 1) if is_linear else _pair(m.stride),
                groups=1 if is_linear else int(m.groups),
                in_hw=rec["in_hw"],
                out_hw=rec["out_hw"],
                weight_params=m.weight.numel(),
                bias_params=m.bias.numel() if m.bias is not None else 0,
                bn_params=rec.get("bn", 0),
                macs=rec["macs"],
            )
        )
    return layers


def enumerate_arch(
    name: str, input_size: int | tuple[int, int] | None = None, num_classes: int | None = None
) -> list[LayerInfo]:
    """Layers of a registered architecture at its published input size (or ``input_size``).

    Cached per (arch, input size, classes). The model is built on the meta device, so no weights are
    initialised (ResNet-101 would take seconds otherwise); a model whose forward cannot run on meta
    tensors is built for real.
    """
    from common.models import get_spec

    spec = get_spec(name)
    size = spec.input_size if input_size is None else input_size
    if isinstance(size, list):
        size = tuple(size)
    classes = spec.default_classes if num_classes is None else num_classes
    return list(_enumerate_cached(spec.name, size, classes))


@functools.cache
def _enumerate_cached(
    arch: str, input_size: int | tuple[int, int], num_classes: int
) -> tuple[LayerInfo, ...]:
    from common.models import build_model

    try:
        with torch.device("meta"):
            model = build_model(arch, num_classes=num_classes)
        return tuple(enumerate_layers(model, input_size))
    except (RuntimeError, NotImplementedError):
        return tuple(enumerate_layers(build_model(arch, num_classes=num_classes), input_size))


def layer_names(layers: list[LayerInfo]) -> list[str]:
    return [layer.name for layer in layers]
