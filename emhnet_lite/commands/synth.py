"""``emhnet synth --out DIR [--scale 1.0] [--seed 0] [--difficulty easy|real|hard]``: write SynthME in the real
release layouts."""

from __future__ import annotations

import argparse
import ast
from pathlib import Path

from emhnet_lite.errors import ConfigError

NAME = "synth"
HELP = "generate SynthME (synthetic CASME II / SAMM / SMIC-HS trees with ground truth) into a folder"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """``--out``, ``--scale``, ``--seed``, ``--difficulty``, ``--region-control``, ``--knob``."""
    from emhnet_lite.synth.config import DIFFICULTIES

    parser.add_argument("--out", type=Path, required=True, help="output folder (must not exist yet)")
    parser.add_argument("--scale", type=float, default=1.0,
                        help="1.0 = the composite's 68 subjects / 442 clips; smaller keeps every class")
    parser.add_argument("--seed", type=int, default=0, help="same seed -> byte-identical output")
    parser.add_argument("--difficulty", choices=sorted(DIFFICULTIES), default="easy",
                        help="easy = the original generator (teaching chapters); real = SynthME 2, calibrated "
                        "for benchmarks and LOSO; hard = stress (docs/data.md)")
    parser.add_argument("--region-control", action="store_true",
                        help="move class-defining motion outside the eye/mouth regions (a control)")
    parser.add_argument("--knob", action="append", default=[], metavar="NAME=VALUE",
                        help="override one SynthME 2 knob, e.g. head_motion=0.5 (repeatable; docs/data.md)")


def run(args: argparse.Namespace) -> int:
    """Generate (or find the identical copy), read it back with the real readers, print the counts."""
    from emhnet_lite.data import load_composite
    from emhnet_lite.synth import SynthConfig, generate_synthme

    knobs: dict[str, object] = {}
    for pair in args.knob:
        name, sep, value = pair.partition("=")
        if not sep:
            raise ConfigError(f"--knob {pair!r}: expected NAME=VALUE")
        try:
            knobs[name] = ast.literal_eval(value)
        except (ValueError, SyntaxError):
            raise ConfigError(f"--knob {pair!r}: {value!r} is not a number or True/False") from None
    config = SynthConfig.preset(args.difficulty, scale=args.scale, seed=args.seed,
                                region_control=args.region_control, **knobs)
    roots = generate_synthme(args.out, config=config)  # existing other data: exit 2
    _, report = load_composite(**roots)
    for dataset, root in roots.items():
        print(f"{dataset}: {root}")
    print(report.counts.to_string())
    return 0
