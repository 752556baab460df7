"""Per-layer Hessian traces (Hutchinson) and top eigenvalues (power iteration), with a CLI.

HAWQ-V2/V3 rank layers by the *average Hessian trace* ``T_i = Tr(H_i) / n_i``, where ``H_i`` is the
Hessian of the loss with respect to the weight tensor ``W_i`` of layer ``i`` alone (the ``i``-th
diagonal block of the full Hessian) and ``n_i = W_i.numel()``. HAWQ-V3 never shipped the code that
computed its traces; this module follows PyHessian's algorithm (amirgholami/PyHessian), restricted per
layer, as described in ``docs/hawq.md`` §3.7.

Hutchinson's estimator
----------------------
For a random vector ``v`` with i.i.d. Rademacher entries (``±1``, each with probability 1/2),
``E[v^T H v] = Tr(H)`` because ``E[v v^T] = I``. The Hessian-vector product needs no Hessian: with
``g = ∂L/∂W`` computed with ``create_graph=True``, ``H v = ∂(g · v)/∂W`` (Pearlmutter's trick). After
``k`` probes the estimate is the running mean ``mean(t_1..t_k)`` with ``t_j = v_j^T H v_j``; it stops
at ``max_iter`` probes, or earlier once ``|mean_k - mean_{k-1}| / (|mean_{k-1}| + 1e-6) < tol``
(PyHessian's rule; ``mean_0 = 0``), judged per layer. The estimator's variance per probe is
``2 Σ_{a≠b} H_ab²``.

Standard error. The probes are independent, so each layer also gets the standard error of its mean,
``se = s / sqrt(k)`` with the sample standard deviation ``s² = Σ_j (t_j - mean_k)² / (k - 1)`` of its
``k`` per-probe values (undefined, NaN, for ``k = 1``); ``trace_sum_stderr`` is ``se`` and
``trace_stderr = se / n_i`` goes with the average trace. ``mean ± 2 se`` is a ~95 % interval once
``k`` is a few dozen.

Three ways to get the diagonal blocks (``mode``):

* ``"joint"`` (the default; one Hessian-vector product per probe): an independent Rademacher vector
  ``v_i`` for every layer and one call ``autograd.grad([g_1..g_L], [W_1..W_L], grad_outputs=[v_1..v_L])``
  per probe, i.e. the full product ``H v`` with ``v = (v_1, .., v_L)``. Its block ``j`` is
  ``Σ_i H_ji v_i``, which mixes blocks, but ``v_j^T Σ_i H_ji v_i = v_j^T H_jj v_j +
  Σ_{i≠j} v_j^T H_ji v_i`` and every cross term has zero mean because ``v_i`` and ``v_j`` are
  independent with zero mean. So ``t_j`` is still an unbiased estimate of ``Tr(H_jj)``, for all layers
  at once, at the price of the extra per-probe variance ``Σ_{i≠j} ‖H_ji‖_F²`` (the cross blocks'
  squared Frobenius norms). A layer that has stopped (``tol``) gets no more vectors, so the remaining
  layers lose its cross terms.
* ``"per_layer"`` (the exact block-diagonal variant, the spec's procedure word for word): one
  ``autograd.grad(g_i · v_i, W_i)`` call per layer and probe, giving exactly ``H_ii v_i`` and only the
  variance ``2 Σ_{a≠b} (H_ii)_ab²``. Cost per probe: one double-backward per layer (``L`` calls).
* ``"ggn"`` (networks piecewise linear in each layer's weights: ReLU/ReLU6, BN in eval mode, pooling,
  residual sums): there ``H_ii`` equals its Gauss-Newton block ``(1/M) Σ_n J_ni^T H_n J_ni``, and one
  first-order backward of the logits with a random output gradient ``u_n`` (``E[u_n u_n^T] = H_n``, the
  cross-entropy's Hessian in the logits) gives an unbiased ``‖g_i‖²/M`` for every layer at once, without
  a double backward and without cross-block variance. :mod:`hawq.gauss_newton` has the derivation; other
  networks are refused.

In every mode the forward (and, but in ``ggn``, the ``create_graph`` backward) is done once and kept (one batch).

Cost and variance (measured on this project's 2-core CPU, one thread, ``tiny_resnet`` with 13 layers,
batch 16 at 32x32, ``tol=0``, interleaved repetitions, medians). Time per run with the same probes:
``joint`` 0.93-1.13x PyHessian's ``hessian(...).trace()`` (5, 10, 20 probes; it does the same work, one
product of the whole Hessian per probe) and ``per_layer`` 2.7-3.2x ``joint`` (a ``per_layer`` probe
costs about three joint probes, not thirteen: the product of a late layer traverses little of the
graph). The price is variance. The per-probe standard deviation of ``joint`` over that of
``per_layer`` was 1.9-7.6x (median 2.6x) on a ``tiny_resnet`` trained on the digits data (batch 16;
1.9-10.8x, median 3.5x, with batch 32) and 4-145x (median 35x) at random initialisation, where the
gradient of the loss is large and so are the cross blocks. For the same standard error ``joint``
needs the square of that ratio in probes, so on these models ``per_layer`` reached a given accuracy
sooner for every layer (``joint`` took 1.1-19x, median 2.3x, its time on the trained model). ``joint``
is the default as the one-product estimator (the cheapest per probe, a quick look); use
``per_layer`` for the ILP's final inputs unless the reported standard errors say ``joint`` is precise
enough, and read ``trace_sum_stderr`` rather than guessing. ``ggn`` took 0.30x PyHessian's time on the same
runs (0.21x on ResNet-18 at 32x32), with a per-probe standard deviation of 0.56-1.79x ``per_layer``'s (medians
0.87-1.00x, trained and random ``tiny_resnet``, batches 16 and 32, ``benchmarks/bench_hessian_variance.py``): on
a ReLU-type network it is the cheapest for a given accuracy. Computing the product with
``torch.func`` (``vjp`` or ``jvp`` of ``grad`` over ``functional_call``, with and without ``vmap``
over chunks of probes) was measured side by side and was not reliably faster than the double backward
on the cached graph (0.9-1.9x its time on ``tiny_resnet``, 1.1-1.8x on ResNet-18 at 64x64, depending
on the chunk and on the order of the runs), so it is not used.

Note on ``tol``: PyHessian's rule compares consecutive running means, whose relative change shrinks
like ``1/k`` whatever the estimator's variance, so ``tol=1e-3`` may stop after a few dozen probes
with an error of several percent for a layer with a strongly correlated Hessian. Use ``tol=0`` and a
fixed ``max_iter`` when accuracy matters; ``probes``, ``converged`` and the standard errors in the
result say what ran and how precise it is. (PyHessian itself divides by ``mean_{k-1} + 1e-6``
without the absolute value, so its ``trace(tol=0)`` stops as soon as the previous running mean is
negative, after two probes when the first value is; here the denominator is ``|mean_{k-1}| + 1e-6``
and ``tol=0`` always runs ``max_iter``. Time PyHessian with ``tol=float("-inf")`` to make it run every
probe.)

Several batches
---------------
As PyHessian's dataloader mode: for each probe the same ``v`` is applied to every batch ``b`` and the
products are averaged weighted by the batch size ``m_b``, ``Hv = Σ_b m_b H_b v / Σ_b m_b``, before the
dot product ``t = v^T Hv``. This is the Hessian of the mean loss over all the samples (each batch's
loss is the batch mean of the cross-entropy). With one batch the graph of ``g`` is built once and
reused for every probe; with several it is rebuilt per probe and batch unless ``retain_graphs=True``
(memory grows with the number of batches then).

Several processes
-----------------
Under ``torchrun`` (``WORLD_SIZE`` > 1) ``--batch-size`` stays the global Hessian batch: each of the ``W``
ranks reads its ``1/W`` share of every batch the one-process run reads (the same global order, split by
rank as in training), weights its products by its share's size over the *global* sample count, and the
products are summed over ranks (one all-reduce per probe) before the dot products. Every rank draws the same
probes (same seed) and sees the same sums, so all ranks take the same stopping decisions; rank 0 writes the
output. The result is the one-process estimate up to the order of floating-point sums.

The model is put in eval mode (BatchNorm uses its running statistics, as HAWQ's BN-folded layers
do) and restored afterwards. The weights are the raw conv/linear weights (BN not folded); the bias is
not included. Probes are drawn from a ``torch.Generator`` seeded with ``seed`` (``probe_rng``): on the CPU
for a CPU model, and with ``probe_rng="cpu"`` on any device, so that the probes do not depend on the device;
on the model's accelerator by default (``"auto"``), where drawing 11 M signs per probe on the host and
copying them cost more than the Hessian-vector product itself (ResNet-18 on an H200: 4.0x PyHessian's
trace with host probes, PyHessian draws on the device).

Command line::

    python -m hawq.hessian --arch tiny_resnet --data digits --out traces.json \
        [--checkpoint FILE] [--batch-size 32 --batches 1 --probes 100 --tol 1e-3 --seed 0 --device cpu]
        [--mode joint|per_layer]

writes ``{"arch", "input_size", "settings", "layers": {name: {"trace": T_i (average, what the ILP
reads), "trace_sum": Tr(H_i), "trace_stderr": se / n_i, "trace_sum_stderr": se, "numel": n_i,
"probes": k, "converged"}}}`` (a standard error is ``null`` when ``k = 1``; plus ``"top_eigenvalue"``
and ``"eigen_iters"`` with ``--eigen``).
"""

