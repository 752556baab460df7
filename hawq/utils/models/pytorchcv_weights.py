"""pytorchcv ResNet state dicts -> torchvision names (the float weights HAWQ-V3 started from, spec §5, §10).

The renaming lives in :mod:`common.models.weight_layouts` (shared with OMPQ's QAT); this module keeps the
names HAWQ's code imports. pytorchcv's ``mobilenetv2_w1`` needs no renaming: our ``mobilenetv2_w1`` has its names.
"""

from common.models.weight_layouts import is_pytorchcv_resnet, pytorchcv_resnet_to_torchvision

__all__ = ["is_pytorchcv_resnet", "pytorchcv_resnet_to_torchvision"]
