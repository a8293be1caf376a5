"""``emhnet prepare --data ROOT --out CACHE``: composite table → cached model inputs (flow, boxes) + manifest."""

from __future__ import annotations

import argparse
from pathlib import Path

from emhnet_lite.commands._args import positive_int
from emhnet_lite.errors import PathError

NAME = "prepare"
HELP = "compute onset→apex flow + strain inputs and region boxes for a composite into a cache folder"

#: How each release is recognised under --data: a marker file or folder inside its root.
RELEASE_MARKERS = {"casme2": "CASME2-coding-20140508.xlsx", "samm": "SAMM_Micro_FACS_Codes_v2.xlsx",
                   "smic": "HS"}


def find_releases(data_root: Path) -> dict[str, Path]:
    """Release roots under ``data_root`` (itself or a direct subfolder) recognised by their marker."""
    found: dict[str, Path] = {}
    if not data_root.is_dir():
        raise PathError(f"--data {data_root}: no such folder")
    candidates = [data_root] + sorted(p for p in data_root.iterdir() if p.is_dir())
    for dataset, marker in RELEASE_MARKERS.items():
        for folder in candidates:
            if (folder / marker).exists():
                found[dataset] = folder
                break
    return found


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--data", type=Path, help="folder holding the releases (CASME II, SAMM, SMIC-HS roots)")
    for dataset in RELEASE_MARKERS:
        parser.add_argument(f"--{dataset}", type=Path, default=None, help=f"explicit {dataset} release root")
    parser.add_argument("--out", type=Path, required=True, help="cache folder (a <config-key>/ subfolder is made)")
    parser.add_argument("--preset", default="default", help="preprocessing preset (see PREPROCESS_PRESETS)")
    parser.add_argument("--size", type=int, default=None, help="model input side (default from the preset)")
    parser.add_argument("--flow", choices=["tvl1", "farneback"], default=None, help="flow backend")
    parser.add_argument("--landmarks", choices=["auto", "dlib", "synth", "canonical"], default=None)
    parser.add_argument("--apex", choices=["table", "middle", "spot"], default=None,
                        help="apex policy for clips without an annotated apex (SMIC)")
    parser.add_argument("--sample-list", type=Path, default=None, help="CSV dataset,subject,clip,label")
    parser.add_argument("--workers", type=positive_int, default=None, help="processes (default: all cores)")
    parser.add_argument("--on-error", choices=["raise", "skip"], default="raise",
                        help="a clip that cannot be read or prepared (corrupt frame, bad annotation row): "
                             "raise = stop with one line naming it after saving the finished samples (default); "
                             "skip = leave it out, counted in the report and in manifest.csv (status=error)")


def run(args: argparse.Namespace) -> int:
    from emhnet_lite.data import load_composite
    from emhnet_lite.preprocess import PreprocessConfig, cache_key, prepare_dataset, write_report

    releases = find_releases(args.data) if args.data else {}
    for dataset in RELEASE_MARKERS:
        if getattr(args, dataset) is not None:
            releases[dataset] = getattr(args, dataset)
    for dataset, root in releases.items():
        if not Path(root).is_dir():
            raise PathError(f"--{dataset} {root}: no such folder")
    if not releases and args.data is None:
        raise PathError("give --data ROOT (the folder holding the releases) or --casme2/--samm/--smic")
    if not releases:
        raise PathError(f"--data {args.data}: no CASME II / SAMM / SMIC-HS release found "
                        f"(looked for {', '.join(RELEASE_MARKERS.values())} in it and its subfolders)")
    if args.sample_list is not None and not args.sample_list.is_file():
        raise PathError(f"--sample-list {args.sample_list}: no such file")
    overrides = {key: value for key, value in (("size", args.size), ("flow_backend", args.flow),
                                               ("landmark_source", args.landmarks), ("apex_policy", args.apex))
                 if value is not None}
    config = PreprocessConfig.preset(args.preset, **overrides)
    skip = args.on_error == "skip"  # skip: frames are checked when prepared, so each failure names its clip
    table, report = load_composite(**releases, sample_list=args.sample_list, on_error=args.on_error,
                                   verify="none" if skip else "endpoints")
    print(report)
    prepared = prepare_dataset(table, config, args.out, workers=args.workers, strict=not skip,
                               reader_errors=report.skipped_rows)
    folder = args.out / cache_key(config)
    print(write_report(folder), end="")
    print(f"{len(prepared)} samples ready in {folder}")
    return 0
