"""HAQ's search: a DDPG agent picks per-layer bit-widths under a model-size (K-means) or latency (linear) budget.

``python -m haq.rl_quantize --arch resnet50 --dataset imagenet --preserve_ratio 0.1`` (K-means, default) or
``... --arch qmobilenetv2 --dataset imagenet100 --linear_quantization --min_bit 2 --float_bit 8 --preserve_ratio 0.6``.
Every original flag keeps its name, default and meaning (docs/haq.md section 2.1); ``--dataset digits`` (or
``--dataset_root digits``) runs on the embedded data, ``--dataset cifar10`` on CIFAR-10 (additions; ``--image_size``
sets the image side). Outputs in ``<output>/<arch>_<dataset>[_<suffix>]/``:
``log.txt``, ``args.json``, ``epochs.csv`` (one row per episode), ``final.json``, tensorboard under ``tb/``,
``actor.pkl``/``critic.pkl``, the resumable ``search_state.pth`` and the portable bit-config file
``bitconfig.json`` of the best policy.

Under ``torchrun --nproc_per_node N`` the agent is the same on every rank (rank 0's action is broadcast each
step) and each episode's fine-tune and accuracy run data-parallel: ``--data_bsize`` stays the global batch
(it must divide by N) and every rank reads its share of each batch one process would read. With
``--sync-bn`` the BatchNorm statistics cover the global batch, and N processes search as one does (within
float rounding); without it each rank normalises its own share, as the original's DataParallel did. Rank 0
writes every file.
"""

from __future__ import annotations

import argparse
import copy
import math
import random
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from common.bitconfig import write_bitconfig
from common.models import get_spec
from common.models.pretrained import expected_file_name
from common.models.weight_layouts import is_pytorchcv_resnet, pytorchcv_resnet_to_torchvision
from common.runtime import (
    RunLogger,
    UsageError,
    add_local_rank_arg,
    add_sync_bn_arg,
    add_threads_arg,
    apply_local_rank_flag,
    check_at_least,
    check_fraction,
    check_input_file,
    check_output_dir,
    check_output_file,
    check_positive,
    check_range,
    choose_device,
    cleanup_distributed,
    get_world_size,
    init_distributed,
    is_main_process,
    load_checkpoint,
    progress,
    require_checkpoint,
    run_main,
    save_checkpoint,
    set_resume_hint,
    set_threads,
    wrap_ddp,
)
from common.runtime.compat_flags import warn_unused_flags
from common.runtime.ddp_sync import convert_sync_batchnorm
from common.runtime.runlog import add_logging_args
from haq.lib.env.budget import kmeans_size, latency_cost, reference_latency
from haq.lib.env.embedding import quantizable_modules, state_embedding
from haq.lib.env.episode import KMeansEpisode, LinearEpisode
from haq.lib.env.linear_quantize_env import LinearQuantizeEnv
from haq.lib.env.quantize_env import QuantizeEnv
from haq.lib.rl.ddpg import DDPG
from haq.lib.simulator.latency_table import load_table, table_path
from haq.lib.utils.bitconfig_io import layer_names, strategy_to_bitconfig
from haq.lib.utils.data_utils import (
    DATASET_CLASSES,
    DataSetup,
    data_setup,
    get_split_train_dataset,
    load_split_sampler_state,
    split_sampler_state,
)
from haq.lib.utils.linear_quant import QUANT_TYPES
from haq.lib.utils.train import evaluate
from haq.models import (
    HAQ_LAYOUT,
    HAQ_MOBILENET_V1,
    HAQ_PRETRAINED_FILE,
    ArchError,
    base_arch,
    build_haq_model,
    input_size_of,
    is_quantized_arch,
    load_released_checkpoint,
    read_released_state_dict,
)
from haq.models.mobilenetv2 import MobileNetV2

KMEANS_TYPES = (nn.Conv2d, nn.Linear)


