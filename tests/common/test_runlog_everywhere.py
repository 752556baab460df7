"""Issue 19 item 7 / issue 18 item 4: one logging layer (one log file, CSV, tensorboard, optional wandb),
and the flags that used to be parsed and ignored (HMQ ``--log_dir``, ProQHA ``--print_freq``, HAQ
``--half_type``, HMQ ``--quantization_part COEFFICIENT`` in the bit config)."""

from __future__ import annotations

import argparse
import importlib.util
import json
import logging
from pathlib import Path

import pytest

from common.bitconfig import read_bitconfig
from common.runtime import UsageError
from common.runtime.runlog import RunLogger, add_logging_args


def _log_files(folder: Path) -> list[Path]:
    return [p for p in folder.rglob("*") if p.name == "log.txt" or p.suffix == ".log"]


def _check_run_folder(folder: Path, csv_name: str = "epochs.csv") -> None:
    logs = _log_files(folder)
    assert len(logs) == 1, logs
    assert logs[0].stat().st_size > 0
    rows = (folder / csv_name).read_text().strip().splitlines()
    assert len(rows) >= 2  # header and at least one row
    assert list((folder / "tb").glob("events.out.tfevents.*"))
    assert not (folder / "wandb").exists()


def test_attach_sends_a_module_logger_to_the_one_log_file(tmp_path: Path) -> None:
    module_log = logging.getLogger("tests.runlog.attach")
    module_log.addHandler(logging.FileHandler(tmp_path / "other.log"))  # dropped by attach
    logger = RunLogger(tmp_path / "run", {"x": 1}, console=False, log_name="log.log")
    logger.attach(module_log)
    module_log.info("from the module %d", 7)
    logger.info("from the run")
    logger.log_epoch({"epoch": 0, "loss": 1.5})
    logger.finalize({"ok": True})
    assert not module_log.handlers  # detached at close
    text = (tmp_path / "run" / "log.log").read_text()
    assert "from the module 7" in text and "from the run" in text
    assert not (tmp_path / "run" / "log.txt").exists()
    _check_run_folder(tmp_path / "run")


@pytest.mark.skipif(importlib.util.find_spec("wandb") is not None, reason="wandb is installed here")
def test_wandb_requested_but_missing_is_one_line_and_writes_nothing(tmp_path: Path) -> None:
    parser = add_logging_args(argparse.ArgumentParser())
    args = parser.parse_args(["--wandb", "--wandb_project", "p"])
    with pytest.raises(UsageError, match="wandb is not installed") as info:
        RunLogger(tmp_path / "run", args, enabled=True)
    assert "\n" not in str(info.value)
    assert not (tmp_path / "run").exists()
    assert parser.parse_args([]).wandb is False  # off by default


def test_hmq_coefficient_writes_float_activations_and_log_dir_holds_the_logs(tmp_path: Path) -> None:
    from hmq import main as hmq_main

    argv = ["--dataset", "digits", "--data_dir", "digits", "--network_name", "tiny_resnet", "--image_size", "8",
            "--batch_size", "96", "--num_workers", "0", "--cycle_size", "1", "--n_target_steps", "2",
            "--n_epochs", "1", "--n_epochs_final", "0", "--target_compression", "8", "--device", "cpu",
            "--train_fraction", "0.2", "--quantization_part", "COEFFICIENT",
            "--out", str(tmp_path / "out"), "--log_dir", str(tmp_path / "logs")]  # fmt: skip
    assert hmq_main.main(argv) == 0
    cfg = read_bitconfig(tmp_path / "out" / "bitconfig.json")
    assert all(b.a == 32 for b in cfg.layers.values())  # activations stayed float
    assert any(b.w < 32 for b in cfg.layers.values())  # weights were quantized
    assert all(a["bits"] == 32 for a in cfg.extra["activations"])
    _check_run_folder(tmp_path / "logs")
    assert json.loads((tmp_path / "logs" / "final.json").read_text())["bitconfig"]
    assert not _log_files(tmp_path / "out")


