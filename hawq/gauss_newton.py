"""Per-layer Hessian block traces of a piecewise-linear network from one backward pass per probe (``--mode ggn``).

Why a diagonal block is a Gauss-Newton block
--------------------------------------------
Let ``f_n = f(x_n; W)`` be the logits of sample ``n`` and ``L = (1/M) Σ_n ℓ(f_n, y_n)`` with ``ℓ`` the softmax
cross-entropy. For the weights ``W_i`` of one layer,

    ∂²L/∂W_i² = (1/M) Σ_n [ J_ni^T H_n J_ni + Σ_c (∂ℓ/∂f_nc) ∂²f_nc/∂W_i² ],

with ``J_ni = ∂f_n/∂W_i`` and ``H_n = ∂²ℓ/∂f_n² = diag(p_n) - p_n p_n^T`` (``p_n`` the softmax of ``f_n``). When every
operation between ``W_i`` and the logits is linear or piecewise linear (convolutions, linear layers, BatchNorm with
its running statistics, ReLU/ReLU6, max and average pooling, residual sums), ``f`` is linear in ``W_i`` alone
wherever no ReLU input sits exactly on a kink, so ``∂²f/∂W_i² = 0`` and the block is its generalised Gauss-Newton
part, ``H_ii = G_ii = (1/M) Σ_n J_ni^T H_n J_ni``. Only the diagonal blocks have this property: ``f`` is not
linear in two layers' weights together, so the cross blocks keep their second term. The labels drop out.

The estimator
-------------
``H_n = A_n A_n^T`` with ``A_n = diag(√p_n) - p_n √p_n^T`` (because ``Σ_c p_nc = 1``). With a Rademacher vector
``r_n ∈ {±1}^C`` per sample, drawn independently, ``u_n = A_n r_n`` has ``E[u_n u_n^T] = H_n`` and ``E[u_n u_m^T] =
0`` for ``n ≠ m``. One backward pass of the retained logits with output gradient ``u`` gives, for every layer at
once, ``g_i = Σ_n J_ni^T u_n``, and ``E ‖g_i‖² = Σ_n tr(J_ni^T H_n J_ni) = M tr(G_ii)``. So the per-probe value

    t_i = Σ_b ‖g_bi‖² / M          (batches b, M samples in all)

is an unbiased estimate of ``tr(H_ii)`` for every layer from one first-order backward pass per probe and batch, with
no double backward. ``t_i`` is Hutchinson's estimator of the trace of ``A^T J_i J_i^T A / M`` in the space of the
batch's outputs, a matrix with the nonzero spectrum of ``G_ii``; like ``per_layer`` and unlike ``joint`` it has no
cross-block variance.

Under torchrun each rank holds the rows ``rank, rank + W, ...`` of every global batch (:class:`common.data.EpochSampler`),
so it takes those rows of the global batch's draw, and the ranks' ``g_bi`` are summed before the squares: the
result is the one-process estimate up to the order of floating-point sums.

Where it does not hold: smooth activations (tanh, sigmoid, SiLU, GELU, Hardswish), BatchNorm in training mode,
Layer/GroupNorm, attention. :func:`check_piecewise_linear` refuses a model with such a module; operations called as
functions inside ``forward`` are not visible to it (every model of ``common.models`` that HAWQ-V3 searches uses
ReLU or ReLU6).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

import torch
import torch.distributed
from torch import nn

from common.runtime import UsageError, all_reduce_sum
from common.runtime.ddp_sync import sum_each_over_ranks, world_active

__all__ = [
    "PIECEWISE_LINEAR",
    "GaussNewtonProbes",
    "check_cross_entropy",
    "check_piecewise_linear",
    "output_factor",
]

#: Leaf module types through which the logits are piecewise linear in every layer's weights (BatchNorm in eval
#: mode, Dropout in eval mode: the traces run the model in eval mode). A module class of its own says so with a
#: class attribute ``piecewise_linear = True`` (as ``common.models.cifar_resnet.PadShortcut``).
PIECEWISE_LINEAR: tuple[type[nn.Module], ...] = (
    nn.Conv1d,
    nn.Conv2d,
    nn.Conv3d,
    nn.Linear,
    nn.BatchNorm1d,
    nn.BatchNorm2d,
    nn.BatchNorm3d,
    nn.SyncBatchNorm,
    nn.ReLU,
    nn.Hardtanh,  # ReLU6 is one
    nn.LeakyReLU,
    nn.PReLU,
    nn.MaxPool1d,
    nn.MaxPool2d,
    nn.MaxPool3d,
    nn.AvgPool1d,
    nn.AvgPool2d,
    nn.AvgPool3d,
    nn.AdaptiveAvgPool1d,
    nn.AdaptiveAvgPool2d,
    nn.AdaptiveAvgPool3d,
    nn.AdaptiveMaxPool1d,
    nn.AdaptiveMaxPool2d,
    nn.AdaptiveMaxPool3d,
    nn.Dropout,
    nn.Dropout2d,
    nn.Identity,
    nn.Sequential,  # an empty one (ShuffleNet's stride-1 branch) is the identity
    nn.Flatten,
    nn.ZeroPad2d,
    nn.ConstantPad2d,
)


def check_piecewise_linear(model: nn.Module) -> None:
    """Raise :class:`UsageError` naming the first leaf modules of ``model`` that are neither of a
    :data:`PIECEWISE_LINEAR` type nor marked ``piecewise_linear = True``."""
    others = [
        f"{name} ({type(module).__name__})"
        for name, module in model.named_modules()
        if next(module.children(), None) is None
        and not isinstance(module, PIECEWISE_LINEAR)
        and not getattr(module, "piecewise_linear", False)
    ]
    if others:
        shown = ", ".join(others[:3]) + (f" and {len(others) - 3} more" if len(others) > 3 else "")
        raise UsageError(
            "mode ggn needs a network that is piecewise linear in each layer's weights, and these modules are not "
            f"known to be: {shown}; use --mode joint or per_layer"
        )


def check_cross_entropy(criterion: Callable[[torch.Tensor, torch.Tensor], torch.Tensor] | None) -> None:
    """Raise :class:`UsageError` unless ``criterion`` is None or an unweighted, batch-mean ``nn.CrossEntropyLoss``
    (label smoothing is allowed: the Hessian of the loss in the logits does not depend on the targets)."""
    if criterion is None:
        return
    if (
        not isinstance(criterion, nn.CrossEntropyLoss)
        or criterion.weight is not None
        or criterion.reduction != "mean"
    ):
        raise UsageError("mode ggn takes the softmax cross-entropy (batch mean, no class weights) only")


def output_factor(logits: torch.Tensor, signs: torch.Tensor) -> torch.Tensor:
    """``u_n = A_n r_n`` with ``A_n = diag(√p_n) - p_n √p_n^T`` and ``p_n = softmax(logits_n)``: rows with
    ``E[u_n u_n^T] = diag(p_n) - p_n p_n^T`` (the Hessian of the cross-entropy in the logits) for Rademacher
    ``signs``."""
    p = logits.detach().softmax(dim=1)
    scaled = p.sqrt().mul_(signs)
    return scaled - p * scaled.sum(dim=1, keepdim=True)


class GaussNewtonProbes:
    """Per-probe values ``t_i = Σ_b ‖g_bi‖² / M`` for the layers ``weights`` (see the module docstring).

    ``batches`` is this rank's share of every batch; the logits of each batch are kept with their graph when
    ``retain_graphs`` (default: with one batch), else recomputed per probe.
    """

    def __init__(
        self,
        model: nn.Module,
        weights: Mapping[str, torch.Tensor],
        batches: Sequence[tuple[torch.Tensor, torch.Tensor]],
        device: torch.device,
        retain_graphs: bool | None = None,
    ) -> None:
        self.model = model
        self.weights = dict(weights)
        self.inputs = [x.to(device) for x, _ in batches]
        spread = world_active()
        self.rank = torch.distributed.get_rank() if spread else 0
        self.world = torch.distributed.get_world_size() if spread else 1
        local = torch.tensor([float(x.shape[0]) for x in self.inputs], dtype=torch.float64, device=device)
        self.global_sizes = [int(m) for m in all_reduce_sum(local).tolist()]  # the local sizes in one process
        self.total = float(sum(self.global_sizes))
        self.keep = len(self.inputs) == 1 if retain_graphs is None else bool(retain_graphs)
        self._cached = [self.model(x) for x in self.inputs] if self.keep else None

    def _signs(
        self, batch: int, classes: int, like: torch.Tensor, generator: torch.Generator
    ) -> torch.Tensor:
        """This rank's rows of one Rademacher draw for the whole global batch."""
        bits = torch.randint(
            0,
            2,
            (self.global_sizes[batch], classes),
            generator=generator,
            dtype=torch.int8,
            device=generator.device,
        )
        mine = bits[self.rank :: self.world].to(like.device).mul_(2).sub_(1)
        return mine.to(like.dtype)

    def sample(self, names: Sequence[str], generator: torch.Generator) -> list[float]:
        """One probe: ``t_i`` for each layer of ``names`` (in that order)."""
        sums = torch.zeros(len(names), dtype=torch.float64, device=self.inputs[0].device)
        inputs = [self.weights[n] for n in names]
        for b, x in enumerate(self.inputs):
            logits = self._cached[b] if self._cached is not None else self.model(x)
            signs = self._signs(b, logits.shape[1], logits, generator)
            grads = torch.autograd.grad(
                logits, inputs, grad_outputs=output_factor(logits, signs), retain_graph=self.keep
            )
            grads = sum_each_over_ranks(list(grads))  # the ranks' parts of g before the squares
            sums += torch.stack([g.reshape(-1).dot(g.reshape(-1)) for g in grads]).double()
        return (sums / self.total).tolist()  # one host sync per probe
