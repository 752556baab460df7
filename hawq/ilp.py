"""HAWQ-V3's bit-width search: the integer linear program of ``ILP.ipynb`` (docs/hawq.md section 3.6).

The original notebook solves the ILP with PuLP + GLPK; here it is solved with :func:`scipy.optimize.milp`
(HiGHS), which gives the identical optimum on all 18 shipped problems.

The problem, for the searched layers i = 0..n-1 (every conv except the first conv; the FC is not searched
either; both stay at W8A8):

* variables x_i in {1, 2}: 1 means 4-bit, 2 means 8-bit (weights and the layer's input activation);
* sensitivity difference d_i = T_i * (Delta8_i - Delta4_i) (< 0), where T_i is the average Hessian trace
  Tr(H_i)/n_i and Delta_b_i = ||W_i - Q_b(W_i)||^2 the squared quantization perturbation;
* objective: minimise sum_i (x_i - 1) * d_i;
* exactly one budget constraint, with r in [0, 1] interpolating between all-4-bit (r = 0) and all-8-bit (r = 1):

  - ``modelsize``: sum_i 0.5 * x_i * p_i <= S4 + r * (S8 - S4), with S8 = sum p_i and S4 = S8 / 2
    (p_i = parameters in millions; the notebook uses 2**20 units for ResNet-18 and 1e6 for ResNet-50);
  - ``bops``: sum_i [B4_i + (x_i - 1)(B8_i - B4_i)] <= sum B4 + r * (sum B8 - sum B4), with B8_i = MAC_i / 16 and
    B4_i = MAC_i / 64 (MACs in millions, i.e. MAC * b**2 / 1024: normalised to FP32 = 32 x 32);
  - ``latency``: sum_i [L4_i + (x_i - 1)(L8_i - L4_i)] <= sum L4 + r * (sum L8 - sum L4) (per-layer int4/int8
    latencies, ms);

* ties x_a = x_b: a ResNet downsample conv reads the block input through the same quantizer as the block's conv1,
  so both get the same bits (:func:`derive_ties`).

Inputs come from a traces JSON (:func:`load_traces`, format below) or from the data arrays shipped in the
notebook (:func:`load_notebook_data`, the ``nets`` entries of the golden ``ilp.json``). The result becomes a
portable bit config (:func:`to_bitconfig`) for the whole model.

Traces JSON (``--traces``)::

    {"arch": "resnet18",                              # a registered model name (optional with --arch)
     "layers": {"layer1.0.conv1": {"trace": 0.0686,  # average Hessian trace Tr(H)/n (required)
                                   "delta8": 0.0235,  # ||W - Q_8(W)||^2 (optional)
                                   "delta4": 6.743,   # ||W - Q_4(W)||^2 (optional)
                                   "params": 36864,   # weight parameter count (optional)
                                   "macs": 115605504, # MACs (optional)
                                   "latency_int4": 0.21, "latency_int8": 0.36},   # ms (only for --kind latency)
                ...}}

Layer names are our module names (torchvision's); HAWQ-V3 names (``stage1.unit1.quant_convbn1``) are accepted
too. Every searched layer needs an entry; entries for the first conv and the FC are ignored. Missing
``params``/``macs`` come from :mod:`common.layers`; missing ``delta8``/``delta4`` are computed from the model's
weights (``--weights FILE`` or ``--pretrained``) by :func:`quant_perturbation`. ``params`` and ``macs`` are raw
counts; the ILP uses params in 2**20 units and MACs in millions (the units of the notebook's ResNet-18 data).

CLI::

    python -m hawq.ilp --traces TRACES.json [--arch resnet18] --kind bops --r 0.5 --out bitcfg.json
    python -m hawq.ilp --notebook-data ilp.json --net resnet18 --kind bops --r 0.5 --out bitcfg.json
"""

from __future__ import annotations

import argparse
import json
import math
import re
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from common.runtime import UsageError, check_output_file, run_main

if TYPE_CHECKING:
    from torch import nn

KINDS: tuple[str, ...] = ("modelsize", "bops", "latency")
"""The three budget kinds of the notebook."""

