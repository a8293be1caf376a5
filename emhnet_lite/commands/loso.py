"""``emhnet loso``: leave-one-subject-out training/evaluation into a resumable, shardable run folder."""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from pathlib import Path

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
        type=float,
        default=None,
        help="generate/prepare SynthME at this scale under --data (1.0 = full composite size)",
    )
    parser.add_argument("--model", default="emhnet_tiny", help="emhnet_tiny, emhnet, htnet, ststnet")
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
        "--val-subjects", type=int, default=4, help="validation subjects per fold (--select val)"
    )
    parser.add_argument("--class-weighting", choices=["none", "balanced"], default=None)
    parser.add_argument("--shard", default="1/1", help="K/N: run only folds i with i mod N = K-1")
    parser.add_argument(
        "--jobs",
        type=int,
        default=1,
        help="run N local shard processes in parallel and merge (ignores --shard)",
    )
    parser.add_argument(
        "--threads",
        type=int,
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


def _model_overrides(pairs: list[str]) -> dict:
    """``["dim=64", "scales=(2,4)"]`` → ``{"dim": 64, "scales": (2, 4)}``."""
    import ast

    overrides = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep:
            raise ValueError(f"--model-arg {pair!r}: expected KEY=VALUE")
        try:
            overrides[key] = ast.literal_eval(value)
        except (ValueError, SyntaxError):
            overrides[key] = value
    return overrides


def _child_argv(args: argparse.Namespace, shard: str) -> list[str]:
    """Command line of one local shard process."""
    argv = [
        sys.executable,
        "-m",
        "emhnet_lite",
        "loso",
        "--data",
        str(args.data),
        "--model",
        args.model,
        "--out",
        str(args.out),
        "--select",
        args.select,
        "--seed",
        str(args.seed),
        "--val-subjects",
        str(args.val_subjects),
        "--shard",
        shard,
        "--threads",
        str(args.threads),
        "--device",
        args.device,
        "--vectorize-folds",
        str(args.vectorize_folds),
        "--no-merge",
    ]
    for flag, value in (
        ("--synthme-scale", args.synthme_scale),
        ("--preset", args.preset),
        ("--epochs", args.epochs),
        ("--lr", args.lr),
        ("--batch-size", args.batch_size),
        ("--class-weighting", args.class_weighting),
    ):
        if value is not None:
            argv += [flag, str(value)]
    for pair in args.model_arg:
        argv += ["--model-arg", pair]
    return argv + (["--resume"] if args.resume else [])


def run(args: argparse.Namespace) -> int:
    import torch

    from emhnet_lite.runs import merge_run, print_metrics
    from emhnet_lite.teaching import load_data
    from emhnet_lite.train import LosoConfig, default_for_model, get_preset, parse_shard, run_loso
    from emhnet_lite.train.vectorized.trainer import parse_vectorize_folds

    started = time.perf_counter()
    if args.jobs > 1:
        if args.synthme_scale is not None:  # prepare once before the shards start
            load_data(args.data, args.synthme_scale)
        children = [subprocess.Popen(_child_argv(args, f"{k}/{args.jobs}")) for k in range(1, args.jobs + 1)]
        codes = [child.wait() for child in children]
        if any(codes):
            print(f"error: shard exit codes {codes}; finished folds are kept, rerun with --resume")
            return 1
        merge_run(args.out, process_wall_time_s=time.perf_counter() - started)
        print_metrics(args.out)
        print(f"run folder: {args.out} ({time.perf_counter() - started:.1f} s with {args.jobs} processes)")
        return 0
    torch.set_num_threads(args.threads)
    loaded = load_data(args.data, args.synthme_scale)
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
    train = (
        get_preset(args.preset, **overrides) if args.preset else default_for_model(args.model, **overrides)
    )
    config = LosoConfig(
        model=args.model,
        train=train,
        selection=args.select,
        seed=args.seed,
        val_subjects=args.val_subjects,
        model_overrides=_model_overrides(args.model_arg),
    )
    shard = parse_shard(args.shard)
    vectorize = parse_vectorize_folds(args.vectorize_folds, args.model, args.device)
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
