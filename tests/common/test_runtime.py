"""Tests for common.runtime (single process; the two-process DDP check is in test_ddp.py)."""

from __future__ import annotations

import argparse
import csv
import json
import os
import random
import subprocess
import sys
import textwrap
from collections import OrderedDict
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

from common import runtime as rt
from common.runtime import (
    AverageMeter,
    CheckpointError,
    DistInfo,
    RunLogger,
    UsageError,
    accuracy,
    add_common_args,
    autocast_context,
    choose_device,
    find_resume,
    init_distributed,
    load_checkpoint,
    make_grad_scaler,
    run_main,
    save_checkpoint,
    seed_everything,
    strip_module_prefix,
    to_jsonable,
    wrap_ddp,
)

REPO = Path(__file__).resolve().parents[2]


def _draw() -> tuple[float, float, torch.Tensor]:
    return random.random(), float(np.random.rand()), torch.rand(4)


# --- seeding -----------------------------------------------------------------------------------------


def test_seed_everything_is_reproducible() -> None:
    assert seed_everything(7) == 7
    a = _draw()
    seed_everything(7)
    b = _draw()
    assert a[0] == b[0] and a[1] == b[1] and torch.equal(a[2], b[2])


def test_seed_rank_offset_changes_the_stream() -> None:
    assert seed_everything(7, rank=1) == 8
    r1 = _draw()
    seed_everything(7, rank=0)
    r0 = _draw()
    assert r0[0] != r1[0] and r0[1] != r1[1] and not torch.equal(r0[2], r1[2])
    seed_everything(8)  # seed + rank is the effective seed
    assert torch.equal(_draw()[2], r1[2])


def test_seed_deterministic_flag() -> None:
    try:
        seed_everything(0, deterministic=True)
        assert torch.are_deterministic_algorithms_enabled()
        assert torch.backends.cudnn.deterministic and not torch.backends.cudnn.benchmark
    finally:
        torch.use_deterministic_algorithms(False)
        torch.backends.cudnn.deterministic = False


# --- device and autocast -------------------------------------------------------------------------------


def test_choose_device_cpu_and_auto() -> None:
    assert choose_device("cpu") == torch.device("cpu")
    assert choose_device(torch.device("cpu")) == torch.device("cpu")
    expected = "cuda" if torch.cuda.is_available() else "cpu"
    assert choose_device(None).type == expected
    assert choose_device("auto").type == expected


def test_choose_device_errors() -> None:
    with pytest.raises(UsageError, match="unknown device 'gpu0'"):
        choose_device("gpu0")
    if not torch.cuda.is_available():
        with pytest.raises(UsageError, match="CUDA is not available"):
            choose_device("cuda")
        with pytest.raises(UsageError, match="CUDA is not available"):
            choose_device("cuda:1")


def test_autocast_context_cpu_bf16() -> None:
    a = torch.randn(4, 4)
    with autocast_context("cpu", enabled=True, dtype="bf16"):
        assert (a @ a).dtype == torch.bfloat16
    with autocast_context(torch.device("cpu"), enabled=False, dtype="bf16"):
        assert (a @ a).dtype == torch.float32
    with autocast_context("cpu", enabled=True, dtype="none"):
        assert (a @ a).dtype == torch.float32
    with pytest.raises(UsageError, match="fp8"):
        autocast_context("cpu", True, "fp8")


def test_grad_scaler_only_for_fp16_on_cuda() -> None:
    assert not make_grad_scaler("cpu", enabled=True).is_enabled()
    assert not make_grad_scaler(torch.device("cpu"), enabled=False).is_enabled()
    if torch.cuda.is_available():
        assert make_grad_scaler("cuda", enabled=True, dtype="fp16").is_enabled()
        assert not make_grad_scaler("cuda", enabled=True, dtype="bf16").is_enabled()
    # A disabled scaler passes the step straight through.
    model = nn.Linear(2, 1)
    opt = torch.optim.SGD(model.parameters(), lr=1.0)
    scaler = make_grad_scaler("cpu", enabled=False)
    before = model.weight.detach().clone()
    scaler.scale(model(torch.ones(1, 2)).sum()).backward()
    scaler.step(opt)
    scaler.update()
    assert not torch.equal(before, model.weight)


