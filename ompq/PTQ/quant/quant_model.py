"""BRECQ's ``QuantModel`` with OMPQ's ``set_mixed_precision`` (docs/ompq.md §3.4).

The float model (BN already folded) is rewritten in place: known blocks become quant blocks, other Conv2d/Linear
become :class:`QuantModule`, and a ReLU/ReLU6 right after a QuantModule becomes that module's activation function.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from torch import Tensor, nn

from ompq.PTQ.quant.quant_block import SPECIALS, BaseQuantBlock
from ompq.PTQ.quant.quant_layer import QuantModule


def _refactor(module: nn.Module, wq: dict[str, Any], aq: dict[str, Any]) -> None:
    prev: QuantModule | None = None
    for name, child in module.named_children():
        if type(child) in SPECIALS:
            setattr(module, name, SPECIALS[type(child)](child, wq, aq))
            prev = None
        elif isinstance(child, (nn.Conv2d, nn.Linear)):
            prev = QuantModule(child, wq, aq)
            setattr(module, name, prev)
        elif isinstance(child, (nn.ReLU, nn.ReLU6)) and prev is not None:
            prev.activation_function = type(child)()
            setattr(module, name, nn.Identity())
            prev = None
        elif isinstance(child, nn.Identity):
            continue
        else:
            _refactor(child, wq, aq)
            prev = None


class QuantModel(nn.Module):
    """Wraps a BN-folded float model; see the module docstring."""

    def __init__(
        self, model: nn.Module, weight_quant_params: dict[str, Any], act_quant_params: dict[str, Any]
    ) -> None:
        super().__init__()
        self.model = model
        _refactor(self.model, weight_quant_params, act_quant_params)

    def forward(self, x: Tensor) -> Tensor:
        return self.model(x)

    def quant_modules(self) -> list[tuple[str, QuantModule]]:
        """QuantModules in module order, with names relative to the wrapped model."""
        return [(n, m) for n, m in self.model.named_modules() if isinstance(m, QuantModule)]

    def set_quant_state(self, weight_quant: bool = False, act_quant: bool = False) -> None:
        """Switch weight / activation quantization of every quantized layer and block."""
        switchable = [m for m in self.model.modules() if isinstance(m, (QuantModule, BaseQuantBlock))]
        for unit in switchable:
            unit.set_quant_state(weight_quant, act_quant)

    def set_first_last_layer_to_8bit(self) -> None:
        """First layer W8 (and its output A8, no reconstruction), last layer W8, second-to-last output A8."""
        mods = [m for _, m in self.quant_modules()]
        mods[0].weight_quantizer.bitwidth_refactor(8)
        mods[0].act_quantizer.bitwidth_refactor(8)
        mods[-1].weight_quantizer.bitwidth_refactor(8)
        mods[-2].act_quantizer.bitwidth_refactor(8)
        mods[0].ignore_reconstruction = True

    def disable_network_output_quantization(self) -> None:
        self.quant_modules()[-1][1].disable_act_quant = True

    def set_mixed_precision(self, module_bits: Sequence[int]) -> None:
        """Weight bits of the first ``len(module_bits)`` QuantModules in module order (all of them, or a
        block-wise list's prefix; see :func:`expand_bit_list`); the others keep their bits."""
        mods = self.quant_modules()
        if len(module_bits) > len(mods):
            raise ValueError(f"{len(module_bits)} weight bits for {len(mods)} quantized layers")
        for (_, m), b in zip(mods, module_bits, strict=False):
            m.weight_quantizer.bitwidth_refactor(int(b))
