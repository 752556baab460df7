"""Run logging (Contract 7): resolved arguments, per-epoch CSV, final JSON, log file, tensorboard, tqdm."""

from __future__ import annotations

import argparse
import csv
import datetime
import logging
import os
import sys
import time
import warnings
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any

from .distributed import is_main_process
from .errors import UsageError
from .files import to_jsonable, write_json_atomic

__all__ = ["RunLogger", "add_logging_args", "progress"]


def _is_number(value: Any) -> bool:
    if isinstance(value, bool):
        return False
    if isinstance(value, (int, float)):
        return True
    try:  # tensors and NumPy scalars holding one number
        import numpy as np
        import torch

        if isinstance(value, torch.Tensor):
            return value.numel() == 1
        return isinstance(value, np.number)
    except ImportError:  # pragma: no cover
        return False


def add_logging_args(parser: argparse.ArgumentParser, project: str | None = None) -> argparse.ArgumentParser:
    """Add ``--wandb`` (off by default) and ``--wandb_project`` unless ``parser`` already has them.

    CSV, ``log.txt`` and tensorboard are always written by :class:`RunLogger`; Weights & Biases is the
    optional extra. ``WANDB_MODE=offline`` keeps it on disk (under ``<out>/wandb``), no network needed.
    """
    have = parser._option_string_actions
    if "--wandb" not in have:
        parser.add_argument(
            "--wandb",
            action="store_true",
            help="also log to Weights & Biases (needs wandb; WANDB_MODE=offline works without network)",
        )
    if "--wandb_project" not in have:
        parser.add_argument(
            "--wandb_project", default=project, help="Weights & Biases project (with --wandb)"
        )
    return parser


def _import_wandb() -> Any:
    try:
        import wandb
    except ImportError:
        raise UsageError(
            "--wandb: wandb is not installed (pip install wandb), or leave --wandb off"
        ) from None
    return wandb


