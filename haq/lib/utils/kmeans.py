"""K-means weight sharing (Deep-Compression style) of HAQ's model-size mode (docs/haq.md section 3.5).

* :func:`kmeans_cluster`: scikit-learn ``KMeans(k = min(2^b, N), init, n_init=1, max_iter)`` on the flattened
  weight (one feature); returns float32 centroids and int labels shaped like the weight.
* :func:`quantize_model`: cluster every quantizable layer with its bit-width (``b < 0`` = skip; with
  ``free_high_bit`` any ``b > 6`` becomes -1) and replace each weight by its centroid. Pruned models cluster the
  non-zeros only and label zeros -1 (they stay 0).
* :func:`kmeans_update_model`: the projection after every optimizer step: each cluster's members are set to
  the mean of their current values (with fixed labels this is "centroid += mean of member updates"). With
  ``free_high_bit`` layers with more than 64 centroids are left free. One ``scatter_add`` per layer, no loop
  over clusters; an empty cluster is skipped instead of turning the layer into NaN (``guard_empty``; the
  original divides 0/0, spec section 8 item 15).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

FREE_HIGH_BIT_CENTROIDS = 2**6


@dataclass
class Codebook:
    """Centroids (float32, ``[k]``) and per-weight labels (int64, weight shape; -1 = pruned) of one layer."""

    centroids: torch.Tensor
    labels: torch.Tensor
    counts: torch.Tensor | None = None
    has_pruned: bool = False

    def __post_init__(self) -> None:
        self.labels = self.labels.long()
        valid = self.labels[self.labels >= 0]
        self.has_pruned = valid.numel() != self.labels.numel()
        self.counts = torch.bincount(valid.reshape(-1), minlength=self.centroids.numel())

    @property
    def n_centroids(self) -> int:
        return int(self.centroids.numel())


def kmeans_cluster(
    weight: np.ndarray,
    n_clusters: int,
    init: str | np.ndarray = "k-means++",
    max_iter: int = 50,
    tol: float = 1e-4,
    random_state: int | np.random.RandomState | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """1-D K-means of ``weight`` (any shape) into ``min(n_clusters, weight.size)`` clusters.

    ``random_state=None`` draws k-means++ seeds from numpy's global RNG, as the original does.
    Returns ``(centroids [k] float32, labels shaped like weight)``.
    """
    flat = np.asarray(weight).reshape(-1, 1)
    k = min(int(n_clusters), flat.shape[0])
    if isinstance(init, np.ndarray):
        init = np.asarray(init, dtype=flat.dtype).reshape(-1, 1)[:k]
    # imported here: scikit-learn costs 1.5 s at start-up, and linear-quantization runs never cluster
    from sklearn.cluster import KMeans

    km = KMeans(n_clusters=k, init=init, n_init=1, max_iter=max_iter, tol=tol, random_state=random_state)
    km.fit(flat)
    centroids = km.cluster_centers_.reshape(-1).astype(np.float32)
    return centroids, km.labels_.reshape(np.shape(weight))


def reconstruct(centroids: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """Weight with every entry replaced by its centroid (label -1, a pruned weight, gives 0)."""
    table = torch.cat([centroids.float(), centroids.new_zeros(1, dtype=torch.float32)])
    return table[labels.long()]  # label -1 reads the trailing zero


def kmeans_layers(model: nn.Module) -> list[nn.Module]:
    """The layers K-means mode quantizes: exact ``nn.Conv2d``/``nn.Linear`` in ``modules()`` order."""
    return [m for m in model.modules() if type(m) in (nn.Conv2d, nn.Linear)]


@torch.no_grad()
def quantize_model(
    model: nn.Module,
    bits: Sequence[int],
    max_iter: int = 50,
    init: str = "k-means++",
    is_pruned: bool = False,
    free_high_bit: bool = False,
    random_state: int | None = None,
) -> dict[int, Codebook]:
    """Cluster layer ``i`` of :func:`kmeans_layers` into ``2^bits[i]`` values; return ``{i: Codebook}``."""
    layers = kmeans_layers(model)
    if len(bits) != len(layers):
        raise ValueError(f"strategy has {len(bits)} entries for {len(layers)} quantizable layers")
    books: dict[int, Codebook] = {}
    for i, (layer, b) in enumerate(zip(layers, bits, strict=True)):
        b = -1 if free_high_bit and b > 6 else int(b)
        if b < 0:
            continue
        w = layer.weight.data
        mask = w.ne(0) if is_pruned else None
        values = (w[mask] if mask is not None else w).cpu().numpy()
        rs = None if random_state is None else random_state + i
        centroids, labels = kmeans_cluster(values, 2**b, init=init, max_iter=max_iter, random_state=rs)
        lab = torch.from_numpy(np.asarray(labels, dtype=np.int64)).to(w.device)
        if mask is not None:
            full = torch.full(w.shape, -1, dtype=torch.int64, device=w.device)
            full[mask] = lab
            lab = full
        book = Codebook(torch.from_numpy(centroids).to(w.device), lab)
        layer.weight.data.copy_(reconstruct(book.centroids, book.labels))
        books[i] = book
    return books


@torch.no_grad()
def kmeans_update_model(
    model: nn.Module, books: dict[int, Codebook], free_high_bit: bool = False, guard_empty: bool = True
) -> None:
    """Project every clustered layer back onto shared values: member ← mean of its cluster's members."""
    layers = kmeans_layers(model)
    for i, book in books.items():
        if free_high_bit and book.n_centroids > FREE_HIGH_BIT_CENTROIDS:
            continue
        w = layers[i].weight.data
        labels = book.labels.reshape(-1)
        pruned = bool(book.has_pruned)
        idx = labels.clamp_min(0) if pruned else labels
        vals = w.reshape(-1) * (labels >= 0) if pruned else w.reshape(-1)
        sums = torch.zeros(book.n_centroids, dtype=w.dtype, device=w.device).scatter_add_(0, idx, vals)
        counts = book.counts.to(w.dtype)
        means = sums / (counts.clamp_min(1) if guard_empty else counts)
        table = torch.cat([means, means.new_zeros(1)])
        w.copy_(table[labels].reshape(w.shape))
