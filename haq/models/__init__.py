"""Model names HAQ's entrypoints accept (``--arch``) and how to build them.

* ``mobilenetv2`` / ``qmobilenetv2``: HAQ's own MobileNetV2 layout (:mod:`haq.models.mobilenetv2`), whose
  pretrained file ``pretrained/imagenet/mobilenetv2-150.pth.tar`` and released checkpoints load key for key.
* ``mobilenet`` / ``qmobilenet``: HAQ's own MobileNetV1 (registered as ``mobilenet_v1_haq``,
  :mod:`common.models.mobilenet_v1_haq`); the original publishes no weights for it, so ``--pretrained`` needs a path;
* any registered model of :mod:`common.models` (``resnet50``, ``tiny_resnet``, ...), in float (K-means mode);
* any torchvision classification model by its name (``vgg16``, ``densenet121``, ``mnasnet1_0``, ...: all are
  registered, see :mod:`common.models.torchvision_all`), as the original's ``models.__dict__`` lookup allowed;
* ``q<name>`` for any registered model: the same network with every ``nn.Conv2d``/``nn.Linear`` replaced by
  :class:`QConv2d`/:class:`QLinear` (linear mode). A layer's input quantizer is signed when its input takes
  negative values on a random probe image (block outputs without ReLU, the normalised image), unsigned otherwise.

:func:`bitconfig_arch` names the registered architecture a searched strategy is written for.
"""

from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

from common.models import build_model, get_spec
from common.models.registry import UnknownModelError
from haq.lib.utils.linear_quant import QConv2d, QLinear
from haq.models.mobilenetv2 import mobilenetv2, qmobilenetv2

HAQ_LAYOUT = {"mobilenetv2": mobilenetv2, "qmobilenetv2": qmobilenetv2}
#: HAQ's MobileNetV1 names -> the registered float layout (``qmobilenet`` is its ``q`` twin)
HAQ_MOBILENET_V1 = {"mobilenet": "mobilenet_v1_haq", "qmobilenet": "mobilenet_v1_haq"}
HAQ_PRETRAINED_FILE = Path("pretrained/imagenet/mobilenetv2-150.pth.tar")


class ArchError(ValueError):
    """An ``--arch`` the entrypoint cannot build (one line, exit status 2)."""

    user_error = True


def base_arch(arch: str) -> str:
    """Registered name behind ``arch`` (``qresnet50`` -> ``resnet50``, ``qmobilenetv2`` -> ``mobilenet_v2``)."""
    if arch in HAQ_LAYOUT:
        return "mobilenet_v2"
    if arch in HAQ_MOBILENET_V1:
        return HAQ_MOBILENET_V1[arch]
    name = arch[1:] if is_quantized_arch(arch) else arch
    try:
        return get_spec(name).name
    except UnknownModelError as e:
        known = ", ".join(sorted([*HAQ_LAYOUT, *HAQ_MOBILENET_V1]) + ["q<registered name>"])
        raise ArchError(f"unknown architecture {arch!r}; use {known} or a registered model: {e}") from None


def is_quantized_arch(arch: str) -> bool:
    """True for ``qmobilenetv2`` and ``q<registered name>`` (the linear-mode models)."""
    if arch in ("qmobilenetv2", "qmobilenet"):
        return True
    if arch == "mobilenet":
        return False
    if arch.startswith("q") and arch not in HAQ_LAYOUT:
        try:
            get_spec(arch[1:])
            return True
        except UnknownModelError:
            return False
    return False


bitconfig_arch = base_arch


def input_size_of(arch: str) -> int:
    return get_spec(base_arch(arch)).input_size


def _probe_signed_inputs(model: nn.Module, size: int) -> dict[str, bool]:
    """Name -> whether the layer's input had negative values on a random-normal probe image (eval mode)."""
    signed: dict[str, bool] = {}
    handles = []
    for name, m in model.named_modules():
        if type(m) in (nn.Conv2d, nn.Linear):

            def hook(mod: nn.Module, inputs: tuple, out: torch.Tensor, name: str = name) -> None:
                signed[name] = signed.get(name, False) or bool((inputs[0] < 0).any())

            handles.append(m.register_forward_hook(hook))
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            model(torch.randn(2, 3, size, size, generator=torch.Generator().manual_seed(0)))
    finally:
        for h in handles:
            h.remove()
        model.train(was_training)
    return signed


