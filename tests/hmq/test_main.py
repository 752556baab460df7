"""``python -m hmq.main`` end to end on the embedded digits data, and its bad-input handling."""

from __future__ import annotations

import csv
import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from common.bitconfig import read_bitconfig
from common.runtime import run_main
from hmq.main import main

REPO = Path(__file__).resolve().parents[2]
FAST = ["--dataset", "digits", "--data_dir", "digits", "--network_name", "tiny_resnet", "--image_size", "8"]
FAST += ["--batch_size", "96", "--num_workers", "0", "--cycle_size", "1", "--n_target_steps", "2"]


@pytest.fixture(scope="module")
def searched(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("hmq_run")
    argv = FAST + ["--n_epochs", "3", "--n_epochs_final", "1", "--target_compression", "8", "--gamma", "64"]
    argv += ["--lr_start", "1e-3", "--lr_coefficient", "2", "--out", str(out)]
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        assert main(argv) == 0
    finally:
        torch.set_num_threads(before)
    return out


def test_search_and_finetune_reach_the_target(searched: Path) -> None:
    final = json.loads((searched / "final.json").read_text())
    assert final["wcr"] >= 8.0
    assert final["acr_max"] == pytest.approx(8.0)
    cfg = read_bitconfig(searched / "bitconfig.json")
    assert cfg.method == "hmq" and cfg.arch == "tiny_resnet" and cfg.input_size == 8
    weights = [lb.w for lb in cfg.layers.values()]
    n = {name: m.numel() for name, m in _weights("tiny_resnet").items()}
    wcr = 32 * sum(n.values()) / sum(cfg.layers[k].w * n[k] for k in n)
    assert wcr == pytest.approx(final["wcr"])
    assert all(1 <= w <= 8 for w in weights)
    assert all("threshold" in lb.extra for lb in cfg.layers.values())
    first = next(iter(cfg.layers.values()))
    assert first.a == 32  # the image is not quantized
    assert any(lb.a < 32 for lb in cfg.layers.values())
    assert (searched / "bits.png").read_bytes()[:4] == b"\x89PNG"


def _weights(arch: str) -> dict[str, torch.Tensor]:
    from common.models import build_model

    model = build_model(arch, 10)
    return {
        n: m.weight for n, m in model.named_modules() if isinstance(m, (torch.nn.Conv2d, torch.nn.Linear))
    }


def test_run_records_schedule_and_checkpoints(searched: Path) -> None:
    rows = list(csv.DictReader((searched / "epochs.csv").open()))
    assert [r["stage"] for r in rows] == ["init", "search", "search", "search", "final"]
    assert [float(r["target_w"]) for r in rows[1:4]] == [4.0, 8.0, 8.0]
    assert float(rows[-1]["temperature"]) == -1.0
    for name in ("parto_best.pt", "last.pt", "final_best.pt", "final_last.pt", "resume.pt"):
        assert (searched / name).is_file()
    state = torch.load(searched / "final_last.pt", weights_only=True)
    assert "conv1.q.search_matrix" in state and "layer1.0.act1.q.base_thresholds" in state
    resume = torch.load(searched / "resume.pt", weights_only=True)
    assert resume["stage"] == "final" and resume["epoch"] == 0


def test_resume_continues_after_the_last_epoch(searched: Path, tmp_path: Path) -> None:
    argv = FAST + ["--n_epochs", "3", "--n_epochs_final", "2", "--target_compression", "8", "--gamma", "64"]
    argv += ["--resume", str(searched / "resume.pt"), "--out", str(tmp_path)]
    assert main(argv) == 0
    rows = list(csv.DictReader((tmp_path / "epochs.csv").open()))
    assert [(r["stage"], r["epoch"]) for r in rows] == [("final", "1")]


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--target_compression", "0.5"], "--target_compression must be >= 1"),
        (["--target_compression", "40"], "unreachable"),
        (["--bits_list", "8", "4", "--target_compression", "9"], "unreachable"),
        (["--target_compression_activation", "9"], "--target_compression_activation"),
        (["--network_name", "resnet18_cifar"], "unknown --network_name 'resnet18_cifar'"),
        (["--dataset", "MNIST"], "unknown --dataset"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(capsys, tmp_path, extra, message) -> None:
    out = tmp_path / "run"
    with pytest.raises(SystemExit) as exc:
        run_main(main, FAST + ["--out", str(out)] + extra)
    assert exc.value.code == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and message in err
    assert not out.exists()


def test_command_line_exit_status() -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "hmq.main", "--network_name", "nope", "--data_dir", "digits"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 2
    assert proc.stderr.strip().startswith("error: unknown --network_name 'nope'")
    assert len(proc.stderr.strip().splitlines()) == 1


def test_pareto_plot_from_a_run(searched: Path, tmp_path: Path, capsys) -> None:
    from hmq.pareto import main as pareto_main

    (tmp_path / "a").mkdir()
    (tmp_path / "a" / "final.json").write_text((searched / "final.json").read_text())
    assert pareto_main([str(tmp_path)]) == 0
    assert (tmp_path / "pareto.png").read_bytes()[:4] == b"\x89PNG"
    assert "| tiny_resnet |" in capsys.readouterr().out


def test_bn_recalibrate_is_off_by_default_and_runs_before_the_fine_tune(tmp_path: Path) -> None:
    """``--bn_recalibrate N`` (not in the original) re-estimates BN statistics over N batches once, at the start
    of the fine-tune stage; without it the run is the original's (no re-estimation, no log line)."""
    argv = FAST + ["--n_epochs", "1", "--n_epochs_final", "1", "--target_compression", "8", "--device", "cpu"]
    logs = {}
    for n in (0, 2):
        out = tmp_path / f"recal{n}"
        before = torch.get_num_threads()
        torch.set_num_threads(1)
        try:
            assert main([*argv, "--bn_recalibrate", str(n), "--out", str(out)]) == 0
        finally:
            torch.set_num_threads(before)
        logs[n] = (out / "log.txt").read_text()
    assert "re-estimated" not in logs[0]
    assert "BatchNorm statistics re-estimated under the hard choices over 2 batches" in logs[2]
    with pytest.raises(SystemExit) as exc:
        run_main(main, [*argv, "--bn_recalibrate", "-1", "--out", str(tmp_path / "bad")])
    assert exc.value.code == 2 and not (tmp_path / "bad").exists()
