"""The shared argument checks, the loss guard and run_main's one-line errors, Ctrl-C and rank handling."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import pytest
import torch
from torch import nn

from common.runtime import (
    CheckpointError,
    LossGuard,
    NonFiniteLossError,
    UsageError,
    check_at_least,
    check_finite,
    check_fraction,
    check_input_file,
    check_output_dir,
    check_output_file,
    check_positive,
    check_range,
    check_state_dict_fits,
    cli,
    read_json_file,
    require_checkpoint,
    run_main,
    set_resume_hint,
    state_dict_from,
)


def _one_line(capsys: pytest.CaptureFixture[str]) -> str:
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.endswith("\n"), err
    return err


# ------------------------------------------------------------------------------------------------ numbers


@pytest.mark.parametrize(
    ("call", "needle"),
    [
        (lambda: check_positive("--lr", 0.0), "--lr must be > 0, got 0.0"),
        (lambda: check_positive("--lr", -1e-3), "--lr must be > 0"),
        (lambda: check_positive("--lr", float("nan")), "--lr must be a finite number"),
        (lambda: check_positive("--lr", float("inf")), "--lr must be a finite number"),
        (lambda: check_at_least("--epochs", -1, 0), "--epochs must be >= 0, got -1"),
        (lambda: check_at_least("-b", 0, 1), "-b must be >= 1, got 0"),
        (lambda: check_fraction("--data-percentage", 0.0), "must be in (0, 1], got 0.0"),
        (lambda: check_fraction("--data-percentage", 1.5), "must be in (0, 1]"),
        (lambda: check_range("--bits", 17, 1, 16), "--bits must be in [1, 16], got 17"),
    ],
)
def test_number_checks(call, needle: str) -> None:  # noqa: ANN001
    with pytest.raises(UsageError, match=None) as err:
        call()
    assert needle in str(err.value)


def test_number_checks_return_the_value() -> None:
    assert check_positive("--lr", 0.1) == 0.1 and check_at_least("--epochs", 0, 0) == 0
    assert check_fraction("--f", 1.0) == 1.0 and check_range("--b", 4, 2, 8) == 4


# -------------------------------------------------------------------------------------------------- paths


def test_output_dir_checks(tmp_path: Path) -> None:
    a_file = tmp_path / "f.txt"
    a_file.write_text("x")
    with pytest.raises(UsageError, match="exists and is not a folder"):
        check_output_dir("--out", a_file)
    with pytest.raises(UsageError, match=r"cannot create the folder, .*f\.txt is a file"):
        check_output_dir("--out", a_file / "sub" / "deeper")
    fresh = tmp_path / "new" / "run"
    assert check_output_dir("--out", fresh) == fresh and not (tmp_path / "new").exists()  # creates nothing
    assert check_output_dir("--out", tmp_path) == tmp_path


def test_output_file_checks(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="is a folder"):
        check_output_file("--out", tmp_path)
    blocker = tmp_path / "blocker"
    blocker.write_text("x")
    with pytest.raises(UsageError, match="blocker is a file"):
        check_output_file("--out", blocker / "cfg.json")
    with pytest.raises(UsageError, match="blocker is a file"):
        check_output_file("--out", blocker / "a" / "cfg.json")
    assert check_output_file("--out", tmp_path / "x" / "cfg.json") == tmp_path / "x" / "cfg.json"
    assert not (tmp_path / "x").exists()


def test_input_file_and_json(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="no such file"):
        check_input_file("--bits_file", tmp_path / "missing.json")
    with pytest.raises(UsageError, match="not a file"):
        check_input_file("--bits_file", tmp_path)
    bad = tmp_path / "bad.json"
    bad.write_text('{"a": [1, 2,,]}')
    with pytest.raises(UsageError) as err:
        read_json_file("--bits_file", bad)
    assert "not valid JSON" in str(err.value) and "line 1 column" in str(err.value)
    binary = tmp_path / "bin.json"
    binary.write_bytes(b"\xff\xfe\x00")
    with pytest.raises(UsageError, match="not a UTF-8 text file"):
        read_json_file("--bits_file", binary)
    good = tmp_path / "good.json"
    good.write_text(json.dumps([4, 8]))
    assert read_json_file("--bits_file", good) == [4, 8]


# ---------------------------------------------------------------------------------------------- checkpoints


def test_checkpoint_kinds() -> None:
    bare = nn.Linear(3, 2).state_dict()
    with pytest.raises(CheckpointError, match="bare state dict"):
        require_checkpoint(bare, "x.pth", ("state_dict", "optimizer", "epoch"))
    with pytest.raises(CheckpointError, match="no 'optimizer' entry"):
        require_checkpoint({"state_dict": bare}, "x.pth", ("state_dict", "optimizer"))
    with pytest.raises(CheckpointError, match="not a checkpoint"):
        require_checkpoint([1, 2], "x.pth", ("state_dict",))
    assert state_dict_from(bare, "x.pth") is bare
    assert state_dict_from({"epoch": 3, "state_dict": bare}, "x.pth") is bare
    with pytest.raises(CheckpointError, match="no state dict"):
        state_dict_from({"epoch": 3}, "x.pth")


def test_state_dict_of_another_architecture() -> None:
    model = nn.Sequential(nn.Linear(4, 8), nn.Linear(8, 2))
    other = nn.Sequential(nn.Linear(4, 8), nn.Linear(8, 3)).state_dict()
    with pytest.raises(CheckpointError) as err:
        check_state_dict_fits(model, other, "--resume other.pth")
    assert "does not fit the model: 1.weight has shape (3, 8) in the checkpoint but (2, 8)" in str(err.value)
    with pytest.raises(CheckpointError, match="none of its 2 tensors"):
        check_state_dict_fits(model, nn.Conv2d(1, 1, 1).state_dict(), "--resume c.pth")
    check_state_dict_fits(model, {"module." + k: v for k, v in model.state_dict().items()}, "ddp")


# ------------------------------------------------------------------------------------------------ the guard


def test_loss_guard_names_the_first_bad_step_and_the_checkpoint(tmp_path: Path) -> None:
    ckpt = tmp_path / "checkpoint.pth.tar"
    guard = LossGuard(checkpoint=ckpt)
    for step, value in enumerate([1.0, 2.0, float("nan"), float("inf"), 3.0]):
        guard.observe(torch.tensor(value), epoch=4, step=step)
    with pytest.raises(NonFiniteLossError) as err:
        guard.check()
    assert "non-finite loss at epoch 4 step 2; no checkpoint was written" in str(err.value)
    ckpt.write_bytes(b"x")
    with pytest.raises(NonFiniteLossError, match=f"the last good checkpoint is {ckpt}"):
        guard.check()
    guard.reset()
    guard.observe(torch.tensor([1.0, 2.0]), step=0)
    guard.check()  # finite: nothing raised


def test_check_finite() -> None:
    check_finite(1.5)
    with pytest.raises(NonFiniteLossError, match="non-finite validation loss .nan. at epoch 0"):
        check_finite(float("nan"), epoch=0, what="validation loss")
    with pytest.raises(NonFiniteLossError, match="step 3"):
        check_finite(torch.tensor(float("-inf")), step=3)


# ----------------------------------------------------------------------------------------------- run_main


def test_run_main_user_error_and_argparse_error_are_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    def bad() -> None:
        raise UsageError("--lr must be > 0,\n got -1")

    with pytest.raises(SystemExit) as stop:
        run_main(bad)
    assert stop.value.code == 2 and _one_line(capsys) == "error: --lr must be > 0, got -1\n"

    def parse(argv: list[str]) -> None:
        p = argparse.ArgumentParser(prog="python -m thing")
        p.add_argument("--epochs", type=int)
        p.parse_args(argv)

    with pytest.raises(SystemExit) as stop:
        run_main(parse, ["--epochs", "x"])
    err = _one_line(capsys)
    assert stop.value.code == 2 and "python -m thing: argument --epochs: invalid int value: 'x'" in err
    assert argparse.ArgumentParser.error is not cli._parser_error  # restored afterwards


def test_run_main_ctrl_c(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    ckpt = tmp_path / "checkpoint.pth.tar"

    def interrupted() -> None:
        set_resume_hint(f"--resume {ckpt}", ckpt)
        set_resume_hint("something else")  # the first hint wins (an inner entrypoint's main)
        raise KeyboardInterrupt

    with pytest.raises(SystemExit) as stop:
        run_main(interrupted)
    assert stop.value.code == 130 and "interrupted (no checkpoint written yet" in _one_line(capsys)
    ckpt.write_bytes(b"x")
    with pytest.raises(SystemExit) as stop:
        run_main(interrupted)
    assert stop.value.code == 130 and _one_line(capsys) == f"interrupted; resume with --resume {ckpt}\n"

    def plain() -> None:
        raise KeyboardInterrupt

    with pytest.raises(SystemExit) as stop:
        run_main(plain)  # the previous run's hint is gone
    assert stop.value.code == 130 and _one_line(capsys) == "interrupted\n"


def test_run_main_other_ranks_stay_quiet_on_interrupt_and_report_late(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("RANK", "1")
    monkeypatch.setattr(cli, "PEER_REPORT_DELAY_S", 0.0)

    def interrupted() -> None:
        raise KeyboardInterrupt

    with pytest.raises(SystemExit) as stop:
        run_main(interrupted)
    assert stop.value.code == 130 and capsys.readouterr().err == ""

    def bad() -> None:
        raise UsageError("only rank 1 saw this")

    with pytest.raises(SystemExit) as stop:
        run_main(bad)
    assert stop.value.code == 2 and _one_line(capsys) == "[rank 1] error: only rank 1 saw this\n"


def test_run_main_lets_bugs_through() -> None:
    def bug() -> None:
        raise ZeroDivisionError("a bug")

    with pytest.raises(ZeroDivisionError):
        run_main(bug)