def to_quantized(model: nn.Module, input_size: int) -> nn.Module:
    """Replace every exact ``nn.Conv2d``/``nn.Linear`` by its quantized twin, keeping names and weights."""
    signed = _probe_signed_inputs(model, input_size)
    for name, m in list(model.named_modules()):
        if type(m) is nn.Conv2d:
            q = QConv2d(
                m.in_channels, m.out_channels, m.kernel_size, m.stride, m.padding, m.dilation, m.groups,
                bias=m.bias is not None, padding_mode=m.padding_mode, half_wave=not signed.get(name, False),
            )  # fmt: skip
        elif type(m) is nn.Linear:
            q = QLinear(
                m.in_features, m.out_features, bias=m.bias is not None, half_wave=not signed.get(name, False)
            )
        else:
            continue
        q.load_state_dict(m.state_dict(), strict=False)
        parent_name, _, child = name.rpartition(".")
        parent = model.get_submodule(parent_name) if parent_name else model
        setattr(parent, child, q)
    return model


def build_haq_model(arch: str, num_classes: int, pretrained: bool | str | Path = False) -> nn.Module:
    """Build ``arch`` (see the module docstring) with ``num_classes`` outputs.

    ``pretrained``: ``False`` (random init), ``True`` (the published float weights: HAQ's
    ``pretrained/imagenet/mobilenetv2-150.pth.tar`` for the HAQ layout, the registry's for others) or a path.
    """
    if arch in HAQ_LAYOUT:
        model = HAQ_LAYOUT[arch](num_classes)
        if pretrained:
            path = HAQ_PRETRAINED_FILE if pretrained is True else Path(pretrained)
            if not path.is_file():
                raise ArchError(
                    f"pretrained weights not found: {path} (get mobilenetv2-150.pth.tar from the HAQ README, "
                    "or pass a checkpoint path)"
                )
            load_released_checkpoint(model, path)
        return model
    base = base_arch(arch)
    if arch in HAQ_MOBILENET_V1 and pretrained is True:
        raise ArchError(
            f"{arch} has no published float weights (the original raises NotImplementedError); pass a checkpoint path"
        )
    model = build_model(base, num_classes=num_classes, pretrained=pretrained)
    if is_quantized_arch(arch):
        model = to_quantized(model, get_spec(base).input_size)
    return model


def load_released(path: str | Path) -> dict:
    """A HAQ checkpoint loaded with ``weights_only=True``, allowing the numpy scalars its ``acc`` fields hold."""
    import numpy as np

    from common.runtime import load_checkpoint

    allow = [np.dtype, type(np.dtype(np.float64)), np.float64]
    if hasattr(np, "_core"):
        allow.append(np._core.multiarray.scalar)
    return load_checkpoint(path, safe_globals=allow)


def read_released_state_dict(path: str | Path) -> dict[str, torch.Tensor]:
    """State dict of a HAQ release (``{'state_dict': ...}`` with DataParallel ``module.`` keys) or a plain one."""
    from common.runtime import strip_module_prefix

    ckpt = load_released(path)
    state = ckpt.get("state_dict", ckpt.get("model", ckpt)) if isinstance(ckpt, dict) else ckpt
    if not isinstance(state, dict):
        raise ArchError(f"{path}: no state dict found")
    return dict(strip_module_prefix(state))


def load_released_checkpoint(model: nn.Module, path: str | Path) -> tuple[list[str], list[str]]:
    """Load non-strictly, as the original does; returns ``(missing, unexpected)`` keys.

    A file sharing no key with the model is an error (it is almost certainly for another architecture).
    """
    state = read_released_state_dict(path)
    own = model.state_dict()
    shared = [k for k in state if k in own]
    if not shared:
        raise ArchError(f"{path}: none of its {len(state)} keys belong to this model")
    bad = [k for k in shared if own[k].shape != state[k].shape]
    if bad:
        raise ArchError(
            f"{path}: shape mismatch for {bad[0]} ({tuple(state[bad[0]].shape)} vs {tuple(own[bad[0]].shape)})"
        )
    result = model.load_state_dict(state, strict=False)
    return list(result.missing_keys), list(result.unexpected_keys)
