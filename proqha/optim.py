"""The optimiser and learning-rate schedules of ProQHA (docs/proqha.md sections 3.3 and 3.4).

:class:`LegacyAdam` is Adam as the original ``util/adam.py`` computes it: epsilon is added to the square root
of the *raw* second moment and the bias corrections go into the step size,

    m = b1 m + (1 - b1) g,  v = b2 v + (1 - b2) g^2,  p -= lr sqrt(1 - b2^t) / (1 - b1^t) * m / (sqrt(v) + eps)

(``torch.optim.Adam`` divides sqrt(v) by sqrt(1 - b2^t) before adding eps, which scales eps differently). The
state keeps ``exp_avg_sq`` = v, from which the candidate score reads sqrt(v) + eps.
"""

from __future__ import annotations

import math
from collections.abc import Iterable

import torch
from torch.optim import Optimizer


class LegacyAdam(Optimizer):
    """Adam with epsilon outside the bias correction; weight decay, if any, is added to the gradient."""

    def __init__(
        self,
        params: Iterable[torch.nn.Parameter],
        lr: float = 1e-3,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
        weight_decay: float = 0.0,
    ) -> None:
        super().__init__(params, {"lr": lr, "betas": betas, "eps": eps, "weight_decay": weight_decay})

    @torch.no_grad()
    def step(self, closure=None):  # noqa: ANN001, ANN201 (torch's signature)
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        for group in self.param_groups:
            beta1, beta2 = group["betas"]
            for p in group["params"]:
                if p.grad is None:
                    continue
                grad = p.grad
                if group["weight_decay"]:
                    grad = grad.add(p, alpha=group["weight_decay"])
                state = self.state[p]
                if not state:
                    state["step"] = 0
                    state["exp_avg"] = torch.zeros_like(p)
                    state["exp_avg_sq"] = torch.zeros_like(p)
                state["step"] += 1
                m, v = state["exp_avg"], state["exp_avg_sq"]
                m.mul_(beta1).add_(grad, alpha=1 - beta1)
                v.mul_(beta2).addcmul_(grad, grad, value=1 - beta2)
                t = state["step"]
                step_size = group["lr"] * math.sqrt(1 - beta2**t) / (1 - beta1**t)
                p.addcdiv_(m, v.sqrt().add_(group["eps"]), value=-step_size)
        return loss


def cosine_lr(base_lr: float, epoch: int, epochs: int) -> float:
    """The search's fine-tuning schedule: ``lr * (1 + cos(pi e / E)) / 2`` for epoch e = 0..E-1 (E > 1)."""
    if epochs <= 1:
        return base_lr
    return base_lr * 0.5 * (1.0 + math.cos(math.pi * epoch / epochs))


def multistep_lr(base_lr: float, epoch: int, epochs: int, gamma: float = 0.1) -> float:
    """The baseline's MultiStepLR(milestones [0.5 E, 0.75 E], gamma 0.1), stepped with the epoch index."""
    drops = sum(epoch >= m for m in (0.5 * epochs, 0.75 * epochs))
    return base_lr * gamma**drops


def set_lr(optimizer: Optimizer, lr: float) -> None:
    for group in optimizer.param_groups:
        group["lr"] = lr
