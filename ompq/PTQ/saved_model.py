"""The PTQ result as a file that rebuilds in a new process: ``<out>/quantized_model.pth``.

A BRECQ ``QuantModel`` keeps part of its state outside ``state_dict()``: the weight quantizers' step size Δ and
zero point z (plain tensors, or an AdaRound quantizer's copies of them), the activation quantizers' z, every
quantizer's bit-width and ``inited`` flag, and the on/off switches of each quantized layer and block. The file
therefore holds, next to the state dict:

* ``build``: the ``common.models`` name, class count and input size, and the weight/activation quantizer
  settings the ``QuantModel`` was made with;
* ``quantizers``: per quantizer (by module path) its kind (``uniform``/``adaround``), bits, Δ, z, whether Δ is a
  parameter, and AdaRound's rounding mode;
* ``switches``: per quantized layer/block ``use_weight_quant``, ``use_act_quant``, ``disable_act_quant``.

:func:`load_quantized` builds the float model again (random weights), folds its BN, wraps it, restores the
quantizers from ``quantizers``, loads the state dict strictly and sets the switches; the result computes the same
logits as the model that was saved, bit for bit.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

from common.models import build_model
from common.runtime import UsageError, load_checkpoint, save_checkpoint
from ompq.PTQ.quant.adaround import AdaRoundQuantizer
from ompq.PTQ.quant.fold_bn import fold_all_bn
from ompq.PTQ.quant.quant_block import BaseQuantBlock
from ompq.PTQ.quant.quant_layer import QuantModule
from ompq.PTQ.quant.quant_model import QuantModel
from ompq.PTQ.quant.quantizer import UniformAffineQuantizer

FORMAT = "ompq-ptq-quantized-model/1"
"""Value of the file's ``format`` key."""

_KEYS = ("format", "build", "state_dict", "quantizers", "switches")


def _cpu(t: Tensor | None) -> Tensor | None:
    return None if t is None else t.detach().cpu().clone()


def quantizer_state(qnn: QuantModel) -> dict[str, dict[str, Any]]:
    """Module path → the quantizer fields ``state_dict()`` misses (see the module docstring)."""
    state: dict[str, dict[str, Any]] = {}
    for name, m in qnn.named_modules():
        if isinstance(m, AdaRoundQuantizer):
            state[name] = {"kind": "adaround", "n_bits": m.n_bits, "round_mode": m.round_mode,
                           "delta": _cpu(m.delta), "zero_point": _cpu(m.zero_point), "delta_param": False}  # fmt: skip
        elif isinstance(m, UniformAffineQuantizer):
            state[name] = {"kind": "uniform", "n_bits": m.n_bits, "inited": bool(m.inited),
                           "delta": _cpu(m.delta), "zero_point": _cpu(m.zero_point),
                           "delta_param": isinstance(m.delta, nn.Parameter)}  # fmt: skip
    return state


def switch_state(qnn: QuantModel) -> dict[str, dict[str, bool]]:
    """Module path → the quantization switches of each quantized layer and block."""
    return {
        name: {
            "use_weight_quant": bool(m.use_weight_quant),
            "use_act_quant": bool(m.use_act_quant),
            "disable_act_quant": bool(getattr(m, "disable_act_quant", False)),
        }
        for name, m in qnn.named_modules()
        if isinstance(m, (QuantModule, BaseQuantBlock))
    }


def save_quantized(qnn: QuantModel, path: Path, build: dict[str, Any], **extra: Any) -> Path:
    """Write ``qnn`` with everything :func:`load_quantized` needs; ``extra`` keys are stored as they are.

    ``build`` holds ``arch`` (a ``common.models`` name), ``num_classes``, ``image_size``, ``weight_quant`` and
    ``act_quant`` (the ``QuantModel`` settings) and, optionally, ``data_path``.
    """
    state = {
        "format": FORMAT,
        "build": dict(build),
        "state_dict": {k: v.detach().cpu() for k, v in qnn.state_dict().items()},
        "quantizers": quantizer_state(qnn),
        "switches": switch_state(qnn),
        **extra,
    }
    return save_checkpoint(state, path)


