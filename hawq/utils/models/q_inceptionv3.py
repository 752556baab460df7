"""Q-InceptionV3: HAWQ-V3's integer-only InceptionV3 (``docs/hawq.md`` §4.1), from pytorchcv's layout.

Built from our ``inceptionv3_cv`` (:mod:`common.models.inceptionv3_cv`). Module names are the original's, so the
257 keys of ``bit_config_inceptionv3_uniform8/uniform4`` name exactly the quantizers and quantized layers here:

* ``features.q_init_block``: ``q_input_activ`` (the image quantizer), ``q_conv1..q_conv5`` (each ``q_convbn`` ->
  ReLU -> ``q_activ``), max pools ``q_pool1``/``q_pool2`` (on the quantized values, scale passed through);
* ``features.stage{s}.unit{u}.branches.branch{k}``: every branch first requantizes the unit's 16-bit input with
  its own ``q_input_act``; then ``q_conv`` (1x1 branch), ``q_conv_list.q_conv{i}`` (sequence branch; Inception-C
  adds ``q_conv1x3``/``q_conv3x1`` on the same input and a ``q_rescaling_activ`` over their concatenation),
  ``q_pool`` -> ``q_pool_act`` -> ``q_conv`` (average-pool branch: an integer 3x3 average at 16 bits, then the
  requant to the conv's bits) or ``q_pool`` (max-pool branch);
* ``features.stage{s}.unit{u}.q_rescaling_activ``: the concat requant: each branch's channel slice is requantized
  from that branch's own scale to the unit's one 16-bit scale (``QuantAct`` with a list of scales, §3.2 case 4);
* ``features.q_final_pool`` (integer average), ``features.q_concat_activ`` (8 bits), ``output.q_dropout`` and
  ``output.q_fc``.

Faithful details: the dropout (p = 0.5) sits between ``q_concat_activ`` and the classifier, so in training the
classifier sees the requantized activations scaled by 2 (not integers), as in the original; the last ``q_activ``
of every branch is 16-bit in the shipped configs. The original's ``q_inceptionv3(model)`` call passes the float
model as ``model_name`` and crashes (quirk 2); :func:`q_inceptionv3` takes the model first, like the other
wrappers.

``layer_map`` maps each float layer (``common.layers`` names of ``inceptionv3_cv``) to ``(weight module, input
QuantAct)``: the QuantAct whose bits are the layer's activation bits (for the first conv of a branch its
``q_input_act``, after an average pool ``q_pool_act``, otherwise the previous block's ``q_activ``).
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from common.models.inceptionv3_cv import (
    AvgPoolBranch,
    Conv1x1Branch,
    ConvBlock,
    ConvSeqBranch,
    InceptionV3CV,
    MaxPoolBranch,
)
from hawq.utils.quantization_utils.quant_modules import (
    QuantAct,
    QuantAveragePool2d,
    QuantBnConv2d,
    QuantLinear,
)

Scaled = tuple[Tensor, Tensor]


class QuantMaxPool2d(nn.Module):
    """Max pooling of quantized values; the scale passes through unchanged (max commutes with a positive scale)."""

    def __init__(self, kernel_size: int = 3, stride: int = 2, padding: int = 0) -> None:
        super().__init__()
        self.pool = nn.MaxPool2d(kernel_size, stride=stride, padding=padding)

    def forward(self, x: Tensor, scale: Tensor) -> Scaled:
        return self.pool(x), scale


class QuantDropout(nn.Module):
    """Dropout on the quantized values; the scale passes through (the original's ``QuantDropout``)."""

    def __init__(self, p: float = 0.5) -> None:
        super().__init__()
        self.dropout = nn.Dropout(p)

    def forward(self, x: Tensor, scale: Tensor) -> Scaled:
        return self.dropout(x), scale


class QInceptConv(nn.Module):
    """``Q_InceptConv``: folded-BN conv -> ReLU -> requant (``q_convbn``, ``q_activ``)."""

    def __init__(self, block: ConvBlock) -> None:
        super().__init__()
        self.q_convbn = QuantBnConv2d()
        self.q_convbn.set_param(block.conv, block.bn)
        self.relu = nn.ReLU()
        self.q_activ = QuantAct()

    def forward(self, x: Tensor, act_sf: Tensor) -> Scaled:
        x, weight_sf = self.q_convbn(x, act_sf)
        return self.q_activ(self.relu(x), act_sf, weight_sf)


class QBranch(nn.Module):
    """One quantized branch; which children it has follows the float branch (module docstring)."""

    def __init__(self, branch: nn.Module) -> None:
        super().__init__()
        self.q_input_act = QuantAct()
        self.kind = type(branch).__name__
        if isinstance(branch, Conv1x1Branch):
            self.q_conv = QInceptConv(branch.conv)
        elif isinstance(branch, AvgPoolBranch):
            pool = branch.pool
            self.q_pool = QuantAveragePool2d(pool.kernel_size, pool.stride, pool.padding)
            self.q_pool_act = QuantAct()
            self.q_conv = QInceptConv(branch.conv)
        elif isinstance(branch, MaxPoolBranch):
            pool = branch.pool
            self.q_pool = QuantMaxPool2d(pool.kernel_size, pool.stride, pool.padding)
        elif isinstance(branch, ConvSeqBranch):
            self.q_conv_list = nn.Sequential()
            for name, block in branch.conv_list.named_children():
                self.q_conv_list.add_module(f"q_{name}", QInceptConv(block))
            self.split = branch.split
            if branch.split:
                self.q_conv1x3 = QInceptConv(branch.conv1x3)
                self.q_conv3x1 = QInceptConv(branch.conv3x1)
                self.q_rescaling_activ = QuantAct()
        else:
            raise TypeError(f"not an InceptionV3 branch: {type(branch).__name__}")

    def forward(self, x: Tensor, act_sf: Tensor) -> Scaled:
        x, act_sf = self.q_input_act(x, act_sf)
        if self.kind == "MaxPoolBranch":
            return self.q_pool(x, act_sf)
        if self.kind == "AvgPoolBranch":
            x, act_sf = self.q_pool(x, act_sf)
            x, act_sf = self.q_pool_act(x, act_sf)
            return self.q_conv(x, act_sf)
        if self.kind == "Conv1x1Branch":
            return self.q_conv(x, act_sf)
        for conv in self.q_conv_list:
            x, act_sf = conv(x, act_sf)
        if not self.split:
            return x, act_sf
        y1, s1 = self.q_conv1x3(x, act_sf)
        y2, s2 = self.q_conv3x1(x, act_sf)
        return concat_requant(self.q_rescaling_activ, [(y1, s1), (y2, s2)])

    def convs(self, prefix: str) -> list[tuple[str, str, str]]:
        """``(float child, weight module, input QuantAct)`` of the branch's convs in forward order."""
        if self.kind == "MaxPoolBranch":
            return []
        if self.kind in ("Conv1x1Branch", "AvgPoolBranch"):
            act = "q_pool_act" if self.kind == "AvgPoolBranch" else "q_input_act"
            return [("conv.conv", f"{prefix}.q_conv.q_convbn", f"{prefix}.{act}")]
        out, act = [], f"{prefix}.q_input_act"
        for name in self.q_conv_list._modules:
            out.append((f"conv_list.{name[2:]}.conv", f"{prefix}.q_conv_list.{name}.q_convbn", act))
            act = f"{prefix}.q_conv_list.{name}.q_activ"
        if self.split:
            for name in ("conv1x3", "conv3x1"):
                out.append((f"{name}.conv", f"{prefix}.q_{name}.q_convbn", act))
        return out


def concat_requant(act: QuantAct, parts: list[Scaled]) -> Scaled:
    """Concatenate branch outputs and requantize every channel slice from its branch's scale to ``act``'s."""
    x = torch.cat([p[0] for p in parts], dim=1)
    return act((x, [p[1] for p in parts], [p[0].shape[1] for p in parts]))


class QInceptionUnit(nn.Module):
    """A quantized Inception unit (A, B, C or a reduction): ``branches.branch{k}`` and ``q_rescaling_activ``."""

    def __init__(self, unit: nn.Module) -> None:
        super().__init__()
        self.branches = nn.ModuleDict({name: QBranch(b) for name, b in unit.branches.named_children()})
        self.q_rescaling_activ = QuantAct()

    def forward(self, x: Tensor, act_sf: Tensor) -> Scaled:
        return concat_requant(self.q_rescaling_activ, [b(x, act_sf) for b in self.branches.values()])


class QInceptInitBlock(nn.Module):
    """``Q_InceptInitBlock``: image quantizer, five conv blocks and two max pools."""

    def __init__(self, block: nn.Module) -> None:
        super().__init__()
        self.q_input_activ = QuantAct()
        for i in range(1, 6):
            setattr(self, f"q_conv{i}", QInceptConv(getattr(block, f"conv{i}")))
        self.q_pool1 = QuantMaxPool2d()
        self.q_pool2 = QuantMaxPool2d()

    def forward(self, x: Tensor) -> Scaled:
        x, act_sf = self.q_input_activ(x)
        x, act_sf = self.q_conv3(*self.q_conv2(*self.q_conv1(x, act_sf)))
        x, act_sf = self.q_conv5(*self.q_conv4(*self.q_pool1(x, act_sf)))
        return self.q_pool2(x, act_sf)


class QInceptionV3(nn.Module):
    """Integer-only InceptionV3 built from a float :class:`InceptionV3CV` (``Q_InceptionV3``).

    ``pool_kernel`` is the last feature map's size (8 at 299x299, as in the original).
    """

    def __init__(self, model: nn.Module, pool_kernel: int = 8) -> None:
        super().__init__()
        if not isinstance(model, InceptionV3CV):
            raise TypeError(
                "QInceptionV3 needs the pytorchcv-layout float model (common.models inceptionv3_cv)"
            )
        feats = model.features
        self.features = nn.ModuleDict()
        self.features["q_init_block"] = QInceptInitBlock(feats.init_block)
        self.layer_map: dict[str, tuple[str, str]] = {}
        act = "features.q_init_block.q_input_activ"
        for i in range(1, 6):
            q = f"features.q_init_block.q_conv{i}"
            self.layer_map[f"features.init_block.conv{i}.conv"] = (f"{q}.q_convbn", act)
            act = f"{q}.q_activ"
        self.num_stages = 0
        for s in range(1, 4):
            stage = nn.ModuleDict()
            for u, unit in getattr(feats, f"stage{s}").named_children():
                qunit = QInceptionUnit(unit)
                stage[u] = qunit
                for k, branch in qunit.branches.items():
                    prefix = f"features.stage{s}.{u}.branches.{k}"
                    for child, weight, act in branch.convs(prefix):
                        self.layer_map[f"features.stage{s}.{u}.branches.{k}.{child}"] = (weight, act)
            self.features[f"stage{s}"] = stage
            self.num_stages = s
        self.features["q_final_pool"] = QuantAveragePool2d(kernel_size=pool_kernel, stride=1)
        self.features["q_concat_activ"] = QuantAct()
        self.output = nn.ModuleDict()
        self.output["q_dropout"] = QuantDropout(model.output.dropout.p)
        q_fc = QuantLinear()
        q_fc.set_param(model.output.fc)
        self.output["q_fc"] = q_fc
        self.layer_map["output.fc"] = ("output.q_fc", "features.q_concat_activ")

    def units(self) -> list[tuple[str, QInceptionUnit]]:
        """``[("stage1.unit1", unit), ...]`` in forward order."""
        return [
            (f"stage{s}.{name}", unit)
            for s in range(1, self.num_stages + 1)
            for name, unit in self.features[f"stage{s}"].items()
        ]

    def forward(self, x: Tensor) -> Tensor:
        x, act_sf = self.features["q_init_block"](x)
        for _, unit in self.units():
            x, act_sf = unit(x, act_sf)
        x, act_sf = self.features["q_final_pool"](x, act_sf)
        x, act_sf = self.features["q_concat_activ"](x, act_sf)
        x, act_sf = self.output["q_dropout"](x.flatten(1), act_sf)
        return self.output["q_fc"](x, act_sf)


def q_inceptionv3(model: nn.Module, pool_kernel: int = 8) -> QInceptionV3:
    return QInceptionV3(model, pool_kernel)
