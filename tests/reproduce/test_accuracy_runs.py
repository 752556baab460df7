"""The accuracy modes of ``python -m reproduce``: recipes on every accuracy cell, dry runs, result parsing,
missing checkpoints, failures, the command-line checks, and one real evaluation of a HAWQ checkpoint."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest

from common.runtime import run_main
from reproduce import accuracy_runs as ar
from reproduce.accuracy_recipes import EVAL, LOG, TRAIN, Field, Recipe, RowAccuracy
from reproduce.figures import EXACT
from reproduce.tables.model import DEVIATES, FAILED, NEEDS_DATA, REFERENCE, Cell, Row, Table

ACCURACY = re.compile(r"top-[15]")


@pytest.fixture(scope="module")
def tables() -> list[Table]:
    return ar.recipe_tables()


def fresh() -> list[Table]:
    return ar.recipe_tables()


def test_every_accuracy_cell_has_a_recipe_or_a_reason(tables) -> None:
    covered = reasons = 0
    for t in tables:
        for row, cell in t.cells():
            if not ACCURACY.search(cell.column) or cell.status == REFERENCE:
                continue
            assert row.accuracy is not None, (t.key, row.label, cell.column)
            if row.accuracy.covers(cell.column):
                covered += 1
            else:
                assert row.accuracy.reason, (t.key, row.label, cell.column)
                reasons += 1
    # every HAWQ FP32 row (README x2, zoo x2, pytorchcv baselines x3; their command is reproduce.eval_float) and
    # the HAWQV3+DIST claim (hawq_claims: configuration not shipped) have a reason instead of a recipe
    assert reasons == 8
    assert covered > 80


def test_recipes_fill_existing_cells_and_the_tables_show_the_recipe_command(tables) -> None:
    for t in tables:
        for row in t.rows:
            if row.accuracy is None:
                continue
            columns = [c.column for c in row.cells]
            for recipe in row.accuracy.recipes:
                assert set(recipe.columns()) <= set(columns), (t.key, row.label)
            shown = row.accuracy.train or row.accuracy.eval
            if shown is not None:
                assert row.command == shown.display(), (t.key, row.label)
            if row.accuracy.eval is not None:
                assert row.accuracy.eval.checkpoint_files(), (t.key, row.label)


def test_checkpoint_layout_follows_the_release_names(tables) -> None:
    layout = ar.checkpoint_layout(tables)
    assert "hawq/resnet50_bops0.5/checkpoint.pth.tar" in layout
    assert "hawq/resnet18_size0.75/checkpoint.pth.tar" in layout
    assert layout["haq/resnet50_0.1_75.48.pth.tar"] == ["haq_kmeans/ResNet-50 K-means 10x (README strategy)"]
    assert "haq/qmobilenetv2_0.6_71.23.pth.tar" in layout and "haq/mobilenetv2-150.pth.tar" in layout
    assert "ompq/resnet18_6.7Mb_97BOPs/checkpoint.pth.tar" in layout
    # 22 HAWQ model-zoo downloads (11 schemes x 2 nets), 4 HAQ files, 4 OMPQ QAT models
    assert len(layout) == 30
    text = ar.checkpoint_listing(tables)
    assert all(f"  {rel}" in text for rel in layout)
    readme = (Path(ar.__file__).parent / "README.md").read_text()
    assert all(f"| `{rel}` |" in readme for rel in layout)


def test_dry_run_substitutes_the_data_folder(tmp_path, capsys) -> None:
    data, ckpt, cifar = tmp_path / "imagenet", tmp_path / "ckpt", tmp_path / "cifar"
    for d in (data, ckpt, cifar):
        d.mkdir()
    summary = ar.run_accuracy(
        fresh(), data, ckpt, True, tmp_path / "out", "ompq_*", dry_run=True, cifar10=cifar
    )
    planned = [r for r in summary.records if r.status == ar.PLANNED]
    # QAT rows with a top-1 (train), the PTQ table, the figure: 10 mixed points, 2-bit x2, MobileNetV2 4-bit
    assert len(planned) == 4 + 5 + 13
    for r in planned:
        assert f"DATA={data}" in r.command or f"--data_path {data}" in r.command, r.command
        assert "/data/imagenet" not in r.command and "{" not in r.command
        assert str(tmp_path / "out") in r.command
    # the OMPQ QAT evaluations need their released models: reported, not planned
    needs = [r for r in summary.records if r.status == NEEDS_DATA]
    assert len(needs) == 4 and all(str(ckpt / "ompq") in r.detail for r in needs)
    printed = capsys.readouterr().out
    assert printed.count(str(data)) >= len(planned) and not (tmp_path / "out").exists()

    summary = ar.run_accuracy(
        fresh(), data, None, True, tmp_path / "out", "hmq_cifar10_a4/HMQ WCR 4", True, cifar
    )
    (record,) = summary.records
    assert record.status == NEEDS_DATA and "CHECKPOINTS/hmq/resnet20_cifar10.pth" in record.detail
    (ckpt / "hmq").mkdir()
    (ckpt / "hmq" / "resnet20_cifar10.pth").write_bytes(b"x")
    summary = ar.run_accuracy(
        fresh(), data, ckpt, True, tmp_path / "out", "hmq_cifar10_a4/HMQ WCR 4", True, cifar
    )
    (record,) = summary.records
    assert record.status == ar.PLANNED and f"--data_dir {cifar} " in record.command
    assert f"--pretrained {ckpt}/hmq/resnet20_cifar10.pth" in record.command


def test_chained_recipe_points_at_the_baseline_run(tmp_path) -> None:
    data = tmp_path / "imagenet"
    data.mkdir()
    summary = ar.run_accuracy(fresh(), data, None, True, tmp_path / "out", "proqha_readme/*", dry_run=True)
    base, *searches = summary.records
    assert base.row == "Baseline 32/32" and len(searches) == 2
    base_dir = ar.run_dir(tmp_path / "out", "proqha_readme", "Baseline 32/32", TRAIN)
    for s in searches:
        assert f"{base_dir}/r18-quant/checkpoint/model_best.pt" in s.command
        assert "--enforce_cost" in s.command


def _row(published: float = 71.56) -> Row:
    return Row(
        "r", [Cell("top-1 %", published, NEEDS_DATA, note="needs ImageNet"), Cell("size MB", 6.7, EXACT)]
    )


def _recipe(
    mode: str, argv: tuple[str, ...], fields: tuple[Field, ...], inputs: tuple[str, ...] = ()
) -> Recipe:
    return Recipe(mode, argv, fields, "runs/x", inputs=inputs)


@pytest.mark.parametrize(
    ("measured", "status", "diff"),
    [
        (71.555, EXACT, "-0.005"),
        (71.5649, EXACT, "+0.0049"),
        (71.565, DEVIATES, "+0.005"),
        (71.4, DEVIATES, "-0.16"),
    ],
)
def test_measured_value_rounded_as_printed(measured: float, status: str, diff: str) -> None:
    row = _row()
    recipe = _recipe(EVAL, ("true",), (Field("top-1 %", "val_acc1"),))
    ar.fill_measured(row, recipe, {"top-1 %": measured}, "cmd", None)
    cell = row.cells[0]
    assert cell.ours == measured and cell.status == status and cell.command == "cmd"
    assert cell.note == f"measured by eval; {diff}"
    assert cell.difference == pytest.approx(measured - 71.56)
    assert row.cells[1].status == EXACT and row.cells[1].ours is None  # a column the recipe does not read


def test_fields_from_json_csv_and_log(tmp_path) -> None:
    (tmp_path / "final.json").write_text(json.dumps({"best_acc": 70.2, "nan": float("nan")}))
    (tmp_path / "epochs.csv").write_text("epoch,val_acc,val_top5\n0,60.0,80.5\n1,70.2,89.75\n2,69.0,90.1\n")
    log = tmp_path / "run.log"
    log.write_text("Test Loss: 1.2, Test Acc: 75.48 (top-5 92.42)\n")
    assert ar.read_field(Field("top-1 %", "best_acc"), tmp_path, log) == 70.2
    assert (
        ar.read_field(Field("top-5 %", "val_top5", "epochs.csv", best_by="val_acc"), tmp_path, log) == 89.75
    )
    assert ar.read_field(Field("top-5 %", "val_top5", "epochs.csv"), tmp_path, log) == 90.1
    assert ar.read_field(Field("top-1 %", r"Test Acc: ([0-9.]+)", LOG), tmp_path, log) == 75.48
    assert ar.read_field(Field("top-5 %", r"\(top-5 ([0-9.]+)\)", LOG), tmp_path, log) == 92.42
    with pytest.raises(ar.ResultError, match="no key"):
        ar.read_field(Field("top-1 %", "val_acc1"), tmp_path, log)
    with pytest.raises(ar.ResultError, match="NaN"):
        ar.read_results(_recipe(TRAIN, ("x",), (Field("top-1 %", "nan"),)), tmp_path, log)


def _table(recipes: RowAccuracy, published: float = 71.56) -> list[Table]:
    row = _row(published)
    row.accuracy = recipes
    return [Table("t", "P", "title", "src", [row])]


def test_subprocess_runs_fill_or_fail_per_row(tmp_path) -> None:
    writes = "import json,sys; json.dump({'best_acc1': 71.561}, open(sys.argv[1] + '/final.json', 'w'))"
    good = _recipe(TRAIN, ("python", "-c", f"import os; os.makedirs('{{out}}'); {writes}", "{out}"),
                   (Field("top-1 %", "best_acc1"),))  # fmt: skip
    ok = _table(RowAccuracy(train=good))
    bad = _table(RowAccuracy(train=_recipe(TRAIN, ("python", "-c", "print('boom'); raise SystemExit(3)"),
                                           (Field("top-1 %", "best_acc1"),))))  # fmt: skip
    data = tmp_path / "data"
    data.mkdir()
    summary = ar.run_accuracy(ok + bad, data, None, True, tmp_path / "out")
    measured, failed = summary.records
    assert measured.status == ar.MEASURED and measured.values == {"top-1 %": 71.561}
    assert ok[0].rows[0].cells[0].status == EXACT and ok[0].rows[0].cells[0].ours == 71.561
    assert failed.status == FAILED and "exit status 3" in failed.detail
    cell = bad[0].rows[0].cells[0]
    assert cell.status == FAILED and failed.log in cell.note
    assert "boom" in Path(failed.log).read_text()
    # ledger output keeps every row, with the new status counted
    rows = ar.write_ledger(tmp_path / "ledger", ok + bad)
    assert [r["status"] for r in rows] == [EXACT, EXACT, FAILED, EXACT]
    assert "| failed |" in (tmp_path / "ledger" / "ledger.md").read_text()


def test_finished_runs_are_read_back_unless_rerun(tmp_path) -> None:
    # the command fails when run twice (its run folder exists), so only a reuse can measure it again
    writes = "import json,sys; json.dump({'best_acc1': 70.0}, open(sys.argv[1] + '/final.json', 'w'))"
    recipe = _recipe(TRAIN, ("python", "-c", f"import os; os.makedirs('{{out}}'); {writes}", "{out}"),
                     (Field("top-1 %", "best_acc1"),))  # fmt: skip
    data = tmp_path / "data"
    data.mkdir()
    first = ar.run_accuracy(_table(RowAccuracy(train=recipe)), data, None, True, tmp_path / "out")
    assert first.records[0].status == ar.MEASURED
    again = _table(RowAccuracy(train=recipe))
    reused = ar.run_accuracy(again, data, None, True, tmp_path / "out")
    assert reused.records[0].status == ar.MEASURED and reused.records[0].values == {"top-1 %": 70.0}
    assert again[0].rows[0].cells[0].ours == 70.0
    forced = ar.run_accuracy(
        _table(RowAccuracy(train=recipe)), data, None, True, tmp_path / "out", rerun=True
    )
    assert forced.records[0].status == FAILED


def test_missing_checkpoint_is_needs_data_with_the_path(tmp_path) -> None:
    data, ckpt = tmp_path / "imagenet", tmp_path / "ckpt"
    data.mkdir()
    ckpt.mkdir()
    tables = fresh()
    summary = ar.run_accuracy(tables, data, ckpt, False, tmp_path / "out", "hawq_readme_resnet50/Mixed*")
    (record,) = summary.records
    expected = ckpt / "hawq" / "resnet50_bops0.5" / "checkpoint.pth.tar"
    assert record.status == NEEDS_DATA and str(expected) in record.detail
    row = next(r for r in tables[1].rows if r.label == "Mixed (bops_0.5)")
    top1 = next(c for c in row.cells if c.column == "top-1 %")
    assert top1.status == NEEDS_DATA and top1.note.startswith(f"eval needs {expected}")
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--checkpoints", "."], "--checkpoints needs --data"),
        (["--data", "missing-folder", "--checkpoints", "."], "--data folder not found"),
        (["--data", ".", "--checkpoints", "missing-folder"], "--checkpoints folder not found"),
        (["--data", "."], "nothing to run"),
        (["--rows", "x*"], "--rows and --dry-run need"),
    ],
)
def test_bad_flags_exit_2_with_one_line(argv, message, capsys, tmp_path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    with pytest.raises(SystemExit) as exc:
        run_main(ar.main, argv)
    assert exc.value.code == 2
    err = capsys.readouterr().err.strip()
    assert message in err and "\n" not in err


def _image_folder(root: Path, classes: int = 3, per_class: int = 2) -> None:
    from PIL import Image

    rng = __import__("numpy").random.default_rng(0)
    for split in ("train", "val"):
        for c in range(classes):
            folder = root / split / f"n0{c}"
            folder.mkdir(parents=True)
            for i in range(per_class):
                pixels = rng.integers(0, 255, (32, 32, 3), dtype="uint8")
                Image.fromarray(pixels).save(folder / f"{i}.png")


def test_real_eval_of_a_hawq_checkpoint_in_the_released_layout(tmp_path) -> None:
    """Train one tiny uniform8 epoch with hawq.quant_train, store it as the model-zoo download, evaluate it.

    The QAT step runs at 32x32 to stay cheap; the recipe evaluates as published (resize 256, crop 224).
    """
    from hawq import quant_train

    data = tmp_path / "imagenet"
    _image_folder(data)
    quant_train.main(["-a", "resnet18", "--data", str(data), "--epochs", "1", "-b", "3", "-j", "0", "--lr", "0.001",
                      "--quant-scheme", "uniform8", "--save-path", f"{tmp_path / 'qat'}/", "--device", "cpu",
                      "--image-size", "32"])  # fmt: skip
    ckpt = tmp_path / "ckpt"
    release = ckpt / "hawq" / "resnet18_uniform8" / "checkpoint.pth.tar"
    release.parent.mkdir(parents=True)
    shutil.copy(tmp_path / "qat" / "checkpoint.pth.tar", release)

    tables = fresh()
    summary = ar.run_accuracy(tables, data, ckpt, False, tmp_path / "out", "hawq_readme_resnet18/W8A8")
    (record,) = summary.records
    assert record.status == ar.MEASURED, Path(record.log).read_text()[-3000:]
    log = Path(record.log).read_text()
    printed = [float(v) for v in re.findall(r"\* Acc@1 ([0-9.]+)", log)]
    assert printed and record.values["top-1 %"] == pytest.approx(printed[-1], abs=5e-4)
    final = json.loads((Path(record.log).with_suffix("") / "final.json").read_text())
    assert final["val_acc1"] == record.values["top-1 %"]
    row = next(r for r in tables[0].rows if r.label == "W8A8")
    top1 = next(c for c in row.cells if c.column == "top-1 %")
    assert top1.ours == record.values["top-1 %"] and top1.status == DEVIATES  # random data: far from 71.56
    assert top1.note.startswith("measured by eval; ") and record.log in top1.note
    assert str(release) in top1.command and "eval_resnet50_bops0.5.sh" in top1.command