PARAM_UNIT = float(2**20)
"""Unit of ``params`` in problems built from a traces file (the notebook's ResNet-18 unit)."""
MAC_UNIT = 1e6
"""Unit of ``macs`` in problems built from a traces file and in the notebook data (MACs in millions)."""
PINNED_BITS = 8
"""Bits (weight and input activation) of the layers the ILP does not search: the first conv and the FC."""


class IlpError(UsageError):
    """Bad ILP input or an infeasible budget; reported as one line with exit status 2 by the CLI."""


class IlpInfeasibleError(IlpError):
    """The budget is below the all-4-bit cost, so no assignment satisfies it."""


# ----------------------------------------------------------------------------------------------------------------
# the problem


@dataclass
class IlpProblem:
    """Inputs of the ILP for one network, one entry per searched layer, in ILP (forward) order.

    ``layers`` are our module names; ``hawq_names`` the HAWQ-V3 ``bit_config`` weight keys of the same layers
    (empty when the arch has no HAWQ-V3 counterpart). ``params`` and ``macs`` are in the units the limits are
    reported in (see :data:`PARAM_UNIT`, :data:`MAC_UNIT`; the notebook's ResNet-50 params are in 1e6 units).
    ``ties`` are pairs of indices into ``layers`` whose bits must be equal.
    """

    arch: str
    layers: list[str]
    trace: list[float]
    delta8: list[float]
    delta4: list[float]
    params: list[float]
    macs: list[float]
    latency_int4: list[float] | None = None
    latency_int8: list[float] | None = None
    ties: list[tuple[int, int]] = field(default_factory=list)
    hawq_names: list[str] = field(default_factory=list)
    source: str = ""

    def __post_init__(self) -> None:
        n = len(self.layers)
        if n == 0:
            raise IlpError("the ILP needs at least one searched layer")
        if len(set(self.layers)) != n:
            raise IlpError(f"duplicate layer names in the ILP problem of {self.arch}")
        arrays = {
            "trace": self.trace,
            "delta8": self.delta8,
            "delta4": self.delta4,
            "params": self.params,
            "macs": self.macs,
            "latency_int4": self.latency_int4,
            "latency_int8": self.latency_int8,
        }
        for key, values in arrays.items():
            if values is None:
                continue
            if len(values) != n:
                raise IlpError(f"{key} has {len(values)} entries for {n} layers")
            bad = [self.layers[i] for i, v in enumerate(values) if not math.isfinite(float(v))]
            if bad:
                raise IlpError(f"{key} is not a finite number for layer(s) {', '.join(bad[:5])}")
        for a, b in self.ties:
            if not (0 <= a < n and 0 <= b < n):
                raise IlpError(f"tie ({a}, {b}) is out of range for {n} layers")
        if self.hawq_names and len(self.hawq_names) != n:
            raise IlpError(f"{len(self.hawq_names)} HAWQ names for {n} layers")

    @property
    def sensitivity(self) -> np.ndarray:
        """d_i = T_i * (Delta8_i - Delta4_i): the objective coefficient of choosing 8 bits for layer i."""
        return np.asarray(self.trace, float) * (
            np.asarray(self.delta8, float) - np.asarray(self.delta4, float)
        )

    def costs(self, kind: str) -> tuple[np.ndarray, np.ndarray]:
        """Per-layer (4-bit cost, 8-bit cost) of budget ``kind``.

        modelsize: (0.5 p_i, p_i); bops: (MAC_i / 64, MAC_i / 16); latency: (L4_i, L8_i).
        """
        if kind == "modelsize":
            p = np.asarray(self.params, float)
            return 0.5 * p, p
        if kind == "bops":
            m = np.asarray(self.macs, float)
            return m / 64.0, m / 16.0
        if kind == "latency":
            if self.latency_int4 is None or self.latency_int8 is None:
                raise IlpError(
                    f"--kind latency needs latency_int4 and latency_int8 for every layer of {self.arch}"
                )
            return np.asarray(self.latency_int4, float), np.asarray(self.latency_int8, float)
        raise IlpError(f"unknown ILP kind {kind!r}; choose one of {', '.join(KINDS)}")


