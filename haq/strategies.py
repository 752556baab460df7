"""Bit strategies published with HAQ, in HAQ's layer order (the i-th Conv2d/Linear module).

* ``RESNET50_KMEANS_README``: the K-means weight bits of the README's 10x-compressed ResNet-50
  (the list that was in ``finetune.py`` when the 75.48 % checkpoint was published).
* ``RESNET50_KMEANS_FINETUNE_PY``: the different list in ``finetune.py`` since commit 20e4ed3.
* ``MOBILENETV2_LINEAR_0_6``: [w, a] pairs of the README's 0.6x-latency MobileNetV2; ``-1`` marks an
  input that is not quantized (the image).
"""

from __future__ import annotations

RESNET50_KMEANS_README: tuple[int, ...] = (
    6, 6, 5, 5, 5, 5, 4, 5, 5, 4, 5, 5, 5, 5, 5, 5, 3, 5, 4, 3, 5, 4, 3, 4, 4, 4, 2,
    5, 4, 3, 3, 5, 3, 2, 5, 3, 2, 4, 3, 2, 5, 3, 2, 5, 3, 4, 2, 5, 2, 3, 4, 2, 3, 4,
)  # fmt: skip

RESNET50_KMEANS_FINETUNE_PY: tuple[int, ...] = (
    6, 6, 6, 6, 5, 5, 6, 5, 5, 6, 5, 5, 6, 5, 5, 5, 5, 5, 4, 5, 4, 4, 5, 4, 4, 4, 3,
    4, 4, 4, 3, 4, 4, 3, 4, 4, 3, 4, 4, 3, 4, 4, 3, 4, 3, 3, 2, 3, 2, 3, 3, 2, 3, 4,
)  # fmt: skip

MOBILENETV2_LINEAR_0_6: tuple[tuple[int, int], ...] = (
    (8, -1), (7, 7), (5, 6), (4, 6), (5, 6), (5, 7), (5, 6), (7, 4), (4, 6), (4, 6), (7, 7),
    (5, 6), (4, 6), (7, 3), (5, 7), (4, 7), (7, 3), (5, 7), (4, 7), (7, 7), (4, 7), (4, 7),
    (6, 4), (6, 7), (4, 7), (7, 4), (6, 7), (5, 7), (7, 4), (6, 7), (5, 7), (7, 4), (6, 7),
    (6, 7), (6, 4), (5, 7), (6, 7), (6, 4), (5, 7), (6, 7), (7, 7), (4, 7), (7, 7), (7, 7),
    (4, 7), (7, 7), (7, 7), (4, 7), (7, 7), (7, 7), (4, 7), (7, 7), (8, 8),
)  # fmt: skip
