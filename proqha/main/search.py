"""``python -m proqha.main.search`` (or ``python proqha/main/search.py``): the progressive search of ProQHA.

Starts from ``--resume`` (normally the 8-bit QAT baseline of ``main/train.py``), runs ``--step`` rounds of
:mod:`proqha.progressive.search` and after every round writes ``checkpoint/{s}.pt`` (``state_dict``, ``kbits``,
``cost``, ``test_prec1``, ``step``), ``bitconfigs/round_{s}.json`` (the portable bit-config file),
``search_log.csv`` (the original columns) and the RunLogger files; ``bitconfig.json`` holds the last round.
An interrupted run restarts from ``checkpoint/last.pt`` in the same ``--out``.

Under ``torchrun`` (DDP, an addition: the original search ran on one device) ``--train_batch_size`` is per process
as in ``train.py``: every rank scores the same candidates on the same global scoring batch (``--train_batch_size``
times the world size, drawn from ``--seed``), rank 0's choice is broadcast, and the round's fine-tuning epochs run
data-parallel on each rank's share of the one seeded order; only rank 0 writes. Example (embedded data)::

    python -m proqha.main.search --dataset digits --arch resnet20 --num_layers 20 --data_dir digits \
        --base_data_dir digits --step 3 --lam 4 --search_epochs 1 --lr 1e-3 --seed 11 --out runs/search
"""

from __future__ import annotations

import csv
import sys
from collections.abc import Sequence
from pathlib import Path

if __package__ in (None, ""):  # run as a script: make the repository importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from common.bitconfig import write_bitconfig
from common.data import build_loaders
from common.runtime import (
    RunLogger,
    UsageError,
    choose_device,
    cleanup_distributed,
    gather_rng_states,
    require_checkpoint,
    restore_rng_states,
    run_main,
    save_checkpoint,
    seed_everything,
    set_resume_hint,
    wrap_ddp,
)
from common.runtime.checkpoint import load_checkpoint
from common.runtime.ddp_sync import convert_sync_batchnorm
from proqha.bits import get_bits, quantizers, set_bits
from proqha.checkpoints import load_weights
from proqha.cost import cost_model
from proqha.data import ScoringBatches, build_data, build_scoring_set
from proqha.export import bitconfig_of
from proqha.prepare import build_model, join_distributed, load_resume, run_dir, set_rng_state
from proqha.progressive.score import AdamConfig
from proqha.progressive.search import SearchConfig, budget_met, search_round
from proqha.utils.options import parse_args


def search_config(args) -> SearchConfig:  # noqa: ANN001
    return SearchConfig(
        step=args.step,
        lam=args.lam,
        ratio=args.ratio,
        interval=args.interval,
        search_epochs=args.search_epochs,
        adam=AdamConfig(args.lr, args.beta1, args.beta2, args.epsilon, args.grad_clip),
        info=args.info,
        acc_eval=args.acc_eval,
        cost_pairing=args.cost_pairing,
        stop_cost=args.cost if args.enforce_cost else None,
        amp=args.amp,
    )