@dataclass
class IlpResult:
    """Solution of one ILP: ``bits`` maps each searched layer (our name, ILP order) to 4 or 8.

    ``objective`` = sum_i (x_i - 1) d_i, ``limit`` the budget's right-hand side, ``cost`` the constrained quantity
    of the solution (<= limit), ``status`` the solver's status ("Optimal").
    """

    bits: dict[str, int]
    objective: float
    limit: float
    status: str
    kind: str = ""
    r: float = 0.0
    cost: float = 0.0

    @property
    def bit_list(self) -> list[int]:
        """The bits in ILP order."""
        return list(self.bits.values())


def budget_limit(problem: IlpProblem, kind: str, r: float) -> float:
    """Right-hand side of the constraint: C4 + r (C8 - C4), with C_b the all-b-bit cost of the searched layers."""
    c4, c8 = problem.costs(kind)
    return float(c4.sum() + r * (c8.sum() - c4.sum()))


def solve_ilp(problem: IlpProblem, kind: str, r: float) -> IlpResult:
    """Solve the HAWQ-V3 ILP of ``problem`` under budget ``kind`` at fraction ``r`` with scipy's HiGHS ``milp``.

    With y_i = x_i - 1 in {0, 1}: minimise sum y_i d_i subject to sum_i C4_i + y_i (C8_i - C4_i) <= limit and
    y_a = y_b for each tie. Raises :class:`IlpInfeasibleError` when the all-4-bit cost exceeds the limit (the only
    way the problem can be infeasible, since all-4-bit satisfies every tie).
    """
    try:
        r = float(r)
    except (TypeError, ValueError) as e:
        raise IlpError(f"budget fraction r must be a number, got {r!r}") from e
    if not math.isfinite(r):
        raise IlpError(f"budget fraction r must be finite, got {r}")
    c4, c8 = problem.costs(kind)
    limit = budget_limit(problem, kind, r)
    result = solve_ilp_limits(problem, [(kind, c4, c8, limit)], f"budget r={r:g}")
    result.r = r
    return result


def solve_ilp_limits(
    problem: IlpProblem,
    constraints: Sequence[tuple[str, Any, Any, float]],
    what: str = "budget",
) -> IlpResult:
    """The same ILP under several budgets at once: each constraint is ``(kind, C4, C8, limit)``.

    Every constraint reads sum_i C4_i + y_i (C8_i - C4_i) <= limit with the per-layer 4- and 8-bit costs given
    in the constraint's own units (e.g. weight bits and BOPs together). ``cost`` of the result is that of the
    first constraint.
    """
    from scipy.optimize import Bounds, LinearConstraint, milp

    if not constraints:
        raise IlpError("the ILP needs at least one budget constraint")
    n = len(problem.layers)
    rows, bases = [], []
    for kind, c4, c8, limit in constraints:
        c4, c8 = np.asarray(c4, float), np.asarray(c8, float)
        if c4.shape != (n,) or c8.shape != (n,):
            raise IlpError(f"{kind} costs must have one entry per searched layer ({n})")
        base = float(c4.sum())
        if base > limit + 1e-12 * max(1.0, abs(limit)):
            raise IlpInfeasibleError(
                f"{what} infeasible: the all-4-bit {kind} cost {base:.6g} exceeds the limit {limit:.6g} "
                f"of {problem.arch}"
            )
        rows.append(LinearConstraint((c8 - c4)[None, :], -np.inf, limit - base))
        bases.append((base, c8 - c4, limit))
    d = problem.sensitivity
    if problem.ties:
        tie_rows = np.zeros((len(problem.ties), n))
        for row, (a, b) in enumerate(problem.ties):
            tie_rows[row, a] += 1.0
            tie_rows[row, b] -= 1.0
        rows.append(LinearConstraint(tie_rows, 0.0, 0.0))
    res = milp(c=d, constraints=rows, integrality=np.ones(n), bounds=Bounds(0.0, 1.0))
    kind = "+".join(c[0] for c in constraints)
    if res.x is None:
        raise IlpError(f"ILP solver failed for {problem.arch} {kind} ({what}): {res.message}")
    y = np.rint(res.x).astype(int)
    bits = {name: 8 if yi else 4 for name, yi in zip(problem.layers, y, strict=True)}
    base, step, limit = bases[0]
    return IlpResult(
        bits=bits,
        objective=float(np.dot(y, d)),
        limit=limit,
        status="Optimal" if res.status == 0 else str(res.message),
        kind=kind,
        cost=float(base + np.dot(y, step)),
    )


