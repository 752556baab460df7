"""``python -m torch.distributed.launch`` passes ``--local-rank=N`` (torch >= 2.0) or ``--local_rank=N`` (older
releases) to the script: every entrypoint whose original took the flag parses both spellings into
``args.local_rank``."""

from __future__ import annotations

import argparse
from collections.abc import Callable

import pytest


def _parsers() -> dict[str, Callable[[], argparse.ArgumentParser]]:
    from hmq import main as hmq_main
    from ompq.mixed_bit import feature_extract

    return {
        "hmq.main": hmq_main.build_parser,
        "ompq.mixed_bit.feature_extract": feature_extract.build_parser,
    }


@pytest.mark.parametrize("entry", ["hmq.main", "ompq.mixed_bit.feature_extract"])
@pytest.mark.parametrize("spelling", ["--local-rank=3", "--local_rank=3", "--local-rank", "--local_rank"])
def test_parser_accepts_both_local_rank_spellings(entry: str, spelling: str) -> None:
    argv = [spelling] if "=" in spelling else [spelling, "3"]
    args, rest = _parsers()[entry]().parse_known_args(argv)
    assert rest == [] and args.local_rank == 3
