"""End to end on the embedded digits data: both search modes, the table builder, finetune.py, bad input."""

from __future__ import annotations

import json

import numpy as np
import pytest
from torch import nn

from common.bitconfig import read_bitconfig
from common.models import build_model
from common.runtime import run_main
from haq import finetune, rl_quantize
from haq.lib.env.budget import kmeans_size, latency_cost, reference_latency
from haq.lib.env.embedding import quantizable_modules
from haq.lib.simulator import build_table

SMALL = ["--dataset", "digits", "--pretrained", "none", "--train_episode", "2", "--warmup", "0", "--train_size", "32",
         "--val_size", "16", "--data_bsize", "16", "--n_worker", "0", "--bsize", "4", "--seed", "3"]  # fmt: skip


def test_kmeans_search_meets_its_budget(tmp_path) -> None:
    res = rl_quantize.main(
        ["--arch", "tiny_resnet", "--preserve_ratio", "0.1", "--output", str(tmp_path), *SMALL]
    )
    cfg = read_bitconfig(res["bitconfig"])
    bits = [cfg.layers[n].w for n in cfg.layers]
    model = build_model("tiny_resnet", 10)
    counts = [m.weight.numel() for _, m in quantizable_modules(model, (nn.Conv2d, nn.Linear))]
    assert len(bits) == len(counts) == 13 and res["costs"]["size_ratio"] <= 0.1
    assert kmeans_size(res["best_policy"], counts) / (32 * sum(counts)) <= 0.1
    rows = (tmp_path / "tiny_resnet_digits" / "epochs.csv").read_text().splitlines()
    assert len(rows) == 3 and (tmp_path / "tiny_resnet_digits" / "search_state.pth").is_file()


def test_linear_search_with_a_built_table(tmp_path) -> None:
    table = build_table.main(
        ["--arch", "qtiny_resnet", "--dataset", "digits", "--out", str(tmp_path / "t.npy")]
    )
    t = np.load(table)
    assert t.shape == (13, 8, 8) and (np.diff(t, axis=1) >= 0).all() and (np.diff(t, axis=2) >= 0).all()
    argv = ["--arch", "qtiny_resnet", "--linear_quantization", "--min_bit", "2", "--float_bit", "8",
            "--preserve_ratio", "0.5", "--latency_table", str(table), "--output", str(tmp_path), *SMALL]  # fmt: skip
    res = rl_quantize.main(argv)
    assert latency_cost(res["best_policy"], t) <= 0.5 * reference_latency(t)
    cfg = read_bitconfig(res["bitconfig"])
    assert cfg.extra["haq"]["mode"] == "linear" and len(cfg.layers) == 13


def test_finetune_kmeans_and_eval(tmp_path) -> None:
    strat = json.dumps([2, 3, 3, 4, 4, 2, 2, 3, 3, 4, 4, 2, 8])
    common = [
        "-a",
        "tiny_resnet",
        "-d",
        "digits",
        "--data_name",
        "digits",
        "-j",
        "0",
        "--strategy",
        strat,
        "--manualSeed",
        "1",
    ]
    res = finetune.main([*common, "--epochs", "1", "--train_batch", "256", "-c", str(tmp_path)])
    assert (
        res["best_acc"] >= 0
        and (tmp_path / "checkpoint.pth.tar").is_file()
        and (tmp_path / "bitconfig.json").is_file()
    )
    stats = finetune.main([*common, "--resume", str(tmp_path / "checkpoint.pth.tar"), "-e"])
    assert stats["top1"] == pytest.approx(res["best_acc"], abs=1e-6)


@pytest.mark.parametrize(
    "argv,needle",
    [
        (["--arch", "no_such_net"], "unknown architecture"),
        (["--arch", "tiny_resnet", "--linear_quantization", "--min_bit", "2"], "needs a quantized model"),
        (["--arch", "tiny_resnet", "--preserve_ratio", "0.02"], "unreachable"),
        (
            [
                "--arch",
                "qtiny_resnet",
                "--linear_quantization",
                "--min_bit",
                "2",
                "--float_bit",
                "8",
                "--preserve_ratio",
                "0.1",
                "--latency_table",
                "TABLE",
            ],
            "unreachable",
        ),  # fmt: skip
    ],
)
def test_bad_input_is_one_line_and_exit_2(tmp_path, capsys, argv, needle) -> None:
    table = tmp_path / "t.npy"
    np.save(table, np.broadcast_to(np.arange(1, 14)[:, None, None] * np.ones((8, 8)), (13, 8, 8)))
    argv = [str(table) if a == "TABLE" else a for a in argv]
    with pytest.raises(SystemExit) as exc:
        run_main(
            rl_quantize.main,
            [*argv, "--dataset", "digits", "--pretrained", "none", "--output", str(tmp_path / "o")],
        )
    err = capsys.readouterr().err.strip().splitlines()
    assert exc.value.code == 2 and len(err) == 1 and needle in err[0]
    assert not (tmp_path / "o").exists()
