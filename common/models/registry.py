"""Model registry: ``build_model(name, num_classes, pretrained=...)``.

Every architecture that a method or a cost convention speaks about is registered here under one
name. A builder receives ``num_classes`` and returns an ``nn.Module`` with float weights; pretrained
weights are loaded afterwards by :mod:`common.models.pretrained`.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from torch import nn


class UnknownModelError(ValueError):
    """Raised for a model name that is not registered; the message lists the known names."""

    user_error = True


class ModelOptionError(ValueError):
    """Raised for a builder option that the model does not take, or that its published weights do not fit."""

    user_error = True


@dataclass(frozen=True)
class ModelSpec:
    """What the registry knows about one architecture.

    ``input_size`` is the spatial size the published figures use; ``torchvision_weights`` names the
    torchvision weights enum entry (``"ResNet18_Weights.IMAGENET1K_V1"``) when torchvision publishes
    weights for exactly this layout; ``weights_file`` is the file name expected in the weights
    folder for layouts that torchvision does not publish.
    """

    name: str
    builder: Callable[[int], nn.Module]
    description: str
    input_size: int = 224
    default_classes: int = 1000
    torchvision_weights: str | None = None
    weights_file: str | None = None
    aliases: tuple[str, ...] = field(default_factory=tuple)


_REGISTRY: dict[str, ModelSpec] = {}
_ALIASES: dict[str, str] = {}


def register_model(spec: ModelSpec) -> ModelSpec:
    """Add ``spec`` to the registry (names and aliases must be new)."""
    for key in (spec.name, *spec.aliases):
        if key in _REGISTRY or key in _ALIASES:
            raise ValueError(f"model name {key!r} is registered twice")
    _REGISTRY[spec.name] = spec
    for alias in spec.aliases:
        _ALIASES[alias] = spec.name
    return spec


def available_models() -> list[str]:
    """Sorted canonical names of every registered model."""
    return sorted(_REGISTRY)


def get_spec(name: str) -> ModelSpec:
    """Return the spec of ``name`` (or of an alias); unknown names list the known ones."""
    key = _ALIASES.get(name, name)
    if key not in _REGISTRY:
        raise UnknownModelError(f"unknown model {name!r}; known models: {', '.join(available_models())}")
    return _REGISTRY[key]


def build_model(
    name: str,
    num_classes: int | None = None,
    pretrained: bool | str | Path = False,
    *,
    online: bool | None = None,
    new_head: bool = False,
    **options: object,
) -> nn.Module:
    """Build a registered model.

    ``pretrained`` is ``False`` (random init), a path to a local weights file (a state dict, or a
    checkpoint dict holding one under ``state_dict``/``model``), or ``True`` to use the
    architecture's published weights: a file already in the weights folder, else torchvision's
    download when the machine is online. Offline, the error names the file and where to put it.

    ``options`` go to the builder as keyword arguments, e.g. the pytorchcv-style ``channels`` and
    ``init_block_channels`` of the ResNets and ``mobilenetv2_w1`` (``None`` values are dropped). An option the
    builder does not take, or any option together with ``pretrained=True`` (published weights have the
    standard shapes), is a :class:`ModelOptionError`. A classifier whose class count differs from the
    weights' is an error unless ``new_head=True`` (it then stays random, with a warning).
    """
    from common.models.pretrained import load_pretrained

    spec = get_spec(name)
    classes = spec.default_classes if num_classes is None else int(num_classes)
    if classes < 1:
        raise ValueError(f"num_classes must be positive, got {classes}")
    options = {k: v for k, v in options.items() if v is not None}
    if options:
        accepted = inspect.signature(spec.builder).parameters
        unknown = [k for k in options if k not in accepted or k == "num_classes"]
        if unknown:
            raise ModelOptionError(f"model {spec.name} does not take {', '.join(sorted(unknown))}")
        if pretrained is True:
            raise ModelOptionError(
                f"the published weights of {spec.name} have the standard shapes; build it with "
                f"{', '.join(sorted(options))} from a weights file of that shape, or without pretrained weights"
            )
    model = spec.builder(classes, **options)
    if pretrained:
        load_pretrained(model, spec, pretrained, num_classes=classes, online=online, new_head=new_head)
    return model