def test_proqha_print_freq_logs_steps(tmp_path: Path) -> None:
    from proqha.main import train

    argv = ["--dataset", "digits", "--arch", "resnet", "--num_layers", "18", "--data_dir", "digits",
            "--train_fraction", "0.02", "--train_batch_size", "16", "--eval_batch_size", "400", "--workers", "0",
            "--archtype", "quant", "--k_bits", "8", "--ratio", "1.0", "--lr", "0.01", "--train_epochs", "1",
            "--seed", "0", "--print_freq", "1", "--out", str(tmp_path)]  # fmt: skip
    assert train.main(argv) == 0
    steps = [line for line in (tmp_path / "log.txt").read_text().splitlines() if " step " in line]
    assert len(steps) >= 2 and "loss" in steps[0]
    _check_run_folder(tmp_path)


@pytest.mark.parametrize("level", ["O2", "O3", "bogus"])
def test_haq_half_type_other_than_o0_o1_is_refused(tmp_path: Path, level: str) -> None:
    from haq import finetune

    with pytest.raises(UsageError, match="--half_type"):
        finetune.main(["--half", "--half_type", level, "--data", "digits", "-c", str(tmp_path / "run")])
    assert not (tmp_path / "run").exists()


def _hawq_search(tmp_path: Path) -> Path:
    import torch

    from common.models import build_model
    from hawq.search import main

    torch.manual_seed(0)
    ckpt = tmp_path / "tiny.pth"
    torch.save({"state_dict": build_model("tiny_resnet", num_classes=10).state_dict()}, ckpt)
    out = tmp_path / "cfg.json"
    argv = ["--arch", "tiny_resnet", "--data", "digits", "--checkpoint", str(ckpt), "--kind", "bops", "--r", "0.5",
            "--out", str(out), "--batch-size", "8", "--probes", "2", "--mode", "joint"]  # fmt: skip
    assert main(argv) == 0
    return tmp_path / "cfg.run"


def _ompq_search(tmp_path: Path) -> Path:
    from ompq.mixed_bit import feature_extract

    feature_extract.main(
        ["--model", "tiny_resnet", "--model_size", "0.2", "--quant_type", "QAT", "--dataset", "digits",
         "--save_path", "digits", "--beta", "1", "--train_batch_size", "16", "--out", str(tmp_path)]
    )  # fmt: skip
    return tmp_path


def _baseline(tmp_path: Path) -> Path:
    from reproduce.baseline_digits import main

    main(["--epochs", "1", "--out", str(tmp_path)])
    return tmp_path


def _ompq_ptq(tmp_path: Path) -> Path:
    from ompq.PTQ import main_imagenet

    main_imagenet.main(
        ["--data_path", "digits", "--arch", "tiny_resnet", "--n_bits_w", "4", "--channel_wise", "--n_bits_a", "8",
         "--act_quant", "--num_samples", "32", "--iters_w", "1", "--iters_a", "1", "--batch_size", "256",
         "--out", str(tmp_path)]
    )  # fmt: skip
    return tmp_path


def _haq_finetune(tmp_path: Path) -> Path:
    from haq import finetune

    strategy = json.dumps([2, 3, 3, 4, 4, 2, 2, 3, 3, 4, 4, 2, 8])
    finetune.main(
        ["-a", "tiny_resnet", "-d", "digits", "--data_name", "digits", "-j", "0", "--strategy", strategy,
         "--manualSeed", "1", "--epochs", "1", "--train_batch", "256", "-c", str(tmp_path)]
    )  # fmt: skip
    assert " val " in (tmp_path / "log.txt").read_text()  # the epoch line (the log used to be empty)
    return tmp_path


@pytest.mark.parametrize(
    "run",
    [_hawq_search, _ompq_search, _ompq_ptq, _baseline, _haq_finetune],
    ids=["hawq.search", "ompq.search", "ompq.ptq", "baseline", "haq.finetune"],
)
def test_entrypoint_writes_one_log_csv_and_tensorboard(tmp_path: Path, run) -> None:
    folder = run(tmp_path)
    _check_run_folder(folder)
    assert json.loads((folder / "final.json").read_text())
    assert json.loads((folder / "args.json").read_text())