class RunLogger:
    """Write a run's records into ``out_dir`` (main process only by default).

    Files: ``args.json`` (resolved arguments, at construction), ``epochs.csv`` (one row per
    :meth:`log_epoch`), ``log.txt`` (or ``log_name``; the run's only log file: everything passed to
    :meth:`info` and to the loggers :meth:`attach` es), ``final.json``
    (:meth:`finalize`, with the wall time), and tensorboard events under ``tb/``. Weights & Biases is
    used only when ``wandb=True`` (``wandb=None``: the ``wandb`` entry of ``args``, see
    :func:`add_logging_args`; ``wandb_project=None``: its ``wandb_project`` entry). With ``enabled=False`` (the default on ranks other than 0) every
    method is a no-op. Validate the inputs before creating the logger, so bad input leaves nothing.
    """

    def __init__(
        self,
        out_dir: str | os.PathLike[str],
        args: argparse.Namespace | Mapping[str, Any] | None = None,
        tensorboard: bool = True,
        enabled: bool | None = None,
        console: bool = True,
        wandb: bool | None = None,
        log_name: str = "log.txt",
        wandb_project: str | None = None,
    ) -> None:
        self.out_dir = Path(out_dir)
        given = vars(args) if isinstance(args, argparse.Namespace) else dict(args or {})
        if wandb is None:
            wandb = bool(given.get("wandb", False))
        if wandb_project is None:
            wandb_project = given.get("wandb_project")
        self.enabled = is_main_process() if enabled is None else bool(enabled)
        self.start_time = time.time()
        self.args: dict[str, Any] = to_jsonable(args) if args is not None else {}
        self._csv_header: list[str] | None = None
        self._epoch_count = 0
        self._tb: Any = None
        self._wandb: Any = None
        self._logger: logging.Logger | None = None
        self._handlers: list[logging.Handler] = []
        self._attached: list[logging.Logger] = []
        self.log_name = log_name
        self.finished = False
        if not self.enabled:
            return
        wandb_module = _import_wandb() if wandb else None  # a missing wandb fails before any file
        self.out_dir.mkdir(parents=True, exist_ok=True)
        write_json_atomic(self.args_path, self.args)
        self._setup_logging(console)
        if tensorboard:
            self._tb = self._open_tensorboard()
        if wandb_module is not None:
            self._wandb = wandb_module.init(project=wandb_project, config=self.args, dir=str(self.out_dir))

    # paths -----------------------------------------------------------------------------------------
    @property
    def args_path(self) -> Path:
        return self.out_dir / "args.json"

    @property
    def csv_path(self) -> Path:
        return self.out_dir / "epochs.csv"

    @property
    def final_path(self) -> Path:
        return self.out_dir / "final.json"

    @property
    def log_path(self) -> Path:
        return self.out_dir / self.log_name

    @property
    def tb_dir(self) -> Path:
        return self.out_dir / "tb"

    # set-up ----------------------------------------------------------------------------------------
    def _setup_logging(self, console: bool) -> None:
        logger = logging.getLogger(f"common.runtime.run.{id(self)}")
        logger.setLevel(logging.INFO)
        logger.propagate = False
        file_handler = logging.FileHandler(self.log_path, encoding="utf-8")
        file_handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(message)s"))
        self._handlers.append(file_handler)
        if console:
            stream = logging.StreamHandler(sys.stdout)
            stream.setFormatter(logging.Formatter("%(message)s"))
            self._handlers.append(stream)
        for handler in self._handlers:
            logger.addHandler(handler)
        self._logger = logger

    def _open_tensorboard(self) -> Any:
        try:
            from torch.utils.tensorboard import SummaryWriter
        except ImportError as exc:
            warnings.warn(f"tensorboard logging off: {exc}", RuntimeWarning, stacklevel=3)
            return None
        return SummaryWriter(log_dir=str(self.tb_dir))

    def attach(self, logger: logging.Logger | str) -> None:
        """Send an existing ``logging`` logger (e.g. a module's ``log``) to this run's one log file.

        Its own handlers are dropped (so no second log file), propagation is turned off, and the run's
        handlers (file, and stdout when ``console``) are added until :meth:`close`. On a disabled
        logger (other ranks) it is only silenced.
        """
        target = logging.getLogger(logger) if isinstance(logger, str) else logger
        for handler in list(target.handlers):
            target.removeHandler(handler)
            handler.close()
        target.setLevel(logging.INFO)
        target.propagate = False
        for handler in self._handlers:
            target.addHandler(handler)
        self._attached.append(target)

    # logging ---------------------------------------------------------------------------------------
    def info(self, msg: str, *args: Any) -> None:
        """Log a message to ``log.txt`` (and stdout when ``console``)."""
        if self._logger is not None:
            self._logger.info(msg, *args)

    def warning(self, msg: str, *args: Any) -> None:
        """Log a warning to ``log.txt`` (and stdout when ``console``)."""
        if self._logger is not None:
            self._logger.warning(msg, *args)

    def log_scalars(self, scalars: Mapping[str, Any], step: int) -> None:
        """Send numeric entries of ``scalars`` to tensorboard (and wandb) at ``step``."""
        if not self.enabled:
            return
        numeric = {k: float(v) for k, v in scalars.items() if _is_number(v)}
        if self._tb is not None:
            for key, value in numeric.items():
                self._tb.add_scalar(key, value, step)
        if self._wandb is not None:
            self._wandb.log(numeric, step=step)

    def log_epoch(self, row: Mapping[str, Any], step: int | None = None) -> None:
        """Append ``row`` to ``epochs.csv`` and its numeric entries to tensorboard.

        The first row fixes the columns (when ``epochs.csv`` already exists, e.g. on resume, its
        header does); a later row with other keys raises ``ValueError`` naming them. ``step``
        defaults to ``row["epoch"]``, else to the number of rows logged so far.
        """
        if not self.enabled:
            return
        values = {str(k): to_jsonable(v) for k, v in row.items()}
        if self._csv_header is None and self.csv_path.exists() and self.csv_path.stat().st_size > 0:
            with open(self.csv_path, newline="", encoding="utf-8") as handle:
                self._csv_header = next(csv.reader(handle), None)
        write_header = self._csv_header is None
        if write_header:
            self._csv_header = list(values)
        header = self._csv_header
        assert header is not None
        if set(values) != set(header):
            missing = [k for k in header if k not in values]
            extra = [k for k in values if k not in header]
            raise ValueError(
                f"{self.csv_path}: row keys differ from the header (missing {missing}, unexpected {extra})"
            )
        with open(self.csv_path, "a", newline="", encoding="utf-8") as handle:
            writer = csv.DictWriter(handle, fieldnames=header)
            if write_header:
                writer.writeheader()
            writer.writerow(values)
        if step is None:
            epoch = row.get("epoch")
            step = int(epoch) if _is_number(epoch) else self._epoch_count
        self._epoch_count += 1
        self.log_scalars(row, step)
        if self._tb is not None:
            self._tb.flush()

    def finalize(self, result: Mapping[str, Any]) -> Path | None:
        """Write ``final.json`` atomically: ``result`` plus ``wall_time_s`` and ``finished_at``.

        Keys already in ``result`` win. Closes tensorboard/wandb. Returns the path (``None`` when
        disabled).
        """
        if not self.enabled:
            return None
        final = {
            "wall_time_s": round(time.time() - self.start_time, 3),
            "finished_at": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        }
        final.update(to_jsonable(dict(result)))
        path = write_json_atomic(self.final_path, final)
        if self._wandb is not None:
            self._wandb.summary.update({k: v for k, v in final.items() if _is_number(v)})
        self.finished = True
        self.close()
        return path

    def close(self) -> None:
        """Flush and close tensorboard, wandb and the log file (safe to call twice)."""
        if self._tb is not None:
            self._tb.close()
            self._tb = None
        if self._wandb is not None:
            self._wandb.finish()
            self._wandb = None
        if self._logger is not None:
            for handler in self._handlers:
                for target in [self._logger, *self._attached]:
                    target.removeHandler(handler)
                handler.close()
            self._attached = []
            self._handlers = []
            self._logger = None

    def __enter__(self) -> RunLogger:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