def str2bool(v: str) -> bool:
    """Real booleans for the original's ``type=bool`` flags (which parsed every string as True)."""
    if v.lower() in ("1", "true", "yes", "y", "on"):
        return True
    if v.lower() in ("0", "false", "no", "n", "off"):
        return False
    raise argparse.ArgumentTypeError(f"expected a boolean, got {v!r}")


UNUSED_FLAGS = ("max_episode_length", "init_w", "epsilon")
"""Original flags the original never read either: accepted, a warning when set."""


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m haq.rl_quantize", description=__doc__.split("\n\n")[0])
    a = p.add_argument
    a("--suffix", default=None, type=str, help="suffix of the output folder name")
    a("--dataset", default="imagenet", type=str, help="imagenet, imagenet100, imagenet10, digits or cifar10")
    a("--dataset_root", default="data/imagenet", type=str, help="folder with train/ and val/, or 'digits'")
    a(
        "--image_size",
        default=None,
        type=int,
        help="image side (addition; default: 224, 299 for Inception, 32 on cifar10, the arch's side on digits)",
    )
    a(
        "--preserve_ratio",
        default=0.1,
        type=float,
        help="budget as a fraction of the reference size or latency",
    )
    a("--min_bit", default=1, type=float, help="minimum bit-width")
    a("--max_bit", default=8, type=float, help="maximum bit-width")
    a(
        "--float_bit",
        default=32,
        type=int,
        help="reference bit-width (32 for size; 8 = table column in linear mode)",
    )
    a("--linear_quantization", action="store_true", help="linear quantization with the latency table")
    a("--is_pruned", action="store_true", help="count and cluster non-zero weights only")
    a("--hidden1", default=300, type=int, help="hidden units of the first layer (actor and critic)")
    a("--hidden2", default=300, type=int, help="hidden units of the second layer")
    a("--lr_c", default=1e-3, type=float, help="critic learning rate")
    a("--lr_a", default=1e-4, type=float, help="actor learning rate")
    a("--warmup", default=20, type=int, help="episodes 0..warmup act at random and do not update")
    a("--discount", default=1.0, type=float)
    a("--bsize", default=64, type=int, help="minibatch size")
    a("--rmsize", default=128, type=int, help="replay entries per quantizable layer")
    a("--window_length", default=1, type=int)
    a("--tau", default=0.01, type=float, help="soft target update")
    a("--init_delta", default=0.5, type=float, help="initial sigma of the truncated normal exploration")
    a("--delta_decay", default=0.99, type=float, help="sigma decay per episode")
    a("--n_update", default=1, type=int, help="policy updates per stored transition")
    a("--max_episode_length", default=1e9, type=int, help="unused (kept from the original)")
    a(
        "--output",
        default="save",
        type=str,
        help="output root (the original's ../../save wrote outside the repo)",
    )
    a("--debug", dest="debug", action="store_true", help="print one line per episode")
    a("--init_w", default=0.003, type=float, help="unused (kept from the original)")
    a("--train_episode", default=600, type=int, help="number of episodes")
    a("--epsilon", default=50000, type=int, help="unused (kept from the original)")
    a("--seed", default=234, type=int, help="random seed (numpy, torch, replay sampling, k-means++)")
    a("--n_worker", default=32, type=int, help="data-loader workers")
    a("--data_bsize", default=256, type=int, help="batch size of the in-search fine-tune and validation")
    a("--finetune_epoch", default=1, type=int)
    a("--finetune_gamma", default=0.8, type=float, help="LR multiplier after each fine-tune epoch")
    a("--finetune_lr", default=0.001, type=float)
    a("--finetune_flag", default=True, type=str2bool, help="fine-tune before measuring accuracy")
    a("--use_top5", default=False, type=str2bool, help="reward on top-5 instead of top-1")
    a("--train_size", default=20000, type=int, help="images in the search training split")
    a("--val_size", default=10000, type=int, help="images in the search validation split")
    a(
        "--resume",
        default="default",
        type=str,
        help="'default' = fresh search; 'auto' or a search_state.pth to resume",
    )
    a("--arch", "-a", metavar="ARCH", default="mobilenet_v2", help="model (q<name> for linear quantization)")
    a("--gpu_id", default=None, type=str, help="CUDA_VISIBLE_DEVICES (default: all visible devices)")
    g = p.add_argument_group("options beyond the original")
    g.add_argument("--device", default="auto", help="auto, cpu, cuda, cuda:N or mps")
    add_threads_arg(g)
    g.add_argument(
        "--pretrained", default="published", help="'published' weights, a checkpoint path, or 'none'"
    )
    g.add_argument(
        "--latency_table",
        default=None,
        type=Path,
        help="table file (default: <output>/lookup_tables/<name>, else the shipped one)",
    )
    g.add_argument(
        "--always_pin_first_last", action="store_true", help="pin first/last layer bits in every episode"
    )
    g.add_argument("--reward_on_val", action="store_true", help="linear mode: reward on the held-out split")
    g.add_argument(
        "--bitconfig", default=None, type=Path, help="bit-config file to write (default: in the output)"
    )
    d = p.add_argument_group("distributed (torchrun; --data_bsize stays the global batch)")
    add_sync_bn_arg(d)
    add_local_rank_arg(d, first="--local-rank")
    add_logging_args(p)
    return p


