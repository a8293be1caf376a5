"""``emhnet synth --out DIR [--scale 1.0] [--seed 0]``: write SynthME in the real release layouts."""

from __future__ import annotations

import argparse
from pathlib import Path

NAME = "synth"
HELP = "generate SynthME (synthetic CASME II / SAMM / SMIC-HS trees with ground truth) into a folder"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """``--out``, ``--scale``, ``--seed``."""
    parser.add_argument("--out", type=Path, required=True, help="output folder (must not exist yet)")
    parser.add_argument("--scale", type=float, default=1.0,
                        help="1.0 = the composite's 68 subjects / 442 clips; smaller keeps every class")
    parser.add_argument("--seed", type=int, default=0, help="same seed -> byte-identical output")


def run(args: argparse.Namespace) -> int:
    """Generate (or find the identical copy), read it back with the real readers, print the counts."""
    from emhnet_lite.data import load_composite
    from emhnet_lite.synth import generate_synthme

    roots = generate_synthme(args.out, scale=args.scale, seed=args.seed)  # existing other data: exit 2
    _, report = load_composite(**roots)
    for dataset, root in roots.items():
        print(f"{dataset}: {root}")
    print(report.counts.to_string())
    return 0
