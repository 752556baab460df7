"""``python -m torch.distributed.launch`` passes ``--local-rank=N`` (torch >= 2.0) or ``--local_rank=N`` (older
releases) to the script: every entrypoint whose original took the flag parses both spellings into
``args.local_rank``."""

from __future__ import annotations

import argparse
import os
from collections.abc import Callable

import pytest


def _parsers() -> dict[str, Callable[[], argparse.ArgumentParser]]:
    from haq import finetune, pretrain
    from hmq import main as hmq_main
    from ompq.mixed_bit import feature_extract

    return {
        "hmq.main": hmq_main.build_parser,
        "ompq.mixed_bit.feature_extract": feature_extract.build_parser,
        "haq.finetune": finetune.build_parser,
        "haq.pretrain": pretrain.build_parser,
    }


ENTRIES = ["hmq.main", "ompq.mixed_bit.feature_extract", "haq.finetune", "haq.pretrain"]


@pytest.mark.parametrize("entry", ENTRIES)
@pytest.mark.parametrize("spelling", ["--local-rank=3", "--local_rank=3", "--local-rank", "--local_rank"])
def test_parser_accepts_both_local_rank_spellings(entry: str, spelling: str) -> None:
    argv = [spelling] if "=" in spelling else [spelling, "3"]
    args, rest = _parsers()[entry]().parse_known_args(argv)
    assert rest == [] and args.local_rank == 3


@pytest.mark.parametrize("entry", ENTRIES)
def test_local_rank_defaults_to_not_given(entry: str) -> None:
    assert _parsers()[entry]().parse_args([]).local_rank is None


def test_flag_becomes_local_rank_without_launcher_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """torch.distributed.launch without --use-env: the flag is the only source of the local rank."""
    from common.runtime import apply_local_rank_flag
    from common.runtime.device import choose_device

    monkeypatch.delenv("LOCAL_RANK", raising=False)
    apply_local_rank_flag(None)
    assert "LOCAL_RANK" not in os.environ
    apply_local_rank_flag(1)
    assert os.environ["LOCAL_RANK"] == "1"
    assert choose_device("cpu").type == "cpu"


def test_flag_agreeing_with_launcher_env_is_accepted_and_disagreeing_is_one_line_error(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from common.runtime import UsageError, apply_local_rank_flag

    monkeypatch.setenv("LOCAL_RANK", "2")
    apply_local_rank_flag(2)
    with pytest.raises(UsageError, match="disagrees with LOCAL_RANK=2"):
        apply_local_rank_flag(0)
    with pytest.raises(UsageError, match=">= 0"):
        apply_local_rank_flag(-1)


def test_hmq_main_reads_the_flag(monkeypatch: pytest.MonkeyPatch) -> None:
    """The entrypoint applies the flag before anything else: a disagreeing value stops it with exit 2."""
    from hmq import main as hmq_main

    monkeypatch.setenv("LOCAL_RANK", "0")
    with pytest.raises(SystemExit) as exc:
        from common.runtime import run_main

        run_main(hmq_main.main, ["--local-rank", "1"])
    assert exc.value.code == 2