def check_args(args: argparse.Namespace) -> None:
    """Bad input that the original met with an assertion or a crash: one line, exit status 2."""
    base_arch(args.arch)  # unknown names
    if args.linear_quantization and not is_quantized_arch(args.arch):
        raise ArchError(
            f"--linear_quantization needs a quantized model: use --arch q{args.arch} (or qmobilenetv2), "
            f"not {args.arch!r}"
        )
    if not args.linear_quantization and is_quantized_arch(args.arch):
        raise ArchError(
            f"K-means mode needs a float model; drop the 'q' of {args.arch!r} or add --linear_quantization"
        )
    if args.min_bit > args.max_bit or args.min_bit < 0:
        raise UsageError(f"need 0 <= --min_bit <= --max_bit, got {args.min_bit:g} and {args.max_bit:g}")
    if args.linear_quantization and args.min_bit < 2:
        raise UsageError("linear quantization needs --min_bit >= 2 (1-bit signed weights divide by zero)")
    if not 0 < args.preserve_ratio <= 1:
        raise UsageError(f"--preserve_ratio must be in (0, 1], got {args.preserve_ratio}")
    for name in ("train_episode", "bsize", "rmsize", "data_bsize", "train_size", "val_size"):
        if getattr(args, name) < 1:
            raise UsageError(f"--{name} must be positive")
    for name in ("finetune_lr", "lr_c", "lr_a", "finetune_gamma"):
        check_positive(f"--{name}", getattr(args, name))
    for name in ("hidden1", "hidden2", "n_update", "window_length"):
        check_at_least(f"--{name}", getattr(args, name), 1)
    check_at_least("--finetune_epoch", args.finetune_epoch, 1 if args.finetune_flag else 0)
    check_at_least("--n_worker", args.n_worker, 0)
    check_at_least("--init_delta", args.init_delta, 0)
    check_range("--discount", args.discount, 0, 1)
    check_fraction("--tau", args.tau)
    check_fraction("--delta_decay", args.delta_decay)
    out_dir = check_output_dir("--output", output_folder(args))
    if args.bitconfig is not None:
        check_output_file("--bitconfig", args.bitconfig)
    if args.resume != "default":  # a resume file is read before anything is written
        path = check_input_file(
            "--resume", out_dir / "search_state.pth" if args.resume == "auto" else args.resume
        )
        require_checkpoint(load_checkpoint(path), path, SEARCH_STATE_KEYS)


