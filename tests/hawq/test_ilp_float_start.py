"""``hawq.ilp --pretrained`` computes the weight perturbations from pytorchcv's float file (HAWQ-V3's starting
point), never from torchvision's weights; a missing file or an arch without one is one line, exit 2."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from torchvision import models as tv

from common.runtime import run_main
from hawq import ilp


def _traces(tmp_path: Path, arch: str) -> Path:
    names = [layer.name for layer in ilp.searched_layers(arch)]
    path = tmp_path / "traces.json"
    path.write_text(json.dumps({"arch": arch, "layers": {n: {"trace": 1.0} for n in names}}))
    return path


def _cli_error(tmp_path: Path, capsys, arch: str) -> str:
    argv = ["--traces", str(_traces(tmp_path, arch)), "--kind", "bops", "--r", "0.5", "--pretrained"]
    with pytest.raises(SystemExit) as stop:
        run_main(ilp.main, [*argv, "--out", str(tmp_path / "bits.json")])
    assert stop.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: ")
    assert not (tmp_path / "bits.json").exists()
    return err[0]


def test_missing_pytorchcv_file_names_file_and_url(tmp_path, monkeypatch, capsys) -> None:
    monkeypatch.setenv("MPQ_WEIGHTS_DIR", str(tmp_path / "weights"))
    line = _cli_error(tmp_path, capsys, "resnet18")
    assert str(tmp_path / "weights" / "pytorchcv" / "resnet18.pth") in line
    assert "https://github.com/osmr/imgclsmob/releases" in line


def test_arch_without_original_file_asks_for_weights(tmp_path, monkeypatch, capsys) -> None:
    monkeypatch.setenv("MPQ_WEIGHTS_DIR", str(tmp_path / "weights"))
    line = _cli_error(tmp_path, capsys, "tiny_resnet")
    assert "no original (pytorchcv) float weights" in line and "--weights FILE" in line


def test_pretrained_deltas_come_from_the_pytorchcv_file(tmp_path, monkeypatch) -> None:
    torch.manual_seed(1)
    ref = tv.resnet18()
    (tmp_path / "pytorchcv").mkdir()
    torch.save(ref.state_dict(), tmp_path / "pytorchcv" / "resnet18.pth")
    monkeypatch.setenv("MPQ_WEIGHTS_DIR", str(tmp_path))
    names = [layer.name for layer in ilp.searched_layers("resnet18")]
    prob = ilp.load_traces(_traces(tmp_path, "resnet18"), weights=True)
    modules = dict(ref.named_modules())
    for i, name in enumerate(names):
        assert prob.delta8[i] == pytest.approx(ilp.quant_perturbation(modules[name].weight, 8), rel=1e-12)
        assert prob.delta4[i] == pytest.approx(ilp.quant_perturbation(modules[name].weight, 4), rel=1e-12)
