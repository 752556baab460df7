"""HMQ networks: a registered float model with HMQ blocks attached in place (docs/hmq.md section 4).

``build_hmq_network(name, ...)`` builds the float model with :func:`common.models.build_model` (and the float
weights HMQ starts from), then :func:`attach_hmq` puts a weight block on every conv and linear layer (except
ResNet-50's classifier, a float ``nn.Linear`` in HMQ) and an activation block after every non-linearity,
plus, as the original does:

* MobileNetV2 inverted residuals: a signed block on the projection output (HMQ's "Identity"
  non-linearity) and another signed block on the block output (after the residual add, if any);
* EfficientNet MBConv: the same two blocks; stochastic depth is not applied (the original's drop-connect
  rate came out negative, so its weights were trained and searched without it, quirk 10);
* ResNet blocks: one block per ReLU call (the shared ``relu`` module of torchvision's blocks is split).

Module and parameter names stay those of the float model, so layer enumeration, bit-config files and
the cost conventions keep speaking in the same names.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torch import nn
from torchvision.models import efficientnet as tv_efficientnet
from torchvision.models import mobilenetv2 as tv_mobilenetv2
from torchvision.models import resnet as tv_resnet

from common.models import build_model, get_spec
from common.models import cifar_resnet as cifar
from common.models.weight_layouts import SOURCES, load_original
from common.runtime import UsageError
from hmq.block import HMQ, HmqControl
from hmq.modules import HmqActivation, attach_weight_hmq
from hmq.weights import original_weights_file

__all__ = ["NETWORKS", "NetworkInfo", "attach_hmq", "build_hmq_network", "check_single_use", "network_info"]


@dataclass(frozen=True)
class NetworkInfo:
    """An HMQ ``--network_name`` and the registered model behind it."""

    name: str
    arch: str
    float_layers: tuple[str, ...] = ()
    note: str = ""


NETWORKS: dict[str, NetworkInfo] = {
    n.name: n
    for n in (
        NetworkInfo("mobilenet_v1", "mobilenet_v1", note="HMQ's MobileNetV1-1.0 (ImageNet)"),
        NetworkInfo("mobilenet_v2", "mobilenet_v2", note="torchvision MobileNetV2 (ImageNet)"),
        NetworkInfo("resnet50", "resnet50", ("fc",), "torchvision ResNet-50; the classifier stays float"),
        NetworkInfo("efficient_net", "efficientnet_b0", note="EfficientNet-B0 (ImageNet)"),
        NetworkInfo("efficientnet_b0", "efficientnet_b0", note="alias of efficient_net"),
        NetworkInfo("resnet20", "resnet20", note="CIFAR ResNet-20 (the CIFAR network; 32x32)"),
        NetworkInfo("tiny_resnet", "tiny_resnet", note="small ResNet for the embedded digits data"),
        NetworkInfo("tiny_mobilenet_v2", "tiny_mobilenet_v2", note="MobileNetV2 x0.25 for digits"),
    )
}

_ACT_KIND = {
    nn.ReLU: "relu",
    nn.ReLU6: "relu6",
    nn.SiLU: "swish",
    nn.Sigmoid: "sigmoid",
    nn.Hardswish: "hswish",
}


def network_info(name: str) -> NetworkInfo:
    """The :class:`NetworkInfo` of ``name``; unknown names raise ``ValueError`` listing the known ones."""
    if name not in NETWORKS:
        raise KeyError(name)
    return NETWORKS[name]


# --- blocks whose forward needs one activation block per call ------------------------------------
class _HmqBasicBlock(tv_resnet.BasicBlock):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.act1(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        identity = x if self.downsample is None else self.downsample(x)
        return self.act2(out + identity)


class _HmqBottleneck(tv_resnet.Bottleneck):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.act1(self.bn1(self.conv1(x)))
        out = self.act2(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out))
        identity = x if self.downsample is None else self.downsample(x)
        return self.act3(out + identity)


class _HmqCifarBlock(cifar.BasicBlock):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.act1(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return self.act2(out + self.shortcut(x))


class _HmqInvertedResidual(tv_mobilenetv2.InvertedResidual):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.proj_act(self.conv(x))
        if self.use_res_connect:
            out = x + out
        return self.out_act(out)


class _HmqMBConv(tv_efficientnet.MBConv):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.proj_act(self.block(x))
        if self.use_res_connect:
            out = out + x
        return self.out_act(out)


def _patch_blocks(model: nn.Module, control: HmqControl, n_shifts: int) -> None:
    def act(kind: str) -> HmqActivation:
        return HmqActivation(kind, control, n_shifts)

    for module in list(model.modules()):
        if type(module) is tv_resnet.BasicBlock or type(module) is cifar.BasicBlock:
            del module.relu
            module.act1, module.act2 = act("relu"), act("relu")
            module.__class__ = _HmqBasicBlock if type(module) is tv_resnet.BasicBlock else _HmqCifarBlock
        elif type(module) is tv_resnet.Bottleneck:
            del module.relu
            module.act1, module.act2, module.act3 = act("relu"), act("relu"), act("relu")
            module.__class__ = _HmqBottleneck
        elif type(module) is tv_mobilenetv2.InvertedResidual:
            module.proj_act, module.out_act = act("identity"), act("identity")
            module.__class__ = _HmqInvertedResidual
        elif type(module) is tv_efficientnet.MBConv:
            module.proj_act, module.out_act = act("identity"), act("identity")
            module.__class__ = _HmqMBConv


def _replace_activations(model: nn.Module, control: HmqControl, n_shifts: int) -> None:
    for parent in list(model.modules()):
        if isinstance(parent, HmqActivation):
            continue
        for child_name, child in list(parent.named_children()):
            kind = _ACT_KIND.get(type(child))
            if kind is not None:
                setattr(parent, child_name, HmqActivation(kind, control, n_shifts))


def attach_hmq(
    model: nn.Module,
    control: HmqControl,
    bits_list: Sequence[int] = (8, 7, 6, 5, 4, 3, 2, 1),
    n_thresholds_shifts: int = 8,
    float_layers: Sequence[str] = (),
) -> nn.Module:
    """Attach HMQ blocks to ``model`` in place (see the module docstring); returns ``model``.

    Weight blocks take their thresholds from the current weights, so load pretrained weights first.
    """
    _patch_blocks(model, control, n_thresholds_shifts)
    _replace_activations(model, control, n_thresholds_shifts)
    for name, module in list(model.named_modules()):
        if type(module) in (nn.Conv2d, nn.Linear) and name not in float_layers:
            attach_weight_hmq(module, control, bits_list, n_thresholds_shifts)
    return model


def _device_of(model: nn.Module) -> torch.device:
    return next(model.parameters()).device


def check_single_use(model: nn.Module, input_size: int, in_channels: int = 3) -> None:
    """Raise ``RuntimeError`` if an activation block is called more than once in a forward pass."""
    calls: dict[str, int] = {}
    handles = []
    for name, m in model.named_modules():
        if isinstance(m, HmqActivation):
            handles.append(
                m.register_forward_hook(lambda mod, i, o, n=name: calls.__setitem__(n, calls.get(n, 0) + 1))
            )
    controls = {id(m.control): m.control for m in model.modules() if isinstance(m, HMQ)}.values()
    saved = [(c, c.statistics) for c in controls]
    was_training = model.training
    try:
        model.eval()
        for c, _ in saved:
            c.statistics = False  # a probe must not move the activation thresholds
        with torch.no_grad():
            model(torch.zeros(1, in_channels, input_size, input_size, device=_device_of(model)))
    finally:
        model.train(was_training)
        for c, flag in saved:
            c.statistics = flag
        for h in handles:
            h.remove()
    shared = [n for n, c in calls.items() if c > 1]
    if shared:
        raise RuntimeError(f"activation module(s) used more than once per forward: {shared[:5]}")


def build_hmq_network(
    name: str,
    num_classes: int,
    control: HmqControl,
    bits_list: Sequence[int] = (8, 7, 6, 5, 4, 3, 2, 1),
    n_thresholds_shifts: int = 8,
    pretrained: bool | str = False,
    state_dict: dict[str, torch.Tensor] | None = None,
) -> nn.Module:
    """Float model of ``--network_name`` ``name`` (weights from ``pretrained`` or ``state_dict``) with HMQ blocks.

    ``pretrained=True`` is the float network HMQ starts from: HMQ's own file where it ships one
    (EfficientNet-B0, ``$MPQ_WEIGHTS_DIR/hmq/EfficientNet_B0_IMAGENET.pt``, with HMQ's BN eps and padding),
    otherwise the registry's published weights (HMQ's MobileNetV1 file, torchvision's MobileNetV2/ResNet-50).
    A missing file is a one-line :class:`UsageError` naming it, its URL and its folder.
    """
    info = network_info(name)
    source = SOURCES.get(("hmq", info.arch))
    if pretrained is True and source is not None:  # never torchvision's B0 in place of HMQ's
        original_weights_file(info.arch)  # the one-line error when the file is missing
        if num_classes != 1000:
            raise UsageError(
                f"{source.file} is a 1000-class ImageNet network, not {num_classes} classes: pass "
                "pretrained=False or a file of this class count"
            )
        model = load_original(build_model(info.arch, num_classes), source)
    else:
        model = build_model(info.arch, num_classes, pretrained=pretrained)
    if state_dict is not None:
        model.load_state_dict(state_dict)
    attach_hmq(model, control, bits_list, n_thresholds_shifts, info.float_layers)
    check_single_use(model, min(get_spec(info.arch).input_size, 64))
    return model


def hmq_block_names(model: nn.Module) -> list[str]:
    """Module names of every HMQ block."""
    return [n for n, m in model.named_modules() if isinstance(m, HMQ)]
