"""The saved PTQ model (``quantized_model.pth``) reloads in a new process with its quantizer state: the same
logits bit for bit on a fixed batch and the same top-1 as at the end of the PTQ; a wrong file is one line."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from common.data import build_datasets, build_loaders
from common.runtime import load_checkpoint, run_main, save_checkpoint
from ompq.PTQ import evaluate, main_imagenet
from ompq.PTQ.saved_model import load_quantized

ROOT = Path(__file__).resolve().parents[3]
ARGV = ["--data_path", "digits", "--arch", "tiny_resnet", "--image_size", "16", "--n_bits_w", "3"]
ARGV += ["--channel_wise", "--n_bits_a", "4", "--act_quant", "--num_samples", "32", "--iters_w", "3"]
ARGV += ["--iters_a", "3", "--batch_size", "128", "--use_seed", "--seed", "5", "--threads", "1"]


def first_val_batch(size: int, batch: int) -> torch.Tensor:
    _, val_ds, _ = build_datasets("digits", preset="digits", image_size=size)
    _, loader = build_loaders(val_ds, val_ds, batch, 0)
    return next(iter(loader))[0]


@pytest.fixture(scope="module")
def ptq_run(tmp_path_factory) -> tuple[Path, dict, torch.Tensor]:
    """One tiny PTQ run; the logits of the live quantized model (captured as it is saved) on a fixed batch."""
    out = tmp_path_factory.mktemp("ptq")
    live = {}
    real = main_imagenet.save_quantized

    def capture(qnn, *a, **k):
        live["qnn"] = qnn
        return real(qnn, *a, **k)

    main_imagenet.save_quantized = capture
    try:
        result = main_imagenet.main([*ARGV, "--out", str(out)])
    finally:
        main_imagenet.save_quantized = real
    with torch.no_grad():
        logits = live["qnn"](first_val_batch(16, 128))
    return out, result, logits


def test_reload_in_a_new_process_is_bit_identical(ptq_run, tmp_path) -> None:
    out, result, logits = ptq_run
    dump = tmp_path / "logits.pt"
    cmd = [sys.executable, "-m", "ompq.PTQ.evaluate", str(out / "quantized_model.pth"), "--batch_size", "128"]
    cmd += ["--device", "cpu", "--threads", "1", "--logits", str(dump)]
    env = {**os.environ, "CUDA_VISIBLE_DEVICES": ""}
    done = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    reloaded = torch.load(dump)
    assert reloaded.shape == logits.shape and torch.equal(reloaded, logits)
    assert (
        f"top-1 {result['acc_full_quant']:.3f} (at the end of the PTQ: {result['acc_full_quant']:.3f})"
        in (done.stdout)
    )


def test_quantizer_state_is_what_makes_it_reload(ptq_run) -> None:
    """Without the stored Δ/z the rebuilt model would not even have the weight grids: they are in the file."""
    out, result, _ = ptq_run
    saved = load_checkpoint(out / "quantized_model.pth")
    kinds = {q["kind"] for q in saved["quantizers"].values()}
    assert kinds == {"uniform", "adaround"}
    weight_grids = [q for n, q in saved["quantizers"].items() if n.endswith("weight_quantizer")]
    assert weight_grids and all(q["delta"] is not None and q["zero_point"] is not None for q in weight_grids)
    assert not any(k.endswith("weight_quantizer.delta") for k in saved["state_dict"])
    assert (
        evaluate.main([str(out), "--batch_size", "128", "--threads", "1", "--device", "cpu"])["top1"]
        == (result["acc_full_quant"])
    )


def test_weight_only_ptq_reloads_in_process(tmp_path, monkeypatch) -> None:
    """Without ``--act_quant`` the activation quantizers were never initialised: they reload that way too."""
    live = {}
    real = main_imagenet.save_quantized

    def capture(qnn, *a, **k):
        live["q"] = qnn
        return real(qnn, *a, **k)

    monkeypatch.setattr(main_imagenet, "save_quantized", capture)
    argv = [a for a in ARGV if a != "--act_quant"]
    result = main_imagenet.main([*argv, "--out", str(tmp_path)])
    batch = first_val_batch(16, 128)
    qnn, saved = load_quantized(tmp_path / "quantized_model.pth")
    assert not any(q["inited"] for n, q in saved["quantizers"].items() if n.endswith(".act_quantizer"))
    with torch.no_grad():
        assert torch.equal(qnn(batch), live["q"](batch))
    assert saved["result"]["acc_weight_quant"] == result["acc_weight_quant"]


@pytest.mark.parametrize("kind", ["float", "state", "text", "old"])
def test_a_file_of_another_kind_is_one_line(ptq_run, tmp_path, capsys, kind) -> None:
    out, _, _ = ptq_run
    path = tmp_path / "other.pth"
    if kind == "float":
        save_checkpoint({"state_dict": {"w": torch.zeros(2)}}, path)
    elif kind == "state":
        path = out / "ptq_state.pth"
    elif kind == "old":  # the layout saved before the quantizer state was kept
        old = load_checkpoint(out / "quantized_model.pth")
        save_checkpoint({k: old[k] for k in ("arch", "state_dict", "weight_bits", "n_bits_a")}, path)
    else:
        path.write_text("not a checkpoint")
    with pytest.raises(SystemExit) as stop:
        run_main(evaluate.main, [str(path), "--device", "cpu"])
    err = capsys.readouterr().err.strip()
    assert stop.value.code == 2 and "\n" not in err and str(path.name) in err
