"""The portable bit-config file (contract 2 of docs/design.md): dataclasses, read, write, validate.

A bit config is a JSON object::

    {
      "format": "mpq-bitconfig", "version": 1,
      "arch": "resnet18",            # a registered model name (common.models)
      "num_classes": 1000,           # optional, default: the arch's default
      "input_size": 224,             # optional, default: the arch's published size
      "method": "hawq",              # who produced it (hawq, haq, hmq, ompq, proqha, uniform, ...)
      "source": "HAWQ-V3 bit_config.py: bit_config_resnet18_uniform4",   # free-text provenance
      "layers": {"conv1": {"w": 8, "a": 8}, "layer1.0.conv1": {"w": 4, "a": 4, "threshold": 0.5}, ...},
      "costs": {...},                # optional: the cost figures it was searched against (free form)
      "extra": {...}                 # optional: method-specific data
    }

* ``w`` is the weight bit-width of the layer and ``a`` the bit-width of the layer's INPUT activation; both are
  ints in [1, 32], and 32 means float (not quantized). Any other key of a layer entry (HMQ's ``threshold``, ...)
  is kept in :attr:`LayerBits.extra`.
* The layer names are the module names of :func:`common.layers.enumerate_layers` on
  ``build_model(arch, num_classes)`` at ``input_size``; every enumerated layer must appear exactly once.

Every problem is a :class:`BitConfigError` (a ``ValueError``) with a one-line message that names the offending
layers (or the file).
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from common.runtime.files import atomic_write_text

FORMAT = "mpq-bitconfig"
VERSION = 1
MIN_BITS = 1
MAX_BITS = 32
FLOAT_BITS = 32
"""Bit-width that means "not quantized" (float)."""

_TOP_KEYS = (
    "format",
    "version",
    "arch",
    "num_classes",
    "input_size",
    "method",
    "source",
    "layers",
    "costs",
    "extra",
)


class BitConfigError(ValueError):
    """Any problem with a bit config; the message is one line and names the offending layers or file."""

    user_error = True


def name_list(names: Iterable[str], limit: int = 5) -> str:
    """``'a', 'b', 'c'`` or ``'a', ..., 'e' and 7 more`` (for one-line error messages)."""
    names = list(names)
    shown = ", ".join(repr(n) for n in names[:limit])
    if len(names) > limit:
        shown += f" and {len(names) - limit} more"
    return shown


def _one_line(msg: str) -> str:
    return " ".join(str(msg).split())


def _is_bits(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool) and MIN_BITS <= v <= MAX_BITS


@dataclass
class LayerBits:
    """Bits of one layer: ``w`` weight bits, ``a`` input-activation bits (32 = float), ``extra`` other keys."""

    w: int
    a: int
    extra: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """``{"w": w, "a": a, **extra}``."""
        return {"w": self.w, "a": self.a, **self.extra}

    @classmethod
    def from_dict(cls, d: Mapping[str, Any], name: str = "?") -> LayerBits:
        """Parse one layer entry; a missing ``w``/``a`` or a non-object entry is an error naming ``name``."""
        if not isinstance(d, Mapping):
            raise BitConfigError(f"layer {name!r}: entry must be an object with 'w' and 'a', got {d!r}")
        missing = [k for k in ("w", "a") if k not in d]
        if missing:
            raise BitConfigError(f"layer {name!r}: entry lacks {' and '.join(repr(k) for k in missing)}")
        return cls(w=d["w"], a=d["a"], extra={k: v for k, v in d.items() if k not in ("w", "a")})


@dataclass
class BitConfig:
    """A whole bit config; see the module docstring for the meaning of each field."""

    arch: str
    layers: dict[str, LayerBits]
    method: str = ""
    source: str = ""
    num_classes: int | None = None
    input_size: int | tuple[int, int] | None = None
    costs: dict[str, Any] = field(default_factory=dict)
    extra: dict[str, Any] = field(default_factory=dict)

    def weight_bits(self) -> dict[str, int]:
        """Layer name -> weight bits, in the config's layer order."""
        return {name: lb.w for name, lb in self.layers.items()}

    def act_bits(self) -> dict[str, int]:
        """Layer name -> input-activation bits, in the config's layer order."""
        return {name: lb.a for name, lb in self.layers.items()}

    def to_dict(self) -> dict[str, Any]:
        """The JSON object of the file (``num_classes``/``input_size`` only when set)."""
        d: dict[str, Any] = {"format": FORMAT, "version": VERSION, "arch": self.arch}
        if self.num_classes is not None:
            d["num_classes"] = self.num_classes
        if self.input_size is not None:
            d["input_size"] = list(self.input_size) if isinstance(self.input_size, tuple) else self.input_size
        d["method"] = self.method
        d["source"] = self.source
        d["layers"] = {name: lb.to_dict() for name, lb in self.layers.items()}
        d["costs"] = self.costs
        d["extra"] = self.extra
        return d

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> BitConfig:
        """Parse the JSON object of a file. Checks the structure only; :func:`validate` checks it against the arch."""
        if not isinstance(d, Mapping):
            raise BitConfigError(f"a bit config must be a JSON object, got {type(d).__name__}")
        if d.get("format") != FORMAT:
            raise BitConfigError(f"not a bit config: 'format' is {d.get('format')!r}, expected {FORMAT!r}")
        version = d.get("version")
        if not isinstance(version, int) or isinstance(version, bool) or version < 1:
            raise BitConfigError(f"bad 'version' {version!r}, expected {VERSION}")
        if version > VERSION:
            raise BitConfigError(
                f"bit config version {version} is newer than this reader (version {VERSION})"
            )
        unknown = [k for k in d if k not in _TOP_KEYS]
        if unknown:
            raise BitConfigError(
                f"unknown top-level key(s) {name_list(unknown)}; allowed: {', '.join(_TOP_KEYS)}"
            )
        arch = d.get("arch")
        if not isinstance(arch, str) or not arch:
            raise BitConfigError(f"'arch' must be a model name, got {arch!r}")
        layers = d.get("layers")
        if not isinstance(layers, Mapping):
            raise BitConfigError(
                f"'layers' must be an object of layer name -> {{'w', 'a'}}, got {layers!r:.60}"
            )
        for key in ("method", "source"):
            if not isinstance(d.get(key, ""), str):
                raise BitConfigError(f"{key!r} must be a string, got {d[key]!r}")
        for key in ("costs", "extra"):
            if not isinstance(d.get(key, {}), Mapping):
                raise BitConfigError(f"{key!r} must be an object, got {d[key]!r:.60}")
        input_size = d.get("input_size")
        if isinstance(input_size, list):
            input_size = tuple(input_size)
        return cls(
            arch=arch,
            layers={str(name): LayerBits.from_dict(entry, str(name)) for name, entry in layers.items()},
            method=d.get("method", ""),
            source=d.get("source", ""),
            num_classes=d.get("num_classes"),
            input_size=input_size,
            costs=dict(d.get("costs", {})),
            extra=dict(d.get("extra", {})),
        )


