"""The float baseline on ``digits``: trains, logs, checkpoints and resumes."""

from __future__ import annotations

import csv
import json

from reproduce.baseline_digits import main


def test_three_epochs_learn_and_write_run_files(tmp_path) -> None:
    result = main(["--epochs", "3", "--out", str(tmp_path), "--seed", "0"])
    assert result["val_acc1"] > 50.0  # 10 classes: chance is 10 %
    for name in ("args.json", "epochs.csv", "final.json", "checkpoint.pth.tar", "log.txt"):
        assert (tmp_path / name).is_file(), name
    assert json.loads((tmp_path / "args.json").read_text())["arch"] == "tiny_resnet"
    assert json.loads((tmp_path / "final.json").read_text())["val_acc1"] == result["val_acc1"]


def test_resume_continues_from_the_checkpoint(tmp_path) -> None:
    main(["--epochs", "1", "--out", str(tmp_path)])
    main(["--epochs", "2", "--out", str(tmp_path), "--resume", str(tmp_path)])
    with (tmp_path / "epochs.csv").open() as f:
        epochs = [int(row["epoch"]) for row in csv.DictReader(f)]
    assert epochs == [1, 2]


def test_a_killed_run_resumes_to_the_bit_identical_weights(tmp_path, kill_switch) -> None:
    import pytest

    import reproduce.baseline_digits as baseline
    from common.runtime import load_checkpoint

    args = ["--epochs", "3", "--image-size", "8", "--batch-size", "128", "--seed", "5", "--threads", "1"]
    full, part = tmp_path / "full", tmp_path / "part"
    baseline.main([*args, "--out", str(full)])
    kill_switch.arm(baseline, "checkpoint.pth.tar", count=1)  # dies in epoch 2, after epoch 1's checkpoint
    with pytest.raises(kill_switch.Killed):
        baseline.main([*args, "--out", str(part)])
    kill_switch.disarm()
    baseline.main([*args, "--out", str(part), "--resume", str(part)])
    want = load_checkpoint(full / "checkpoint.pth.tar")
    got = load_checkpoint(part / "checkpoint.pth.tar")
    assert got["epoch"] == want["epoch"] == 3
    kill_switch.assert_same_tensors(got["state_dict"], want["state_dict"])