def _restore_uniform(q: UniformAffineQuantizer, saved: dict[str, Any], device: torch.device) -> None:
    q.bitwidth_refactor(int(saved["n_bits"]))
    delta = None if saved["delta"] is None else saved["delta"].to(device)
    q.delta = nn.Parameter(delta.clone()) if saved["delta_param"] and delta is not None else delta
    q.zero_point = None if saved["zero_point"] is None else saved["zero_point"].to(device)
    q.inited = bool(saved.get("inited", delta is not None))


def _get(qnn: nn.Module, path: str) -> nn.Module:
    return qnn.get_submodule(path)


def read_quantized_file(path: Path) -> dict[str, Any]:
    """The saved file's dict; a file of another kind (a float checkpoint, ``ptq_state.pth``, not a checkpoint at
    all) is a one-line :class:`UsageError`."""
    path = Path(path)
    if path.is_dir():
        path = path / "quantized_model.pth"
    saved = load_checkpoint(path)
    if isinstance(saved, dict) and "format" not in saved and {"state_dict", "weight_bits"} <= set(saved):
        raise UsageError(
            f"{path} was saved without its quantizer state (an older version): run the PTQ again"
        )
    if not isinstance(saved, dict) or saved.get("format") != FORMAT or any(k not in saved for k in _KEYS):
        raise UsageError(
            f"{path} is not an OMPQ PTQ quantized model (want the quantized_model.pth that "
            "python -m ompq.PTQ.main_imagenet writes)"
        )
    return saved


def load_quantized(
    path: Path | dict[str, Any], device: torch.device | str = "cpu"
) -> tuple[QuantModel, dict]:
    """(``QuantModel`` in eval mode on ``device``, the saved dict) from ``path`` (a file or its folder)."""
    saved = path if isinstance(path, dict) else read_quantized_file(Path(path))
    build, device = saved["build"], torch.device(device)
    fmodel = fold_all_bn(build_model(build["arch"], int(build["num_classes"])).eval())
    qnn = QuantModel(fmodel, dict(build["weight_quant"]), dict(build["act_quant"])).to(device)
    quantizers: dict[str, dict[str, Any]] = saved["quantizers"]
    names = {n for n, m in qnn.named_modules() if isinstance(m, UniformAffineQuantizer)}
    if names != set(quantizers):
        raise UsageError(
            f"the saved quantizers do not match a rebuilt {build['arch']} ({len(quantizers)} saved)"
        )
    for name in sorted(names):
        _restore_uniform(_get(qnn, name), quantizers[name], device)
    layers = [(n, m) for n, m in qnn.named_modules() if isinstance(m, QuantModule)]
    for name, m in layers:  # AdaRound weight quantizers, made from their restored uniform grid
        if quantizers[f"{name}.weight_quantizer"]["kind"] == "adaround":
            saved_q = quantizers[f"{name}.weight_quantizer"]
            weight = saved["state_dict"][f"{name}.weight"].to(device)
            m.weight_quantizer = AdaRoundQuantizer(m.weight_quantizer, weight, saved_q["round_mode"])
            m.weight_quantizer.soft_targets = False
    try:
        qnn.load_state_dict(saved["state_dict"], strict=True)
    except RuntimeError as exc:
        first = str(exc).strip().splitlines()
        raise UsageError(
            f"the saved state does not fit a rebuilt {build['arch']}: {first[-1].strip()}"
        ) from exc
    for _, m in layers:  # the float reference of the rebuilt layer is the saved weight
        m.org_weight = m.weight.data.clone()
        m.org_bias = None if m.bias is None else m.bias.data.clone()
    for name, flags in saved["switches"].items():
        unit = _get(qnn, name)
        unit.set_quant_state(flags["use_weight_quant"], flags["use_act_quant"])
        if isinstance(unit, QuantModule):
            unit.disable_act_quant = flags["disable_act_quant"]
    return qnn.eval(), saved