# ----------------------------------------------------------------------------------------------------------------
# layers, names and ties


def searched_layers(arch: str) -> list[Any]:
    """The layers the ILP searches: every enumerated layer except the first one (the first conv) and linear ones."""
    from common.bitconfig import arch_layers
    from common.layers import LINEAR

    layers = arch_layers(arch)
    return [layer for layer in layers[1:] if layer.kind != LINEAR]


def derive_ties(layers: Sequence[str]) -> list[tuple[int, int]]:
    """Index pairs (conv1, downsample) of every residual block whose downsample conv is searched.

    In HAWQ-V3's ResNets the downsample conv (``layer{s}.{b}.downsample.0``) reads the block input through the
    same ``quant_act`` as the block's ``conv1`` (``layer{s}.{b}.conv1``), so their bits are tied.
    """
    index = {name: i for i, name in enumerate(layers)}
    ties = []
    for i, name in enumerate(layers):
        m = re.fullmatch(r"(.+)\.downsample\.0", name)
        if m and f"{m[1]}.conv1" in index:
            ties.append((index[f"{m[1]}.conv1"], i))
    return sorted(ties)


def _hawq_weight_keys(arch: str) -> dict[str, str]:
    """Our layer name -> HAWQ-V3 weight key for ``arch``; empty when the arch has no HAWQ-V3 counterpart."""
    from common.bitconfig import BitConfigError, hawq_layer_keys

    try:
        return {ours: keys[0] for ours, keys in hawq_layer_keys(arch).items()}
    except BitConfigError:
        return {}


def _resolve_arch(arch: str) -> str:
    from common.models import get_spec

    try:
        return get_spec(arch).name
    except ValueError as e:
        raise IlpError(" ".join(str(e).split())) from e


# ----------------------------------------------------------------------------------------------------------------
# loaders


def load_notebook_data(data: Mapping[str, Any] | str | Path, net: str) -> IlpProblem:
    """Build the problem of ``net`` (``resnet18`` or ``resnet50``, HAWQ-V3 names) from the notebook arrays.

    ``data`` is the parsed golden ``ilp.json`` (or a path to it): ``nets.<net>`` holds ``Hutchinson_trace``,
    ``delta_weights_8bit_square``, ``delta_weights_4bit_square``, ``parameters``, ``bops`` (MACs / 1e6),
    ``latency_int4``, ``latency_int8``, ``layer_names`` (HAWQ-V3 weight keys) and ``ties``. The HAWQ names are
    mapped to ours; the notebook's ties are kept (they equal :func:`derive_ties` of the mapped names).
    """
    from common.bitconfig import HAWQ_ARCHS

    if not isinstance(data, Mapping):
        path = Path(data)
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except OSError as e:
            raise IlpError(f"cannot read notebook data {path}: {e.strerror or e}") from e
        except json.JSONDecodeError as e:
            raise IlpError(f"{path}: not valid JSON: {e}") from e
    nets = data.get("nets") if isinstance(data, Mapping) else None
    if not isinstance(nets, Mapping):
        raise IlpError("notebook data must be an object with a 'nets' object (the golden ilp.json)")
    if net not in nets:
        raise IlpError(f"net {net!r} not in the notebook data; available: {', '.join(nets)}")
    entry = nets[net]
    keys = [
        "Hutchinson_trace",
        "delta_weights_8bit_square",
        "delta_weights_4bit_square",
        "parameters",
        "bops",
        "layer_names",
    ]
    missing = [k for k in keys if k not in entry]
    if missing:
        raise IlpError(f"notebook data of {net!r} lacks {', '.join(missing)}")
    if net not in HAWQ_ARCHS:
        raise IlpError(f"unknown HAWQ-V3 net {net!r}; known: {', '.join(HAWQ_ARCHS)}")
    arch = HAWQ_ARCHS[net]
    to_ours = {hawq: ours for ours, hawq in _hawq_weight_keys(net).items()}
    unknown = [h for h in entry["layer_names"] if h not in to_ours]
    if unknown:
        raise IlpError(f"unknown HAWQ-V3 layer name(s) for {net}: {', '.join(unknown[:5])}")
    return IlpProblem(
        arch=arch,
        layers=[to_ours[h] for h in entry["layer_names"]],
        trace=list(entry["Hutchinson_trace"]),
        delta8=list(entry["delta_weights_8bit_square"]),
        delta4=list(entry["delta_weights_4bit_square"]),
        params=list(entry["parameters"]),
        macs=list(entry["bops"]),
        latency_int4=list(entry["latency_int4"]) if "latency_int4" in entry else None,
        latency_int8=list(entry["latency_int8"]) if "latency_int8" in entry else None,
        ties=[(int(a), int(b)) for a, b in entry.get("ties", [])],
        hawq_names=list(entry["layer_names"]),
        source=f"HAWQ-V3 ILP.ipynb data arrays of {net}",
    )


