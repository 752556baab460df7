"""``python -m proqha.measure.compute`` (or ``python proqha/measure/compute.py``): ProQHA's cost of a bit list.

Builds the model of ``--dataset/--arch/--num_layers`` with the construction bits (``--k_bits``,
``--pre_k_bits``, ``--ratio``; or ``--bits_file``) and prints that bit list, then (as the original, which
re-applies the uniform list before counting) the cost of ``[--k_bits] * N`` or of the ``--bits_file`` bits: the original and current weight
storage in bits and the "computation ratio" (docs/proqha.md section 7). ``--cost_pairing odd_position``
(default) keeps the original pairing; ``weight_bits`` charges every layer its own weight bits. The original
crashed on its string ``--k_bits`` and built the CIFAR model by default; both kept as flags, the crash fixed.
``--out FILE`` also writes the bit-config file.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from pathlib import Path

if __package__ in (None, ""):  # run as a script: make the repository importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from common.bitconfig import write_bitconfig
from common.runtime import run_main, seed_everything
from proqha.bits import get_bits
from proqha.cost import cost_model
from proqha.export import bitconfig_of
from proqha.models import family_of
from proqha.prepare import build_model
from proqha.utils.options import parse_args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args("proqha/measure/compute.py", argv)
    if args.seed is not None:
        seed_everything(args.seed)
    num_classes = 1000 if family_of(args.dataset) == "imagenet" else 10
    model, layout, bits = build_model(args, num_classes)
    costs = cost_model(model)
    # as the original: the list printed is the construction's, the cost is that of the uniform --k_bits list
    listed = bits if args.bits_file else [args.k_bits] * len(bits)
    original, current = costs.original_bits, costs.current_bits(listed, args.cost_pairing)
    print(f"model_k_bits_list {get_bits(model)}")
    print(f"original {original} current {current}")
    print(f"computation ratio {current / original}")
    if args.out is not None:
        write_bitconfig(
            bitconfig_of(model, layout, listed, num_classes, source="ProQHA measure/compute.py", costs=costs),
            Path(args.out),
        )
    return 0


if __name__ == "__main__":
    sys.exit(run_main(main))
