"""``emhnet loso``: leave-one-subject-out training/evaluation into a resumable, shardable run folder."""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from pathlib import Path

from emhnet_lite.commands._args import positive_float, positive_int, shard_argv
from emhnet_lite.errors import ConfigError

NAME = "loso"
HELP = "run LOSO over a prepared composite (shardable, resumable); writes runs/NAME (docs/run_folder.md)"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--data",
        type=Path,
        required=True,
        help="prepared cache folder (holding manifest.csv, from `emhnet prepare`), a cache root "
        "with exactly one such folder, or with --synthme-scale a data root for SynthME",
    )
    parser.add_argument(
        "--synthme-scale",
        type=positive_float,
        default=None,
        help="generate/prepare SynthME at this scale under --data (1.0 = full composite size)",
    )
    parser.add_argument(
        "--synthme-difficulty",
        default="easy",
        choices=["easy", "real", "hard"],
        help="SynthME level with --synthme-scale (real/hard are prepared with dlib landmarks; docs/data.md)",
    )
    parser.add_argument("--synthme-seed", type=int, default=0, help="SynthME seed with --synthme-scale")
    parser.add_argument("--model", default="emhnet_tiny", help="emhnet_tiny, emhnet, htnet, htnet_reduced, ststnet")
    parser.add_argument("--ablation", default="full", type=_ablation,
                        help="a named EMHNet ablation (emhnet_lite.model.ABLATIONS: full, no_router, no_cross_scale, "
                             "no_region_gate, no_global, single_scale, no_regions, ...); recorded in config.json")
    parser.add_argument(
        "--model-arg",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="model config override, e.g. dim=64 (repeatable; values parsed as Python literals)",
    )
    parser.add_argument("--out", type=Path, required=True, help="run folder, e.g. runs/NAME")
    parser.add_argument(
        "--select",
        choices=["last", "val", "oracle"],
        default="last",
        help="epoch selection: last (default), val (validation subjects from the training "
        "subjects), oracle (best test-subject epoch: TEST-SET-SELECTED, leaky)",
    )
    parser.add_argument(
        "--preset", default=None, help="training preset (default: the model's default schedule)"
    )
    parser.add_argument("--epochs", type=int, default=None, help="override the preset's epoch count")
    parser.add_argument("--lr", type=float, default=None, help="override the preset's learning rate")
    parser.add_argument("--batch-size", type=int, default=None, help="override the preset's batch size")
    parser.add_argument("--seed", type=int, default=0, help="base seed; fold k uses seed + k")
    parser.add_argument(
        "--val-subjects", type=positive_int, default=4, help="validation subjects per fold (--select val)"
    )
    parser.add_argument("--class-weighting", choices=["none", "balanced"], default=None)
    parser.add_argument("--shard", default="1/1", help="K/N: run only folds i with i mod N = K-1")
    parser.add_argument(
        "--jobs",
        type=positive_int,
        default=1,
        help="run N local shard processes in parallel and merge (ignores --shard)",
    )
    parser.add_argument(
        "--threads",
        type=positive_int,
        default=1,
        help="torch CPU threads per process (default 1: on a loaded 2-core machine one thread per "
        "process is much faster; use --jobs for parallelism)",
    )
    parser.add_argument(
        "--vectorize-folds",
        default="1",
        type=_vectorize_value,
        metavar="F",
        help="train F folds at once as one batched ensemble (same seeds and run folder; 'auto' picks F "
        "for the model and device; default 1 = fold by fold). See docs/run_folder.md",
    )
    parser.add_argument("--resume", action="store_true", help="skip folds already finished in --out")
    parser.add_argument("--device", default="auto", help="auto (CUDA when present), cpu, cuda, cuda:1 ...")
    parser.add_argument("--no-merge", action="store_true", help="do not merge at the end (shards)")


def _vectorize_value(text: str) -> str:
    """argparse check of ``--vectorize-folds``: a positive integer or ``auto`` (resolved per model later)."""
    if text != "auto" and not (text.isdigit() and int(text) >= 1):
        raise argparse.ArgumentTypeError(f"{text!r}: expected a positive integer or 'auto'")
    return text