#: What ``search_state.pth`` holds (:func:`save_search_state`); ``--resume`` needs all of it.
SEARCH_STATE_KEYS = ("episode", "agent", "memory", "rng", "embedding", "best_reward", "best_policy")


def output_folder(args: argparse.Namespace) -> Path:
    """``<output>/<arch>_<dataset>[_<suffix>]``."""
    folder = f"{args.arch}_{args.dataset}" + (f"_{args.suffix}" if args.suffix is not None else "")
    return Path(args.output) / folder


def _rng_state(agent: DDPG) -> dict[str, Any]:
    name, keys, pos, has_gauss, cached = agent.rng.get_state()
    return {
        "np": [torch.from_numpy(keys.astype(np.int64)), int(pos), int(has_gauss), float(cached)],
        "py": list(agent.memory.rng.getstate()[1]),
        "torch": torch.get_rng_state(),
    }


def _restore_rng(agent: DDPG, state: dict[str, Any]) -> None:
    keys, pos, has_gauss, cached = state["np"]
    agent.rng.set_state(("MT19937", keys.numpy().astype(np.uint32), pos, has_gauss, cached))
    agent.memory.rng.setstate((3, tuple(state["py"]), None))
    torch.set_rng_state(state["torch"])


def save_search_state(path: Path, agent: DDPG, env: Any, episode: int, best: tuple[float, list]) -> None:
    entries = list(agent.memory.entries)
    memory = {
        "obs": torch.tensor(np.asarray([e[0] for e in entries], dtype=np.float64)),
        "act": torch.tensor(np.asarray([e[1] for e in entries], dtype=np.float64)),
        "rew": torch.tensor([e[2] for e in entries], dtype=torch.float64),
        "done": torch.tensor([e[3] for e in entries]),
    }
    state = {
        "episode": episode, "agent": agent.state_dict(), "memory": memory, "rng": _rng_state(agent),
        "embedding": torch.from_numpy(env.layer_embedding), "best_reward": best[0], "best_policy": best[1],
    }  # fmt: skip
    episode_fn = getattr(env, "evaluate", None)
    if episode_fn is not None:  # k-means seed counter and the search split's sampling order
        state["evaluate_calls"] = episode_fn.calls
        sampler = split_sampler_state(episode_fn.train_loader)
        state["sampler_rng"], state["sampler_passes"] = sampler["generator"], sampler.get("passes", 0)
    save_checkpoint(state, path)


def load_search_state(path: Path, agent: DDPG, env: Any) -> tuple[int, tuple[float, list]]:
    state = load_checkpoint(path)
    agent.load_state_dict(state["agent"])
    mem = state["memory"]
    for o, a, r, d in zip(
        mem["obs"].numpy(), mem["act"].numpy(), mem["rew"].tolist(), mem["done"].tolist(), strict=True
    ):
        agent.memory.append(o, a, r, d)
    _restore_rng(agent, state["rng"])
    env.layer_embedding[:] = state["embedding"].numpy()
    episode_fn = getattr(env, "evaluate", None)
    if episode_fn is not None and "evaluate_calls" in state:
        episode_fn.calls = int(state["evaluate_calls"])
        load_split_sampler_state(
            episode_fn.train_loader,
            {"generator": state["sampler_rng"], "passes": int(state.get("sampler_passes", 0))},
        )
    return int(state["episode"]), (float(state["best_reward"]), state["best_policy"])