def quant_perturbation(weight: Any, bits: int) -> float:
    """Delta_b = ||W - Q_b(W)||^2 (sum of squares) under symmetric per-output-channel quantization.

    For output channel c: s_c = max(max|W_c|, 1e-8) / (2**(b-1) - 1) and
    Q_b(W_c) = s_c * clamp(round(W_c / s_c), -2**(b-1), 2**(b-1) - 1) (round half to even, as ``torch.round``).
    Computed in float64.
    """
    import torch

    w = torch.as_tensor(weight).detach().to(torch.float64)
    flat = w.reshape(w.shape[0], -1) if w.dim() > 1 else w.reshape(1, -1)
    qmax = 2 ** (bits - 1) - 1
    scale = flat.abs().amax(dim=1, keepdim=True).clamp_min(1e-8) / qmax
    q = torch.clamp(torch.round(flat / scale), -qmax - 1, qmax) * scale
    return float(((flat - q) ** 2).sum())


def original_float_model(arch: str) -> nn.Module:
    """The registered ``arch`` with the float weights HAWQ-V3 starts from: pytorchcv's file, read from
    ``$MPQ_WEIGHTS_DIR/pytorchcv/<hawq arch>.pth`` by :func:`hawq.utils.models.build_float_model`. A missing
    file is a one-line error naming it, its URL and its folder; an arch without a pytorchcv file is an
    :class:`IlpError` asking for ``--weights FILE`` (no other published weights stand in)."""
    from hawq.utils.models import build_float_model, pytorchcv_source, quantize_arch_dict

    by_float = {q.float_name: name for name, q in quantize_arch_dict.items() if pytorchcv_source(name)}
    if arch not in by_float:
        raise IlpError(
            f"no original (pytorchcv) float weights are known for {arch} (known: {', '.join(by_float)}); "
            "give --weights FILE"
        )
    return build_float_model(by_float[arch], pretrained=True)


def weight_perturbations(
    arch: str, weights: str | Path | bool, layers: Sequence[str]
) -> dict[str, tuple[float, float]]:
    """(Delta8, Delta4) of each named layer's weight, from the float model of ``arch`` with ``weights``.

    ``weights=True`` means the original's float starting point, pytorchcv's ImageNet file
    (:func:`original_float_model`); a path is a state dict for ``arch``. The raw conv weights are used (BN
    not folded; the original leaves this unspecified, spec section 3.7).
    """
    from common.models import build_model

    model = original_float_model(arch) if weights is True else build_model(arch, pretrained=weights)
    modules = dict(model.named_modules())
    out = {}
    for name in layers:
        weight = modules[name].weight
        out[name] = (quant_perturbation(weight, 8), quant_perturbation(weight, 4))
    return out


