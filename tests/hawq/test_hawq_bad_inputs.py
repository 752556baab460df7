"""Bad input to the HAWQ-V3 entrypoints (and OMPQ's QAT, which shares the trainer): one line, exit status 2.

Also: a diverging run stops at the first NaN loss without writing over the last good checkpoint, 1-bit
symmetric quantizers are refused up front naming the layer, and Ctrl-C exits with 130 and a resume hint.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from bad_input import make_fixtures, nothing_in, run_bad

from common.bitconfig import LayerBits, uniform_bitconfig, write_bitconfig
from common.runtime import load_checkpoint, run_main
from hawq import export_onnx, hessian, ilp, quant_train, search
from ompq.QAT import quant_train as ompq_qat

GOLDEN_ILP = Path(__file__).resolve().parents[1] / "golden" / "hawq" / "ilp.json"
BASE = ["-a", "tiny_resnet", "--data", "digits", "-b", "64", "--lr", "0.001", "--act-range-momentum", "0.99",
        "--seed", "0", "-j", "0", "-p", "100", "--device", "cpu", "--epochs", "1", "--data-percentage", "0.1",
        "--fix-BN", "--quant-scheme", "uniform8"]  # fmt: skip


@pytest.fixture(scope="module")
def fx(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("hawq_bad")
    files = make_fixtures(root)
    names = list(uniform_bitconfig("tiny_resnet", 4, 4, num_classes=10, input_size=32).layers)
    cases = (
        ("w1", names[3], LayerBits(1, 4)),
        ("a1", names[1], LayerBits(4, 1)),
        ("w4", names[0], LayerBits(4, 4)),
    )
    for key, layer, bits in cases:
        cfg = uniform_bitconfig("tiny_resnet", 4, 4, num_classes=10, input_size=32)
        cfg.layers[layer] = bits
        files[key] = write_bitconfig(cfg, root / f"{key}.json")
        files[key + "_layer"] = Path(layer)
    return files


QUANT_TRAIN_CASES = [
    ("save-path is a file", ["--save-path", "{a_file}"], "--save-path {a_file}: exists and is not a folder"),
    ("save-path under a file", ["--save-path", "{a_file}/run/"], "cannot create the folder, {a_file} is a file"),
    ("lr 0", ["--lr", "0"], "--lr must be > 0, got 0.0"),
    ("lr nan", ["--lr", "nan"], "--lr must be a finite number"),
    ("epochs -1", ["--epochs", "-1"], "--epochs must be >= 0, got -1"),
    ("batch 0", ["-b", "0"], "-b/--batch-size must be >= 1, got 0"),
    ("fraction 0", ["--data-percentage", "0"], "--data-percentage must be in (0, 1]"),
    ("fraction 1.5", ["--data-percentage", "1.5"], "--data-percentage must be in (0, 1]"),
    ("workers -1", ["-j", "-1"], "-j/--workers must be >= 0"),
    ("print-freq 0", ["-p", "0"], "-p/--print-freq must be >= 1"),
    ("image size 0", ["--image-size", "0"], "--image-size must be >= 8"),
    ("not an int", ["--epochs", "x"], "argument --epochs: invalid int value: 'x'"),
    ("resume missing", ["--resume", "{a_file}.missing"], "--resume file not found"),
    ("resume garbage", ["--resume", "{garbage}"], "unreadable as a tensor checkpoint"),
    ("resume another arch", ["--resume", "{other_bare}"], "shape mismatch"),
    ("quantized resume of a float state dict", ["--resume", "{tiny_bare}", "--resume-quantize"], "no quantized"),
    ("bit config malformed", ["--bit-config", "{bad_json}"], "not valid JSON"),
    ("bit config w=1", ["--bit-config", "{w1}"], "layer '{w1_layer}': w=1 is below the 2 bits"),
    ("bit config a=1", ["--bit-config", "{a1}"], "layer '{a1_layer}': a=1 is below the 2 bits"),
    ("data folder missing", ["--data", "{a_file}.nodata"], "data folder not found"),
    ("teacher of another arch",
     ["--distill-method", "KD_naive", "--teacher-arch", "tiny_resnet", "--teacher-checkpoint", "{other_bare}"],
     "--teacher-checkpoint {other_bare} does not fit the model: fc.weight has shape"),
]  # fmt: skip


def _fill(items: list[str], fx: dict[str, Path]) -> list[str]:
    return [s.format(**{k: str(v) for k, v in fx.items()}) for s in items]


@pytest.mark.parametrize(
    ("extra", "needle"), [c[1:] for c in QUANT_TRAIN_CASES], ids=[c[0] for c in QUANT_TRAIN_CASES]
)
def test_quant_train_bad_input(extra, needle, fx, tmp_path, capsys) -> None:  # noqa: ANN001
    out = tmp_path / "out"
    argv = [*BASE, "--save-path", f"{out}/", *_fill(extra, fx)]
    line = run_bad(quant_train.main, argv, capsys)
    assert _fill([needle], fx)[0] in line
    assert nothing_in(out)


OMPQ = ["-a", "tiny_resnet", "--data", "digits", "-b", "64", "--act_range_momentum", "0.99", "-j", "0",
        "--device", "cpu", "--epochs", "1", "--data_percentage", "0.1", "--fix_BN"]  # fmt: skip


@pytest.mark.parametrize(
    ("extra", "needle"),
    [
        (["--save_path", "{a_file}"], "--save_path {a_file}: exists and is not a folder"),
        (["--lr", "-1"], "--lr must be > 0"),
        (["--data_percentage", "2"], "--data_percentage must be in (0, 1]"),
        (["--bit_config", "{w1}"], "w=1 is below the 2 bits"),
        (["--bit_config", "{bad_json}"], "not valid JSON"),
    ],
)
def test_ompq_qat_bad_input(extra, needle, fx, tmp_path, capsys) -> None:  # noqa: ANN001
    out = tmp_path / "out"
    argv = [
        *OMPQ,
        "--save_path",
        f"{out}/",
        "--bit_config",
        str(fx["w4"]),
        *_fill(extra, fx),
    ]  # last one wins
    line = run_bad(ompq_qat.main, argv, capsys)
    assert _fill([needle], fx)[0] in line
    assert nothing_in(out)


def test_nan_run_keeps_the_last_good_checkpoint(tmp_path, capsys) -> None:  # noqa: ANN001
    """One good epoch, then a resumed run at lr 1e10: the NaN is caught before the checkpoint is rewritten."""
    out = tmp_path / "run"
    quant_train.main([*BASE, "--data-percentage", "0.2", "--save-path", f"{out}/"])
    ckpt = out / "checkpoint.pth.tar"
    good = load_checkpoint(ckpt)
    good_quantized = (out / "quantized_checkpoint.pth.tar").read_bytes()
    good_final = (out / "final.json").read_bytes()
    argv = [*BASE, "--data-percentage", "0.2", "--epochs", "3", "--lr", "1e10", "--resume", str(ckpt),
            "--resume-quantize", "--save-path", f"{out}/"]  # fmt: skip
    line = run_bad(quant_train.main, argv, capsys)
    assert "non-finite loss at epoch 1 step" in line and f"the last good checkpoint is {ckpt}" in line
    after = load_checkpoint(ckpt)
    assert after["epoch"] == good["epoch"] == 1
    assert all(torch.equal(after["state_dict"][k], v) for k, v in good["state_dict"].items())
    assert (out / "quantized_checkpoint.pth.tar").read_bytes() == good_quantized
    assert (out / "final.json").read_bytes() == good_final  # the failed run reports no result


def test_ctrl_c_exits_130_with_the_resume_hint(tmp_path, capsys, monkeypatch) -> None:  # noqa: ANN001
    out = tmp_path / "run"
    calls = []

    def interrupted(self, epoch, *args, **kwargs):  # noqa: ANN001, ANN002, ANN003, ANN202
        calls.append(epoch)
        if epoch == 1:
            raise KeyboardInterrupt
        return real(self, epoch, *args, **kwargs)

    real = quant_train.Trainer.train_epoch
    monkeypatch.setattr(quant_train.Trainer, "train_epoch", interrupted)
    with pytest.raises(SystemExit) as stop:
        run_main(quant_train.main, [*BASE, "--epochs", "2", "--save-path", f"{out}/"])
    err = capsys.readouterr().err.strip().splitlines()
    ckpt = out / "checkpoint.pth.tar"
    assert stop.value.code == 130 and calls == [0, 1]
    assert err[-1] == f"interrupted; resume with --resume {ckpt} --resume-quantize"
    assert load_checkpoint(ckpt)["epoch"] == 1  # intact


def test_hessian_search_ilp_export_bad_input(fx, tmp_path, capsys) -> None:  # noqa: ANN001
    f = {k: str(v) for k, v in fx.items()}
    common = ["--arch", "tiny_resnet", "--data", "digits", "--batch-size", "8", "--probes", "2"]
    cases = [
        (hessian.main, [*common, "--out", str(tmp_path)], "is a folder, expected a file name"),
        (hessian.main, [*common, "--out", f"{f['a_file']}/t.json"], f"cannot create the file, {f['a_file']} is a file"),
        (hessian.main, [*common, "--out", str(tmp_path / "t.json"), "--checkpoint", f["other_bare"]],
         "does not fit the model: fc.weight has shape (10, 64) in the checkpoint but (10, 128)"),
        (search.main, [*common, "--checkpoint", f["tiny_bare"], "--kind", "modelsize", "--r", "nan", "--out",
                       str(tmp_path / "c.json")], "--r must be a finite number"),
        (search.main, [*common, "--checkpoint", f["tiny_bare"], "--kind", "modelsize", "--r", "0.5", "--out",
                       str(tmp_path / "c.json"), "--traces-out", f"{f['a_file']}/t.json"], "--traces-out"),
        (ilp.main, ["--notebook-data", str(GOLDEN_ILP), "--kind", "modelsize", "--r", "0.5", "--out", str(tmp_path)],
         "is a folder, expected a file name"),
        (ilp.main, ["--traces", f["bad_json"], "--kind", "modelsize", "--r", "0.5", "--out", str(tmp_path / "c.json")],
         "not valid JSON"),
        (export_onnx.main, ["-a", "tiny_resnet", "--resume", f["tiny_bare"], "--out", str(tmp_path / "m.onnx")],
         "no quantized classifier"),
        (export_onnx.main, ["-a", "tiny_resnet", "--resume", f["garbage"], "--out", str(tmp_path / "m.onnx")],
         "unreadable as a tensor checkpoint"),
        (export_onnx.main, ["-a", "tiny_resnet", "--resume", f["tiny_bare"], "--out", f"{f['a_file']}/m.onnx"],
         "cannot create the file"),
    ]  # fmt: skip
    for main, argv, needle in cases:
        line = run_bad(main, argv, capsys)
        assert needle in line, (argv, line)
    assert sorted(p.name for p in tmp_path.iterdir()) == []
