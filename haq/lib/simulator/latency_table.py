"""Latency lookup tables ``T[i, w-1, a-1]`` of HAQ's linear search (docs/haq.md section 7).

The file name follows the original, ``<arch>_<dataset>_batch16_latency_table.npy``. The only table the
original shipped, ``qmobilenetv2_imagenet100``, lives in ``haq/lib/simulator/lookup_tables/`` (next to this
module, read-only). :mod:`haq.lib.simulator.build_table` makes one for any registered model and writes it
under the run's output root, ``<output>/lookup_tables/`` (never into the package); the search looks there
first and then among the shipped tables.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from common.runtime import UsageError

TABLE_DIR = Path(__file__).resolve().parent / "lookup_tables"
SIMULATOR_BATCH = 16


def table_name(arch: str, dataset: str, batch: int = SIMULATOR_BATCH) -> str:
    """The original's file name of the table of ``arch`` on ``dataset``."""
    return f"{arch}_{dataset}_batch{batch}_latency_table.npy"


def built_table_path(output: str | Path, arch: str, dataset: str, batch: int = SIMULATOR_BATCH) -> Path:
    """Where ``build_table`` writes by default: ``<output>/lookup_tables/<name>``."""
    return Path(output) / "lookup_tables" / table_name(arch, dataset, batch)


def table_path(
    arch: str, dataset: str, batch: int = SIMULATOR_BATCH, output: str | Path | None = None
) -> Path:
    """Table the search reads by default: one built under ``output`` if present, else the shipped one."""
    if output is not None:
        built = built_table_path(output, arch, dataset, batch)
        if built.is_file():
            return built
    return TABLE_DIR / table_name(arch, dataset, batch)


def load_table(path: str | Path, arch: str = "", dataset: str = "") -> np.ndarray:
    """Load a ``[layers, bits, bits]`` table; a missing file names the command that builds one."""
    path = Path(path)
    if not path.is_file():
        raise UsageError(
            f"no latency table {path}; build one with `python -m haq.lib.simulator.build_table --arch {arch or 'ARCH'}"
            f" --dataset {dataset or 'DATASET'}` or pass --latency_table FILE"
        )
    try:
        table = np.load(path)  # allow_pickle stays False: a table is a plain float array
    except (ValueError, OSError, EOFError) as exc:
        reason = " ".join(str(exc).split())[:120] or type(exc).__name__
        raise UsageError(f"latency table {path} is not a NumPy table file ({reason})") from None
    if not isinstance(table, np.ndarray):
        raise UsageError(f"latency table {path} is not a single NumPy array (.npy)")
    if table.ndim != 3 or table.shape[1] != table.shape[2]:
        raise UsageError(f"latency table {path} has shape {table.shape}, expected [layers, bits, bits]")
    return table.copy()
