"""Pretrained weights: from a local file, or from torchvision when asked for and online.

Lookup order for ``pretrained=True``:

1. ``$MPQ_WEIGHTS_DIR/<file>`` (default ``~/.cache/mpq/weights``), where ``<file>`` is the
   architecture's ``weights_file`` (``<origin>/<file>``, the naming scheme of
   :mod:`common.models.weight_layouts`) or the file name torchvision would download;
2. torchvision's own cache (``$TORCH_HOME/hub/checkpoints/<file>``);
3. torchvision's download, only when the machine is online.

Offline, the error says which file to place where and its source URL. Every tensor must load
(:func:`load_state_dict_strict`): a tensor that does not fit is an error naming it, and a classifier of
another class count stays random only with ``new_head=True`` (and a warning). Loading always goes through
``torch.load(weights_only=True)``.
"""

from __future__ import annotations

import os
import socket
import sys
from pathlib import Path
from urllib.parse import urlparse

import torch
from torch import nn

from common.models.registry import ModelSpec


class PretrainedWeightsError(ValueError):
    """Pretrained weights could not be found or loaded; the message says what to do."""

    user_error = True


def weights_dir() -> Path:
    """Folder searched first for weight files (``$MPQ_WEIGHTS_DIR`` or ``~/.cache/mpq/weights``)."""
    return Path(os.environ.get("MPQ_WEIGHTS_DIR", Path.home() / ".cache" / "mpq" / "weights"))


def _torchvision_entry(spec: ModelSpec):
    from torchvision.models import get_weight

    return get_weight(spec.torchvision_weights) if spec.torchvision_weights else None


def expected_file_name(spec: ModelSpec) -> str | None:
    """The weight file name this architecture looks for, or ``None`` if it has none."""
    if spec.weights_file:
        return spec.weights_file
    entry = _torchvision_entry(spec)
    return Path(urlparse(entry.url).path).name if entry is not None else None


def is_online(host: str = "download.pytorch.org", timeout: float = 2.0) -> bool:
    """True when ``host`` resolves and accepts a TCP connection on port 443."""
    try:
        with socket.create_connection((host, 443), timeout=timeout):
            return True
    except OSError:
        return False


def read_state_dict(path: str | Path) -> dict[str, torch.Tensor]:
    """Read a state dict from ``path``: a bare state dict or a checkpoint holding one.

    Checkpoints keyed ``state_dict`` or ``model`` are unwrapped, and a leading ``module.`` (left by
    DataParallel/DDP) is stripped.
    """
    path = Path(path)
    if not path.is_file():
        raise PretrainedWeightsError(f"weights file not found: {path}")
    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises several types for bad or unsafe files
        raise PretrainedWeightsError(f"cannot load weights from {path}: {type(exc).__name__}") from exc
    for key in ("state_dict", "model"):
        if isinstance(obj, dict) and isinstance(obj.get(key), dict):
            obj = obj[key]
            break
    if not isinstance(obj, dict):
        raise PretrainedWeightsError(f"{path} does not hold a state dict")
    return {(k[7:] if k.startswith("module.") else k): v for k, v in obj.items()}


def _locate(spec: ModelSpec) -> Path | None:
    name = expected_file_name(spec)
    if name is None:
        return None
    candidates = [weights_dir() / name, Path(torch.hub.get_dir()) / "checkpoints" / name]
    return next((p for p in candidates if p.is_file()), None)


def _missing_message(spec: ModelSpec) -> str:
    name = expected_file_name(spec)
    if name is None:
        return f"no published weights are known for {spec.name}; pass a local file with pretrained=PATH"
    where = weights_dir() / name
    from common.models.weight_layouts import FILE_URLS

    entry = _torchvision_entry(spec)
    url = entry.url if entry is not None else FILE_URLS.get(name)
    source = f" (download it from {url} on a machine that is online)" if url else ""
    return f"pretrained weights for {spec.name} not found and this machine is offline: place {name} at {where}{source}"


