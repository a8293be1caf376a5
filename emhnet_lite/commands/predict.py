"""``emhnet predict RUN --data CACHE | --video FILE --onset N --apex M``: a finished run's fold models on new clips."""

from __future__ import annotations

import argparse
from pathlib import Path

NAME = "predict"
HELP = ("predict clips with a finished LOSO run's fold models (mean probability, per-model spread); "
        "from a prepared cache or a video with onset/apex frames (docs/run_folder.md)")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("run", type=Path, help="run folder (runs/NAME) with folds/*/checkpoint.pt")
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--data", type=Path, help="prepared cache folder (or a cache root holding one)")
    source.add_argument("--video", type=Path, help="a video file; give --onset and --apex (repeatable)")
    parser.add_argument("--onset", type=int, action="append", default=[],
                        help="onset frame (1-based decoded frame number); repeat for several clips")
    parser.add_argument("--apex", type=int, action="append", default=[], help="apex frame, one per --onset")
    parser.add_argument("--preset", default="real",
                        help="preprocessing preset for --video (default real: dlib landmarks)")
    parser.add_argument("--out", type=Path, required=True, help="predictions CSV to write")
    parser.add_argument("--device", default="auto", help="auto (CUDA when present), cpu, cuda, cuda:1 ...")


def video_clips(path: Path, onsets: list[int], apexes: list[int], preset: str, size: int):
    """A ``PreparedSet`` of the (onset, apex) pairs of one video (labels unknown: -1)."""
    import pandas as pd
    import torch

    from emhnet_lite.data.frames import read_video_frames
    from emhnet_lite.dataset import PreparedSet
    from emhnet_lite.errors import ConfigError
    from emhnet_lite.preprocess import PreprocessConfig
    from emhnet_lite.preprocess.pipeline import prepare_frames

    if not onsets or len(onsets) != len(apexes):
        raise ConfigError(f"--video needs as many --apex as --onset values (got {len(onsets)} and {len(apexes)})")
    bad = [(o, a) for o, a in zip(onsets, apexes, strict=True) if a <= o]
    if bad:
        raise ConfigError(f"--apex must come after --onset, got onset {bad[0][0]} apex {bad[0][1]}")
    config = PreprocessConfig.preset(preset, size=size)
    frames = read_video_frames(path, sorted(set(onsets) | set(apexes)))
    samples = [prepare_frames(frames[o], frames[a], config, where=f"{path} frames {o}->{a}")
               for o, a in zip(onsets, apexes, strict=True)]
    table = pd.DataFrame({"dataset": "video", "subject": path.stem, "clip": [f"{path.stem}_{o}_{a}" for o, a in
                                                                              zip(onsets, apexes, strict=True)],
                          "onset": onsets, "apex": apexes,
                          "fallbacks": [";".join(s.info["fallbacks"]) for s in samples]})
    return PreparedSet(table=table, flows=torch.stack([s.flow for s in samples]),
                       boxes=torch.stack([s.boxes for s in samples]),
                       labels=torch.full((len(samples),), -1, dtype=torch.int64))


def run(args: argparse.Namespace) -> int:
    import json

    from emhnet_lite.errors import ConfigError
    from emhnet_lite.runs import RunFolderError
    from emhnet_lite.runs.layout import write_csv_atomic
    from emhnet_lite.teaching import load_data
    from emhnet_lite.train.predict import predict
    from emhnet_lite.utils import resolve_device

    # user errors are KitErrors (one line, exit 2, printed by cli.main); options are checked before any work
    if args.data is not None and (args.onset or args.apex):
        raise ConfigError("--onset/--apex go with --video, not --data")
    device = resolve_device(args.device)
    config_path = args.run / "config.json"
    if not config_path.is_file():
        raise RunFolderError(f"{args.run}: not a run folder (no config.json)")
    if args.data is not None:
        data = load_data(args.data).data
    else:
        size = json.loads(config_path.read_text())["data"]["input_size"][0]
        data = video_clips(args.video, args.onset, args.apex, args.preset, size)
    table = predict(args.run, data, device, labelled=args.data is not None)
    write_csv_atomic(args.out, table)
    shown = [c for c in ("subject", "clip", "true_name", "predicted_name", "prob_negative", "prob_positive",
                         "prob_surprise", "agreement", "n_models") if c in table.columns]
    print(table[shown].to_string(index=False, float_format=lambda v: f"{v:.3f}"))
    if "true" in table.columns:
        hits = int((table["true"] == table["predicted"]).sum())
        print(f"accuracy: {hits}/{len(table)} = {hits / len(table):.3f}")
    print(f"predictions: {args.out}")
    return 0
