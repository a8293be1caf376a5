"""``emhnet figures RUN``: write the paper figure set of a LOSO run folder (PNG + PDF) and its sources table."""

from __future__ import annotations

import argparse
from pathlib import Path

from emhnet_lite.commands._args import non_negative_int
from emhnet_lite.errors import ConfigError

NAME = "figures"
HELP = "write the paper figures of a run folder (confusion, published comparison, gates, subjects, curves)"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("run", type=Path, help="LOSO run folder (see docs/run_folder.md)")
    parser.add_argument("--out", type=Path, default=Path("figures"), help="output folder (default: figures/)")
    parser.add_argument("--prefix", default="07_", help="file-name prefix of every figure (default: 07_)")
    parser.add_argument("--selection", choices=("last", "val", "oracle"), default=None,
                        help="prediction set to draw (default: the run's primary selection)")
    parser.add_argument("--overlays", type=non_negative_int, default=0, metavar="N",
                        help="also draw attention/flow overlays for N held-out samples (needs --overlay-data)")
    parser.add_argument("--overlay-data", type=Path, default=None, metavar="PATH",
                        help="the data the run was trained on: a prepared cache folder (with manifest.csv and "
                             "config.json) or, for the SynthME teaching run, the data root (e.g. data/)")


def run(args: argparse.Namespace) -> int:
    """Render the figure set; a bad run folder or overlay data is a ``KitError`` (one line, exit 2)."""
    import matplotlib

    matplotlib.use("Agg")
    from emhnet_lite.figures import render_all, sources_table

    extra = []
    if args.overlays:
        from emhnet_lite.figures.overlay import render_overlays

        if args.overlay_data is None:
            raise ConfigError("--overlays needs --overlay-data (the prepared data the run was trained on)")
        from emhnet_lite.teaching import load_data

        loaded = load_data(args.overlay_data, flag="--overlay-data", teaching_root=True)
        extra.append(render_overlays(args.run, args.out, loaded.data, prefix=args.prefix, n_samples=args.overlays,
                                     preprocess_config=loaded.preprocess_config()))
    records = render_all(args.run, args.out, prefix=args.prefix, selection=args.selection, extra=extra)
    table = sources_table(records)
    print(table.to_string(index=False))
    skipped = [r for r in records if r.skipped]
    print(f"{len(records) - len(skipped)} figure(s) written to {args.out}, {len(skipped)} skipped")
    return 0
