"""Q-ResNet: the integer-only ResNet-18/50/101 of HAWQ-V3 (``docs/hawq.md`` §3.5, §4.1–§4.3), and ResNet-20.

The wrapper takes a float ResNet in torchvision's layout (``conv1``/``bn1``, ``layer{s}.{b}.conv{k}``/``bn{k}``,
``downsample``, ``fc``; our ``resnet50_v1``/``resnet101_v1`` put the stride on the first 1x1 conv like pytorchcv)
and builds the quantized network with the original module names, so HAWQ-V3's ``bit_config`` keys and its released
quantized checkpoints apply as they are:

* ``quant_input``, ``quant_init_block_convbn`` (basic blocks) or ``quant_init_convbn`` (bottlenecks),
  ``quant_act_int32``;
* ``stage{s}.unit{u}.{quant_act, quant_convbn1, quant_act1, quant_convbn2, [quant_act2, quant_convbn3],
  [quant_identity_convbn], quant_act_int32}``;
* ``final_pool``, ``quant_act_output``, ``quant_output``.

The original registers each unit under the dotted attribute name ``"stage1.unit1"``; here ``stage{s}`` is a
``ModuleDict`` holding ``unit{u}``. Module paths and state_dict keys are identical.

Dataflow (§3.5): stem = quant_input → convbn (W8) → max-pool → 16-bit requant → ReLU; each unit requantizes its
16-bit input to the first conv's bits, runs the convs with ReLU + requant between them, adds the identity (the
16-bit block input, or the downsample convbn applied to the requantized input) with a 16-bit residual requant, then
ReLU; head = integer average pool → 8-bit requant → QuantLinear.
"""

from __future__ import annotations

from torch import Tensor, nn
from torchvision.models.resnet import BasicBlock, Bottleneck

from common.models.cifar_resnet import BasicBlock as CifarBasicBlock
from hawq.utils.quantization_utils.quant_modules import (
    QuantAct,
    QuantAveragePool2d,
    QuantBnConv2d,
    QuantLinear,
)


def _convbn(conv: nn.Conv2d, bn: nn.BatchNorm2d) -> QuantBnConv2d:
    module = QuantBnConv2d()
    module.set_param(conv, bn)
    return module


class QResidualUnit(nn.Module):
    """One quantized residual unit: ``Q_ResBlockBn`` (two 3x3 convs) or ``Q_ResUnitBn`` (1x1-3x3-1x1)."""

    def __init__(self, block: BasicBlock | Bottleneck | CifarBasicBlock) -> None:
        super().__init__()
        self.num_convs = 3 if isinstance(block, Bottleneck) else 2
        self.resize_identity = getattr(block, "downsample", None) is not None
        # the CIFAR ResNets' parameter-free option-A shortcut (stride-2 subsampling, zero channels): it moves the
        # 16-bit block input as it is, so the identity keeps that input's scale, as an unresized identity does
        self.shortcut = getattr(block, "shortcut", None)
        self.quant_act = QuantAct()
        for k in range(1, self.num_convs + 1):
            setattr(self, f"quant_convbn{k}", _convbn(getattr(block, f"conv{k}"), getattr(block, f"bn{k}")))
            if k < self.num_convs:
                setattr(self, f"quant_act{k}", QuantAct())
        if self.resize_identity:
            down_conv, down_bn = block.downsample[0], block.downsample[1]
            self.quant_identity_convbn = _convbn(down_conv, down_bn)
        self.quant_act_int32 = QuantAct()
        self.relu = nn.ReLU()

    def forward(self, x: Tensor, scaling_factor_int32: Tensor) -> tuple[Tensor, Tensor]:
        if self.resize_identity:
            x, act_sf = self.quant_act(x, scaling_factor_int32)
            identity_act_sf = act_sf
            identity, identity_weight_sf = self.quant_identity_convbn(x, act_sf)
        else:
            identity = x if self.shortcut is None else self.shortcut(x)
            x, act_sf = self.quant_act(x, scaling_factor_int32)
        for k in range(1, self.num_convs + 1):
            x, weight_sf = getattr(self, f"quant_convbn{k}")(x, act_sf)
            if k < self.num_convs:
                x = self.relu(x)
                x, act_sf = getattr(self, f"quant_act{k}")(x, act_sf, weight_sf)
        x = x + identity
        if self.resize_identity:
            x, act_sf = self.quant_act_int32(
                x, act_sf, weight_sf, identity, identity_act_sf, identity_weight_sf
            )
        else:
            x, act_sf = self.quant_act_int32(x, act_sf, weight_sf, identity, scaling_factor_int32, None)
        return self.relu(x), act_sf