def _number(value: Any, what: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise IlpError(f"{what} must be a finite number, got {value!r}")
    return float(value)


def load_traces(
    traces: Mapping[str, Any] | str | Path,
    arch: str | None = None,
    weights: str | Path | bool | None = None,
) -> IlpProblem:
    """Build the problem from a traces JSON (format in the module docstring) or its parsed object.

    ``arch`` overrides/provides the architecture (it must agree with the file's ``arch`` when both are given).
    ``weights`` (a state-dict path, or True for the published weights) is needed only when some searched layer
    lacks ``delta8``/``delta4``.
    """
    where = "traces"
    if not isinstance(traces, Mapping):
        path = Path(traces)
        where = str(path)
        try:
            traces = json.loads(path.read_text(encoding="utf-8"))
        except OSError as e:
            raise IlpError(f"cannot read traces file {path}: {e.strerror or e}") from e
        except json.JSONDecodeError as e:
            raise IlpError(f"{path}: not valid JSON: {e}") from e
    if not isinstance(traces, Mapping) or not isinstance(traces.get("layers"), Mapping):
        raise IlpError(
            f"{where}: expected an object with a 'layers' object of layer name -> {{'trace': ...}}"
        )
    file_arch = traces.get("arch")
    if arch is None and file_arch is None:
        raise IlpError(f"{where}: no 'arch' in the file; give --arch")
    if arch is not None and file_arch is not None and _resolve_arch(arch) != _resolve_arch(str(file_arch)):
        raise IlpError(f"{where} is for arch {file_arch!r}, not {arch!r}")
    arch = _resolve_arch(str(arch if arch is not None else file_arch))
    searched = searched_layers(arch)
    names = [layer.name for layer in searched]
    from common.bitconfig import arch_layer_names

    all_names = set(arch_layer_names(arch))
    hawq_keys = _hawq_weight_keys(arch)
    from_hawq = {h: ours for ours, h in hawq_keys.items()}
    entries: dict[str, Mapping[str, Any]] = {}
    unknown = []
    for key, value in traces["layers"].items():
        ours = key if key in all_names else from_hawq.get(key)
        if ours is None:
            unknown.append(key)
            continue
        if not isinstance(value, Mapping):
            raise IlpError(f"{where}: layer {key!r} must map to an object with 'trace', got {value!r:.60}")
        entries[ours] = value
    if unknown:
        raise IlpError(f"{where}: unknown layer name(s) for {arch}: {', '.join(unknown[:5])}")
    missing = [n for n in names if n not in entries or "trace" not in entries[n]]
    if missing:
        raise IlpError(f"{where}: no 'trace' for searched layer(s) {', '.join(missing[:5])}")
    need_delta = [n for n in names if "delta8" not in entries[n] or "delta4" not in entries[n]]
    computed: dict[str, tuple[float, float]] = {}
    if need_delta:
        if not weights:
            raise IlpError(
                f"{where}: delta8/delta4 missing for {', '.join(need_delta[:3])}"
                f"{' and more' if len(need_delta) > 3 else ''}; give --weights FILE or --pretrained to compute them"
            )
        computed = weight_perturbations(arch, weights, need_delta)
    info = {layer.name: layer for layer in searched}

    def get(name: str, key: str, default: float | None) -> float | None:
        if key in entries[name]:
            return _number(entries[name][key], f"{where}: layer {name!r} {key}")
        return default

    trace = [get(n, "trace", None) for n in names]
    delta8 = [get(n, "delta8", computed.get(n, (0.0, 0.0))[0]) for n in names]
    delta4 = [get(n, "delta4", computed.get(n, (0.0, 0.0))[1]) for n in names]
    params = [get(n, "params", float(info[n].weight_params)) / PARAM_UNIT for n in names]
    macs = [get(n, "macs", float(info[n].macs)) / MAC_UNIT for n in names]
    lat4 = [entries[n].get("latency_int4") for n in names]
    lat8 = [entries[n].get("latency_int8") for n in names]
    has_latency = all(v is not None for v in lat4 + lat8)
    return IlpProblem(
        arch=arch,
        layers=names,
        trace=trace,  # type: ignore[arg-type]
        delta8=delta8,  # type: ignore[arg-type]
        delta4=delta4,  # type: ignore[arg-type]
        params=params,
        macs=macs,
        latency_int4=[_number(v, f"{where}: latency_int4") for v in lat4] if has_latency else None,
        latency_int8=[_number(v, f"{where}: latency_int8") for v in lat8] if has_latency else None,
        ties=derive_ties(names),
        hawq_names=[hawq_keys[n] for n in names] if hawq_keys else [],
        source=f"Hessian traces from {where}" + (" (deltas computed from weights)" if computed else ""),
    )


# ----------------------------------------------------------------------------------------------------------------
# bit config


def to_bitconfig(problem: IlpProblem, result: IlpResult, source: str | None = None) -> Any:
    """The portable :class:`common.bitconfig.BitConfig` of the whole model for an ILP result.

    Searched layers get w = a = their ILP bits (in HAWQ-V3 a conv's input quantizer has the conv's bits); every
    other layer (the first conv and the FC) gets W8A8. ``costs`` holds the HAWQ-V3-convention ``size_MB`` and
    ``GBOPs`` of the whole model (:mod:`common.cost`) and the ILP's kind, r, limit, objective and constrained cost.
    """
    from common.bitconfig import BitConfig, LayerBits, arch_layer_names, validate
    from common.cost import evaluate_cost

    layer_bits: dict[str, LayerBits] = {}
    for name in arch_layer_names(problem.arch):
        b = result.bits.get(name, PINNED_BITS)
        layer_bits[name] = LayerBits(b, b)
    totals = evaluate_cost(
        problem.arch, "hawq", layer_bits={n: (lb.w, lb.a) for n, lb in layer_bits.items()}
    ).totals
    costs = {
        "convention": "hawq",
        "size_MB": totals["size_MB"],
        "GBOPs": totals["GBOPs"],
        "ilp": {
            "kind": result.kind,
            "r": result.r,
            "limit": result.limit,
            "cost": result.cost,
            "objective": result.objective,
            "status": result.status,
        },
    }
    extra: dict[str, Any] = {"ilp_layers": list(problem.layers), "ilp_ties": [list(t) for t in problem.ties]}
    if problem.hawq_names:
        extra["ilp_hawq_names"] = list(problem.hawq_names)
    if source is None:
        source = (
            f"HAWQ-V3 ILP ({result.kind}, r={result.r:g}) solved with scipy HiGHS; inputs: {problem.source}"
        )
    cfg = BitConfig(
        arch=problem.arch, layers=layer_bits, method="hawq", source=source, costs=costs, extra=extra
    )
    validate(cfg)
    return cfg


# ----------------------------------------------------------------------------------------------------------------
# CLI


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m hawq.ilp",
        description="HAWQ-V3 ILP bit-width search (scipy HiGHS); writes a portable bit-config file.",
    )
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument(
        "--traces", metavar="JSON", help="per-layer Hessian traces (format: hawq/ilp.py docstring)"
    )
    src.add_argument("--notebook-data", metavar="JSON", help="the ILP.ipynb data arrays (golden ilp.json)")
    p.add_argument("--net", default="resnet18", help="net of --notebook-data: resnet18 or resnet50")
    p.add_argument(
        "--arch", default=None, help="registered model name for --traces (default: the file's 'arch')"
    )
    p.add_argument("--kind", choices=KINDS, required=True, help="budget kind")
    p.add_argument(
        "--r", type=float, required=True, help="budget fraction: 0 = all 4-bit cost, 1 = all 8-bit"
    )
    p.add_argument(
        "--weights",
        "--checkpoint",
        dest="weights",
        default=None,
        help="state-dict file to compute missing delta8/delta4 from",
    )
    p.add_argument(
        "--pretrained", action="store_true", help="compute missing deltas from the published weights"
    )
    p.add_argument("--out", type=Path, required=True, help="bit-config JSON file to write")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    check_output_file("--out", args.out)
    if args.notebook_data:
        problem = load_notebook_data(args.notebook_data, args.net)
    else:
        weights: str | bool | None = args.weights or (True if args.pretrained else None)
        problem = load_traces(args.traces, args.arch, weights)
    result = solve_ilp(problem, args.kind, args.r)
    cfg = to_bitconfig(problem, result)
    from common.bitconfig import write_bitconfig

    write_bitconfig(cfg, args.out)
    bits = "".join(str(b) for b in result.bit_list)
    print(
        f"{problem.arch} {args.kind} r={args.r:g}: bits {bits} objective {result.objective:.6f} "
        f"limit {result.limit:.6f} cost {result.cost:.6f} ({result.status}); "
        f"size {cfg.costs['size_MB']:.3f} MB, {cfg.costs['GBOPs']:.2f} GBOPs -> {args.out}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(run_main(main))
