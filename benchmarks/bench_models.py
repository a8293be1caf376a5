"""Cost of the four models in one run: parameters, FLOPs/sample, train-step time at batch 256 (3x28x28),
inference latency; ratios vs HTNet measured in the same run.

    .venv/bin/python benchmarks/bench_models.py [--rounds 3] [--threads 1] [--out runs/bench_models.json]
"""

from __future__ import annotations

import argparse
import platform
import sys

import torch

from emhnet_lite.model import MODEL_NAMES
from emhnet_lite.model.benchmark import cost_table, format_table, rows_as_dicts
from emhnet_lite.utils import resolve_device, write_json_atomic


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark, print the markdown table and optionally write JSON."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--models", nargs="+", default=list(MODEL_NAMES))
    parser.add_argument("--batch", type=int, default=256)
    parser.add_argument("--image-size", type=int, default=28)
    parser.add_argument("--rounds", type=int, default=3, help="timed rounds after one warm-up round")
    parser.add_argument("--device", default="cpu", help="cpu, cuda or auto")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=1,
                        help="torch intra-op threads (default 1: the small models are op-bound and two threads on a "
                             "shared CPU make their timings swing 10x; 0 = torch's default)")
    parser.add_argument("--out", default=None, help="also write the rows as JSON here")
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    device = resolve_device(args.device)
    rows = cost_table(args.models, image_size=args.image_size, batch=args.batch, rounds=args.rounds,
                      seed=args.seed, device=device)
    print(format_table(rows))
    print(f"\n{device}, torch {torch.__version__}, {torch.get_num_threads()} threads, {platform.processor() or platform.machine()}"
          f", batch {args.batch}, {args.rounds} rounds (medians)")
    if args.out:
        write_json_atomic(args.out, {"rows": rows_as_dicts(rows), "device": str(device), "batch": args.batch,
                                     "image_size": args.image_size, "rounds": args.rounds,
                                     "torch": torch.__version__, "threads": torch.get_num_threads()})
    return 0


if __name__ == "__main__":
    sys.exit(main())
