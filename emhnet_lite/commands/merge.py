"""``emhnet merge runs/NAME``: combine the finished folds of sharded LOSO processes into the run's tables."""

from __future__ import annotations

import argparse
from pathlib import Path

from emhnet_lite.errors import PathError

NAME = "merge"
HELP = "merge a LOSO run folder's finished folds (after --shard runs) into predictions, metrics, manifest"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("run_dir", type=Path, help="run folder written by `emhnet loso`")
    parser.add_argument(
        "--partial",
        action="store_true",
        help="merge even if some folds are missing (metrics.json then says partial: true)",
    )


def run(args: argparse.Namespace) -> int:
    from emhnet_lite.runs import merge_run, print_metrics

    if not (args.run_dir / "config.json").exists():
        raise PathError(f"{args.run_dir} is not a LOSO run folder (no config.json)")
    summary = merge_run(args.run_dir, allow_partial=args.partial)  # unfinished folds: PathError naming them
    print_metrics(args.run_dir)
    if summary["partial"]:
        print("warning: PARTIAL merge — some folds are missing")
    return 0