class QResNet(nn.Module):
    """Integer-only ResNet built from a float torchvision-layout ResNet (``Q_ResNet18/50/101``).

    ``pool_kernel`` is the spatial size before the final pool (7 at 224x224, as in the original).
    ``layer_map`` maps each float layer name (``common.layers`` names) to ``(weight module, input QuantAct)``.
    """

    def __init__(self, model: nn.Module, pool_kernel: int = 7) -> None:
        super().__init__()
        blocks = [m for m in model.modules() if isinstance(m, (BasicBlock, Bottleneck, CifarBasicBlock))]
        if not blocks:
            raise ValueError("QResNet needs a torchvision-layout ResNet (BasicBlock or Bottleneck units)")
        bottleneck = isinstance(blocks[0], Bottleneck)
        self.init_name = "quant_init_convbn" if bottleneck else "quant_init_block_convbn"
        self.quant_input = QuantAct()
        setattr(self, self.init_name, _convbn(model.conv1, model.bn1))
        maxpool = getattr(model, "maxpool", None)  # the CIFAR ResNets have none
        self.pool = maxpool if isinstance(maxpool, nn.MaxPool2d) else nn.Identity()
        self.quant_act_int32 = QuantAct()
        self.act = nn.ReLU()
        self.layer_map: dict[str, tuple[str, str]] = {"conv1": (self.init_name, "quant_input")}
        self.channel: list[int] = []
        stages = [s for s in range(1, 5) if hasattr(model, f"layer{s}")]  # 4, or 3 in the CIFAR ResNets
        for s in stages:
            layer = getattr(model, f"layer{s}")
            stage = nn.ModuleDict()
            for u, block in enumerate(layer, start=1):
                unit = QResidualUnit(block)
                stage[f"unit{u}"] = unit
                prefix, q = f"layer{s}.{u - 1}", f"stage{s}.unit{u}"
                acts = ["quant_act"] + [f"quant_act{k}" for k in range(1, unit.num_convs)]
                for k, act in enumerate(acts, start=1):
                    self.layer_map[f"{prefix}.conv{k}"] = (f"{q}.quant_convbn{k}", f"{q}.{act}")
                if unit.resize_identity:
                    self.layer_map[f"{prefix}.downsample.0"] = (
                        f"{q}.quant_identity_convbn",
                        f"{q}.quant_act",
                    )
            setattr(self, f"stage{s}", stage)
            self.channel.append(len(layer))
        self.final_pool = QuantAveragePool2d(kernel_size=pool_kernel, stride=1)
        self.quant_act_output = QuantAct()
        self.quant_output = QuantLinear()
        self.quant_output.set_param(model.fc)
        self.layer_map["fc"] = ("quant_output", "quant_act_output")

    def units(self) -> list[tuple[str, QResidualUnit]]:
        """``[("stage1.unit1", unit), ...]`` in forward order."""
        return [
            (f"stage{s}.{name}", unit)
            for s in range(1, len(self.channel) + 1)
            for name, unit in getattr(self, f"stage{s}").items()
        ]

    def forward(self, x: Tensor) -> Tensor:
        x, act_sf = self.quant_input(x)
        x, weight_sf = getattr(self, self.init_name)(x, act_sf)
        x = self.pool(x)
        x, act_sf = self.quant_act_int32(x, act_sf, weight_sf)
        x = self.act(x)
        for _, unit in self.units():
            x, act_sf = unit(x, act_sf)
        x, act_sf = self.final_pool(x, act_sf)
        x, act_sf = self.quant_act_output(x, act_sf)
        x = x.flatten(1)
        return self.quant_output(x, act_sf)


def q_resnet18(model: nn.Module, pool_kernel: int = 7) -> QResNet:
    return QResNet(model, pool_kernel)


def q_resnet50(model: nn.Module, pool_kernel: int = 7) -> QResNet:
    return QResNet(model, pool_kernel)


def q_resnet101(model: nn.Module, pool_kernel: int = 7) -> QResNet:
    return QResNet(model, pool_kernel)


def q_resnet20(model: nn.Module, pool_kernel: int = 8) -> QResNet:
    """The CIFAR ResNet-20 (three stages of basic blocks, option-A shortcuts) in the same integer-only units; not in
    HAWQ-V3's zoo, added so that the benchmark's ResNet-20 on CIFAR-10 has a common QAT path."""
    return QResNet(model, pool_kernel)
