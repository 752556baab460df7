"""Pretrained weights: from a local file, or from torchvision when asked for and online.

Lookup order for ``pretrained=True``:

1. ``$MPQ_WEIGHTS_DIR/<file>`` (default ``~/.cache/mpq/weights``), where ``<file>`` is the
   architecture's ``weights_file`` or the file name torchvision would download;
2. torchvision's own cache (``$TORCH_HOME/hub/checkpoints/<file>``);
3. torchvision's download, only when the machine is online.

Offline, the error says which file to place where. Loading always goes through
``torch.load(weights_only=True)``.
"""

from __future__ import annotations

import os
import socket
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
    source = ""
    entry = _torchvision_entry(spec)
    if entry is not None:
        source = f" (download it from {entry.url} on a machine that is online)"
    return f"pretrained weights for {spec.name} not found and this machine is offline: place {name} at {where}{source}"


def load_pretrained(
    model: nn.Module,
    spec: ModelSpec,
    pretrained: bool | str | Path,
    *,
    num_classes: int,
    online: bool | None = None,
) -> nn.Module:
    """Load weights into ``model`` in place (see the module docstring for the lookup order).

    A classifier whose shape differs from the file's (another class count) keeps its random
    initialisation; every other key must match.
    """
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
    own = model.state_dict()
    dropped = [k for k, v in state.items() if k in own and own[k].shape != v.shape]
    state = {k: v for k, v in state.items() if k in own and k not in dropped}
    missing = [k for k in own if k not in state and not k.endswith("num_batches_tracked")]
    if any(k not in dropped for k in missing):
        unknown = [k for k in missing if k not in dropped][:5]
        raise PretrainedWeightsError(
            f"weights for {spec.name} do not match the architecture; missing keys such as {', '.join(unknown)}"
        )
    model.load_state_dict(state, strict=False)
    return model
