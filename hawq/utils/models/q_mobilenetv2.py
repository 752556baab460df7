"""Q-MobileNetV2: HAWQ-V3's integer-only MobileNetV2 (``docs/hawq.md`` §4.1), from pytorchcv's layout.

Built from our ``mobilenetv2_w1`` (pytorchcv's ``mobilenetv2_w1`` layout and names). Module names are the
original's, so ``bit_config_mobilenetv2_w1_*`` keys and released checkpoints apply: ``quant_input``,
``init_block``, ``quant_act_int32``, ``features.stage{s}.unit{u}.{quant_act, conv1, quant_act1, conv2, quant_act2,
conv3, quant_act_int32}``, ``quant_act_before_final_block``, ``features.final_block``, ``quant_act_int32_final``,
``features.final_pool``, ``quant_act_output`` and ``output`` (the classifier, a 1x1 ``QuantConv2d`` without bias).

Each unit requantizes its 16-bit input, runs expand (ReLU6) → depthwise (ReLU6) → linear projection, and ends in
a 16-bit requant that adds the block input when ``in == out`` and stride 1 (residual case 1).
"""

from __future__ import annotations

from torch import Tensor, nn

from hawq.utils.quantization_utils.quant_modules import (
    QuantAct,
    QuantAveragePool2d,
    QuantBnConv2d,
    QuantConv2d,
)


def _convbn(block: nn.Module) -> QuantBnConv2d:
    module = QuantBnConv2d()
    module.set_param(block.conv, block.bn)
    return module


class QLinearBottleneck(nn.Module):
    """``Q_LinearBottleneck``: quantized inverted residual unit."""

    def __init__(self, unit: nn.Module) -> None:
        super().__init__()
        conv2 = unit.conv2.conv
        self.residual = bool(getattr(unit, "residual", False))
        self.stride = conv2.stride[0]
        self.activation = nn.ReLU6()
        self.quant_act = QuantAct()
        self.conv1 = _convbn(unit.conv1)
        self.quant_act1 = QuantAct()
        self.conv2 = _convbn(unit.conv2)
        self.quant_act2 = QuantAct()
        self.conv3 = _convbn(unit.conv3)
        self.quant_act_int32 = QuantAct()
        self.ompq_scale_bug = False  # OMPQ's QAT --compat (see forward)

    def forward(self, x: Tensor, scaling_factor_int32: Tensor) -> tuple[Tensor, Tensor]:
        identity = x
        x, act_sf = self.quant_act(x, scaling_factor_int32)
        x, weight_sf = self.conv1(x, act_sf)
        x = self.activation(x)
        x, act_sf1 = self.quant_act1(x, act_sf, weight_sf)
        # OMPQ's copy kept quant_act1's scale on the module, feeding conv2 and quant_act2 the unit input's
        # scale instead (ompq.QAT.quant_train --compat, docs/ompq.md); the default uses quant_act1's
        act_sf = act_sf if self.ompq_scale_bug else act_sf1
        x, weight_sf = self.conv2(x, act_sf)
        x = self.activation(x)
        x, act_sf = self.quant_act2(x, act_sf, weight_sf)
        x, weight_sf = self.conv3(x, act_sf)
        if self.residual:
            x = x + identity
            return self.quant_act_int32(x, act_sf, weight_sf, identity, scaling_factor_int32, None)
        return self.quant_act_int32(x, act_sf, weight_sf)


class QMobileNetV2(nn.Module):
    """Integer-only MobileNetV2 (``Q_MobileNetV2``); ``layer_map`` as in :class:`~.q_resnet.QResNet`."""

    def __init__(self, model: nn.Module, pool_kernel: int = 7) -> None:
        super().__init__()
        feats = model.features
        self.activation = nn.ReLU6()
        self.quant_input = QuantAct()
        self.init_block = _convbn(feats.init_block)
        self.quant_act_int32 = QuantAct()
        self.layer_map: dict[str, tuple[str, str]] = {
            "features.init_block.conv": ("init_block", "quant_input")
        }
        self.features = nn.Sequential()
        self.stage_names: list[str] = []
        for stage_name, stage in feats.named_children():
            if not stage_name.startswith("stage"):
                continue
            q_stage = nn.Sequential()
            for unit_name, unit in stage.named_children():
                q_stage.add_module(unit_name, QLinearBottleneck(unit))
                base = f"features.{stage_name}.{unit_name}"
                for k, act in ((1, "quant_act"), (2, "quant_act1"), (3, "quant_act2")):
                    self.layer_map[f"{base}.conv{k}.conv"] = (f"{base}.conv{k}", f"{base}.{act}")
            self.features.add_module(stage_name, q_stage)
            self.stage_names.append(stage_name)
        self.quant_act_before_final_block = QuantAct()
        self.features.add_module("final_block", _convbn(feats.final_block))
        self.quant_act_int32_final = QuantAct()
        self.features.add_module("final_pool", QuantAveragePool2d(kernel_size=pool_kernel, stride=1))
        self.quant_act_output = QuantAct()
        classifier = QuantConv2d()
        classifier.set_param(model.output)
        self.output = classifier
        self.layer_map["features.final_block.conv"] = ("features.final_block", "quant_act_before_final_block")
        self.layer_map["output"] = ("output", "quant_act_output")

    def units(self) -> list[tuple[str, QLinearBottleneck]]:
        return [
            (f"features.{s}.{name}", unit)
            for s in self.stage_names
            for name, unit in getattr(self.features, s).named_children()
        ]

    def forward(self, x: Tensor) -> Tensor:
        x, act_sf = self.quant_input(x)
        x, weight_sf = self.init_block(x, act_sf)
        x = self.activation(x)
        x, act_sf = self.quant_act_int32(x, act_sf, weight_sf)
        for _, unit in self.units():
            x, act_sf = unit(x, act_sf)
        x, act_sf = self.quant_act_before_final_block(x, act_sf)
        x, weight_sf = self.features.final_block(x, act_sf)
        x = self.activation(x)
        x, act_sf = self.quant_act_int32_final(x, act_sf, weight_sf)
        x, act_sf = self.features.final_pool(x, act_sf)
        x, act_sf = self.quant_act_output(x, act_sf)
        x, _ = self.output(x, act_sf)
        return x.flatten(1)


def q_mobilenetv2_w1(model: nn.Module, pool_kernel: int = 7) -> QMobileNetV2:
    return QMobileNetV2(model, pool_kernel)
