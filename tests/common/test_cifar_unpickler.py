"""CIFAR-10 batches are read by a restricted unpickler: crafted pickles are refused unrun, genuine ones load."""

from __future__ import annotations

import os
import pickle
from pathlib import Path

import numpy as np
import pytest

from common import data as D
from common.runtime import run_main


class _Exploit:
    """Unpickling it runs ``command`` (what a crafted ``data_batch_1`` would do with plain ``pickle.load``)."""

    def __init__(self, command: str) -> None:
        self.command = command

    def __reduce__(self):  # noqa: ANN204
        return (os.system, (self.command,))


class _Eval:
    """A builtins global that is not a container: ``eval`` is refused as well."""

    def __init__(self, code: str) -> None:
        self.code = code

    def __reduce__(self):  # noqa: ANN204
        return (eval, (self.code,))


def _genuine(n: int, seed: int) -> dict[bytes, object]:
    """A batch in the Python-3 layout of the CIFAR-10 pickles: bytes keys, uint8 rows, a label list."""
    rng = np.random.default_rng(seed)
    return {
        b"batch_label": b"training batch",
        b"labels": [int(v) for v in rng.integers(0, 10, n)],
        b"data": rng.integers(0, 256, (n, 3072), dtype=np.uint8),
        b"filenames": [f"img_{seed}_{i}.png".encode() for i in range(n)],
    }


def _write_set(root: Path, protocol: int, batch_1: object | None = None) -> Path:
    base = root / D.CIFAR10_FOLDER
    base.mkdir(parents=True)
    names = [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]
    for k, name in enumerate(names):
        obj = batch_1 if (name == "data_batch_1" and batch_1 is not None) else _genuine(3, k)
        (base / name).write_bytes(pickle.dumps(obj, protocol=protocol))
    meta = {b"label_names": [c.encode() for c in "abcdefghij"], b"num_vis": 3072}
    (base / "batches.meta").write_bytes(pickle.dumps(meta, protocol=protocol))
    return root


@pytest.mark.parametrize("protocol", [2, 4, 5])
def test_genuine_batches_load(tmp_path: Path, protocol: int) -> None:
    root = _write_set(tmp_path / "c", protocol)
    train = D.CIFAR10Pickles(root, train=True)
    test = D.CIFAR10Pickles(root, train=False)
    assert len(train) == 15 and len(test) == 3 and train.classes == list("abcdefghij")
    first = _genuine(3, 0)
    assert train.targets[:3] == first[b"labels"]
    row = first[b"data"][1]
    img = np.asarray(train[1][0])
    assert img[0, 0, 0] == row[0] and img[0, 0, 1] == row[1024] and img[0, 0, 2] == row[2048]


@pytest.mark.parametrize(
    "payload",
    [
        lambda marker: _Exploit(f"touch {marker}"),
        lambda marker: {
            "data": np.zeros((1, 3072), np.uint8),
            "labels": [0],
            "x": _Exploit(f"touch {marker}"),
        },
        lambda marker: _Eval(f"open({str(marker)!r}, 'w').close()"),
    ],
    ids=["os.system", "nested-in-a-genuine-dict", "builtins.eval"],
)
def test_crafted_batch_is_refused_and_runs_nothing(tmp_path: Path, payload) -> None:  # noqa: ANN001
    marker = tmp_path / "PWNED"
    root = _write_set(tmp_path / "c", 2, batch_1=payload(marker))
    with pytest.raises(D.DataError) as err:
        D.CIFAR10Pickles(root, train=True)
    message = str(err.value)
    assert "\n" not in message and "refused" in message and "data_batch_1" in message
    assert not marker.exists()


def test_crafted_batch_through_an_entrypoint_is_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from hmq import main as hmq_main

    marker = tmp_path / "PWNED"
    root = _write_set(tmp_path / "c", 4, batch_1=_Exploit(f"touch {marker}"))
    argv = ["--dataset", "CIFAR10", "--data_dir", str(root), "--network_name", "resnet20", "--n_epochs", "0",
            "--n_epochs_final", "0", "--device", "cpu", "--out", str(tmp_path / "out")]  # fmt: skip
    with pytest.raises(SystemExit) as stop:
        run_main(hmq_main.main, argv)
    err = capsys.readouterr().err
    assert stop.value.code == 2 and err.count("\n") == 1 and "refused CIFAR-10 file" in err
    assert not marker.exists() and not (tmp_path / "out").exists()
