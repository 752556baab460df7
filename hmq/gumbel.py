"""Gumbel-softmax over all (bit-width, threshold) pairs of one HMQ block (docs/hmq.md section 3.4).

For R independent samples with uniform noise u of shape (R, *pi.shape):

    g   = -log(-log(u + eps) + eps)                     eps = 1e-6
    P_r = softmax_over_all_pairs((log_softmax(pi) + g_r) / tau)

Without noise it is the plain softmax of ``pi`` (tau ignored). With ``ste`` the forward value is the
one-hot argmax of ``P_r`` and the gradient that of ``P_r`` (``--gumbel_ste``).
"""

from __future__ import annotations

import torch

__all__ = ["EPS", "gumbel_noise", "gumbel_softmax", "one_hot_argmax"]

EPS = 1e-6


def gumbel_noise(u: torch.Tensor, eps: float = EPS) -> torch.Tensor:
    """Gumbel samples ``-log(-log(u + eps) + eps)`` from uniform samples ``u`` in [0, 1)."""
    return -torch.log(-torch.log(u + eps) + eps)


def one_hot_argmax(p: torch.Tensor) -> torch.Tensor:
    """One-hot of the argmax over the last axis, same shape and dtype as ``p``."""
    return torch.zeros_like(p).scatter_(-1, p.argmax(dim=-1, keepdim=True), 1.0)


def gumbel_softmax(
    pi: torch.Tensor,
    temperature: float | torch.Tensor = 1.0,
    u: torch.Tensor | None = None,
    ste: bool = False,
) -> torch.Tensor:
    """Probabilities of shape ``(R, *pi.shape)`` where ``R = u.shape[0]`` (``u=None``: one noise-free sample).

    ``u`` holds the uniform noise, shape ``(R, *pi.shape)`` or anything with ``R * pi.numel()``
    elements ordered sample-major.
    """
    logits = torch.log_softmax(pi.reshape(1, -1), dim=-1)
    if u is None:
        p = torch.softmax(logits, dim=-1)
        samples = 1
    else:
        samples = u.shape[0]
        g = gumbel_noise(u.to(device=pi.device, dtype=pi.dtype)).reshape(samples, -1)
        p = torch.softmax((logits + g) / temperature, dim=-1)
    if ste:
        p = p + (one_hot_argmax(p) - p).detach()
    return p.reshape(samples, *pi.shape)
