"""Kill-and-resume of ``ompq.PTQ.main_imagenet``: ``<out>/ptq_state.pth`` after every reconstructed unit, and a
run killed after one of them (weight or activation stage) and continued with ``--resume`` ends with the
uninterrupted run's quantized model, bit for bit. (On torchrun: tests/common/test_ddp_entrypoints.py.)"""

from __future__ import annotations

import pytest

from common.runtime import load_checkpoint, run_main
from ompq.PTQ import main_imagenet

ARGV = ["--data_path", "digits", "--arch", "tiny_resnet", "--image_size", "16", "--n_bits_w", "4"]
ARGV += ["--channel_wise", "--n_bits_a", "8", "--act_quant", "--num_samples", "32", "--iters_w", "4"]
ARGV += ["--iters_a", "3", "--batch_size", "128", "--use_seed", "--seed", "3", "--threads", "1"]


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory) -> tuple[dict, int]:
    out = tmp_path_factory.mktemp("ptq_full")
    main_imagenet.main([*ARGV, "--out", str(out)])
    units = len(load_checkpoint(out / "ptq_state.pth")["done"]["weights"])
    return load_checkpoint(out / "quantized_model.pth")["state_dict"], units


@pytest.mark.parametrize("stage", ["weights", "acts"])
def test_killed_after_a_unit_resumes_bit_identically(uninterrupted, stage, tmp_path, kill_switch) -> None:
    want, units = uninterrupted
    assert units >= 3
    out = tmp_path / "part"
    kill_switch.arm(main_imagenet, "ptq_state.pth", count=2 if stage == "weights" else units + 1)
    with pytest.raises(kill_switch.Killed):
        main_imagenet.main([*ARGV, "--out", str(out)])
    kill_switch.disarm()
    saved = load_checkpoint(out / "ptq_state.pth")
    assert saved["stage"] == stage and len(saved["done"][stage]) == (2 if stage == "weights" else 1)
    main_imagenet.main([*ARGV, "--out", str(out), "--resume", str(out / "ptq_state.pth")])
    kill_switch.assert_same_tensors(load_checkpoint(out / "quantized_model.pth")["state_dict"], want)


def test_resume_of_another_configuration_is_one_line(uninterrupted, tmp_path, capsys) -> None:
    out = tmp_path / "o"
    other = ["1" if ARGV[i - 1] == "--iters_a" else a for i, a in enumerate(ARGV)]
    main_imagenet.main([*other, "--out", str(out)])
    with pytest.raises(SystemExit) as stop:
        run_main(main_imagenet.main, [*ARGV, "--out", str(out), "--resume", str(out / "ptq_state.pth")])
    assert stop.value.code == 2 and "iters_a" in capsys.readouterr().err


def test_a_process_count_that_does_not_split_the_batch_is_one_line(monkeypatch, tmp_path, capsys) -> None:
    """Under torchrun each process computes 32 / W of every reconstruction batch: W = 3 is refused up front."""
    monkeypatch.setenv("WORLD_SIZE", "3")
    with pytest.raises(SystemExit) as stop:
        run_main(main_imagenet.main, [*ARGV, "--out", str(tmp_path / "o")])
    err = capsys.readouterr().err.strip()
    assert stop.value.code == 2 and "\n" not in err and "does not split over 3 processes" in err
    assert not (tmp_path / "o" / "ptq_state.pth").exists()
