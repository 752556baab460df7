"""End to end on the embedded digits data: search -> bit config -> QAT epoch / PTQ; bad input exits 2."""

import json
import subprocess
import sys

import pytest

from common.bitconfig import read_bitconfig
from common.runtime import run_main
from ompq.mixed_bit import feature_extract
from ompq.PTQ import main_imagenet
from ompq.QAT import quant_train

SEARCH = ["--dataset", "digits", "--save_path", "digits", "--beta", "1", "--train_batch_size", "16"]


@pytest.fixture(scope="module")
def qat_search(tmp_path_factory):
    out = tmp_path_factory.mktemp("search_qat")
    feature_extract.main(
        [
            "--model",
            "tiny_resnet",
            "--model_size",
            "0.2",
            "--quant_type",
            "QAT",
            "--abits",
            "6",
            "--out",
            str(out),
            *SEARCH,
        ]
    )
    return out


def test_search_writes_bit_config(qat_search):
    cfg = read_bitconfig(qat_search / "bit_config.json")
    assert cfg.arch == "tiny_resnet" and cfg.method == "ompq"
    assert cfg.layers["conv1"].w == 8 and cfg.layers["fc"].w == 8
    assert cfg.layers["layer2.0.downsample.0"].w == cfg.layers["layer2.0.conv2"].w
    assert all(4 <= lb.w <= 8 for lb in cfg.layers.values())
    assert cfg.costs["size_Mb"] <= 0.2 + 1e-9
    assert cfg.layers["layer1.0.conv1"].a == 6


def test_search_with_layer1_projection_writes_a_valid_bit_config(tmp_path):
    """OMPQ's own ResNet checkpoints carry a layer1.0 projection: no entry, no cost and no bits for it."""
    feature_extract.main(
        [
            "--model",
            "tiny_resnet",
            "--model_size",
            "0.2",
            "--layer1_projection",
            "on",
            "--out",
            str(tmp_path),
            *SEARCH,
        ]
    )
    cfg = read_bitconfig(tmp_path / "bit_config.json")
    assert "layer1.0.downsample.0" not in cfg.layers
    assert cfg.layers["layer2.0.downsample.0"].w == cfg.layers["layer2.0.conv2"].w


def test_search_with_a_reduced_cfg(tmp_path):
    widths = [8, 8, 8, 8, 16, 16, 16, 32, 32, 32, 64, 64, 64]
    result = feature_extract.main(
        ["--model", "resnet18", "--cfg", str(widths), "--model_size", "0.12", "--out", str(tmp_path), *SEARCH]
    )
    cfg = read_bitconfig(tmp_path / "bit_config.json")
    assert cfg.extra["ompq"]["cfg"] == widths and cfg.extra["search"]["rounding"] == "dfs"
    assert result["size_Mb"] <= 0.12 and len(result["bits"]) == 16


def test_search_then_qat_one_epoch(qat_search, tmp_path):
    save = tmp_path / "qat"
    result = quant_train.main([
        "-a", "tiny_resnet", "--data", "digits", "--epochs", "1", "--lr", "0.0001", "--batch_size", "64",
        "--save_path", f"{save}/", "--act_range_momentum=0.99", "--wd", "1e-4", "--data_percentage", "0.1",
        "--fix_BN", "--checkpoint_iter", "-1", "--bit_config", str(qat_search / "bit_config.json"), "--seed", "0",
        "-j", "0",
    ])  # fmt: skip
    assert 0.0 <= result["best_acc1"] <= 100.0
    for name in ("checkpoint.pth.tar", "quantized_checkpoint.pth.tar", "bit_config.json", "final.json"):
        assert (save / name).is_file()
    trained = read_bitconfig(save / "bit_config.json")
    searched = read_bitconfig(qat_search / "bit_config.json")
    assert {n: lb.w for n, lb in trained.layers.items()} == {n: lb.w for n, lb in searched.layers.items()}


def test_search_then_ptq(tmp_path):
    search = tmp_path / "search"
    feature_extract.main(
        [
            "--model",
            "tiny_resnet",
            "--model_size",
            "0.11",
            "--quant_type",
            "PTQ",
            "--out",
            str(search),
            *SEARCH,
        ]
    )
    out = tmp_path / "ptq"
    result = main_imagenet.main([
        "--data_path", "digits", "--arch", "tiny_resnet", "--n_bits_w", "2", "--channel_wise", "--n_bits_a", "8",
        "--act_quant", "--bit_config", str(search / "bit_config.json"), "--num_samples", "32", "--iters_w", "3",
        "--iters_a", "2", "--batch_size", "128", "--out", str(out),
    ])  # fmt: skip
    searched = read_bitconfig(search / "bit_config.json")
    assert result["weight_bits"] == [lb.w for lb in searched.layers.values()]
    assert (out / "quantized_model.pth").is_file()
    assert "acc_full_quant" in json.loads((out / "final.json").read_text())


MAINS = {
    "ompq.mixed_bit.feature_extract": feature_extract.main,
    "ompq.QAT.quant_train": quant_train.main,
    "ompq.PTQ.main_imagenet": main_imagenet.main,
}


@pytest.mark.parametrize(
    ("module", "args", "needle"),
    [
        (
            "ompq.mixed_bit.feature_extract",
            ["--model", "tiny_resnet", "--model_size", "0.01", *SEARCH],
            "below the smallest",
        ),
        (
            "ompq.mixed_bit.feature_extract",
            ["--model", "resnet18", "--cfg", "[64, 64]", "--model_size", "1", *SEARCH],
            "--cfg for resnet18 must be a list of 13",
        ),
        ("ompq.QAT.quant_train", ["-a", "vgg", "--data", "digits"], "unknown -a/--arch"),
        (
            "ompq.PTQ.main_imagenet",
            ["--data_path", "digits", "--arch", "tiny_resnet", "--bit_cfg", "[4,3]"],
            "--bit_cfg has 2",
        ),
    ],
)
def test_bad_input_one_line_exit_2(module, args, needle, tmp_path, capsys):
    out_flag = "--save_path" if module == "ompq.QAT.quant_train" else "--out"
    with pytest.raises(SystemExit) as exc:
        run_main(MAINS[module], [*args, out_flag, str(tmp_path / "o")])
    assert exc.value.code == 2
    lines = [line for line in capsys.readouterr().err.strip().splitlines() if line.strip()]
    assert len(lines) == 1 and needle in lines[0], lines
    assert not (tmp_path / "o").exists()


def test_unknown_model_cli_exit_2(tmp_path):
    cmd = [sys.executable, "-m", "ompq.mixed_bit.feature_extract", "--model", "vgg", "--model_size", "1"]
    proc = subprocess.run([*cmd, "--out", str(tmp_path / "o")], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "unknown --model 'vgg'" in lines[0], proc.stderr