def load_pretrained(
    model: nn.Module,
    spec: ModelSpec,
    pretrained: bool | str | Path,
    *,
    num_classes: int,
    online: bool | None = None,
    new_head: bool = False,
) -> nn.Module:
    """Load weights into ``model`` in place (see the module docstring for the lookup order).

    A pytorchcv ResNet file is renamed to our names first (:mod:`common.models.weight_layouts`).

    Every tensor must load (:func:`load_state_dict_strict`); a classifier of another class count is an
    error unless ``new_head`` confirms it is meant to be new (it then stays random, with a warning).
    """
    from common.models.weight_layouts import is_pytorchcv_resnet, pytorchcv_resnet_to_torchvision

    if pretrained is True:
        path = _locate(spec)
        if path is None:
            entry = _torchvision_entry(spec)
            if online is None:
                online = is_online()
            if entry is None or not online:
                raise PretrainedWeightsError(_missing_message(spec))
            state = entry.get_state_dict(progress=True)
        else:
            state = read_state_dict(path)
    else:
        state = read_state_dict(pretrained)
    if is_pytorchcv_resnet(state):  # pytorchcv's own ResNet files (resnet50_v1, resnet101_v1)
        state = pytorchcv_resnet_to_torchvision(state)
    load_state_dict_strict(model, state, spec.name, num_classes=num_classes, new_head=new_head)
    return model


def _head_keys(model: nn.Module) -> set[str]:
    """State-dict keys of the model's last Linear layer (the classifier a new class count replaces)."""
    last = None
    for name, module in model.named_modules():
        if isinstance(module, nn.Linear):
            last = name
    if last is None:
        return set()
    return {f"{last}.{k}" for k, _ in model.get_submodule(last).named_parameters(recurse=False)}


def load_state_dict_strict(
    model: nn.Module,
    state: dict[str, torch.Tensor],
    what: str,
    *,
    num_classes: int | None = None,
    new_head: bool = False,
) -> None:
    """Load ``state`` into ``model`` so that no tensor is silently left out.

    Every model tensor (BN ``num_batches_tracked`` aside) must be in ``state`` with the same shape, and every
    ``state`` tensor must have a place in the model; otherwise :class:`PretrainedWeightsError` names the
    first offending keys. The one exception is a new head: with ``new_head=True`` a classifier (the last
    Linear layer) whose shape differs keeps its random initialisation, and a warning says so.
    """
    own = model.state_dict()
    unexpected = [k for k in state if k not in own]
    missing = [k for k in own if k not in state and not k.endswith("num_batches_tracked")]
    if unexpected or missing:
        parts = [f"missing {', '.join(missing[:3])}" if missing else ""]
        parts.append(f"unexpected {', '.join(unexpected[:3])}" if unexpected else "")
        raise PretrainedWeightsError(f"weights for {what} do not fit: {'; '.join(p for p in parts if p)}")
    mismatched = [k for k, v in state.items() if tuple(own[k].shape) != tuple(v.shape)]
    head = _head_keys(model)
    # a new head: only the classifier differs, and only in its output (class) dimension
    head_only = bool(mismatched) and all(
        k in head and own[k].shape[1:] == state[k].shape[1:] for k in mismatched
    )
    if mismatched and not (new_head and head_only):
        shapes = ", ".join(f"{k} {tuple(state[k].shape)} vs {tuple(own[k].shape)}" for k in mismatched[:3])
        hint = (
            f"; the weights have another class count: pass weights trained for {num_classes} classes "
            "(no entrypoint starts from a new-head model; in code, new_head=True keeps a random head)"
            if head_only
            else ""
        )
        raise PretrainedWeightsError(f"weights for {what} do not fit: shape differs for {shapes}{hint}")
    if mismatched:
        print(
            f"warning: new head: {', '.join(mismatched)} of {what} keep their random initialisation "
            f"({num_classes} classes); every other tensor is loaded",
            file=sys.stderr,
        )
    model.load_state_dict({k: v for k, v in state.items() if k not in mismatched}, strict=False)
