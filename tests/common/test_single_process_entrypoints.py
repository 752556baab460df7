"""The entrypoints that run in one process only refuse ``torchrun`` with more than one process in one line
(exit 2, nothing written), instead of running the same job N times into the same files: OMPQ's feature
extraction (one batch of 32/64 images). (HAQ's DDPG search and OMPQ's PTQ used to be here; they now run
data-parallel, tests/common/test_ddp_entrypoints.py.)"""

from __future__ import annotations

from pathlib import Path

import pytest

from common.runtime import run_main


def _argv(module: str, out: Path) -> list[str]:
    if module == "ompq.mixed_bit.feature_extract":
        return ["--model", "resnet18", "--dataset", "digits", "--out", str(out)]
    return ["--arch", "resnet18", "--data_path", "digits", "--out", str(out)]


@pytest.mark.parametrize("module", ["ompq.mixed_bit.feature_extract"])
def test_two_processes_are_refused_in_one_line(module: str, monkeypatch, tmp_path: Path, capsys) -> None:
    import importlib

    main = importlib.import_module(module).main
    monkeypatch.setenv("WORLD_SIZE", "2")
    out = tmp_path / "out"
    with pytest.raises(SystemExit) as stop:
        run_main(main, _argv(module, out))
    err = capsys.readouterr().err.strip()
    assert stop.value.code == 2 and "\n" not in err, err
    assert "torchrun" in err and module in err and "WORLD_SIZE=2" in err
    assert not out.exists()