# ----------------------------------------------------------------------------------------------------------------
# enumeration of an architecture (cached)


def _resolve(arch: str, num_classes: int | None, input_size: Any) -> tuple[str, int, int | tuple[int, int]]:
    from common.models import get_spec

    try:
        spec = get_spec(arch)
    except ValueError as e:  # UnknownModelError: the message lists the known models
        raise BitConfigError(_one_line(str(e))) from e
    classes = spec.default_classes if num_classes is None else num_classes
    if not isinstance(classes, int) or isinstance(classes, bool) or classes < 1:
        raise BitConfigError(f"'num_classes' must be a positive int, got {num_classes!r}")
    size = spec.input_size if input_size is None else input_size
    if isinstance(size, (list, tuple)):
        size = tuple(size)
        ok = len(size) == 2 and all(isinstance(s, int) and not isinstance(s, bool) and s > 0 for s in size)
    else:
        ok = isinstance(size, int) and not isinstance(size, bool) and size > 0
    if not ok:
        raise BitConfigError(f"'input_size' must be a positive int (or [H, W]), got {input_size!r}")
    return spec.name, classes, size


def arch_layers(
    arch: str, num_classes: int | None = None, input_size: int | tuple[int, int] | None = None
) -> list:
    """The :class:`common.layers.LayerInfo` list of a registered arch (cached per arch, classes and size).

    ``num_classes``/``input_size`` default to the arch's registered values. Unknown archs raise
    :class:`BitConfigError` listing the known ones.
    """
    from common.layers import enumerate_arch

    name, classes, size = _resolve(arch, num_classes, input_size)
    return enumerate_arch(name, size, classes)


def arch_layer_names(
    arch: str, num_classes: int | None = None, input_size: int | tuple[int, int] | None = None
) -> list[str]:
    """Names of :func:`arch_layers`, in forward-execution order."""
    return [layer.name for layer in arch_layers(arch, num_classes, input_size)]


# ----------------------------------------------------------------------------------------------------------------
# validation


