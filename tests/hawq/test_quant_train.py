"""End-to-end runs of ``hawq.quant_train`` on the embedded ``digits`` data, integer inference and ONNX export.

A float ``tiny_resnet`` is trained once (module fixture); the QAT runs start from it like the published commands
start from pretrained weights.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import onnx
import pytest
import torch
from bad_input import run_bad

from common.bitconfig import read_bitconfig, uniform_bitconfig, write_bitconfig
from common.data import build_datasets
from common.runtime import load_checkpoint
from hawq import export_onnx, quant_train
from hawq.utils.checkpoints import load_quantized_state, state_dict_of
from hawq.utils.integer_inference import lower
from hawq.utils.models import build_quantized_model
from hawq.utils.quant_config import QuantSettings, configure_quant_modules, scheme_module_bits
from reproduce import baseline_digits

pytestmark = pytest.mark.slow
BASE = ["-a", "tiny_resnet", "--data", "digits", "-b", "64", "--lr", "0.001", "--act-range-momentum", "0.99",
        "--wd", "1e-4", "--seed", "0", "-j", "0", "-p", "100", "--device", "cpu"]  # fmt: skip


@pytest.fixture(scope="module")
def float_ckpt(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("float")
    baseline_digits.main(["--epochs", "3", "--out", str(out), "--device", "cpu", "--lr", "0.1"])
    return out / "checkpoint.pth.tar"


@pytest.fixture(scope="module")
def qat8(tmp_path_factory, float_ckpt) -> tuple[Path, dict]:
    out = tmp_path_factory.mktemp("qat8")
    result = quant_train.main(
        BASE + ["--epochs", "1", "--data-percentage", "0.15", "--fix-BN", "--quant-scheme", "uniform8",
                "--resume", str(float_ckpt), "--save-path", str(out) + "/"]
    )  # fmt: skip
    return out, result


def test_uniform8_fix_bn_run_writes_the_original_files(qat8, float_ckpt) -> None:
    out, result = qat8
    for name in ("checkpoint.pth.tar", "model_best.pth.tar", "quantized_checkpoint.pth.tar", "log.log",
                 "args.json", "epochs.csv", "final.json", "bit_config.json"):  # fmt: skip
        assert (out / name).is_file(), name
    ckpt = load_checkpoint(out / "checkpoint.pth.tar")
    original = {"epoch", "arch", "state_dict", "best_acc1", "optimizer"}
    assert set(ckpt) == original | {"rng", "bn_counters"} and ckpt["epoch"] == 1  # + what exact resume needs
    assert "stage1.unit1.quant_act.x_min" in ckpt["state_dict"]
    qckpt = load_checkpoint(out / "quantized_checkpoint.pth.tar")
    assert set(qckpt) == {"convbn_scaling_factor", "fc_scaling_factor", "weight_integer", "bias_integer",
                          "act_scaling_factor"}  # fmt: skip
    float_acc = load_checkpoint(float_ckpt)["acc1"]
    assert result["val_acc1"] > float_acc - 5, (result["val_acc1"], float_acc)
    assert "match all modules defined in bit_config: True" in (out / "log.log").read_text()
    cfg = read_bitconfig(out / "bit_config.json")
    assert cfg.layers["conv1"].w == 8 and cfg.layers["layer3.0.conv2"].a == 8 and cfg.costs["size_MB"] > 0


def test_evaluate_resumed_quantized_checkpoint_reproduces_the_validation(qat8, tmp_path) -> None:
    out, result = qat8
    again = quant_train.main(
        BASE + ["--quant-scheme", "uniform8", "--fix-BN", "-e", "--resume-quantize",
                "--resume", str(out / "checkpoint.pth.tar"), "--save-path", str(tmp_path) + "/"]
    )  # fmt: skip
    assert again["val_acc1"] == result["val_acc1"]
    assert again["val_loss"] == pytest.approx(result["val_loss"], rel=1e-6)


def test_compile_flag_trains_the_same_weights(qat8, float_ckpt, tmp_path) -> None:
    """``--compile`` wraps the model in ``torch.compile``; with the ``eager`` backend (Dynamo's capture, no code
    generation, so it runs on any CPU in seconds) the run ends with the uncompiled run's weights bit for bit, and
    the checkpoint holds the bare model's keys. Inductor's numerics are measured in benchmarks/, not here."""
    out, result = qat8
    torch._dynamo.reset()
    counters = torch._dynamo.utils.counters
    counters.clear()
    compiled = quant_train.main(
        BASE + ["--epochs", "1", "--data-percentage", "0.15", "--fix-BN", "--quant-scheme", "uniform8",
                "--resume", str(float_ckpt), "--save-path", str(tmp_path) + "/", "--compile",
                "--compile-backend", "eager"]
    )  # fmt: skip
    assert counters["stats"]["unique_graphs"] >= 1  # the model did go through Dynamo
    torch._dynamo.reset()
    want = load_checkpoint(out / "checkpoint.pth.tar")["state_dict"]
    got = load_checkpoint(tmp_path / "checkpoint.pth.tar")["state_dict"]
    assert list(got) == list(want)
    assert all(torch.equal(got[k], want[k]) for k in want)
    assert compiled["val_acc1"] == result["val_acc1"]


def _trained_model(out: Path) -> torch.nn.Module:
    model = build_quantized_model("tiny_resnet", num_classes=10, input_size=32)
    configure_quant_modules(
        model, scheme_module_bits("tiny_resnet", "uniform8", model), QuantSettings(fix_BN=True)
    )
    load_quantized_state(model, state_dict_of(load_checkpoint(out / "checkpoint.pth.tar")))
    return model


def test_integer_only_inference_equals_fake_quant_on_digits(qat8) -> None:
    model = _trained_model(qat8[0])
    _, val, _ = build_datasets("digits", preset="digits", image_size=32)
    x = torch.stack([val[i][0] for i in range(64)])
    program = lower(model, x[:1])
    with torch.no_grad():
        fake = model(x)
    integer = program.run(x)
    assert torch.equal(integer, fake)
    assert all(op.attrs["weight"].dtype == torch.int64 for op in program.ops if op.kind in ("conv", "linear"))


def test_onnx_export_passes_the_checker_and_runs(qat8, tmp_path) -> None:
    out = qat8[0]
    path = export_onnx.main(["-a", "tiny_resnet", "--resume", str(out / "checkpoint.pth.tar"),
                             "--quant-scheme", "uniform8", "--out", str(tmp_path / "m.onnx")])  # fmt: skip
    model = onnx.load(path)
    onnx.checker.check_model(model, full_check=True)
    ops = {n.op_type for n in model.graph.node}
    assert {"QuantizeLinear", "DequantizeLinear", "Conv", "Gemm"} <= ops
    ort = pytest.importorskip("onnxruntime")
    _, val, _ = build_datasets("digits", preset="digits", image_size=32)
    x = torch.stack([val[i][0] for i in range(128)])
    with torch.no_grad():
        fake = _trained_model(out).eval()(x).numpy()
    got = ort.InferenceSession(str(path)).run(None, {"input": x.numpy()})[0]
    assert np.mean(got.argmax(1) == fake.argmax(1)) >= 0.95


def test_uniform4_training_bn_and_resume(tmp_path, float_ckpt) -> None:
    first = quant_train.main(
        BASE + ["--epochs", "1", "--data-percentage", "0.2", "--quant-scheme", "uniform4",
                "--resume", str(float_ckpt), "--save-path", str(tmp_path / "a") + "/"]
    )  # fmt: skip
    assert np.isfinite(first["val_loss"])
    second = quant_train.main(
        BASE + ["--epochs", "2", "--data-percentage", "0.2", "--quant-scheme", "uniform4", "--resume-quantize",
                "--resume", str(tmp_path / "a" / "checkpoint.pth.tar"), "--save-path", str(tmp_path / "b") + "/"]
    )  # fmt: skip
    rows = (tmp_path / "b" / "epochs.csv").read_text().strip().splitlines()
    assert len(rows) == 2 and rows[1].startswith("1,")  # resumed at epoch 1: one more epoch
    assert load_checkpoint(tmp_path / "b" / "checkpoint.pth.tar")["epoch"] == 2
    assert np.isfinite(second["val_loss"])


def test_mixed_bit_config_file_and_kd(tmp_path, float_ckpt) -> None:
    cfg = uniform_bitconfig("tiny_resnet", 4, 4, num_classes=10, input_size=32)
    for name, (w, a) in {
        "conv1": (8, 8),
        "layer1.0.conv1": (8, 4),
        "layer4.0.conv2": (2, 6),
        "fc": (8, 8),
    }.items():
        cfg.layers[name].w, cfg.layers[name].a = w, a
    write_bitconfig(cfg, tmp_path / "mixed.json")
    result = quant_train.main(
        BASE + ["--epochs", "1", "--data-percentage", "0.2", "--fix-BN", "--bit-config", str(tmp_path / "mixed.json"),
                "--resume", str(float_ckpt), "--distill-method", "KD_naive", "--teacher-arch", "tiny_resnet",
                "--teacher-checkpoint", str(float_ckpt), "--save-path", str(tmp_path / "run") + "/"]
    )  # fmt: skip
    assert np.isfinite(result["val_loss"])
    used = read_bitconfig(tmp_path / "run" / "bit_config.json")
    assert {k: (v.w, v.a) for k, v in used.layers.items()} == {k: (v.w, v.a) for k, v in cfg.layers.items()}


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--quant-scheme", "bops_0.3"], "valid: uniform8, uniform4"),
        (["-a", "resnet34"], "choose one of: resnet18"),
        (["--bit-config", "{bad}"], "unknown layer(s) 'layer9.0.conv1'"),
        (["--asymmetric-acts-below", "17"], "--asymmetric-acts-below must be in 0..16"),
    ],
)
def test_bad_input_exits_2_with_one_line(tmp_path, extra, message, capsys) -> None:
    """In this process through ``run_main`` (what ``python -m hawq.quant_train`` calls); the first case also in a
    new process, where stderr must be that one line."""
    if "{bad}" in extra:
        cfg = uniform_bitconfig("tiny_resnet", 4, 4, num_classes=10, input_size=32)
        cfg.layers["layer9.0.conv1"] = cfg.layers.pop("layer2.0.conv1")
        bad = tmp_path / "bad.json"
        bad.write_text(__import__("json").dumps(cfg.to_dict()))
        extra = [e.replace("{bad}", str(bad)) for e in extra]
    save = tmp_path / "out"
    argv = [*BASE, "--epochs", "1", *extra, "--save-path", f"{save}/"]
    assert message in run_bad(quant_train.main, argv, capsys)
    assert not (save / "checkpoint.pth.tar").exists()
    if extra[0] != "--quant-scheme":
        return
    proc = subprocess.run(
        [sys.executable, "-m", "hawq.quant_train", *argv], capture_output=True, text=True, timeout=300
    )
    assert proc.returncode == 2, proc.stderr[-2000:]
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and message in lines[0], proc.stderr


def test_round_folded_input_evaluates_identically_with_and_without_onednn(tmp_path, float_ckpt) -> None:
    """--round-folded-input: the whole validation (loss to the last bit) is the same on both CPU kernels."""
    flags = ["--quant-scheme", "uniform4", "--fix-BN", "--round-folded-input"]
    trained = quant_train.main(
        BASE + flags + ["--epochs", "1", "--data-percentage", "0.1", "--float64-bn-stats",
                        "--resume", str(float_ckpt), "--save-path", str(tmp_path / "t") + "/"]
    )  # fmt: skip
    assert np.isfinite(trained["val_loss"])
    evals = []
    for onednn in (True, False):
        with torch.backends.mkldnn.flags(enabled=onednn):
            evals.append(
                quant_train.main(
                    BASE
                    + flags
                    + [
                        "-e",
                        "--resume-quantize",
                        "--resume",
                        str(tmp_path / "t" / "checkpoint.pth.tar"),
                        "--save-path",
                        str(tmp_path / f"e{int(onednn)}") + "/",
                    ]
                )  # fmt: skip
            )
    assert evals[0]["val_loss"] == evals[1]["val_loss"]
    assert evals[0]["val_acc1"] == evals[1]["val_acc1"] == trained["val_acc1"]
