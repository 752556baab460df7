"""Checkpoint formats of ``quant_train.py`` (``docs/hawq.md`` §5).

* Float resume (``--resume`` without ``--resume-quantize``): a float state dict (ours, torchvision's, or
  pytorchcv's, renamed) loads **by name** (quirk 15, fixed); the original's key-order matching is
  ``--resume-by-position``.
* Quantized resume (``--resume-quantize``): ``module.`` stripped, ``num_batches_tracked``, ``weight_integer`` and
  ``bias_integer`` dropped, loaded non-strictly. A range buffer saved as a 0-d tensor by the original (quirk 6)
  is reshaped to ``[1]``; a scaling-factor buffer of another shape (per-tensor vs per-channel) is recomputed by the
  next forward anyway and is skipped.
* ``quantized_checkpoint.pth.tar``: five sub-dicts of the state dict, filtered by key substring.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from torch import Tensor, nn

from common.runtime import UsageError, strip_module_prefix
from hawq.utils.models.pytorchcv_weights import is_pytorchcv_resnet, pytorchcv_resnet_to_torchvision

QUANTIZED_CHECKPOINT_KEYS = (
    "convbn_scaling_factor",
    "fc_scaling_factor",
    "weight_integer",
    "bias_integer",
    "act_scaling_factor",
)
_QUANT_ONLY = ("scaling_factor", "num_batches_tracked", "weight_integer", "min", "max")


def state_dict_of(checkpoint: Any) -> dict[str, Tensor]:
    """The state dict inside a checkpoint (``state_dict``/``model`` entry, or the dict itself), ``module.`` off."""
    if isinstance(checkpoint, Mapping):
        for key in ("state_dict", "model"):
            if key in checkpoint and isinstance(checkpoint[key], Mapping):
                return dict(strip_module_prefix(checkpoint[key]))
        if all(isinstance(v, Tensor) for v in checkpoint.values()):
            return dict(strip_module_prefix(checkpoint))
    raise UsageError("the --resume file holds no state dict")


def looks_quantized(state: Mapping[str, Tensor]) -> bool:
    return any("scaling_factor" in k or k.endswith("x_min") for k in state)


def load_float_state(model: nn.Module, state: Mapping[str, Tensor], by_position: bool = False) -> int:
    """Load a float state dict into the float ``model``; returns the number of tensors loaded.

    ``by_position`` reproduces the original: the checkpoint's tensors, minus quantizer buffers and
    ``num_batches_tracked`` (and any key containing "min"/"max"), are assigned in order to the model's keys minus
    ``num_batches_tracked``.
    """
    if looks_quantized(state) and not by_position:
        raise UsageError("the --resume file is a quantized checkpoint: add --resume-quantize")
    if is_pytorchcv_resnet(state):
        state = pytorchcv_resnet_to_torchvision(state)
    own = model.state_dict()
    if by_position:
        keys = [k for k in own if "num_batches_tracked" not in k]
        values = [v for k, v in state.items() if not any(tag in k for tag in _QUANT_ONLY)]
        mapped = dict(zip(keys, values, strict=False))
    else:
        mapped = {k: v for k, v in state.items() if k in own}
    bad = [k for k, v in mapped.items() if v.shape != own[k].shape]
    if bad:
        raise UsageError(
            f"--resume tensors do not fit the model ({len(bad)} shape mismatches, first {bad[0]!r})"
        )
    if not mapped:
        raise UsageError("no tensor of the --resume file matches the model (wrong --arch?)")
    model.load_state_dict(mapped, strict=False)
    return len(mapped)


def load_quantized_state(model: nn.Module, state: Mapping[str, Tensor]) -> tuple[int, list[str]]:
    """Load a quantized state dict (``--resume-quantize``); returns ``(loaded, skipped keys)``."""
    own = model.state_dict()
    loaded: dict[str, Tensor] = {}
    skipped: list[str] = []
    for key, value in state.items():
        if any(tag in key for tag in ("num_batches_tracked", "weight_integer", "bias_integer")):
            continue
        if key not in own:
            skipped.append(key)
            continue
        target = own[key]
        if value.shape != target.shape:
            if value.numel() == target.numel():
                value = value.reshape(target.shape)
            elif "scaling_factor" in key:
                skipped.append(key)
                continue
            else:
                raise UsageError(
                    f"--resume tensor {key!r} has shape {tuple(value.shape)}, model {tuple(target.shape)}"
                )
        loaded[key] = value
    if not any(k.endswith(("weight", "x_min")) for k in loaded):
        raise UsageError("no quantized-model tensor of the --resume file matches the model (wrong --arch?)")
    model.load_state_dict(loaded, strict=False)
    return len(loaded), skipped


def quantized_checkpoint(model: nn.Module) -> dict[str, dict[str, Tensor]]:
    """The ``quantized_checkpoint.pth.tar`` content: five sub-dicts keyed by substring (§5)."""
    state = model.state_dict()
    return {
        tag: {k: v.detach().clone() for k, v in state.items() if tag in k}
        for tag in QUANTIZED_CHECKPOINT_KEYS
    }


def to_cpu(obj: Any) -> Any:
    if isinstance(obj, Tensor):
        return obj.detach().cpu()
    if isinstance(obj, Mapping):
        return {k: to_cpu(v) for k, v in obj.items()}
    return obj


__all__ = [
    "QUANTIZED_CHECKPOINT_KEYS",
    "load_float_state",
    "load_quantized_state",
    "looks_quantized",
    "quantized_checkpoint",
    "state_dict_of",
    "to_cpu",
]
