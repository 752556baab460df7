"""The candidate score ("Hessian information") of the progressive search (docs/proqha.md section 3.3 d).

One training step on the scoring batch: forward in train mode, cross-entropy, backward, gradient-norm clip,
one fresh :class:`~proqha.optim.LegacyAdam` step. Then

    I = sum_p sum_elements (sqrt(v_p) + eps) (theta_p - theta'_p)^2

with v the raw second moment after that step. From a zero state this is
``lr^2 (1 - b2) sum g^2 / (sqrt(1 - b2) |g| + eps)`` over the clipped gradients g (:func:`closed_form_score`).
The sum runs over every trainable parameter (float layers, BN affine and the PACT clips included) and is
kept per named parameter.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from proqha.optim import LegacyAdam


@dataclass
class CandidateScore:
    score: float
    per_param: dict[str, float]
    loss: float
    top1: float


@dataclass(frozen=True)
class AdamConfig:
    lr: float = 1e-3
    beta1: float = 0.9
    beta2: float = 0.999
    eps: float = 1e-7
    clip: float = 5.0


def one_step_score(
    model: nn.Module, images: torch.Tensor, labels: torch.Tensor, cfg: AdamConfig
) -> CandidateScore:
    """Take the step on ``model`` (its weights change) and return the score of that step."""
    model.train()
    named = [(n, p) for n, p in model.named_parameters() if p.requires_grad]
    before = [p.detach().clone() for _, p in named]
    opt = LegacyAdam([p for _, p in named], lr=cfg.lr, betas=(cfg.beta1, cfg.beta2), eps=cfg.eps)
    opt.zero_grad(set_to_none=True)
    logits = model(images)
    loss = F.cross_entropy(logits, labels)
    loss.backward()
    nn.utils.clip_grad_norm_([p for _, p in named], cfg.clip)
    opt.step()
    with torch.no_grad():
        names, terms = [], []
        for (name, p), p0 in zip(named, before, strict=True):
            state = opt.state.get(p)
            if state:  # a parameter without a gradient moved by 0 and scores 0
                names.append(name)
                terms.append(
                    (state["exp_avg_sq"].sqrt() + cfg.eps).mul((p0 - p) ** 2).sum(dtype=torch.float64)
                )
        values = torch.stack(terms).tolist() if terms else []
    per_param = dict.fromkeys((n for n, _ in named), 0.0)
    per_param.update(zip(names, values, strict=True))
    top1 = (logits.detach().argmax(1) == labels).float().mean().item() * 100.0
    return CandidateScore(sum(per_param.values()), per_param, loss.item(), top1)


def closed_form_score(grads: list[torch.Tensor], cfg: AdamConfig) -> float:
    """``lr^2 (1 - b2) sum g^2 / (sqrt(1 - b2) |g| + eps)`` over already clipped gradients."""
    k = 1.0 - cfg.beta2
    total = 0.0
    for g in grads:
        g = g.double()
        total += float((g * g / (math.sqrt(k) * g.abs() + cfg.eps)).sum())
    return cfg.lr**2 * k * total
