"""Loading weights into ProQHA models: by name, with the original key spellings mapped (spec section 5, quirk 17).

Own checkpoints are loaded by name. Original checkpoints of the CIFAR ResNet-20 family call the classifier
``linear`` (ours: ``fc``); :func:`rename_original_keys` maps that. When the names still do not match but the
tensors line up one to one by shape, the original's positional loading (i-th key to i-th key) is used.
Bits are not part of a state dict: search checkpoints carry them as ``kbits``.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Mapping
from typing import Any

import torch
from torch import nn

from common.runtime import CheckpointError, strip_module_prefix

_RENAMES = (("linear.", "fc."),)


def rename_original_keys(state: Mapping[str, Any], model_keys: set[str]) -> OrderedDict[str, Any]:
    """Map original key spellings to ours where the original key is not a key of the model."""
    out: OrderedDict[str, Any] = OrderedDict()
    for key, value in state.items():
        new = key
        if key not in model_keys:
            for old, repl in _RENAMES:
                if key.startswith(old) and repl + key[len(old) :] in model_keys:
                    new = repl + key[len(old) :]
        out[new] = value
    return out


def load_weights(model: nn.Module, state: Mapping[str, Any], *, allow_missing_alpha: bool = True) -> str:
    """Load ``state`` into ``model``; returns ``"name"`` or ``"position"`` (how it was matched).

    Missing PACT ``alpha`` entries (a float ``--archtype origin`` checkpoint) keep their initial value when
    ``allow_missing_alpha``. Anything else that does not fit is a :class:`CheckpointError`.
    """
    own = model.state_dict()
    state = rename_original_keys(strip_module_prefix(state), set(own))
    missing = [k for k in own if k not in state]
    unexpected = [k for k in state if k not in own]
    if allow_missing_alpha:
        missing = [k for k in missing if not k.endswith(".alpha")]
    if not missing and not unexpected:
        bad = [k for k in state if tuple(state[k].shape) != tuple(own[k].shape)]
        if bad:
            raise CheckpointError(f"checkpoint tensor shapes differ from the model at {bad[:3]}")
        model.load_state_dict(state, strict=False)
        return "name"
    values = list(state.values())
    targets = list(own)
    if len(values) == len(targets) and all(
        tuple(v.shape) == tuple(own[k].shape) for v, k in zip(values, targets, strict=True)
    ):
        model.load_state_dict(OrderedDict(zip(targets, values, strict=True)))
        return "position"
    raise CheckpointError(
        f"checkpoint does not fit the model: missing {missing[:3]}, unexpected {unexpected[:3]} "
        "(check --dataset/--arch/--num_layers)"
    )


def state_dict_of(checkpoint: Any) -> Mapping[str, torch.Tensor]:
    """The state dict inside a checkpoint dict (``state_dict`` or ``model`` key) or the dict itself."""
    if isinstance(checkpoint, Mapping):
        for key in ("state_dict", "model"):
            if isinstance(checkpoint.get(key), Mapping):
                return checkpoint[key]
        if all(isinstance(v, torch.Tensor) for v in checkpoint.values()):
            return checkpoint
    raise CheckpointError("checkpoint holds no state dict (expected a 'state_dict' entry)")