def train(
    num_episode: int, agent: DDPG, env: Any, args: argparse.Namespace, logger: RunLogger, out_dir: Path,
    start: int = 0, best: tuple[float, list] = (-math.inf, []),
) -> tuple[list, float]:  # fmt: skip
    """The episode loop of section 3.6: act, step, then store every transition with the final reward."""
    best_reward, best_policy = best
    save_every = max(int(num_episode / 10), 1)
    for episode in progress(
        range(start, num_episode), desc="episodes", initial=start, total=num_episode, lines=True
    ):
        observation = env.reset()
        trajectory = []
        done, info, reward = False, {}, 0.0
        while not done:
            action = (
                agent.random_action() if episode <= args.warmup else agent.select_action(observation, episode)
            )
            action = rank0_value(action)
            next_obs, reward, done, info = env.step(action)
            trajectory.append((observation.copy(), action, done))
            observation = next_obs.copy()
        for s_t, a_t, d_t in trajectory:
            agent.memory.append(s_t, a_t, reward, d_t)
            if episode > args.warmup:
                for _ in range(args.n_update):
                    agent.update_policy()
        agent.memory.append(observation, agent.select_action(observation, episode), 0.0, False)
        if reward > best_reward:
            best_reward, best_policy = reward, copy.deepcopy(env.strategy)
        ratio_key = "cost_ratio" if args.linear_quantization else "w_ratio"
        line = f"#{episode}: episode_reward:{reward:.4f} acc: {info['accuracy']:.4f}, {ratio_key}: {info[ratio_key]:.4f}"
        logger.info(line) if args.debug else None
        row = {
            "episode": episode, "reward": reward, "best_reward": best_reward, "accuracy": info["accuracy"],
            ratio_key: info[ratio_key], "delta": agent.delta, "value_loss": agent.value_loss,
            "policy_loss": agent.policy_loss, "strategy": str(env.strategy),
        }  # fmt: skip
        logger.log_epoch(row, step=episode)
        if is_main_process():
            if episode % save_every == 0:
                agent.save_model(out_dir)
            save_search_state(
                out_dir / "search_state.pth", agent, env, episode + 1, (best_reward, best_policy)
            )
    logger.info(f"best reward: {best_reward}")
    logger.info(f"best policy: {best_policy}")
    return best_policy, best_reward


def rank0_value(value: Any) -> Any:  # noqa: ANN401 - a numpy action or a float
    """``value`` as rank 0 holds it, on every rank (``value`` itself in one process): the agent's decisions are
    rank 0's even where a GPU's nondeterminism would let the ranks' copies of the agent drift apart."""
    if get_world_size() == 1:
        return value
    box = [value]
    torch.distributed.broadcast_object_list(box, src=0)
    return box[0]


def search_classes(arch: str, dataset: str, setup: DataSetup) -> int:
    """Outputs of the searched model: the data's class count.

    The embedded ``digits`` have 10 classes whatever the default ``--dataset imagenet`` says (as in
    ``haq.finetune``); an explicit ``--dataset`` of another class count on them is a one-line error. On
    ImageNet folders ``qmobilenetv2`` keeps the original's 1000 outputs whatever the data (docs/haq.md
    section 8 item 11: ImageNet-100's labels are the first 100 of the 1000-class head).
    """
    if setup.root == "digits":
        found = DATASET_CLASSES["digits"]
        if dataset != "imagenet" and setup.num_classes != found:
            raise UsageError(
                f"--dataset {dataset} means {setup.num_classes} classes but the embedded digits have {found}; "
                "pass --dataset digits"
            )
        return found
    return 1000 if arch == "qmobilenetv2" and setup.preset == "imagenet" else setup.num_classes


def _classifier_key(model: nn.Module) -> str | None:
    """State-dict key of the weight of ``model``'s last linear layer (its classifier), if any."""
    last = None
    for name, module in model.named_modules():
        if isinstance(module, nn.Linear):
            last = name
    return None if last is None else f"{last}.weight"


def has_published_weights(arch: str) -> bool:
    """True when ``--pretrained published`` names a file for ``arch`` (HAQ's MobileNetV2, a registry file)."""
    if arch in HAQ_LAYOUT:
        return True
    if arch in HAQ_MOBILENET_V1:
        return False
    return expected_file_name(get_spec(base_arch(arch))) is not None