from __future__ import annotations

import argparse
import math
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
import torch.distributed
from torch import nn

from common.runtime import (
    RunLogger,
    UsageError,
    add_threads_arg,
    all_reduce_sum,
    check_output_file,
    choose_device,
    cleanup_distributed,
    init_distributed,
    load_state_dict_checked,
    progress,
    seed_everything,
    set_threads,
    write_json_atomic,
)
from common.runtime.ddp_sync import sum_each_over_ranks, world_active
from common.runtime.runlog import add_logging_args
from hawq.gauss_newton import GaussNewtonProbes, check_cross_entropy, check_piecewise_linear

__all__ = [
    "DEFAULT_MODE",
    "MODES",
    "PROBE_RNGS",
    "HessianOperator",
    "LayerEigen",
    "LayerTrace",
    "build_parser",
    "hessian_top_eigenvalues",
    "hessian_traces",
    "main",
    "probe_generator",
    "select_layers",
    "standard_error",
]

#: ``joint``: one Hessian-vector product per probe for all layers (default); ``per_layer``: the exact
#: diagonal blocks, one double-backward per layer and probe; ``ggn``: the diagonal blocks of a piecewise-linear
#: network as Gauss-Newton blocks, one first-order backward per probe (:mod:`hawq.gauss_newton`). See the module
#: docstring.
MODES = ("joint", "per_layer", "ggn")
DEFAULT_MODE = "joint"
#: Where the Rademacher probes are drawn (:func:`probe_generator`).
PROBE_RNGS = ("auto", "cpu", "device")
MODE_HELP = (
    "joint (default): every layer's trace from one Hessian-vector product per probe, unbiased but with "
    "extra variance from the cross blocks; per_layer: the exact diagonal block of each layer, one "
    "double-backward per layer and probe (about 3x the time per probe on tiny_resnet, and a lower "
    "variance: fewer probes for the same standard error, see trace_sum_stderr in the output); ggn: the "
    "diagonal blocks of a ReLU-type network (piecewise linear in each layer's weights, as every model HAWQ-V3 "
    "searches) from one first-order backward per probe, no double backward: about 0.3x PyHessian's time per "
    "probe and no cross-block variance (hawq/gauss_newton.py)"
)
_EPS = 1e-6  # PyHessian's denominator guard in the relative-change test

