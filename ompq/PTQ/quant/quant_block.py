"""BRECQ's quantized blocks (docs/ompq.md §3.4): the block output is quantized after the residual add + activation.

A block's last conv and its downsample conv have output quantization disabled.
"""

from __future__ import annotations

from typing import Any

from torch import Tensor, nn
from torchvision.models.mobilenetv2 import InvertedResidual
from torchvision.models.resnet import BasicBlock, Bottleneck

from ompq.PTQ.quant.quant_layer import QuantModule
from ompq.PTQ.quant.quantizer import UniformAffineQuantizer


class BaseQuantBlock(nn.Module):
    """Holds the block's output quantizer and switches its QuantModules together."""

    def __init__(self, act_quant_params: dict[str, Any]) -> None:
        super().__init__()
        self.use_weight_quant = False
        self.use_act_quant = False
        self.act_quantizer = UniformAffineQuantizer(**act_quant_params)
        self.activation_function: nn.Module = nn.Identity()
        self.ignore_reconstruction = False

    def set_quant_state(self, weight_quant: bool = False, act_quant: bool = False) -> None:
        self.use_weight_quant = weight_quant
        self.use_act_quant = act_quant
        for m in self.modules():
            if isinstance(m, QuantModule):
                m.set_quant_state(weight_quant, act_quant)

    def _finish(self, out: Tensor) -> Tensor:
        out = self.activation_function(out)
        return self.act_quantizer(out) if self.use_act_quant else out


class QuantBasicBlock(BaseQuantBlock):
    """torchvision BasicBlock (BN folded): conv1+ReLU → conv2 (+ downsample) → add → ReLU → Q_a."""

    def __init__(self, block: BasicBlock, wq: dict[str, Any], aq: dict[str, Any]) -> None:
        super().__init__(aq)
        self.conv1 = QuantModule(block.conv1, wq, aq)
        self.conv1.activation_function = nn.ReLU()
        self.conv2 = QuantModule(block.conv2, wq, aq, disable_act_quant=True)
        self.downsample = (
            None
            if block.downsample is None
            else QuantModule(block.downsample[0], wq, aq, disable_act_quant=True)
        )
        self.activation_function = nn.ReLU()

    def forward(self, x: Tensor) -> Tensor:
        residual = x if self.downsample is None else self.downsample(x)
        return self._finish(self.conv2(self.conv1(x)) + residual)


class QuantBottleneck(BaseQuantBlock):
    """torchvision Bottleneck (BN folded), same pattern with three convs."""

    def __init__(self, block: Bottleneck, wq: dict[str, Any], aq: dict[str, Any]) -> None:
        super().__init__(aq)
        self.conv1 = QuantModule(block.conv1, wq, aq)
        self.conv1.activation_function = nn.ReLU()
        self.conv2 = QuantModule(block.conv2, wq, aq)
        self.conv2.activation_function = nn.ReLU()
        self.conv3 = QuantModule(block.conv3, wq, aq, disable_act_quant=True)
        self.downsample = (
            None
            if block.downsample is None
            else QuantModule(block.downsample[0], wq, aq, disable_act_quant=True)
        )
        self.activation_function = nn.ReLU()

    def forward(self, x: Tensor) -> Tensor:
        residual = x if self.downsample is None else self.downsample(x)
        return self._finish(self.conv3(self.conv2(self.conv1(x))) + residual)


class QuantInvertedResidual(BaseQuantBlock):
    """torchvision InvertedResidual (BN folded): [expand+ReLU6] → dw+ReLU6 → project (+ x) → Q_a."""

    def __init__(self, block: InvertedResidual, wq: dict[str, Any], aq: dict[str, Any]) -> None:
        super().__init__(aq)
        self.use_res_connect = block.use_res_connect
        layers = []
        for part in block.conv:
            if isinstance(part, nn.Sequential):  # conv + (folded BN) + ReLU6
                q = QuantModule(part[0], wq, aq)
                q.activation_function = nn.ReLU6()
                layers.append(q)
            elif isinstance(part, nn.Conv2d):
                layers.append(QuantModule(part, wq, aq, disable_act_quant=True))
        self.conv = nn.Sequential(*layers)

    def forward(self, x: Tensor) -> Tensor:
        out = self.conv(x)
        return self._finish(x + out if self.use_res_connect else out)


SPECIALS = {BasicBlock: QuantBasicBlock, Bottleneck: QuantBottleneck, InvertedResidual: QuantInvertedResidual}