def progress(
    iterable: Iterable[Any],
    desc: str | None = None,
    enabled: bool | None = None,
    total: int | None = None,
    lines: bool = False,
    **tqdm_kwargs: Any,
) -> Any:
    """Wrap ``iterable`` in a tqdm bar.

    ``enabled=None``: shown on the main process only, and only when stderr is a terminal.
    ``enabled=True`` forces it on, ``False`` off. The returned object iterates like ``iterable`` and
    has tqdm's ``set_postfix`` etc. (no-ops when disabled).

    ``lines=True`` (for long outer loops: epochs, episodes): where the bar would be hidden because stderr is
    not a terminal (a log file, a batch job), the main process prints one line per finished item instead,
    ``<desc> <i>/<total> (<seconds> s)``.
    """
    from tqdm import tqdm

    if lines and enabled is None and is_main_process() and not sys.stderr.isatty():
        return _progress_lines(iterable, desc or "progress", total, tqdm_kwargs.get("initial", 0))
    if enabled is None:
        disable: bool | None = True if not is_main_process() else None  # None: tqdm hides it off a TTY
    else:
        disable = not enabled
    tqdm_kwargs.setdefault("dynamic_ncols", True)
    return tqdm(iterable, desc=desc, total=total, disable=disable, **tqdm_kwargs)


def _progress_lines(iterable: Iterable[Any], desc: str, total: int | None, initial: int) -> Iterator[Any]:
    if total is None and hasattr(iterable, "__len__"):
        total = initial + len(iterable)  # type: ignore[arg-type]
    started = time.perf_counter()
    for done, item in enumerate(iterable, start=initial + 1):
        yield item
        print(f"{desc} {done}/{total if total is not None else '?'} ({time.perf_counter() - started:.0f} s)",
              file=sys.stderr, flush=True)  # fmt: skip