def check_weights_classes(model: nn.Module, arch: str, pretrained: bool | str, num_classes: int) -> None:
    """One-line :class:`UsageError` when the float weights to start from have another class count than
    the data: the published weights are ImageNet's (1000 classes); a file's count is its classifier's rows.
    A new random head is not what a search starting from trained weights means, so no flag offers one."""
    if not pretrained:
        return
    if pretrained is True:
        if not has_published_weights(arch):
            return  # build_haq_model says there are none
        found, what = 1000, "--pretrained published (ImageNet weights)"
    else:
        key = _classifier_key(model)
        state = read_released_state_dict(pretrained)
        if is_pytorchcv_resnet(state):
            state = pytorchcv_resnet_to_torchvision(state)
        if key is None or key not in state or state[key].dim() < 1:
            return  # the loader names any tensor that does not fit
        found, what = int(state[key].shape[0]), f"--pretrained {pretrained}"
    if found != num_classes:
        raise UsageError(
            f"{what} holds a {found}-class classifier but the data has {num_classes} classes; pass a "
            "checkpoint trained on this data (e.g. reproduce.baseline_digits' weights.pth) or --pretrained none"
        )


def build_search_model(arch: str, num_classes: int, pretrained: bool | str) -> nn.Module:
    """The float (K-means) or ``q*`` (linear) model to search, with ``num_classes`` outputs and the float
    weights of ``pretrained`` (True: the published ones; a path; False: random), whose class count must be the
    data's (:func:`check_weights_classes`). ``qmobilenetv2`` on digits gets a 10-output head of its layout."""
    if arch == "qmobilenetv2" and num_classes != 1000:
        model: nn.Module = MobileNetV2(num_classes, quantized=True)  # qmobilenetv2() is always 1000-way
        check_weights_classes(model, arch, pretrained, num_classes)
        if pretrained:
            load_released_checkpoint(model, HAQ_PRETRAINED_FILE if pretrained is True else pretrained)
        return model
    model = build_haq_model(arch, num_classes, pretrained=False)
    check_weights_classes(model, arch, pretrained, num_classes)
    return build_haq_model(arch, num_classes, pretrained=pretrained) if pretrained else model


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    args = build_parser().parse_args(argv)
    apply_local_rank_flag(args.local_rank)
    warn_unused_flags(args, build_parser(), UNUSED_FLAGS, "the original never read it either")
    check_args(args)
    set_threads(args.threads)
    if args.gpu_id is not None:
        import os

        os.environ["CUDA_VISIBLE_DEVICES"] = args.gpu_id
    device = choose_device(args.device)
    info = init_distributed(device=device)
    setup = data_setup(
        args.dataset,
        args.dataset_root,
        input_size_of(args.arch),
        args.arch.startswith("inception"),
        image_size=args.image_size,
    )
    table = None
    if args.linear_quantization:
        table = load_table(
            args.latency_table or table_path(args.arch, args.dataset, output=args.output),
            args.arch,
            args.dataset,
        )
    if args.seed > 0:
        np.random.seed(args.seed)
        torch.manual_seed(args.seed)
        random.seed(args.seed)
    pretrained: bool | str = {"published": True, "none": False}.get(args.pretrained, args.pretrained)
    num_classes = search_classes(args.arch, args.dataset, setup)
    model = build_search_model(args.arch, num_classes, pretrained)
    types = QUANT_TYPES if args.linear_quantization else KMEANS_TYPES
    layers = quantizable_modules(model, types)
    if not layers:
        raise ArchError(f"{args.arch!r} has no quantizable layers for this mode")
    embedding = state_embedding(model, types, setup.embed_size, args.linear_quantization)
    if args.sync_bn:  # in one process too: the same float64 statistics make it the exact reference
        model, _ = convert_sync_batchnorm(model, device)
    model.to(device)
    pretrained_state = copy.deepcopy(model.state_dict())
    # budget checks come before any output or accuracy measurement
    weight_counts = [int(m.weight.ne(0).sum()) if args.is_pruned else m.weight.numel() for _, m in layers]
    if args.linear_quantization:
        env: Any = LinearQuantizeEnv(
            embedding, table, args.preserve_ratio, None, 0.0, args.min_bit, args.max_bit, args.float_bit,
            always_pin_first_last=args.always_pin_first_last,
        )  # fmt: skip
    else:
        env = QuantizeEnv(
            embedding,
            weight_counts,
            args.preserve_ratio,
            None,
            0.0,
            args.min_bit,
            args.max_bit,
            args.float_bit,
        )
    train_loader, val_loader = get_split_train_dataset(
        setup, args.data_bsize, args.n_worker, args.val_size, args.train_size, seed=max(args.seed, 0),
        num_replicas=info.world_size, rank=info.rank,
    )  # fmt: skip
    # a layer whose input stays in float leaves its activation range out of that episode's graph
    trained = wrap_ddp(model, device, info, find_unused_parameters=args.linear_quantization)
    episode = LinearEpisode if args.linear_quantization else KMeansEpisode
    env.evaluate = episode(model, pretrained_state, train_loader, val_loader, args, device, trained)
    out_dir = output_folder(args)
    env.evaluate.checkpoint = out_dir / "search_state.pth"  # named when a fine-tune loss turns NaN
    set_resume_hint(f"--resume {out_dir / 'search_state.pth'}", out_dir / "search_state.pth")
    key = "top5" if args.use_top5 else "top1"
    with RunLogger(out_dir, args) as logger:
        org = evaluate(
            model,
            train_loader if args.linear_quantization else val_loader,
            device,
            desc="float",
            across_ranks=True,
        )
        env.org_acc = org[key]
        logger.info(
            f"=> original acc: {env.org_acc:.3f}% on split dataset (train {args.train_size}, val {args.val_size})"
        )
        args.rmsize = args.rmsize * len(layers)
        agent = DDPG(embedding.shape[1], 1, args, device=device)
        start, best = 0, (-math.inf, [])
        if args.resume != "default":
            path = out_dir / "search_state.pth" if args.resume == "auto" else Path(args.resume)
            start, best = load_search_state(path, agent, env)
            logger.info(f"=> resumed at episode {start} from {path}")
        best_policy, best_reward = train(args.train_episode, agent, env, args, logger, out_dir, start, best)
        reg, names = layer_names(args.arch, model, types, num_classes)
        if args.linear_quantization:
            cost = latency_cost(best_policy, table)
            costs = {"latency": cost, "latency_ratio": cost / reference_latency(table, args.float_bit),
                     "preserve_ratio": args.preserve_ratio, "latency_table": str(args.latency_table or table_path(args.arch, args.dataset, output=args.output))}  # fmt: skip
        else:
            size = kmeans_size(best_policy, weight_counts)
            costs = {"size_bits": size, "size_MB": size / 8e6, "size_ratio": size / (args.float_bit * sum(weight_counts)),
                     "preserve_ratio": args.preserve_ratio}  # fmt: skip
        mode = "linear" if args.linear_quantization else "kmeans"
        source = (
            f"haq rl_quantize ({mode}, {args.arch}, {args.dataset}, preserve_ratio {args.preserve_ratio})"
        )
        cfg = strategy_to_bitconfig(
            best_policy, names, reg, num_classes, args.linear_quantization, source, costs, args.arch
        )
        cfg_path = args.bitconfig or out_dir / "bitconfig.json"
        if is_main_process():
            write_bitconfig(cfg, cfg_path)
        result = {"best_reward": best_reward, "best_policy": best_policy, "org_acc": env.org_acc,
                  "bitconfig": str(cfg_path), "costs": costs, "episodes": args.train_episode}  # fmt: skip
        logger.finalize(result)
    if is_main_process():
        print(f"best_reward: {best_reward}")
        print(f"best_policy: {best_policy}")
    cleanup_distributed()
    return result


if __name__ == "__main__":
    run_main(main)
    sys.exit(0)
