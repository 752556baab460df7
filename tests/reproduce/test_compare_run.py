"""The benchmark orchestrator end to end in --quick mode (reproduce/compare/run.py)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from common.runtime import run_main
from reproduce.compare import run as compare_run
from reproduce.compare.method import FinetuneOutcome, Method, SearchOutcome
from reproduce.compare.methods import NAMES


@pytest.fixture(scope="module")
def quick_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict]:
    out = tmp_path_factory.mktemp("compare")
    result = compare_run.main(["--quick", "--out", str(out)])
    return out, result


def test_quick_run_writes_table_plot_and_results(quick_run: tuple[Path, dict]) -> None:
    out, result = quick_run
    labels = [r["label"] for r in result["rows"]]
    assert labels == ["uniform W8A8", "uniform W4A4", "HAWQ-V3", "HAQ", "HMQ", "OMPQ", "ProQHA"]
    assert not any(r.get("failed") for r in result["rows"]), [r["notes"] for r in result["rows"]]
    for name in ("compare.md", "compare.csv", "pareto.png", "bits.png", "results.json"):
        assert (out / name).is_file()
    assert json.loads((out / "results.json").read_text())["rows"] == json.loads(json.dumps(result["rows"]))
    md = (out / "compare.md").read_text()
    assert md.count("\n| ") == 1 + 7
    u8, u4, hawq, *others = result["rows"]
    assert u8["avg_wbits"] == pytest.approx(8.0) and u8["within"] == {"avg_wbits": False, "GBOPs": False}
    assert u4["within"] == {"avg_wbits": True, "GBOPs": True}
    assert hawq["within"] == {"avg_wbits": True, "GBOPs": True}
    assert set(hawq["bits"].split()) <= {"4/4", "8/8"}
    assert hawq["search_images"] > 0 and hawq["search_s"] > 0
    assert 0 <= hawq["acc_own"] <= 100 and hawq["acc_common"] == hawq["acc_own"]
    for row in others:  # every method's config also went through the common QAT path
        assert 0 <= row["acc_own"] <= 100 and 0 <= row["acc_common"] <= 100
        assert row["search_images"] > 0
        assert (out / row["method"] / "common_qat" / "step.json").is_file()


def test_rerun_reads_finished_steps_back(
    quick_run: tuple[Path, dict], monkeypatch: pytest.MonkeyPatch
) -> None:
    out, result = quick_run

    def boom(*args, **kwargs):
        raise AssertionError("a finished step was run again")

    monkeypatch.setattr(compare_run, "finetune_common", boom)
    for name in NAMES:
        monkeypatch.setattr(compare_run.load_method(name), "search", boom)
        monkeypatch.setattr(compare_run.load_method(name), "finetune", boom)
    again = compare_run.main(["--quick", "--out", str(out)])
    assert again["rows"] == json.loads(json.dumps(result["rows"]))


def test_a_new_recipe_reruns_the_fine_tunes_only(
    quick_run: tuple[Path, dict], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    out, _ = quick_run
    copy = tmp_path / "copy"
    shutil.copytree(out, copy)
    calls: list[str] = []

    def fake_common(ctx, bitconfig, folder):
        calls.append(Path(folder).parent.name)
        return FinetuneOutcome(50.0)

    def no_search(*args, **kwargs):
        raise AssertionError("the search does not depend on the recipe")

    monkeypatch.setattr(compare_run, "finetune_common", fake_common)
    monkeypatch.setattr(compare_run.load_method("hawq"), "search", no_search)
    monkeypatch.setattr(compare_run.load_method("hawq"), "finetune", lambda ctx, b, o: fake_common(ctx, b, o))
    result = compare_run.main(["--quick", "--methods", "hawq", "--out", str(copy), "--lr", "0.002"])
    assert sorted(calls) == ["hawq", "uniform_w4a4", "uniform_w8a8"]
    assert [r["acc_common"] for r in result["rows"]] == [50.0, 50.0, 50.0]


class _Broken(Method):
    name = "broken"
    label = "Broken"

    def search(self, ctx, out: Path) -> SearchOutcome:
        raise RuntimeError("search exploded")

    def finetune(self, ctx, bitconfig: Path, out: Path) -> FinetuneOutcome:
        raise AssertionError("not reached")


def test_a_failing_method_is_reported_and_the_rest_run(
    quick_run: tuple[Path, dict], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    out, _ = quick_run
    copy = tmp_path / "copy"
    shutil.copytree(out, copy)  # the float model and the uniform runs are read back, not rerun
    shutil.rmtree(copy / "haq")
    monkeypatch.setattr(compare_run, "load_method", lambda name: _Broken())
    result = compare_run.main(["--quick", "--methods", "haq", "--out", str(copy)])
    row = result["rows"][-1]
    assert row["failed"] and "search exploded" in row["notes"][-1]
    assert (copy / "haq" / "error.txt").read_text().count("RuntimeError") >= 1
    assert "FAILED" in (copy / "compare.md").read_text()


def test_unknown_method_is_a_usage_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as e:
        run_main(compare_run.main, ["--methods", "nope", "--out", str(tmp_path / "x")])
    assert e.value.code == 2
    assert "unknown method(s) nope" in capsys.readouterr().err
    assert not (tmp_path / "x").exists()