def _ablation(text: str) -> str:
    """``--ablation`` value: a key of ``emhnet_lite.model.ABLATIONS`` (argparse reports anything else)."""
    from emhnet_lite.model import ABLATIONS

    if text not in ABLATIONS:
        raise argparse.ArgumentTypeError(f"unknown ablation {text!r}; known: {', '.join(ABLATIONS)}")
    return text


def _model_overrides(pairs: list[str]) -> dict:
    """``["dim=64", "scales=(2,4)"]`` → ``{"dim": 64, "scales": (2, 4)}``."""
    import ast

    overrides = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep:
            raise ConfigError(f"--model-arg {pair!r}: expected KEY=VALUE")
        try:
            overrides[key] = ast.literal_eval(value)
        except (ValueError, SyntaxError):
            overrides[key] = value
    return overrides


def _child_argv(args: argparse.Namespace, shard: str) -> list[str]:
    """Command line of one local shard process (``_args.shard_argv``: every parsed option replayed)."""
    return shard_argv(NAME, add_arguments, args, shard)


def _config(args: argparse.Namespace):
    """The run's ``LosoConfig`` from the options (bad preset, model, --model-arg or value: a ``KitError``)."""
    from emhnet_lite.model import model_config
    from emhnet_lite.train import LosoConfig, default_for_model, get_preset

    overrides = {
        key: value
        for key, value in (
            ("epochs", args.epochs),
            ("lr", args.lr),
            ("batch_size", args.batch_size),
            ("class_weighting", args.class_weighting),
        )
        if value is not None
    }
    train = get_preset(args.preset, **overrides) if args.preset else default_for_model(args.model, **overrides)
    config = LosoConfig(
        model=args.model,
        train=train,
        selection=args.select,
        seed=args.seed,
        val_subjects=args.val_subjects,
        model_overrides=_model_overrides(args.model_arg),
        ablation=args.ablation,
    )
    # unknown model, field or ablation (or an ablation of a baseline): fail before any work
    model_config(config.model, ablation=config.ablation, **dict(config.model_overrides))
    return config


def run(args: argparse.Namespace) -> int:
    """Validate every option and the data, then run the folds (in ``--jobs`` shard processes) and merge."""
    import torch

    from emhnet_lite.runs import merge_run, print_metrics
    from emhnet_lite.teaching import load_data
    from emhnet_lite.train import parse_shard, run_loso
    from emhnet_lite.train.vectorized.trainer import parse_vectorize_folds
    from emhnet_lite.utils import resolve_device

    started = time.perf_counter()
    shard = parse_shard(args.shard)  # every check before any data is read or anything is written
    resolve_device(args.device)
    vectorize = parse_vectorize_folds(args.vectorize_folds, args.model, args.device)
    config = _config(args)
    torch.set_num_threads(args.threads)
    loaded = load_data(args.data, args.synthme_scale, difficulty=args.synthme_difficulty, seed=args.synthme_seed)
    config.check_subjects(len(loaded.data.subjects))
    if args.jobs > 1:
        children = [subprocess.Popen(_child_argv(args, f"{k}/{args.jobs}")) for k in range(1, args.jobs + 1)]
        codes = [child.wait() for child in children]
        if any(codes):
            print(f"error: shard exit codes {codes}; finished folds are kept, rerun with --resume", file=sys.stderr)
            return 2 if set(codes) - {0} == {2} else 1  # 2: the shards refused a user error (printed above)
        merge_run(args.out, process_wall_time_s=time.perf_counter() - started)
        print_metrics(args.out)
        print(f"run folder: {args.out} ({time.perf_counter() - started:.1f} s with {args.jobs} processes)")
        return 0
    summary = run_loso(
        loaded.data,
        config,
        args.out,
        shard=shard,
        resume=args.resume,
        device=args.device,
        data_source=loaded.source,
        merge=not args.no_merge,
        vectorize_folds=vectorize,
    )
    if summary is None:
        print(
            f"shard {args.shard} done in {time.perf_counter() - started:.1f} s; "
            f"merge with `emhnet merge {args.out}` when all shards finished"
        )
        return 0
    print_metrics(args.out)
    print(f"run folder: {args.out} ({time.perf_counter() - started:.1f} s)")
    return 0