def _append_csv(path: Path, row: dict) -> None:
    new = not path.exists()
    with open(path, "a", newline="", encoding="utf-8") as f:
        w = csv.DictWriter(f, fieldnames=list(row))
        if new:
            w.writeheader()
        w.writerow(row)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args("proqha/main/search.py", argv)
    info = join_distributed(args)
    if args.archtype != "quant":
        raise UsageError("the search needs --archtype quant")
    if args.seed is not None:
        seed_everything(args.seed)
    device = choose_device(args.device)
    train_ds, val_ds, num_classes = build_data(
        args.dataset, args.data_dir, args.seed, args.train_fraction, args.image_size
    )
    scoring = build_scoring_set(args.dataset, args.base_data_dir, args.image_size)
    model, layout, _ = build_model(args, num_classes)
    if args.resume:
        load_resume(model, args.resume)
    out = run_dir(args)
    ckpt_dir = out / "checkpoint"
    start = 0
    last = ckpt_dir / "last.pt"
    if last.is_file():
        saved = require_checkpoint(
            load_checkpoint(last), last, ("state_dict", "kbits", "rng", "step"), "--out's"
        )
        load_weights(model, saved["state_dict"])
        set_bits(model, saved["kbits"])
        start = int(saved["step"]) + 1
    model.to(device)
    cfg = search_config(args)
    costs = cost_model(model)
    train_loader, val_loader = build_loaders(
        train_ds,
        val_ds,
        args.train_batch_size,
        args.workers,
        distributed=info.distributed,
        seed=args.seed or 0,
        val_batch_size=args.eval_batch_size,
    )
    # the scoring batch is the global batch: what one process with the whole --train_batch_size scores
    score_size = args.train_batch_size * info.world_size
    batches = ScoringBatches(scoring, score_size, args.score_batch, seed=args.seed)
    if start:  # generators last: nothing above may draw from them after the restore
        if isinstance(saved["rng"], dict) and info.world_size == 1:
            set_rng_state(
                saved["rng"]
            )  # one process's state (also the form written before NumPy's was saved)
        elif not restore_rng_states(saved["rng"], info.rank, info.world_size):
            print("the checkpoint's generator states are from another number of processes: not restored")
        if "score_rng" in saved:
            batches.gen.set_state(saved["score_rng"])
    set_resume_hint(f"--out {out} (the search continues from {last})", last)
    logger = RunLogger(out, args)
    logger.info(
        "%s: %d quantizers, start bits %s, cost %.6f",
        layout.common_arch,
        len(quantizers(model)),
        get_bits(model),
        costs.cost(get_bits(model), cfg.cost_pairing),
    )
    if args.sync_bn:  # BN statistics of the global batch in the fine-tuning epochs (a no-op in one process)
        model, _ = convert_sync_batchnorm(model, device)
    trained = wrap_ddp(model, device, info)
    result = None
    for s in range(start, args.step):
        result = search_round(
            s, model, batches.next, train_loader, val_loader, cfg, costs, device, last, trained=trained
        )
        row = result.log_row(costs.original_bits)
        logger.log_epoch(row, step=s)
        logger.info(
            "round %d: cost %.6f (weight bits %.6f) score %.4g train %.2f test %.2f bits %s",
            s, result.cost, result.cost_weight_bits, result.score, result.train_acc, result.test_acc, result.bits,
        )  # fmt: skip
        rng = gather_rng_states()  # a collective under DDP: every rank takes part
        if info.is_main:
            _append_csv(out / "search_log.csv", row)
            cfg_file = bitconfig_of(
                model, layout, result.bits, num_classes, source=f"ProQHA search round {s}", costs=costs,
                extra_costs={"test_top1": result.test_acc, "round": s},
            )  # fmt: skip
            write_bitconfig(cfg_file, out / "bitconfigs" / f"round_{s}.json")
            state = {
                "state_dict": model.state_dict(),
                "test_prec1": result.test_acc,
                "cost": result.cost,
                "kbits": result.bits,
                "step": s,
                "rng": rng,
                "score_rng": batches.gen.get_state(),
            }
            save_checkpoint(state, ckpt_dir / f"{s}.pt")
            save_checkpoint(state, last)
        if budget_met(result, cfg):  # the same on every rank: the bits are rank 0's
            met = result.cost if cfg.cost_pairing == "odd_position" else result.cost_weight_bits
            logger.info(
                "cost %.6f (%s) <= --cost %.6f: search stopped (--enforce_cost)",
                met,
                cfg.cost_pairing,
                args.cost,
            )
            break
    final_bits = get_bits(model)
    if info.is_main:
        write_bitconfig(
            bitconfig_of(
                model, layout, final_bits, num_classes, source="ProQHA search, last round", costs=costs
            ),
            out / "bitconfig.json",
        )
    logger.finalize(
        {
            "arch": layout.common_arch,
            "kbits": final_bits,
            "cost": costs.cost(final_bits, "odd_position"),
            "cost_weight_bits": costs.cost(final_bits, "weight_bits"),
            "test_top1": None if result is None else result.test_acc,
            "rounds": args.step if result is None else result.step + 1,
        }
    )
    cleanup_distributed()
    return 0


if __name__ == "__main__":
    sys.exit(run_main(main))
