"""Bad input to OMPQ's PTQ and search entrypoints: one line, exit status 2, nothing written.

OMPQ's QAT shares HAWQ-V3's trainer and checks: see tests/hawq/test_hawq_bad_inputs.py.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from bad_input import make_fixtures, nothing_in, run_bad

from common.bitconfig import LayerBits, uniform_bitconfig, write_bitconfig
from ompq.mixed_bit import feature_extract
from ompq.PTQ import main_imagenet
from ompq.PTQ.quant import reconstruction

PTQ = ["--data_path", "digits", "--arch", "tiny_resnet", "--n_bits_w", "4", "--channel_wise", "--n_bits_a", "8",
       "--num_samples", "32", "--iters_w", "3", "--iters_a", "2", "--batch_size", "128", "--device", "cpu"]  # fmt: skip
SEARCH = ["--dataset", "digits", "--save_path", "digits", "--beta", "1", "--train_batch_size", "16", "--model",
          "tiny_resnet", "--model_size", "0.3", "--device", "cpu"]  # fmt: skip


@pytest.fixture(scope="module")
def fx(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    root = tmp_path_factory.mktemp("ompq_bad")
    files = {k: str(v) for k, v in make_fixtures(root).items()}
    cfg = uniform_bitconfig("tiny_resnet", 4, 8, num_classes=10, input_size=32)
    cfg.layers["layer1.0.conv2"] = LayerBits(1, 8)
    files["w1"] = str(write_bitconfig(cfg, root / "w1.json"))
    return files


PTQ_CASES = [
    ("out is a file", ["--out", "{a_file}"], "--out {a_file}: exists and is not a folder"),
    ("out under a file", ["--out", "{a_file}/x"], "cannot create the folder, {a_file} is a file"),
    ("lr 0", ["--lr", "0"], "--lr must be > 0"),
    ("lr nan", ["--lr", "nan"], "--lr must be a finite number"),
    ("iters_w -1", ["--iters_w", "-1"], "--iters_w must be >= 0"),
    ("batch 0", ["--batch_size", "0"], "--batch_size must be >= 1"),
    ("warmup 2", ["--warmup", "2"], "--warmup must be in [0, 1]"),
    ("weight nan", ["--weight", "nan"], "--weight must be a finite number"),
    ("image size 0", ["--image_size", "0"], "--image_size must be >= 8"),
    ("weights of another arch", ["--weights", "{other_bare}"], "--weights {other_bare} does not fit the model"),
    ("weights garbage", ["--weights", "{garbage}"], "cannot load weights"),
    ("bit config w=1", ["--bit_config", "{w1}"], "layer 'layer1.0.conv2': w=1 is outside BRECQ's"),
    ("bit config malformed", ["--bit_config", "{bad_json}"], "not valid JSON"),
]  # fmt: skip


@pytest.mark.parametrize(("extra", "needle"), [c[1:] for c in PTQ_CASES], ids=[c[0] for c in PTQ_CASES])
def test_ptq_bad_input(extra, needle, fx, tmp_path, capsys) -> None:  # noqa: ANN001
    out = tmp_path / "out"
    line = run_bad(main_imagenet.main, [*PTQ, "--out", str(out), *[s.format(**fx) for s in extra]], capsys)
    assert needle.format(**fx) in line
    assert nothing_in(out)


def test_ptq_nan_reconstruction_loss(tmp_path: Path, capsys, monkeypatch) -> None:  # noqa: ANN001
    monkeypatch.setattr(reconstruction, "lp_loss", lambda pred, tgt, p=2.0: (pred - tgt).sum() * torch.nan)
    out = tmp_path / "out"
    line = run_bad(main_imagenet.main, [*PTQ, "--out", str(out)], capsys)
    assert "non-finite reconstruction loss of" in line and "step 0" in line
    assert not (out / "quantized_model.pth").exists() and not (out / "final.json").exists()


@pytest.mark.parametrize(
    ("extra", "needle"),
    [
        (["--out", "{a_file}"], "--out {a_file}: exists and is not a folder"),
        (["--beta", "nan"], "--beta must be a finite number"),
        (["--model_size", "nan"], "--model_size must be a finite number"),
        (["--n_worker", "-1"], "--n_worker must be >= 0"),
        (["--image_size", "0"], "--image_size must be >= 8"),
        (["--dataset", "cifar10", "--save_path", "/nowhere"], "cifar10 is for --model resnet20"),
    ],
)
def test_search_bad_input(extra, needle, fx, tmp_path, capsys) -> None:  # noqa: ANN001
    out = tmp_path / "out"
    line = run_bad(
        feature_extract.main, [*SEARCH, "--out", str(out), *[s.format(**fx) for s in extra]], capsys
    )
    assert needle.format(**fx) in line
    assert nothing_in(out)
