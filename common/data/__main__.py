"""Command line of :mod:`common.data`.

``python -m common.data imagenet100 SRC DST [--n-classes 100]`` links the first classes of an ImageNet
tree into an ImageNet-100 tree; ``python -m common.data digits-stats [--size 32]`` prints the mean and
std used to normalise ``digits``. Errors print one line on stderr and exit with status 2.
"""

from __future__ import annotations

import argparse
import sys

from .embedded import digits_mean_std
from .errors import DataError
from .subsets import build_imagenet100


def main(argv: list[str] | None = None) -> int:
    """Run the command line; returns the exit status."""
    parser = argparse.ArgumentParser(prog="python -m common.data", description="Dataset utilities.")
    sub = parser.add_subparsers(dest="command", required=True)
    p100 = sub.add_parser(
        "imagenet100", help="symlink the first N sorted classes of SRC into DST/{train,val}"
    )
    p100.add_argument("src", help="ImageNet root with train/ and val/ (or validation/)")
    p100.add_argument("dst", help="destination root; DST/train and DST/val are created")
    p100.add_argument("--n-classes", type=int, default=100, help="number of classes (default 100)")
    pst = sub.add_parser("digits-stats", help="mean and std of the rendered digits training split")
    pst.add_argument("--size", type=int, default=32, help="rendered image side (default 32)")
    pst.add_argument("--interpolation", choices=("bilinear", "nearest"), default="bilinear")
    args = parser.parse_args(argv)
    try:
        if args.command == "imagenet100":
            classes = build_imagenet100(args.src, args.dst, args.n_classes)
            print(
                f"linked {len(classes)} classes ({classes[0]} .. {classes[-1]}) into {args.dst}/train and {args.dst}/val"
            )
        else:
            mean, std = digits_mean_std(args.size, args.interpolation)
            print(f"mean {mean:.4f} std {std:.4f} (size {args.size}, {args.interpolation})")
    except DataError as exc:
        print(f"error: {exc.one_line()}", file=sys.stderr)
        return 2
    except OSError as exc:
        print(f"error: {' '.join(str(exc).split())}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