Batch = tuple[torch.Tensor, torch.Tensor]


@dataclass(frozen=True)
class LayerTrace:
    """Hutchinson estimate for one layer: ``trace = trace_sum / numel`` is the ILP's ``T_i``.

    ``trace_sum_stderr = s / sqrt(probes)`` is the standard error of ``trace_sum`` (``s`` the sample
    standard deviation of the per-probe values ``v^T H v``) and ``trace_stderr = trace_sum_stderr /
    numel`` that of ``trace``; both are NaN when only one probe ran.
    """

    name: str
    trace: float
    trace_sum: float
    numel: int
    probes: int
    converged: bool
    trace_stderr: float = math.nan
    trace_sum_stderr: float = math.nan

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready fields; an undefined (NaN) standard error becomes ``None``."""
        return {
            "trace": self.trace,
            "trace_sum": self.trace_sum,
            "trace_stderr": _finite_or_none(self.trace_stderr),
            "trace_sum_stderr": _finite_or_none(self.trace_sum_stderr),
            "numel": self.numel,
            "probes": self.probes,
            "converged": self.converged,
        }


def _finite_or_none(value: float) -> float | None:
    return value if math.isfinite(value) else None


def standard_error(samples: Sequence[float]) -> float:
    """``sqrt(Σ_j (t_j - t̄)² / ((k - 1) k))``: the standard error of the mean of ``k`` i.i.d. values.

    NaN for fewer than two values. Sums are taken with :func:`math.fsum`.
    """
    k = len(samples)
    if k < 2:
        return math.nan
    mean = math.fsum(samples) / k
    return math.sqrt(math.fsum((t - mean) ** 2 for t in samples) / ((k - 1) * k))


@dataclass(frozen=True)
class LayerEigen:
    """Top eigenvalue of ``H_i`` (largest in magnitude) by power iteration."""

    name: str
    eigenvalue: float
    iters: int
    converged: bool


def select_layers(model: nn.Module, layer_names: Sequence[str] | None = None) -> list[str]:
    """Names of the conv/linear layers to use, in the order of :func:`common.layers.enumerate_layers`.

    ``layer_names=None`` gives every ``nn.Conv2d``/``nn.Linear`` module (in execution order when the
    model runs on a dummy input, else in registration order); otherwise each given name must be such a
    module, else :class:`UsageError` naming it. Duplicates are removed, the given order is kept.
    """
    modules = dict(model.named_modules())
    quantizable = [n for n, m in modules.items() if isinstance(m, (nn.Conv2d, nn.Linear))]
    if layer_names is None:
        return quantizable
    seen: list[str] = []
    for name in layer_names:
        if name not in modules:
            raise UsageError(f"unknown layer {name!r}; known conv/linear layers: {', '.join(quantizable)}")
        if not isinstance(modules[name], (nn.Conv2d, nn.Linear)):
            raise UsageError(
                f"layer {name!r} is a {type(modules[name]).__name__}, not a conv or linear layer"
            )
        if name not in seen:
            seen.append(name)
    if not seen:
        raise UsageError("no layers selected")
    return seen


def _as_batches(batches: Iterable[Batch] | Batch, max_batches: int | None) -> list[Batch]:
    if isinstance(batches, (tuple, list)) and len(batches) == 2 and isinstance(batches[0], torch.Tensor):
        batches = [(batches[0], batches[1])]  # a single (x, y) or a DataLoader's [x, y]
    out: list[Batch] = []
    for item in batches:
        if max_batches is not None and len(out) >= max_batches:
            break
        x, y = item[0], item[1]
        out.append((x, y))
    if not out:
        raise UsageError("no data batches to compute the Hessian on")
    return out


class HessianOperator:
    """Products ``H_ii v_i`` of the per-layer diagonal Hessian blocks of a model's loss.

    ``weights`` are the tensors ``W_i`` (each must require grad). For each batch the loss
    ``L_b = criterion(model(x_b), y_b)`` and ``g_b = ∂L_b/∂W`` (``create_graph=True``) are formed;
    :meth:`hvp` returns ``Σ_b m_b (H_b v)_i / Σ_b m_b`` per layer ``i``, by one ``autograd.grad``
    call per layer (``joint=False``: exactly ``H_ii v_i``) or one call for all (``joint=True``: block
    ``i`` of the full product, ``Σ_j H_ij v_j``, see the module docstring). Under a process group of
    several ranks ``batches`` is this rank's share: ``Σ_b m_b`` counts every rank's samples and the
    products are summed over the ranks.
    """

    def __init__(
        self,
        model: nn.Module,
        weights: Mapping[str, torch.Tensor],
        batches: Sequence[Batch],
        criterion: Callable[[torch.Tensor, torch.Tensor], torch.Tensor],
        device: torch.device,
        retain_graphs: bool | None = None,
    ) -> None:
        self.model = model
        self.weights = dict(weights)
        self.criterion = criterion
        self.device = device
        self.batches = [(x.to(device), y.to(device)) for x, y in batches]
        self.sizes = [int(x.shape[0]) for x, _ in self.batches]
        self.spread = world_active()
        local = torch.tensor(float(sum(self.sizes)), dtype=torch.float64, device=device)
        self.total = float(all_reduce_sum(local)) if self.spread else float(local)
        keep = len(self.batches) == 1 if retain_graphs is None else bool(retain_graphs)
        self._cached: list[dict[str, torch.Tensor]] | None = (
            [self._grads(x, y) for x, y in self.batches] if keep else None
        )

    def _grads(self, x: torch.Tensor, y: torch.Tensor) -> dict[str, torch.Tensor]:
        loss = self.criterion(self.model(x), y)
        names = list(self.weights)
        grads = torch.autograd.grad(loss, [self.weights[n] for n in names], create_graph=True)
        return dict(zip(names, grads, strict=True))

    def _batch_grads(self) -> Iterable[tuple[int, dict[str, torch.Tensor]]]:
        for b, (x, y) in enumerate(self.batches):
            yield self.sizes[b], (self._cached[b] if self._cached is not None else self._grads(x, y))

    def hvp(self, vectors: Mapping[str, torch.Tensor], joint: bool = False) -> dict[str, torch.Tensor]:
        """Per-layer Hessian-vector products for the layers named in ``vectors``."""
        names = list(vectors)
        out = {n: torch.zeros_like(self.weights[n]) for n in names}
        for size, grads in self._batch_grads():
            w = size / self.total
            if joint:
                # the full product H v in one double-backward: the vectors are the output gradients
                # of the first-order gradients (same as differentiating Σ_i g_i · v_i)
                hvs = torch.autograd.grad(
                    [grads[n] for n in names],
                    [self.weights[n] for n in names],
                    grad_outputs=[vectors[n] for n in names],
                    retain_graph=True,
                )
                for n, hv in zip(names, hvs, strict=True):
                    out[n].add_(hv.detach(), alpha=w)
            else:
                for n in names:
                    (hv,) = torch.autograd.grad(
                        (grads[n] * vectors[n]).sum(), self.weights[n], retain_graph=True
                    )
                    out[n].add_(hv.detach(), alpha=w)
        if self.spread:  # one all-reduce per probe
            out = dict(zip(out, sum_each_over_ranks(list(out.values())), strict=True))
        return out


class _Prepared:
    """Context: eval mode, weights requiring grad (others not), restored on exit."""

    def __init__(self, model: nn.Module, names: Sequence[str]) -> None:
        self.model = model
        modules = dict(model.named_modules())
        self.weights = {n: modules[n].weight for n in names}

    def __enter__(self) -> dict[str, torch.Tensor]:
        self.was_training = self.model.training
        self.flags = [(p, p.requires_grad) for p in self.model.parameters()]
        self.model.eval()
        for p, _ in self.flags:
            p.requires_grad_(False)
        for w in self.weights.values():
            w.requires_grad_(True)
        return self.weights

    def __exit__(self, *exc: object) -> None:
        for p, flag in self.flags:
            p.requires_grad_(flag)
        self.model.train(self.was_training)


def _rademacher(likes: Mapping[str, torch.Tensor], generator: torch.Generator) -> dict[str, torch.Tensor]:
    """One Rademacher vector (entries ±1) shaped like each tensor of ``likes``, on its device and dtype.

    All layers are drawn by one ``randint`` from ``generator`` (on the CPU or on the device) and split in the
    order of ``likes``: the CPU generator fills serially, so this equals one draw per layer in that order. The
    draw travels as int8 and becomes ±1 on the device (a quarter of the bytes, no host-side conversion).
    """
    sizes = [t.numel() for t in likes.values()]
    bits = torch.randint(0, 2, (sum(sizes),), generator=generator, dtype=torch.int8, device=generator.device)
    signs = bits.to(next(iter(likes.values())).device).mul_(2).sub_(1)
    return {
        n: chunk.view(t.shape).to(t.dtype)
        for (n, t), chunk in zip(likes.items(), signs.split(sizes), strict=True)
    }


def probe_generator(seed: int, device: torch.device, probe_rng: str = "auto") -> torch.Generator:
    """The generator of the Rademacher probes: ``"cpu"`` draws on the host (the same probes on every device),
    ``"device"`` on ``device`` (no host work per probe; other probes than the CPU's for the same seed),
    ``"auto"`` on the host for a CPU model and on the device otherwise."""
    if probe_rng not in PROBE_RNGS:
        raise UsageError(f"unknown probe_rng {probe_rng!r}; expected one of {', '.join(PROBE_RNGS)}")
    where = (
        torch.device("cpu")
        if probe_rng == "cpu" or (probe_rng == "auto") and device.type == "cpu"
        else device
    )
    return torch.Generator(device=where).manual_seed(int(seed))


def _setup(
    model: nn.Module,
    batches: Iterable[Batch] | Batch,
    layer_names: Sequence[str] | None,
    max_iter: int,
    tol: float,
    device: torch.device | str | None,
    max_batches: int | None,
) -> tuple[list[str], list[Batch], torch.device]:
    if max_iter < 1:
        raise UsageError(f"max_iter must be >= 1, got {max_iter}")
    if not (tol >= 0 and math.isfinite(tol)):
        raise UsageError(f"tol must be a finite number >= 0, got {tol}")
    names = select_layers(model, layer_names)
    data = _as_batches(batches, max_batches)
    if device is None:
        param = next(model.parameters(), None)
        device = param.device if param is not None else torch.device("cpu")
    device = torch.device(device)
    model.to(device)
    return names, data, device


def hessian_traces(
    model: nn.Module,
    batches: Iterable[Batch] | Batch,
    layer_names: Sequence[str] | None = None,
    *,
    max_iter: int = 100,
    tol: float = 1e-3,
    seed: int = 0,
    device: torch.device | str | None = None,
    criterion: Callable[[torch.Tensor, torch.Tensor], torch.Tensor] | None = None,
    mode: str = DEFAULT_MODE,
    max_batches: int | None = None,
    retain_graphs: bool | None = None,
    show_progress: bool | None = False,
    probe_rng: str = "auto",
) -> dict[str, LayerTrace]:
    """Hutchinson estimate of ``Tr(H_i)`` for each conv/linear layer ``i`` (see the module docstring).

    ``batches`` is a DataLoader, a list of ``(x, y)`` or one ``(x, y)``; at most ``max_batches`` are
    used (all by default, a DataLoader is read once). ``criterion`` defaults to
    ``nn.CrossEntropyLoss()`` (mean over the batch). Per layer, probes stop at ``max_iter`` or when
    the running mean changes by less than ``tol`` relative (``tol=0``: always ``max_iter``). Returns
    ``{name: LayerTrace}`` in layer order, ``trace = trace_sum / numel``, with the standard errors
    ``trace_sum_stderr = sqrt(Σ_j (t_j - t̄)² / ((k - 1) k))`` and ``trace_stderr = trace_sum_stderr / numel``.

    ``mode="joint"`` (default) gets every layer's ``t_j = v_j^T (H v)_j`` from one product of the full
    Hessian per probe (unbiased; the cross blocks add variance); ``mode="per_layer"`` computes the exact
    ``H_jj v_j`` of each layer, one double-backward per layer and probe; ``mode="ggn"`` (piecewise-linear
    networks and the cross-entropy only, else :class:`UsageError`) gets every layer's value from one
    first-order backward per probe (:mod:`hawq.gauss_newton`; its probes are signs in the logits' space).
    ``probe_rng`` chooses where the probes are drawn (:func:`probe_generator`).
    """
    if mode not in MODES:
        raise UsageError(f"unknown mode {mode!r}; expected one of {', '.join(MODES)}")
    if mode == "ggn":
        check_cross_entropy(criterion)
        check_piecewise_linear(model)
    names, data, device = _setup(model, batches, layer_names, max_iter, tol, device, max_batches)
    criterion = criterion if criterion is not None else nn.CrossEntropyLoss()
    gen = probe_generator(seed, device, probe_rng)
    with _Prepared(model, names) as weights:
        if mode == "ggn":
            probes = GaussNewtonProbes(model, weights, data, device, retain_graphs)

            def draw(active: list[str]) -> list[float]:
                return probes.sample(active, gen)
        else:
            op = HessianOperator(model, weights, data, criterion, device, retain_graphs)

            def draw(active: list[str]) -> list[float]:
                vs = _rademacher({n: weights[n] for n in active}, gen)
                hvs = op.hvp(vs, joint=mode == "joint")
                return torch.stack([(hvs[n] * vs[n]).sum() for n in active]).double().cpu().tolist()

        samples: dict[str, list[float]] = {n: [] for n in names}
        means = dict.fromkeys(names, 0.0)
        active = list(names)
        bar = progress(range(max_iter), desc="hessian trace", enabled=show_progress)
        for _ in bar:
            dots = draw(active)
            still: list[str] = []
            for n, t in zip(active, dots, strict=True):
                samples[n].append(t)
                new = math.fsum(samples[n]) / len(samples[n])
                if abs(new - means[n]) / (abs(means[n]) + _EPS) >= tol:
                    still.append(n)
                means[n] = new
            active = still
            if hasattr(bar, "set_postfix"):
                bar.set_postfix(active=len(active))
            if not active:
                break
        result: dict[str, LayerTrace] = {}
        for n in names:
            numel = weights[n].numel()
            se = standard_error(samples[n])
            result[n] = LayerTrace(
                name=n,
                trace=means[n] / numel,
                trace_sum=means[n],
                numel=numel,
                probes=len(samples[n]),
                converged=n not in active,
                trace_stderr=se / numel,
                trace_sum_stderr=se,
            )
    return result


def hessian_top_eigenvalues(
    model: nn.Module,
    batches: Iterable[Batch] | Batch,
    layer_names: Sequence[str] | None = None,
    *,
    max_iter: int = 100,
    tol: float = 1e-3,
    seed: int = 0,
    device: torch.device | str | None = None,
    criterion: Callable[[torch.Tensor, torch.Tensor], torch.Tensor] | None = None,
    max_batches: int | None = None,
    retain_graphs: bool | None = None,
    show_progress: bool | None = False,
) -> dict[str, LayerEigen]:
    """Top eigenvalue of each ``H_ii`` by power iteration (HAWQ-V1's sensitivity, as PyHessian).

    Start from a standard normal ``v`` (normalised); repeat ``λ = v^T H v``, ``v ← H v / ‖H v‖``
    until ``|λ_k - λ_{k-1}| / (|λ_{k-1}| + 1e-6) < tol`` or ``max_iter`` products. Power iteration
    finds the eigenvalue of largest magnitude (the largest one for a Hessian at a minimum). Always the
    exact ``H_ii v`` (one ``autograd.grad`` call per layer).
    """
    names, data, device = _setup(model, batches, layer_names, max_iter, tol, device, max_batches)
    criterion = criterion if criterion is not None else nn.CrossEntropyLoss()
    gen = torch.Generator().manual_seed(int(seed))
    with _Prepared(model, names) as weights:
        op = HessianOperator(model, weights, data, criterion, device, retain_graphs)
        vs: dict[str, torch.Tensor] = {}
        for n in names:
            v = torch.randn(tuple(weights[n].shape), generator=gen, dtype=torch.float64)
            vs[n] = (v / v.norm()).to(dtype=weights[n].dtype, device=device)
        eig = dict.fromkeys(names, 0.0)
        iters = dict.fromkeys(names, 0)
        active = list(names)
        for k in progress(range(max_iter), desc="hessian eigen", enabled=show_progress):
            hvs = op.hvp({n: vs[n] for n in active})
            still = []
            for n in active:
                lam = float((hvs[n] * vs[n]).sum())
                iters[n] = k + 1
                norm = float(hvs[n].norm())
                if norm > 0:
                    vs[n] = hvs[n] / norm
                prev, eig[n] = eig[n], lam
                if k == 0 or abs(lam - prev) / (abs(prev) + _EPS) >= tol:
                    still.append(n)
            active = still
            if not active:
                break
    return {n: LayerEigen(n, eig[n], iters[n], n not in active) for n in names}


# --------------------------------------------------------------------------------------------- CLI


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m hawq.hessian",
        description="Per-layer Hessian traces (Hutchinson) of a model's CE loss, for the HAWQ-V3 ILP.",
    )
    p.add_argument("--arch", required=True, help="registered model name, e.g. tiny_resnet, resnet18")
    p.add_argument("--data", required=True, help="data folder (train/ and val/) or an embedded name (digits)")
    p.add_argument("--out", type=Path, required=True, help="output JSON file (written atomically)")
    p.add_argument(
        "--checkpoint", default=None, help="state dict (or a dict holding one under state_dict/model)"
    )
    p.add_argument(
        "--preset", default=None, help="transform preset (default: digits for digits, else imagenet)"
    )
    p.add_argument("--input-size", type=int, default=None, help="image side (default: the model's own)")
    p.add_argument("--num-classes", type=int, default=None, help="classifier size (default: the data's)")
    p.add_argument("--split", choices=("train", "val"), default="train", help="split to draw batches from")
    p.add_argument(
        "--batch-size", type=int, default=32, help="Hessian batch (global: split over torchrun's processes)"
    )
    p.add_argument(
        "--batches", type=int, default=1, help="number of batches (PyHessian dataloader mode if > 1)"
    )
    p.add_argument("--probes", type=int, default=100, help="maximum Hutchinson probes per layer (maxIter)")
    p.add_argument("--tol", type=float, default=1e-3, help="relative change of the running mean to stop at")
    p.add_argument("--mode", choices=MODES, default=DEFAULT_MODE, help=MODE_HELP)
    p.add_argument(
        "--probe-rng",
        choices=PROBE_RNGS,
        default="auto",
        help="where the Rademacher probes are drawn: auto (host for a CPU run, the device otherwise), cpu (the "
        "same probes on every device) or device",
    )
    p.add_argument("--layers", default=None, help="comma-separated layer names (default: every conv/linear)")
    p.add_argument("--eigen", action="store_true", help="also the top eigenvalue per layer (power iteration)")
    p.add_argument("--workers", type=int, default=0)
    p.add_argument("--device", default="auto", help="auto, cpu, cuda, cuda:N or mps")
    p.add_argument("--seed", type=int, default=0, help="seed of the data order and the probes")
    add_threads_arg(p)
    p.add_argument("--progress", action=argparse.BooleanOptionalAction, default=None, help="progress bar")
    p.add_argument(
        "--log-dir",
        type=Path,
        default=None,
        help="run logs (args.json, epochs.csv with one row per layer, log.txt, final.json, tb/); "
        "default: <out without .json>.run/ next to --out",
    )
    add_logging_args(p)
    return p


def _load_weights(model: nn.Module, path: str) -> None:
    from common.models.pretrained import read_state_dict
    from hawq.utils.models.pytorchcv_weights import is_pytorchcv_resnet, pytorchcv_resnet_to_torchvision

    state = read_state_dict(path)
    if is_pytorchcv_resnet(state):
        state = pytorchcv_resnet_to_torchvision(state)
    load_state_dict_checked(model, state, f"--checkpoint {path}")  # another architecture: one line


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    """Entry point; returns the JSON object written to ``--out``."""
    from common.data import build_loaders, build_split
    from common.data.transforms import build_transforms
    from common.models import build_model, get_spec

    args = build_parser().parse_args(argv)
    set_threads(args.threads)
    for flag, value in (
        ("--batch-size", args.batch_size),
        ("--batches", args.batches),
        ("--probes", args.probes),
    ):
        if value < 1:
            raise UsageError(f"{flag} must be >= 1, got {value}")
    if args.tol < 0:
        raise UsageError(f"--tol must be >= 0, got {args.tol}")
    check_output_file("--out", args.out)
    start = time.perf_counter()
    device = choose_device(args.device)
    dist = init_distributed(device=device)
    if args.batch_size % dist.world_size:
        raise UsageError(
            f"--batch-size {args.batch_size} (the global Hessian batch) does not split evenly over "
            f"{dist.world_size} processes"
        )
    seed_everything(args.seed)
    spec = get_spec(args.arch)
    input_size = int(args.input_size or spec.input_size)
    preset = args.preset or ("digits" if str(args.data) == "digits" else "imagenet")
    transform = build_transforms(preset, False, input_size)  # no augmentation: a fixed batch
    ds = build_split(args.data, args.split, transform, image_size=input_size, seed=args.seed)
    classes = getattr(ds, "classes", None)
    num_classes = args.num_classes or (len(classes) if classes else spec.default_classes)
    model = build_model(args.arch, num_classes=num_classes)
    if args.checkpoint:
        _load_weights(model, args.checkpoint)
    # after the inputs are checked
    logger = RunLogger(log_dir_for(args.out, args.log_dir), args, enabled=dist.is_main)
    layer_names = [s.strip() for s in args.layers.split(",") if s.strip()] if args.layers else None
    if layer_names is None:
        from common.layers import enumerate_layers

        layer_names = [info.name for info in enumerate_layers(model, input_size)]
    # each rank reads its share of the one-process run's batches (the same global order)
    loader, _ = build_loaders(
        ds, None, args.batch_size // dist.world_size, args.workers, dist.distributed, seed=args.seed
    )
    batches = _as_batches(loader, args.batches)
    local = torch.tensor(float(sum(int(x.shape[0]) for x, _ in batches)), dtype=torch.float64)
    samples = int(all_reduce_sum(local.to(device)))
    traces = hessian_traces(
        model,
        batches,
        layer_names,
        max_iter=args.probes,
        tol=args.tol,
        seed=args.seed,
        device=device,
        mode=args.mode,
        show_progress=args.progress if dist.is_main else False,
        probe_rng=args.probe_rng,
    )
    layers = {n: t.as_dict() for n, t in traces.items()}
    if args.eigen:
        eigs = hessian_top_eigenvalues(
            model,
            batches,
            layer_names,
            tol=args.tol,
            seed=args.seed,
            device=device,
            show_progress=args.progress if dist.is_main else False,
        )
        for n, e in eigs.items():
            layers[n]["top_eigenvalue"] = e.eigenvalue
            layers[n]["eigen_iters"] = e.iters
    result = {
        "arch": spec.name,
        "input_size": input_size,
        "settings": {
            "data": str(args.data),
            "split": args.split,
            "preset": preset,
            "checkpoint": args.checkpoint,
            "num_classes": num_classes,
            "batch_size": args.batch_size,
            "batches": len(batches),
            "samples": samples,
            "processes": dist.world_size,
            "probes": args.probes,
            "tol": args.tol,
            "mode": args.mode,
            "probe_rng": args.probe_rng,
            "seed": args.seed,
            "device": str(device),
            "weights": "raw conv/linear weights (BN not folded), bias excluded",
            "loss": "CrossEntropyLoss (batch mean), model in eval mode",
            "trace_key": "trace = Tr(H_i)/numel (average trace T_i); trace_sum = Tr(H_i)",
            "stderr_key": (
                "trace_sum_stderr = sample std of the per-probe estimates (v^T H v; in mode ggn ||g||^2/M) / "
                "sqrt(probes); "
                "trace_stderr = trace_sum_stderr/numel; null with one probe"
            ),
        },
        "wall_s": time.perf_counter() - start,
        "layers": layers,
    }
    if dist.is_main:
        write_json_atomic(args.out, result)
    for index, (name, entry) in enumerate(layers.items()):
        logger.log_epoch({"layer_index": index, "layer": name, "trace": entry["trace"]}, step=index)
    logger.info(f"{len(layers)} layer traces of {spec.name} written to {args.out} ({result['wall_s']:.1f} s)")
    logger.finalize({"out": str(args.out), "layers": len(layers), "wall_s": result["wall_s"]})
    cleanup_distributed()
    return result


def log_dir_for(out: Path, log_dir: Path | None = None) -> Path:
    """The run-log folder of a traces file: ``log_dir`` if given, else ``<out without suffix>.run``."""
    return Path(log_dir) if log_dir is not None else Path(out).with_suffix(".run")


if __name__ == "__main__":
    from common.runtime import run_main

    run_main(main)