# --- distributed (single process) ----------------------------------------------------------------------


def test_init_distributed_without_torchrun(monkeypatch: pytest.MonkeyPatch) -> None:
    for key in ("RANK", "WORLD_SIZE", "LOCAL_RANK"):
        monkeypatch.delenv(key, raising=False)
    info = init_distributed()
    assert info == DistInfo() and info.is_main and not info.distributed
    assert (info.rank, info.world_size, info.local_rank) == (0, 1, 0)
    monkeypatch.setenv("WORLD_SIZE", "1")
    assert init_distributed() == DistInfo()
    model = nn.Linear(2, 2)
    assert wrap_ddp(model, torch.device("cpu"), info) is model
    assert rt.is_main_process() and rt.get_world_size() == 1
    rt.barrier()
    t = torch.tensor([1.0, 3.0])
    assert torch.equal(rt.all_reduce_mean(t), t)
    assert torch.equal(rt.all_reduce_mean(torch.tensor(3)), torch.tensor(3.0, dtype=torch.float64))
    rt.cleanup_distributed()


def test_unwrap_model() -> None:
    inner = nn.Linear(2, 2)
    assert rt.unwrap_model(nn.DataParallel(inner)) is inner
    assert rt.unwrap_model(inner) is inner


# --- checkpoints ---------------------------------------------------------------------------------------


def _state(value: float = 1.0) -> dict:
    return {"epoch": 3, "state_dict": OrderedDict(w=torch.full((2, 2), value)), "best_acc1": 71.5}


def test_save_checkpoint_atomic_and_weights_only(tmp_path: Path) -> None:
    path = save_checkpoint(_state(), tmp_path / "sub" / "checkpoint.pth.tar", is_best=True)
    assert path == tmp_path / "sub" / "checkpoint.pth.tar"
    assert sorted(p.name for p in path.parent.iterdir()) == ["checkpoint.pth.tar", "model_best.pth.tar"]
    for name in ("checkpoint.pth.tar", "model_best.pth.tar"):
        loaded = torch.load(path.parent / name, weights_only=True)
        assert loaded["epoch"] == 3 and torch.equal(loaded["state_dict"]["w"], torch.ones(2, 2))
    assert load_checkpoint(path)["best_acc1"] == 71.5


