"""The HMQ block: a joint categorical choice of (bit-width, power-of-two threshold) per tensor
(docs/hmq.md sections 3.2-3.5).

Candidates: bit-widths ``B`` (rows of the search matrix ``pi``) and thresholds
``T_s = T_max / 2^s`` (columns), ``T_max = 2^ceil(log2 |T_base|)``. Weight blocks fix
``T_base = 2^(ceil(log2 max|w|) + 1)`` at construction; activation blocks start at 0 and follow
``T_base <- T_base + alpha * (max|x| - T_base)`` while statistics are collected (before quantizing).

* Search (training mode, temperature > 0): R Gumbel-softmax samples ``P_r`` (R = input channels per group
  for weights, batch size for activations) give
  ``E[delta]_r = sum P_r(b,t) T_t / 2^(b-s)``, ``E[T]_r = sum_t (sum_b P_r(b,t)) T_t`` and
  ``q_r = E[T]_r / E[delta]_r``; the tensor is quantized once with these expected parameters.
* Hard (eval mode or temperature <= 0): ``b* = argmax_b sum_t softmax(pi)``, ``t* = argmax_t softmax(pi)(b*, t)``,
  ``q = 2^(b*-s)``, ``delta = T_t* / q``; no gradient reaches ``pi``.

Activation blocks have one row whose bit-width is set by the activation bit rule (section 3.7).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np
import torch
from torch import nn

from common.runtime.ddp_sync import all_reduce_min_max
from hmq.gumbel import gumbel_softmax
from hmq.quantizer import quantize, quantize_plain

__all__ = [
    "ALPHA",
    "HMQ",
    "HmqControl",
    "P_INIT",
    "initial_search_matrix",
    "pow2_ceil",
    "weight_base_threshold",
]

ALPHA = 0.9
P_INIT = 0.95


@dataclass
class HmqControl:
    """State shared by every HMQ block of a network (the original's network controller).

    ``temperature``: Gumbel-softmax temperature; <= 0 (or NaN) selects the hard path in training too.
    ``statistics``: activation blocks update their threshold IIR. ``quant_weights``/``quant_acts``:
    which tensors are quantized (``--quantization_part``). ``noise_device``: ``"cpu"`` draws the uniform
    noise with ``torch.rand`` on the CPU generator and moves it (bit-exact with the original),
    ``"device"`` draws it where the tensor lives. ``uniform`` overrides the noise source (tests).

    DDP (``--sync_noise``): ``generator`` is a generator seeded alike on every rank (on the noise device)
    and ``rank``/``world_size`` place this rank in the job. Weight noise is then drawn whole and is the
    same on every rank; per-sample (activation) noise is drawn for the global batch, ``world_size`` times
    this rank's rows (``global_rows`` where the ranks' shares differ: the last step of an uneven split), and
    rank ``r`` keeps rows ``r, r + W, ...``: the rows a one-process run gives the samples that the rank's
    share of the global order holds. ``statistics_sync`` (``--sync_act_range``)
    takes the max of the activation statistics over all ranks.
    """

    temperature: float = 1.0
    statistics: bool = False
    quant_weights: bool = False
    quant_acts: bool = False
    ste: bool = False
    efficient: bool = True
    strict_levels: bool = False
    noise_device: str = "cpu"
    uniform: Callable[[tuple[int, ...], torch.device], torch.Tensor] | None = field(default=None, repr=False)
    generator: torch.Generator | None = field(default=None, repr=False)
    rank: int = 0
    world_size: int = 1
    global_rows: int | None = None
    statistics_sync: bool = False

    def draw_uniform(
        self, shape: tuple[int, ...], device: torch.device, per_sample: bool = False
    ) -> torch.Tensor:
        """Uniform [0, 1) noise of ``shape`` on ``device``; ``per_sample``: dim 0 runs over the batch."""
        if self.uniform is not None:
            return self.uniform(shape, device)
        if self.generator is not None:
            rows = self.global_rows or shape[0] * self.world_size
            full = (rows, *shape[1:]) if per_sample else shape
            gen_device = self.generator.device
            u = torch.rand(full, generator=self.generator, device=gen_device)
            if per_sample and self.world_size > 1:
                u = u[self.rank :: self.world_size]
            return u.to(device, non_blocking=True)
        if self.noise_device == "cpu":
            return torch.rand(shape).to(device, non_blocking=True)
        return torch.rand(shape, device=device)


def pow2_ceil(t: torch.Tensor) -> torch.Tensor:
    """``2^ceil(log2 |t|)`` (the largest threshold candidate)."""
    return torch.pow(2.0, torch.ceil(torch.log2(t.abs())))


def weight_base_threshold(w: torch.Tensor) -> float:
    """``T_base = 2^(ceil(log2 max|w|) + 1)`` of a weight tensor (quirk 3: twice the power-of-two ceiling)."""
    return float(2.0 ** (math.ceil(math.log2(float(w.detach().abs().max()))) + 1))


def initial_search_matrix(n_bits: int, n_thresholds: int, p: float = P_INIT) -> torch.Tensor:
    """``pi = -U[0,1)`` from NumPy's global generator, then ``pi[0,0,0,0] = log(p n / (1 - p))``."""
    sm = -np.random.rand(1, n_bits, n_thresholds, 1)
    sm[0, 0, 0, 0] = np.log(p * sm.size / (1 - p))
    return torch.tensor(sm, dtype=torch.float32)


