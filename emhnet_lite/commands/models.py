"""``emhnet models``: the cost table of EMHNet and the baselines (parameters, FLOPs; timings on request)."""

from __future__ import annotations

import argparse

from emhnet_lite.commands._args import positive_int

NAME = "models"
HELP = "list the models with parameters and FLOPs per sample (add --time for train-step and latency timings)"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options: model subset, input size, optional timing (batch, rounds, threads, device), JSON output."""
    parser.add_argument("--models", nargs="+", default=None,
                        help="model names, or MODEL:ABLATION (default: all models and every emhnet_tiny ablation)")
    parser.add_argument("--image-size", type=int, default=28, help="input side in pixels (default 28)")
    parser.add_argument("--time", action="store_true", help="also time training steps and inference latency")
    parser.add_argument("--batch", type=positive_int, default=256, help="training batch for --time (default 256)")
    parser.add_argument("--rounds", type=positive_int, default=3, help="timed rounds for --time (default 3)")
    parser.add_argument("--threads", type=int, default=1,
                        help="torch intra-op threads for --time (default 1: stable timings on a shared CPU; 0 = torch's)")
    parser.add_argument("--device", default="cpu", help="cpu, cuda or auto (default cpu)")
    parser.add_argument("--json", default=None, help="also write the rows as JSON to this path")


def run(args: argparse.Namespace) -> int:
    """Print the cost table (and write it as JSON when asked); an unknown model name is a user error."""
    import torch

    from emhnet_lite.errors import UnknownNameError
    from emhnet_lite.model import ABLATIONS, MODEL_NAMES
    from emhnet_lite.model.benchmark import ablation_names, cost_table, format_table, rows_as_dicts
    from emhnet_lite.utils import resolve_device, write_json_atomic

    names = args.models or list(MODEL_NAMES) + ablation_names("emhnet_tiny")
    unknown = [name for name in names if name.partition(":")[0] not in MODEL_NAMES
               or (name.partition(":")[2] or "full") not in ABLATIONS
               or (":" in name and not name.startswith("emhnet"))]
    if unknown:
        raise UnknownNameError(f"--models: unknown model(s) {unknown}; known: {list(MODEL_NAMES)}, EMHNet "
                               f"ablations (as emhnet_tiny:NAME): {list(ABLATIONS)}")
    if args.threads:
        torch.set_num_threads(args.threads)
    device = resolve_device(args.device)
    rows = cost_table(names, image_size=args.image_size, batch=args.batch, rounds=args.rounds,
                      device=device, timing=args.time)
    print(format_table(rows))
    if args.json:
        write_json_atomic(args.json, {"rows": rows_as_dicts(rows), "device": str(device),
                                      "image_size": args.image_size, "batch": args.batch,
                                      "threads": torch.get_num_threads(), "timed": args.time})
    return 0
