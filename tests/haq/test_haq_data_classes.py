"""``haq.finetune``'s class count follows the data: ``--data digits`` alone no longer builds a 1000-class head."""

from __future__ import annotations

import pytest

from common.runtime import UsageError
from haq.finetune import build_parser, make_loaders


def _args(*extra: str):
    return build_parser().parse_args(
        ["--data", "digits", "--arch", "tiny_resnet", "--train_batch", "32", "--manualSeed", "1", *extra]
    )


def test_embedded_data_with_the_default_data_name_takes_its_own_classes() -> None:
    train, _, classes = make_loaders(_args(), "tiny_resnet")
    assert classes == 10 == len(set(train.dataset.targets))


def test_explicit_matching_data_name_is_accepted() -> None:
    assert make_loaders(_args("--data_name", "digits"), "tiny_resnet")[2] == 10


def test_a_data_name_of_another_class_count_is_one_line() -> None:
    with pytest.raises(UsageError, match=r"--data_name imagenet100 means 100 classes but digits has 10"):
        make_loaders(_args("--data_name", "imagenet100"), "tiny_resnet")