class HMQ(nn.Module):
    """One HMQ block for a weight tensor (``weight`` given) or an activation tensor (``weight=None``).

    Buffers keep the original state-dict names: ``bits_vector``, ``nb_shifts_points_div`` (2^bits),
    ``mv_shifts``, ``thresholds_shifts_points_div`` (2^shift), ``base_thresholds``; the logits are the
    parameter ``search_matrix`` of shape (1, n_bits, n_thresholds, 1).
    """

    def __init__(
        self,
        control: HmqControl,
        signed: bool,
        bits_list: Sequence[int] = (8, 7, 6, 5, 4, 3, 2, 1),
        n_thresholds_shifts: int = 8,
        weight: torch.Tensor | None = None,
        alpha: float = ALPHA,
        p_init: float = P_INIT,
    ) -> None:
        super().__init__()
        self.control = control
        self.signed = float(bool(signed))
        self.alpha = alpha
        self.is_weight = weight is not None
        if not self.is_weight:
            bits_list = (8,)
        shifts = torch.arange(n_thresholds_shifts, dtype=torch.float32)
        bits = torch.tensor([float(b) for b in bits_list])
        self.register_buffer("bits_vector", bits)
        self.register_buffer("nb_shifts_points_div", torch.pow(2.0, bits))
        self.register_buffer("mv_shifts", shifts)
        self.register_buffer("thresholds_shifts_points_div", torch.pow(2.0, shifts))
        base = weight_base_threshold(weight) if weight is not None else 0.0
        self.register_buffer("base_thresholds", torch.tensor([base]))
        self.register_buffer(
            "tensor_size", torch.tensor(int(weight.numel()) if weight is not None else 0, dtype=torch.long)
        )
        self.search_matrix = nn.Parameter(initial_search_matrix(len(bits_list), n_thresholds_shifts, p_init))

    # --- configuration -------------------------------------------------------------------------
    def set_bits(self, bits: Sequence[int]) -> None:
        """Replace the bit-width candidates in place (the activation bit rule sets one value)."""
        new = torch.tensor([float(b) for b in bits], device=self.bits_vector.device)
        if new.shape != self.bits_vector.shape:
            raise ValueError(f"expected {self.bits_vector.numel()} bit-widths, got {len(bits)}")
        self.bits_vector.copy_(new)
        self.nb_shifts_points_div.copy_(torch.pow(2.0, new))

    def thresholds(self) -> torch.Tensor:
        """The threshold candidates ``T_max / 2^s``."""
        return pow2_ceil(self.base_thresholds.detach()) / self.thresholds_shifts_points_div

    def probabilities(self) -> torch.Tensor:
        """``softmax(pi)`` over all pairs, shape (n_bits, n_thresholds)."""
        return torch.softmax(self.search_matrix.reshape(-1), dim=0).reshape(self.search_matrix.shape[1:3])

    def expected_bits(self) -> torch.Tensor:
        """``E[b] = sum_b b * sum_t softmax(pi)(b, t)`` (no noise, no temperature); differentiable."""
        return (self.probabilities().sum(dim=1) * self.bits_vector).sum()

    def hard_indices(self) -> tuple[torch.Tensor, torch.Tensor]:
        """``(b*, t*)``: argmax bit row, then the argmax threshold within that row."""
        p = self.probabilities().detach()
        b = p.sum(dim=1).argmax()
        return b, p[b].argmax()

    def bit_width(self) -> int:
        """The chosen bit-width."""
        return int(self.bits_vector[self.hard_indices()[0]])

    def threshold(self) -> float:
        """The chosen threshold."""
        return float(self.thresholds()[self.hard_indices()[1]])

    # --- forward -------------------------------------------------------------------------------
    def _update_statistics(self, x: torch.Tensor) -> None:
        with torch.no_grad():
            if int(self.tensor_size) == 0:
                self.tensor_size.fill_(int(np.prod(x.shape[1:])))
            m = x.detach().abs().max().to(self.base_thresholds.dtype)
            if self.control.statistics_sync:
                m = all_reduce_min_max(m, m)[1]
            self.base_thresholds.add_(self.alpha * (m - self.base_thresholds))

    def _param_shape(self, x: torch.Tensor) -> tuple[int, list[int]]:
        if x.dim() not in (2, 4):
            raise ValueError(f"HMQ expects a 2-D or 4-D tensor, got shape {tuple(x.shape)}")
        if self.is_weight:
            r = x.shape[1]
            return r, [1, r] + [1] * (x.dim() - 2)
        r = x.shape[0]
        return r, [r] + [1] * (x.dim() - 1)

    def _quantize(self, x: torch.Tensor, delta: torch.Tensor, q: torch.Tensor) -> torch.Tensor:
        fn = quantize if self.control.efficient else quantize_plain
        return fn(x, delta, q, self.signed, self.control.strict_levels)

    def soft_parameters(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """``(P, E[delta], q)`` of one search-mode forward on ``x`` (draws the noise)."""
        r, shape = self._param_shape(x)
        sm = self.search_matrix
        u = self.control.draw_uniform((r, *sm.shape), sm.device, per_sample=not self.is_weight)
        p = gumbel_softmax(sm, self.control.temperature, u, self.control.ste)
        pr = p.reshape(r, sm.shape[1], sm.shape[2])
        thr = self.thresholds()
        levels = self.nb_shifts_points_div * (2.0**-self.signed)
        delta = (pr * (thr[None, None, :] / levels[None, :, None])).sum(dim=(1, 2))
        expected_t = (pr.sum(dim=1) * thr[None, :]).sum(dim=1)
        return p, delta, (expected_t / delta).reshape(shape)

    def hard_parameters(self) -> tuple[torch.Tensor, torch.Tensor]:
        """``(delta, q)`` of the hard choice."""
        b, t = self.hard_indices()
        q = self.nb_shifts_points_div[b] * (2.0**-self.signed)
        return (self.thresholds()[t] / q).reshape(1), q.reshape(1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.control.statistics and not self.is_weight:
            self._update_statistics(x)
        x32 = x.float()
        tau = self.control.temperature
        if self.training and tau > 0:
            _, delta, q = self.soft_parameters(x32)
            y = self._quantize(x32, delta.reshape(q.shape), q)
        else:
            delta, q = self.hard_parameters()
            y = self._quantize(x32, delta, q)
        return y.to(x.dtype)

    def extra_repr(self) -> str:
        kind = "weight" if self.is_weight else "activation"
        return f"{kind}, signed={bool(self.signed)}, bits={self.bits_vector.tolist()}, n_thresholds={self.mv_shifts.numel()}"
