"""Build ImageNet-100 as symlinks: ``python -m haq.lib.utils.make_data [--src data/imagenet] [--dst data/imagenet100]``.

For ``train`` and ``val`` it links ``dst/<split>/<wnid>`` to ``src/<split>/<wnid>`` for the 100 wnids of
``imagenet100.txt`` (the first 9 characters of each line; the first 100 ImageNet classes in sorted order,
n01440764 ... n01855672). Every source folder is checked before anything is created; an existing correct
link is left alone, anything else in the way is an error. ImageNet val must already be in class folders.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from pathlib import Path

from common.runtime import UsageError, check_input_file, check_output_dir, run_main

CLASS_LIST = Path(__file__).resolve().parent / "imagenet100.txt"


def read_classes(path: str | Path = CLASS_LIST) -> list[str]:
    """wnids of a class-list file (first 9 characters of every non-empty line)."""
    return [line[:9] for line in Path(path).read_text().splitlines() if line.strip()]


def link_subset(src: str | Path, dst: str | Path, classes: Sequence[str]) -> int:
    """Create the links; returns how many were made."""
    plan = []
    for split in ("train", "val"):
        for wnid in classes:
            target = Path(src, split, wnid).resolve()
            if not target.is_dir():
                raise UsageError(f"class folder missing: {target}")
            link = Path(dst, split, wnid)
            if link.is_symlink() and Path(os.readlink(link)) == target:
                continue
            if link.exists() or link.is_symlink():
                raise UsageError(f"{link} exists and is not a link to {target}")
            plan.append((target, link))
    for target, link in plan:
        link.parent.mkdir(parents=True, exist_ok=True)
        link.symlink_to(target, target_is_directory=True)
    return len(plan)


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(
        prog="python -m haq.lib.utils.make_data", description=__doc__.split("\n\n")[0]
    )
    p.add_argument("--src", default="data/imagenet", help="ImageNet folder with train/ and val/")
    p.add_argument("--dst", default="data/imagenet100", help="folder to create")
    p.add_argument("--classes", default=str(CLASS_LIST), help="class list (default: HAQ's imagenet100.txt)")
    args = p.parse_args(argv)
    check_input_file("--classes", args.classes)
    check_output_dir("--dst", args.dst)
    made = link_subset(args.src, args.dst, read_classes(args.classes))
    print(f"linked {made} class folders into {args.dst}")
    return 0


if __name__ == "__main__":
    sys.exit(run_main(main))
