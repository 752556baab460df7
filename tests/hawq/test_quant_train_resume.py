"""Kill-and-resume of ``hawq.quant_train`` and OMPQ's QAT (which runs its trainer): a run killed right after a
checkpoint (at an epoch's end, or in the middle of one with ``--evaluate-times``) and continued with
``--resume ... --resume-quantize`` ends with the uninterrupted run's weights, bit for bit."""

from __future__ import annotations

from pathlib import Path

import pytest

import hawq.quant_train as hawq_qt
from common.bitconfig import uniform_bitconfig, write_bitconfig
from common.runtime import load_checkpoint
from ompq.QAT import quant_train as ompq_qt

HAWQ = ["-a", "tiny_resnet", "--data", "digits", "-b", "32", "--data-percentage", "0.1", "--lr", "0.01"]
HAWQ += ["--act-range-momentum", "0.99", "--seed", "3", "-j", "0", "--quant-scheme", "uniform8"]
HAWQ += ["--device", "cpu", "--image-size", "16", "--threads", "1", "--epochs", "3"]
KD = ["--distill-method", "KD_naive", "--teacher-arch", "tiny_resnet", "--evaluate-times", "3"]
OMPQ = ["--" + a[2:].replace("-", "_") if a.startswith("--") else a for a in HAWQ]


def _kill_and_resume(
    main, argv: list[str], tmp_path: Path, kill_switch, count: int, resume_flag: str
) -> dict:  # noqa: ANN001
    full, part = tmp_path / "full", tmp_path / "part"
    main([*argv, "--save-path" if resume_flag.startswith("--resume-") else "--save_path", f"{full}/"])
    kill_switch.arm(hawq_qt, "checkpoint.pth.tar", count=count)
    save = "--save-path" if resume_flag.startswith("--resume-") else "--save_path"
    with pytest.raises(kill_switch.Killed):
        main([*argv, save, f"{part}/"])
    kill_switch.disarm()
    killed_at = load_checkpoint(part / "checkpoint.pth.tar")
    main([*argv, save, f"{part}/", "--resume", str(part / "checkpoint.pth.tar"), resume_flag])
    want = load_checkpoint(full / "checkpoint.pth.tar")
    got = load_checkpoint(part / "checkpoint.pth.tar")
    assert got["epoch"] == want["epoch"] == 3
    kill_switch.assert_same_tensors(got["state_dict"], want["state_dict"])
    return killed_at


@pytest.mark.parametrize("mid_epoch", [False, True], ids=["epoch_end", "mid_epoch_kd"])
def test_hawq_killed_run_resumes_bit_identically(mid_epoch, tmp_path, kill_switch) -> None:
    argv = [*HAWQ, *KD] if mid_epoch else HAWQ
    count = 1 if mid_epoch else 2
    killed_at = _kill_and_resume(hawq_qt.main, argv, tmp_path, kill_switch, count, "--resume-quantize")
    if mid_epoch:  # the first write is the in-epoch validation of epoch 0, after batch 4 of 5 (i = 3)
        assert (killed_at["resume_epoch"], killed_at["resume_batch"], killed_at["epoch"]) == (0, 4, 1)
    else:
        assert killed_at["epoch"] == 2 and "resume_batch" not in killed_at


def test_ompq_qat_killed_mid_epoch_resumes_bit_identically(tmp_path, kill_switch) -> None:
    bits = write_bitconfig(uniform_bitconfig("tiny_resnet", 6, 6, keep_first_last=8), tmp_path / "w6a6.json")
    argv = [*OMPQ[: OMPQ.index("--quant_scheme")], *OMPQ[OMPQ.index("--quant_scheme") + 2 :]]
    argv += ["--bit_config", str(bits)]
    argv += ["--distill_method", "KD_naive", "--teacher_arch", "tiny_resnet", "--evaluate_times", "3"]
    argv += ["--kd_cosine"]  # the per-iteration cosine lr must pick up at the resumed batch
    killed_at = _kill_and_resume(ompq_qt.main, argv, tmp_path, kill_switch, 3, "--resume_quantize")
    assert (killed_at["resume_epoch"], killed_at["resume_batch"]) == (1, 4)
