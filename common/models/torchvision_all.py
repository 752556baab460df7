"""Every torchvision classification model by its torchvision name (``vgg16``, ``densenet121``, ``mnasnet1_0``, ...).

HAQ's ``--arch`` accepts "any lowercase callable in torchvision.models" (docs/haq.md 2.1); registering them
all here lets a bit-config file or the cost CLI name such a model too. Names the registry already holds with
their own builders (``resnet18``, ``mobilenet_v2``, ``inception_v3``, ...) keep those. Each entry builds
``torchvision.models.get_model(name, num_classes=...)`` (GoogLeNet without its auxiliary heads) and names
torchvision's default ImageNet weights for ``pretrained=True``.
"""

from __future__ import annotations

from functools import partial

from torch import nn
from torchvision import models as tvm

from common.models.registry import ModelSpec, UnknownModelError, get_spec, register_model

#: models whose published input size is not 224
INPUT_SIZES = {"inception_v3": 299}
#: extra builder arguments (heads that would make ``forward`` return a tuple in training mode)
BUILD_KWARGS: dict[str, dict] = {"googlenet": {"aux_logits": False, "init_weights": True}}


def _build(name: str, num_classes: int) -> nn.Module:
    return tvm.get_model(name, num_classes=num_classes, **BUILD_KWARGS.get(name, {}))


def torchvision_names() -> list[str]:
    """Sorted names of torchvision's classification models."""
    return sorted(tvm.list_models(module=tvm))


def register_torchvision_models() -> list[str]:
    """Register every torchvision classification model not yet in the registry; returns the new names."""
    added = []
    for name in torchvision_names():
        try:
            get_spec(name)
            continue
        except UnknownModelError:
            pass
        weights = tvm.get_model_weights(name).DEFAULT
        register_model(
            ModelSpec(
                name,
                partial(_build, name),
                f"torchvision {name}",
                input_size=INPUT_SIZES.get(name, 224),
                torchvision_weights=str(weights),
            )
        )
        added.append(name)
    return added
