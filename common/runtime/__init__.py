"""Shared runtime for the five methods: seeding, device, torchrun/DDP, autocast, checkpoints,
meters, run logging and command-line helpers. Everything public is importable from here."""

from .checkpoint import (
    CHECKPOINT_SUFFIXES,
    find_resume,
    load_checkpoint,
    save_checkpoint,
    strip_module_prefix,
)
from .cli import AMP_CHOICES, add_common_args, format_user_error, run_main, user_error_exit
from .device import AMP_DTYPES, autocast_context, choose_device, make_grad_scaler
from .distributed import (
    DistInfo,
    all_reduce_mean,
    all_reduce_sum,
    barrier,
    cleanup_distributed,
    get_rank,
    get_world_size,
    init_distributed,
    is_dist_initialized,
    is_main_process,
    unwrap_model,
    wrap_ddp,
)
from .errors import CheckpointError, UsageError, is_user_error
from .files import atomic_open, atomic_write_text, save_figure, to_jsonable, write_json_atomic
from .meters import AverageMeter, accuracy
from .runlog import RunLogger, progress
from .seed import seed_everything, seed_worker
from .threads import add_threads_arg, set_threads

__all__ = [
    "AMP_CHOICES",
    "AMP_DTYPES",
    "AverageMeter",
    "CHECKPOINT_SUFFIXES",
    "CheckpointError",
    "DistInfo",
    "RunLogger",
    "UsageError",
    "accuracy",
    "add_common_args",
    "add_threads_arg",
    "all_reduce_mean",
    "all_reduce_sum",
    "atomic_open",
    "atomic_write_text",
    "autocast_context",
    "barrier",
    "choose_device",
    "cleanup_distributed",
    "find_resume",
    "format_user_error",
    "get_rank",
    "get_world_size",
    "init_distributed",
    "is_dist_initialized",
    "is_main_process",
    "is_user_error",
    "load_checkpoint",
    "make_grad_scaler",
    "progress",
    "run_main",
    "save_checkpoint",
    "seed_everything",
    "seed_worker",
    "set_threads",
    "strip_module_prefix",
    "to_jsonable",
    "unwrap_model",
    "user_error_exit",
    "wrap_ddp",
    "save_figure",
    "write_json_atomic",
]
