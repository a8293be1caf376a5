"""Preprocessing benchmark on SynthME: full-scale prepare time, per-step cost, flow EPE per backend, apex
error per SMIC policy, and landmark fallback counts. Not a test: numbers vary with machine load, so the
comparisons that matter are ratios measured within one run.

    .venv/bin/python benchmarks/bench_preprocess.py [--data data/bench] [--scale 1.0] [--out runs/bench_preprocess]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import time
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from emhnet_lite.data import load_composite
from emhnet_lite.data.common import middle_frame
from emhnet_lite.data.frames import frame_path, read_frame
from emhnet_lite.preprocess import PreprocessConfig, cache_key, prepare_dataset, write_report
from emhnet_lite.preprocess.align import alignment_matrix, warp_face
from emhnet_lite.preprocess.apex import spot_apex
from emhnet_lite.preprocess.flow import compute_flow, normalize_flow, optical_strain, resize_flow
from emhnet_lite.preprocess.landmarks import detect_dlib, eye_centres, landmarks_from_dlib, synthme_root_of
from emhnet_lite.preprocess.regions import region_boxes
from emhnet_lite.synth import ensure_synthme, read_ground_truth
from emhnet_lite.utils import write_json_atomic


def truth_of(row: pd.Series) -> dict:
    """SynthME ground truth of a composite row."""
    return read_ground_truth(synthme_root_of(row["frame_dir"]), row["dataset"], row["subject"], row["clip"])


def timed(costs: dict[str, float], name: str, function, *args):
    """Call ``function(*args)`` and add its wall time to ``costs[name]``."""
    started = time.perf_counter()
    result = function(*args)
    costs[name] = costs.get(name, 0.0) + time.perf_counter() - started
    return result


def full_prepare(table: pd.DataFrame, cache_dir: Path, config: PreprocessConfig, workers: int) -> dict:
    """Wall time of ``prepare_dataset`` from raw frames into an empty cache folder."""
    folder = cache_dir / cache_key(config)
    shutil.rmtree(folder, ignore_errors=True)
    started = time.perf_counter()
    prepared = prepare_dataset(table, config, cache_dir, workers=workers)
    seconds = time.perf_counter() - started
    return {"samples": len(prepared), "seconds": round(seconds, 2), "workers": workers,
            "report": write_report(folder)}


def step_costs(table: pd.DataFrame, config: PreprocessConfig) -> dict[str, float]:
    """Mean per-sample seconds of each pipeline step, one process, TV-L1 and Farneback both timed."""
    costs: dict[str, float] = {}
    for _, row in table.iterrows():
        onset = timed(costs, "read_frames", read_frame, frame_path(row, row["onset"]))
        apex = timed(costs, "read_frames", read_frame, frame_path(row, row["apex"]))
        truth = timed(costs, "landmarks_synth_truth", truth_of, row)
        timed(costs, "landmarks_dlib", detect_dlib, onset, config.detector_upsample)
        matrix = timed(costs, "align", alignment_matrix, truth["landmarks_onset"], config.crop_size)
        onset_crop = timed(costs, "align", warp_face, onset, matrix, config.crop_size)
        apex_crop = timed(costs, "align", warp_face, apex, matrix, config.crop_size)
        flow = timed(costs, "flow_tvl1", compute_flow, onset_crop, apex_crop, config)
        timed(costs, "flow_farneback", compute_flow, onset_crop, apex_crop,
              PreprocessConfig(flow_backend="farneback"))
        strain = timed(costs, "strain", optical_strain, flow)
        flow3 = timed(costs, "resize_normalize", resize_flow, flow, strain, config.size)
        timed(costs, "resize_normalize", normalize_flow, flow3, config)
        timed(costs, "regions", region_boxes, truth["landmarks_onset"], config.size)
    return {name: round(total / len(table) * 1000, 2) for name, total in sorted(costs.items())}  # ms/sample


def flow_epe(table: pd.DataFrame, backends: dict[str, PreprocessConfig]) -> dict[str, dict[str, float]]:
    """End-point error (px) of each backend against the true onset→apex flow at native resolution.

    Scored inside the landmarks' bounding box (the face); the true motion's mean magnitude is given too.
    """
    errors: dict[str, list[float]] = {name: [] for name in backends}
    seconds = dict.fromkeys(backends, 0.0)
    magnitudes = []
    for _, row in table.iterrows():
        truth = truth_of(row)
        onset = read_frame(frame_path(row, truth["onset"]))
        apex = read_frame(frame_path(row, truth["apex"]))
        x0, y0 = np.floor(truth["landmarks_onset"].min(0)).astype(int)
        x1, y1 = np.ceil(truth["landmarks_onset"].max(0)).astype(int)
        magnitudes.append(float(np.linalg.norm(truth["flow"], axis=-1)[y0:y1, x0:x1].mean()))
        for name, config in backends.items():
            started = time.perf_counter()
            flow = compute_flow(onset, apex, config)  # [H, W, 2]
            seconds[name] += time.perf_counter() - started
            errors[name].append(float(np.linalg.norm(flow - truth["flow"], axis=-1)[y0:y1, x0:x1].mean()))
    result = {name: {"epe_px": round(float(np.mean(values)), 4),
                     "epe_px_median": round(float(np.median(values)), 4),
                     "ms_per_pair": round(seconds[name] / len(table) * 1000, 1)} for name, values in errors.items()}
    result["true_motion_px"] = {"mean_magnitude": round(float(np.mean(magnitudes)), 4)}
    return result


def apex_error(table: pd.DataFrame, config: PreprocessConfig) -> dict[str, float]:
    """Mean absolute frame error vs the true apex on the SMIC clips for each apex policy."""
    smic = table[table["dataset"] == "smic"]
    errors: dict[str, list[int]] = {"middle": [], "spot_flow_aligned": []}
    for _, row in smic.iterrows():
        truth = truth_of(row)
        onset, offset = int(row["onset"]), int(row["offset"])
        errors["middle"].append(abs(middle_frame(onset, offset) - truth["apex"]))
        spotted, _ = spot_apex(lambda n, r=row: read_frame(frame_path(r, n)), onset, offset,
                               truth["landmarks_onset"], config.spot_size)
        errors["spot_flow_aligned"].append(abs(spotted - truth["apex"]))
    result = {name: round(float(np.mean(values)), 2) for name, values in errors.items()}
    result["clips"] = len(smic)
    result["mean_clip_frames"] = round(float((smic["offset"] - smic["onset"] + 1).mean()), 1)
    return result


def landmark_fallbacks(table: pd.DataFrame) -> dict[str, object]:
    """dlib (with the pipeline's fallbacks) on SynthME onset frames: fallback counts and NME (mean point
    error / inter-ocular distance) of the faces found."""
    counts: dict[str, int] = {}
    nme = []
    for _, row in table.iterrows():
        truth = truth_of(row)
        result = landmarks_from_dlib(read_frame(frame_path(row, truth["onset"])))
        for name in result.fallbacks or ["none"]:
            counts[name] = counts.get(name, 0) + 1
        if result.source == "dlib":
            left, right = eye_centres(truth["landmarks_onset"])
            nme.append(float(np.linalg.norm(result.points - truth["landmarks_onset"], axis=1).mean()
                             / np.linalg.norm(right - left)))
    return {"samples": len(table), "fallbacks": counts,
            "nme_interocular": round(float(np.mean(nme)), 4) if nme else None}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=Path("data/bench"))
    parser.add_argument("--scale", type=float, default=1.0)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=Path("runs/bench_preprocess"))
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--step-samples", type=int, default=40, help="samples timed step by step")
    parser.add_argument("--epe-samples", type=int, default=120, help="samples scored for flow EPE")
    args = parser.parse_args()
    torch.set_num_threads(1)
    results: dict[str, object] = {"scale": args.scale, "seed": args.seed, "cores": os.cpu_count()}
    started = time.perf_counter()
    roots = ensure_synthme(args.data, scale=args.scale, seed=args.seed)
    results["synthme_seconds_or_cached"] = round(time.perf_counter() - started, 1)
    table, _ = load_composite(**roots)
    results["composite_samples"] = len(table)
    config = PreprocessConfig()
    every = max(1, len(table) // args.step_samples)
    results["per_step_ms"] = step_costs(table.iloc[::every].head(args.step_samples), config)
    every = max(1, len(table) // args.epe_samples)
    subset = table.iloc[::every].head(args.epe_samples)
    opencv_defaults = PreprocessConfig(tvl1_scales=5, tvl1_warps=5, tvl1_epsilon=0.01, tvl1_inner_iterations=30,
                                       tvl1_outer_iterations=10)  # OpenCV's own TV-L1 defaults, for the ratio
    results["flow_epe_native"] = flow_epe(subset, {"tvl1": config, "tvl1_opencv_defaults": opencv_defaults,
                                                   "farneback": PreprocessConfig(flow_backend="farneback")})
    results["flow_epe_native"]["samples"] = len(subset)
    results["apex_error_frames"] = apex_error(table, config)
    results["dlib_on_synthme"] = landmark_fallbacks(subset)
    cache_dir = args.out / "cache"
    results["prepare_tvl1"] = full_prepare(table, cache_dir, config, args.workers)
    results["prepare_farneback"] = full_prepare(table, cache_dir, PreprocessConfig(flow_backend="farneback"),
                                                args.workers)
    results["tvl1_over_farneback_prepare_time"] = round(
        results["prepare_tvl1"]["seconds"] / results["prepare_farneback"]["seconds"], 2)
    write_json_atomic(args.out / "results.json", results)
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
