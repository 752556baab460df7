"""BRECQ's uniform affine quantizer (docs/ompq.md §3.4).

q = clamp(round_STE(x/Δ) + z, 0, 2^b − 1), x̂ = (q − z)·Δ. Δ and z are set on the first forward: ``max`` takes the
range [min(x, 0), max(x, 0)]; ``mse`` tries the shrunk ranges [min·(1 − 0.01i), max·(1 − 0.01i)], i = 0…79, and
keeps the first with the smallest mean |x − x̂|^2.4. Per output channel when ``channel_wise``. With ``leaf_param``
Δ becomes a learnable parameter (activation step sizes).
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

MSE_CANDIDATES = 80
MSE_SHRINK = 0.01
MSE_P = 2.4


class _RoundSTE(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x: Tensor) -> Tensor:  # noqa: ANN001
        return torch.round(x)

    @staticmethod
    def backward(ctx, grad: Tensor) -> Tensor:  # noqa: ANN001
        return grad


def clamp_inclusive(x: Tensor, low: float, high: float) -> Tensor:
    """``clamp`` whose gradient is 1 on the closed interval ``[low, high]`` and 0 outside.

    Recent torch passes no gradient at the exact bounds of ``torch.clamp(x, low, high)``; BRECQ's step-size and
    AdaRound gradients were computed with the bounds included (``ptq_brecq_golden``: ∂Σy²/∂Δ of the activation
    quantizer depends on the values that land exactly on the top level).
    """
    inside = (x >= low) & (x <= high)
    return torch.where(inside, x, x.detach().clamp(low, high))


def round_ste(x: Tensor) -> Tensor:
    """round(x) forward, identity backward."""
    return _RoundSTE.apply(x)


def lp_loss(pred: Tensor, tgt: Tensor, p: float = 2.0, reduction: str = "none") -> Tensor:
    """``none``: mean over the batch of Σ over the rest of |pred − tgt|^p per sample position; else the global mean.

    (``none`` sums dim 1, the channels, then averages batch and spatial positions.)
    """
    if reduction == "none":
        return (pred - tgt).abs().pow(p).sum(1).mean()
    return (pred - tgt).abs().pow(p).mean()


def fake_quant(x: Tensor, x_max: Tensor | float, x_min: Tensor | float, n_bits: int) -> Tensor:
    """Quantize-dequantize ``x`` on the grid spanned by [x_min, x_max] (used by the MSE range search)."""
    delta = (x_max - x_min) / (2**n_bits - 1)
    zp = torch.round(-x_min / delta)
    q = torch.clamp(torch.round(x / delta) + zp, 0, 2**n_bits - 1)
    return (q - zp) * delta


class UniformAffineQuantizer(nn.Module):
    """Asymmetric uniform quantizer with lazy initialisation (see the module docstring)."""

    def __init__(
        self,
        n_bits: int = 8,
        symmetric: bool = False,
        channel_wise: bool = False,
        scale_method: str = "max",
        leaf_param: bool = False,
    ) -> None:
        super().__init__()
        if not 2 <= n_bits <= 8:
            raise ValueError(f"bit-width must be in [2, 8], got {n_bits}")
        self.sym = symmetric
        self.n_bits = n_bits
        self.n_levels = 2**n_bits
        self.delta: Tensor | None = None
        self.zero_point: Tensor | None = None
        self.inited = False
        self.leaf_param = leaf_param
        self.channel_wise = channel_wise
        self.scale_method = scale_method

    def forward(self, x: Tensor) -> Tensor:
        if not self.inited:
            delta, zp = self.init_quantization_scale(x, self.channel_wise)
            if self.leaf_param:
                self.delta = nn.Parameter(delta)
            else:
                self.delta = delta
            self.zero_point = zp
            self.inited = True
        q = clamp_inclusive(round_ste(x / self.delta) + self.zero_point, 0, self.n_levels - 1)
        return (q - self.zero_point) * self.delta

    def init_quantization_scale(self, x: Tensor, channel_wise: bool = False) -> tuple[Tensor, Tensor]:
        """(Δ, z) for ``x``: per output channel (shaped to broadcast) or per tensor."""
        x = x.detach()
        if channel_wise and self.scale_method == "mse":
            return self._mse_per_channel(x)
        if channel_wise:
            pairs = [self.init_quantization_scale(x[c], False) for c in range(x.shape[0])]
            shape = (-1,) + (1,) * (x.dim() - 1)
            delta = torch.stack([torch.as_tensor(d, dtype=x.dtype) for d, _ in pairs]).reshape(shape)
            zp = torch.stack([torch.as_tensor(z, dtype=x.dtype) for _, z in pairs]).reshape(shape)
            return delta, zp
        if self.scale_method == "max":
            x_min = min(float(x.min()), 0.0)
            x_max = max(float(x.max()), 0.0)
            if self.sym:
                x_max = max(abs(x_min), x_max)
                x_min = -x_max if x_min < 0 else 0.0
            delta = max((x_max - x_min) / (self.n_levels - 1), 1e-8)
            zp = round(-x_min / delta)
            return torch.tensor(delta, dtype=x.dtype), torch.tensor(float(zp), dtype=x.dtype)
        if self.scale_method == "mse":
            x_max, x_min = x.max(), x.min()
            best = torch.tensor(1e10)
            delta = zp = None
            for i in range(MSE_CANDIDATES):
                new_max = x_max * (1.0 - i * MSE_SHRINK)
                new_min = x_min * (1.0 - i * MSE_SHRINK)
                score = lp_loss(x, fake_quant(x, new_max, new_min, self.n_bits), p=MSE_P, reduction="all")
                if score < best:
                    best = score
                    delta = (new_max - new_min) / (2**self.n_bits - 1)
                    zp = torch.round(-new_min / delta)
            return delta, zp
        raise NotImplementedError(f"scale_method {self.scale_method!r}")

    def _mse_per_channel(self, x: Tensor) -> tuple[Tensor, Tensor]:
        """The MSE range search for all output channels together, one shrink factor at a time.

        Same arithmetic as the per-tensor loop (the factor 1 − 0.01i is a Python float, so each candidate range
        is rounded exactly as there) and the same choice: a channel moves to a candidate only when its score is
        strictly lower, i.e. the first minimum wins. One candidate at a time keeps the temporaries at the size of
        the weight, which is several times faster on CPU than scoring all 80 candidates in one broadcast.
        """
        flat = x.reshape(x.shape[0], -1)
        top = flat.max(dim=1, keepdim=True).values
        bottom = flat.min(dim=1, keepdim=True).values
        best = torch.full_like(top, float("inf"))
        best_hi, best_lo = top.clone(), bottom.clone()
        for i in range(MSE_CANDIDATES):
            factor = 1.0 - i * MSE_SHRINK
            hi, lo = top * factor, bottom * factor
            err = flat - fake_quant(flat, hi, lo, self.n_bits)
            score = err.abs_().pow_(MSE_P).mean(dim=1, keepdim=True)
            better = score < best
            best = torch.where(better, score, best)
            best_hi = torch.where(better, hi, best_hi)
            best_lo = torch.where(better, lo, best_lo)
        delta = (best_hi - best_lo) / (2**self.n_bits - 1)
        zp = torch.round(-best_lo / delta)
        shape = (-1,) + (1,) * (x.dim() - 1)
        return delta.reshape(shape), zp.reshape(shape)

    def bitwidth_refactor(self, refactored_bit: int) -> None:
        """Change the bit-width (before initialisation)."""
        if not 2 <= refactored_bit <= 8:
            raise ValueError(f"bit-width must be in [2, 8], got {refactored_bit}")
        self.n_bits = refactored_bit
        self.n_levels = 2**refactored_bit