def test_failed_save_keeps_the_old_checkpoint(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = save_checkpoint(_state(1.0), tmp_path / "checkpoint.pth.tar")

    def broken_save(obj, f, *args, **kwargs):
        f.write(b"half a checkpoint")
        raise OSError("disk full")

    monkeypatch.setattr(torch, "save", broken_save)
    with pytest.raises(OSError, match="disk full"):
        save_checkpoint(_state(2.0), path, is_best=True)
    monkeypatch.undo()
    assert [p.name for p in tmp_path.iterdir()] == ["checkpoint.pth.tar"]  # no temp file, no best copy
    assert torch.equal(load_checkpoint(path)["state_dict"]["w"], torch.ones(2, 2))


def test_load_checkpoint_errors_name_the_file(tmp_path: Path) -> None:
    missing = tmp_path / "nope.pth"
    with pytest.raises(CheckpointError, match="nope.pth") as info:
        load_checkpoint(missing)
    assert "\n" not in str(info.value) and info.value.user_error

    garbage = tmp_path / "garbage.pth"
    garbage.write_bytes(b"this is not a checkpoint")
    with pytest.raises(CheckpointError, match="garbage.pth"):
        load_checkpoint(garbage)

    unsafe = tmp_path / "unsafe.pth"
    torch.save({"args": argparse.Namespace(lr=0.1)}, unsafe)
    with pytest.raises(CheckpointError, match="unsafe.pth.*weights_only") as info:
        load_checkpoint(unsafe)
    assert "\n" not in str(info.value)
    # Allow-listing the class makes it loadable, still with weights_only=True.
    assert load_checkpoint(unsafe, safe_globals=[argparse.Namespace])["args"].lr == 0.1


def test_strip_module_prefix() -> None:
    model = nn.Sequential(nn.Conv2d(1, 2, 1), nn.BatchNorm2d(2))
    wrapped = nn.DataParallel(model).state_dict()
    assert all(k.startswith("module.") for k in wrapped)
    stripped = strip_module_prefix(wrapped)
    assert list(stripped) == list(model.state_dict())
    assert "0" in stripped._metadata and "" in stripped._metadata
    nn.Sequential(nn.Conv2d(1, 2, 1), nn.BatchNorm2d(2)).load_state_dict(stripped)
    mixed = OrderedDict([("module.a", 1), ("b", 2), ("x.module.c", 3)])
    assert strip_module_prefix(mixed) == OrderedDict([("a", 1), ("b", 2), ("x.module.c", 3)])


def test_find_resume(tmp_path: Path) -> None:
    assert find_resume(None) is None and find_resume("") is None
    assert find_resume(tmp_path) is None
    assert find_resume(tmp_path / "missing", missing_ok=True) is None
    with pytest.raises(CheckpointError, match="missing"):
        find_resume(tmp_path / "missing")
    old = save_checkpoint(_state(), tmp_path / "epoch1.pth.tar", is_best=True)
    new = save_checkpoint(_state(), tmp_path / "epoch2.pth.tar")
    os.utime(old, ns=(1_000_000_000, 1_000_000_000))
    os.utime(new, ns=(2_000_000_000, 2_000_000_000))
    (tmp_path / "notes.txt").write_text("x")
    assert find_resume(tmp_path) == new  # the best-model copy is newer but skipped
    assert find_resume(old) == old


# --- meters ----------------------------------------------------------------------------------------------


def test_accuracy_hand_made() -> None:
    output = torch.tensor(
        [
            [0.1, 0.9, 0.0],  # pred 1, target 1: top-1 hit
            [0.8, 0.15, 0.05],  # pred 0, target 1: top-2 hit
            [0.5, 0.3, 0.2],  # target 2: only in top-3
            [0.2, 0.2, 0.6],  # pred 2, target 2: top-1 hit
        ]
    )
    target = torch.tensor([1, 1, 2, 2])
    top1, top2, top5 = accuracy(output, target, topk=(1, 2, 5))
    assert top1.shape == (1,)
    assert top1.item() == pytest.approx(50.0)
    assert top2.item() == pytest.approx(75.0)
    assert top5.item() == pytest.approx(100.0)  # k=5 > 3 classes is clipped to 3
    (one_hot_top1,) = accuracy(output, nn.functional.one_hot(target, 3).float(), topk=(1,))
    assert one_hot_top1.item() == pytest.approx(50.0)


def test_average_meter() -> None:
    meter = AverageMeter("loss", ":.3f")
    assert meter.avg == 0.0 and meter.count == 0
    meter.update(2.0, n=2)
    meter.update(torch.tensor(5.0), n=1)
    assert meter.val == 5.0 and meter.sum == 9.0 and meter.count == 3 and meter.avg == 3.0
    assert str(meter) == "loss 5.000 (3.000)"
    meter.all_reduce()  # no process group: unchanged
    assert meter.avg == 3.0
    with pytest.raises(ValueError):
        meter.update(torch.ones(2))
    meter.reset()
    assert meter.count == 0 and meter.sum == 0.0


# --- run logging ---------------------------------------------------------------------------------------


def test_run_logger_writes_all_records(tmp_path: Path) -> None:
    args = argparse.Namespace(
        lr=0.1, out=tmp_path / "run", arch="resnet18", bits=(4, 8), dev=torch.device("cpu")
    )
    out = tmp_path / "run"
    logger = RunLogger(out, args, tensorboard=True, enabled=True, console=False)
    logger.info("epoch %d", 0)
    logger.log_epoch({"epoch": 0, "train_loss": 1.5, "val_acc1": torch.tensor(40.0)})
    logger.log_epoch({"epoch": 1, "train_loss": 1.0, "val_acc1": 55.0})
    with pytest.raises(ValueError, match="extra_key"):
        logger.log_epoch({"epoch": 2, "train_loss": 1.0, "val_acc1": 55.0, "extra_key": 1})
    final = logger.finalize({"acc1": 55.0, "bit_config": {"conv1": {"w": 4, "a": 8}}})
    assert final == out / "final.json"

    saved_args = json.loads((out / "args.json").read_text())
    assert saved_args == {"lr": 0.1, "out": str(out), "arch": "resnet18", "bits": [4, 8], "dev": "cpu"}
    with open(out / "epochs.csv", newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert [r["epoch"] for r in rows] == ["0", "1"] and rows[0]["val_acc1"] == "40.0"
    result = json.loads(final.read_text())
    assert result["acc1"] == 55.0 and result["wall_time_s"] >= 0 and "finished_at" in result
    assert "epoch 0" in (out / "log.txt").read_text()
    assert list((out / "tb").glob("events.out.tfevents.*"))
    assert not list(out.glob(".*.tmp"))
    logger.close()  # twice is fine


def test_run_logger_resume_appends_under_the_same_header(tmp_path: Path) -> None:
    with RunLogger(tmp_path, {"a": 1}, tensorboard=False, enabled=True, console=False) as logger:
        logger.log_epoch({"epoch": 0, "loss": 2.0})
    with RunLogger(tmp_path, {"a": 1}, tensorboard=False, enabled=True, console=False) as logger:
        logger.log_epoch({"loss": 1.0, "epoch": 1})
        with pytest.raises(ValueError, match="missing"):
            logger.log_epoch({"epoch": 2})
    lines = (tmp_path / "epochs.csv").read_text().splitlines()
    assert lines == ["epoch,loss", "0,2.0", "1,1.0"]


def test_run_logger_disabled_writes_nothing(tmp_path: Path) -> None:
    logger = RunLogger(tmp_path / "run", {"a": 1}, enabled=False)
    logger.info("x")
    logger.log_epoch({"epoch": 0})
    assert logger.finalize({"acc": 1.0}) is None
    assert not (tmp_path / "run").exists()


def test_to_jsonable() -> None:
    value = to_jsonable(
        {"p": Path("/a"), "s": {2, 1}, "n": np.float32(0.5), "i": np.int64(3), "nan": float("nan")}
    )
    assert value == {"p": "/a", "s": [1, 2], "n": 0.5, "i": 3, "nan": "nan"}
    json.dumps(value, allow_nan=False)


def test_progress_wrapper() -> None:
    bar = rt.progress(range(3), desc="x", enabled=False)
    assert list(bar) == [0, 1, 2]
    bar.set_postfix(loss=1.0)
    assert list(rt.progress([1, 2], enabled=None)) == [1, 2]


# --- command line ----------------------------------------------------------------------------------------


def test_add_common_args_defaults_and_existing_flags() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seed", type=int, default=42)  # an original flag keeps its default
    add_common_args(parser)
    args = parser.parse_args([])
    assert (args.device, args.seed, args.amp, args.out) == ("auto", 42, "none", None)
    args = parser.parse_args(["--amp", "bf16", "--out", "runs/x", "--device", "cpu"])
    assert args.amp == "bf16" and args.out == Path("runs/x") and args.device == "cpu"
    with pytest.raises(SystemExit):
        parser.parse_args(["--amp", "fp8"])


def test_run_main_user_error_exits_2_with_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    def main() -> None:
        raise UsageError("bad --wbits value 'x'\n(expected an integer)")

    with pytest.raises(SystemExit) as info:
        run_main(main)
    assert info.value.code == 2
    err = capsys.readouterr().err
    assert err == "error: bad --wbits value 'x' (expected an integer)\n"

    class ForeignError(RuntimeError):
        user_error = True

    def main2() -> None:
        raise ForeignError("unknown layer 'fc9'")

    with pytest.raises(SystemExit) as info:
        rt.user_error_exit(main2)()
    assert info.value.code == 2
    assert capsys.readouterr().err == "error: unknown layer 'fc9'\n"
    assert run_main(lambda x: x + 1, 1) == 2
    with pytest.raises(KeyError):  # bugs keep their traceback
        run_main(lambda: {}["k"])


def test_run_main_in_a_subprocess(tmp_path: Path) -> None:
    script = tmp_path / "entry.py"
    script.write_text(
        textwrap.dedent(
            """
            import argparse
            from common.runtime import add_common_args, choose_device, load_checkpoint, run_main

            def main():
                args = add_common_args(argparse.ArgumentParser()).parse_args(["--device", "cpu"])
                choose_device(args.device)
                load_checkpoint("/nonexistent/ckpt.pth.tar")

            if __name__ == "__main__":
                run_main(main)
            """
        )
    )
    env = dict(os.environ, PYTHONPATH=str(REPO) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    proc = subprocess.run(
        [sys.executable, str(script)], capture_output=True, text=True, env=env, timeout=120, check=False
    )
    assert proc.returncode == 2
    assert proc.stderr.splitlines() == ["error: checkpoint not found: /nonexistent/ckpt.pth.tar"]
    assert "Traceback" not in proc.stderr


def test_save_figure_writes_atomically_and_closes(tmp_path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from common.runtime import save_figure

    fig, ax = plt.subplots()
    ax.plot([0, 1], [1, 0])
    path = save_figure(fig, tmp_path / "sub" / "f.png")
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert [p.name for p in path.parent.iterdir()] == ["f.png"]  # no temporary file left
    assert not plt.fignum_exists(fig.number)


def test_atomic_writes_follow_the_umask(tmp_path) -> None:
    """Results are readable by the group as with a plain open() (mkstemp alone would leave them 0600)."""
    import os
    import stat

    from common.bitconfig import uniform_bitconfig, write_bitconfig
    from common.runtime import atomic_write_text, save_checkpoint

    old = os.umask(0o022)
    try:
        written = [
            atomic_write_text(tmp_path / "a.txt", "x"),
            save_checkpoint({"k": 1}, tmp_path / "c.pth"),
            write_bitconfig(
                uniform_bitconfig("tiny_resnet", 8, 8, num_classes=10, input_size=32), tmp_path / "b.json"
            ),
        ]
        for path in written:
            assert stat.S_IMODE(path.stat().st_mode) == 0o644, path
        os.umask(0o077)
        assert stat.S_IMODE(atomic_write_text(tmp_path / "private.txt", "x").stat().st_mode) == 0o600
    finally:
        os.umask(old)


def test_progress_prints_one_line_per_item_off_a_terminal(capsys) -> None:
    """Outer loops (epochs, episodes) say where they are in a log file too, where tqdm's bar is hidden."""
    from common.runtime import progress

    assert list(progress(range(2, 5), desc="episodes", initial=2, total=5, lines=True)) == [2, 3, 4]
    err = capsys.readouterr().err.splitlines()
    assert [line.split(" (")[0] for line in err] == ["episodes 3/5", "episodes 4/5", "episodes 5/5"]
    assert list(progress(range(3), desc="batches")) == [0, 1, 2]  # inner loops stay silent off a terminal
    assert capsys.readouterr().err == ""