def validate(cfg: BitConfig, layers: Sequence[Any] | None = None) -> None:
    """Check ``cfg`` against its architecture; raise :class:`BitConfigError` (one line) on any problem.

    ``layers`` is the expected layer list (``LayerInfo`` objects or plain names); by default the arch is
    enumerated (cached) at ``cfg.num_classes`` / ``cfg.input_size``. Reports unknown layer names, missing layers
    and bits that are not ints in [1, 32], naming the layers (up to 5 per kind, then "and N more").
    """
    if not isinstance(cfg, BitConfig):
        raise BitConfigError(f"expected a BitConfig, got {type(cfg).__name__}")
    if layers is None:
        expected = arch_layer_names(cfg.arch, cfg.num_classes, cfg.input_size)
    else:
        _resolve(cfg.arch, cfg.num_classes, cfg.input_size)  # unknown arch / bad sizes are still errors
        expected = [x if isinstance(x, str) else x.name for x in layers]
    if not isinstance(cfg.layers, Mapping):
        raise BitConfigError(
            f"'layers' must be a dict of layer name -> LayerBits, got {type(cfg.layers).__name__}"
        )
    problems = []
    expected_set = set(expected)
    unknown = [n for n in cfg.layers if n not in expected_set]
    if unknown:
        problems.append(f"unknown layer(s) {name_list(unknown)}")
    missing = [n for n in expected if n not in cfg.layers]
    if missing:
        problems.append(f"missing layer(s) {name_list(missing)}")
    bad = []
    for name, lb in cfg.layers.items():
        if not isinstance(lb, LayerBits):
            bad.append(f"{name!r} (entry is {type(lb).__name__}, not LayerBits)")
            continue
        wrong = [f"{k}={v!r}" for k, v in (("w", lb.w), ("a", lb.a)) if not _is_bits(v)]
        if wrong:
            bad.append(f"{name!r} ({', '.join(wrong)})")
        elif not isinstance(lb.extra, Mapping) or any(k in ("w", "a") for k in lb.extra):
            bad.append(f"{name!r} (extra must be a dict without 'w'/'a')")
    if bad:
        shown = ", ".join(bad[:5]) + (f" and {len(bad) - 5} more" if len(bad) > 5 else "")
        problems.append(f"bits must be ints in [{MIN_BITS}, {MAX_BITS}]: {shown}")
    for key in ("costs", "extra"):
        if not isinstance(getattr(cfg, key), Mapping):
            problems.append(f"{key!r} must be a dict")
    if problems:
        raise BitConfigError(_one_line(f"bit config for {cfg.arch!r}: " + "; ".join(problems)))


# ----------------------------------------------------------------------------------------------------------------
# reading and writing


def _dumps(cfg: BitConfig) -> str:
    """Indented JSON with one line per layer entry."""
    d = cfg.to_dict()
    parts = []
    for key, value in d.items():
        if key == "layers":
            rows = [
                f"    {json.dumps(name)}: {json.dumps(entry, allow_nan=True)}"
                for name, entry in value.items()
            ]
            body = "{\n" + ",\n".join(rows) + "\n  }" if rows else "{}"
        else:
            body = json.dumps(value, indent=2).replace("\n", "\n  ")
        parts.append(f"  {json.dumps(key)}: {body}")
    return "{\n" + ",\n".join(parts) + "\n}\n"


def read_bitconfig(path: str | os.PathLike) -> BitConfig:
    """Read and validate a bit-config file; any problem is a :class:`BitConfigError` naming the file."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as e:
        raise BitConfigError(_one_line(f"{path}: cannot read bit config: {e.strerror or e}")) from e
    try:
        data = json.loads(text)
    except json.JSONDecodeError as e:
        raise BitConfigError(_one_line(f"{path}: not valid JSON: {e}")) from e
    try:
        cfg = BitConfig.from_dict(data)
        validate(cfg)
    except BitConfigError as e:
        raise BitConfigError(_one_line(f"{path}: {e}")) from e
    return cfg


def write_bitconfig(cfg: BitConfig, path: str | os.PathLike) -> Path:
    """Validate ``cfg`` and write it atomically to ``path`` (temporary file in the same folder, then rename).

    Nothing is created when validation fails, and a failed write leaves no partial file. Returns the path.
    """
    validate(cfg)
    try:
        text = _dumps(cfg)
    except (TypeError, ValueError) as e:
        raise BitConfigError(_one_line(f"{path}: cannot write bit config as JSON: {e}")) from e
    return atomic_write_text(path, text)


# ----------------------------------------------------------------------------------------------------------------
# uniform configs


def uniform_bitconfig(
    arch: str,
    w: int,
    a: int,
    *,
    keep_first_last: int | None = None,
    method: str = "uniform",
    num_classes: int | None = None,
    input_size: int | tuple[int, int] | None = None,
) -> BitConfig:
    """Every layer at ``w`` weight / ``a`` input-activation bits.

    With ``keep_first_last=k`` the first and the last layer in enumeration order get ``k`` bits for both weight
    and input activation (e.g. ``uniform_bitconfig("resnet18", 4, 4, keep_first_last=8)``).
    """
    names = arch_layer_names(arch, num_classes, input_size)
    layers = {n: LayerBits(w, a) for n in names}
    source = f"uniform W{w}A{a}"
    if keep_first_last is not None:
        for n in (names[0], names[-1]):
            layers[n] = LayerBits(keep_first_last, keep_first_last)
        source += f", first and last layer W{keep_first_last}A{keep_first_last}"
    from common.models import get_spec

    cfg = BitConfig(
        arch=get_spec(arch).name,
        layers=layers,
        method=method,
        source=source,
        num_classes=num_classes,
        input_size=input_size,
    )
    validate(cfg)
    return cfg
