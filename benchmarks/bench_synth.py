"""SynthME budget and texture check: generation time and disk size, and optical-flow accuracy on its faces.

1. Generates SynthME at the teaching scale and at full scale (1.0) into a scratch folder and reports wall
   time, size on disk, clips and frames (budget: full scale <= 2 min and <= 300 MB on this machine).
2. Texture check (DESIGN §4): on rendered SynthME faces with one smooth displacement bump of known
   amplitude (0.5, 1, 2 px) and sensor noise sigma = 1 grey level, the end-point error of TV-L1
   (``cv2.optflow.DualTVL1OpticalFlow``), Farneback and DIS against the exact flow, inside the face box.
   Reference on a real face photo: TV-L1 0.07 / 0.11 / 0.17 px.

    .venv/bin/python benchmarks/bench_synth.py [--skip-full] [--faces 6] [--difficulty easy real]

``--difficulty`` measures each level in the same run (SynthME 2's budget: full scale ``real`` <= 90 s and
<= 1 GB); CPU seconds are reported beside wall time because the machine is shared.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np

from emhnet_lite.synth import TEACHING_SCALE, generate_synthme
from emhnet_lite.synth.faces import render_face, sample_face
from emhnet_lite.synth.motion import ground_truth_flow


def disk_usage_mb(folder: Path) -> float:
    """Size on disk (``du``), in MB."""
    output = subprocess.run(["du", "-sk", str(folder)], capture_output=True, text=True, check=True).stdout
    return round(int(output.split()[0]) / 1024, 1)


def measure_generation(scale: float, scratch: Path, difficulty: str = "easy") -> dict:
    """Wall time, CPU time, disk size, clip and frame counts of one generation."""
    start, cpu = time.perf_counter(), time.process_time()
    roots = generate_synthme(scratch / f"{difficulty}_scale{scale:g}", scale=scale, seed=0, difficulty=difficulty)
    seconds, cpu = time.perf_counter() - start, time.process_time() - cpu
    root = roots["casme2"].parent
    manifest = json.loads((root / "synthme.json").read_text())
    return {"difficulty": difficulty, "scale": scale, "seconds": round(seconds, 1), "cpu_seconds": round(cpu, 1),
            "disk_mb": disk_usage_mb(root),
            "clips": sum(c["clips"] for c in manifest["counts"].values()),
            "frames": sum(c["frames"] for c in manifest["counts"].values())}


def flow_errors(faces: int, amplitudes: tuple[float, ...] = (0.5, 1.0, 2.0)) -> dict:
    """Mean EPE (px, over pixels moving > 0.1 px) and seconds per pair of three flow methods."""
    methods = {
        "tvl1": cv2.optflow.DualTVL1OpticalFlow_create(),
        "farneback": None,
        "dis_medium": cv2.DISOpticalFlow_create(cv2.DISOPTICAL_FLOW_PRESET_MEDIUM),
    }
    results: dict[str, dict[str, list[float]]] = {m: {"epe": [], "seconds": []} for m in methods}
    per_amplitude = {m: {a: [] for a in amplitudes} for m in methods}
    for index in range(faces):
        rng = np.random.default_rng([99, index])
        face = sample_face(rng, 168, 196)
        base = cv2.cvtColor(render_face(face, rng), cv2.COLOR_RGB2GRAY)
        height, width = base.shape
        grid_y, grid_x = np.mgrid[0:height, 0:width].astype(np.float32)
        for amplitude in amplitudes:
            centre = face.landmarks[[48, 54, 21, 22, 30][index % 5]]
            radius = 0.2 * face.interocular
            bump = np.exp(-((grid_x - centre[0]) ** 2 + (grid_y - centre[1]) ** 2) / (2 * radius ** 2))
            direction = np.array([np.cos(index), np.sin(index)], np.float32)
            field_xy = (bump[..., None] * direction * amplitude).astype(np.float32)  # [H, W, 2]
            moved = cv2.remap(base, grid_x - field_xy[..., 0], grid_y - field_xy[..., 1], cv2.INTER_CUBIC,
                              borderMode=cv2.BORDER_REFLECT101)
            noise = np.random.default_rng([7, index]).normal(0, 1.0, (2, height, width))
            first = np.clip(np.round(base + noise[0]), 0, 255).astype(np.uint8)
            second = np.clip(np.round(moved + noise[1]), 0, 255).astype(np.uint8)
            truth = ground_truth_flow(np.zeros_like(field_xy), field_xy)
            x0, y0 = face.landmarks.min(0).astype(int)
            x1, y1 = face.landmarks.max(0).astype(int)
            mask = np.zeros((height, width), bool)
            mask[y0:y1, x0:x1] = True
            mask &= np.linalg.norm(truth, axis=-1) > 0.1
            for name, method in methods.items():
                start = time.perf_counter()
                if name == "farneback":
                    flow = cv2.calcOpticalFlowFarneback(first, second, None, 0.5, 3, 15, 3, 5, 1.2, 0)
                else:
                    flow = method.calc(first, second, None)
                results[name]["seconds"].append(time.perf_counter() - start)
                epe = float(np.linalg.norm(flow - truth, axis=-1)[mask].mean())
                results[name]["epe"].append(epe)
                per_amplitude[name][amplitude].append(epe)
    return {name: {"epe_px_by_amplitude": {f"{a:g}px": round(float(np.mean(v)), 3)
                                           for a, v in per_amplitude[name].items()},
                   "seconds_per_pair": round(float(np.mean(results[name]["seconds"])), 4)}
            for name in methods}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--skip-full", action="store_true", help="only the teaching scale")
    parser.add_argument("--faces", type=int, default=6, help="faces for the flow-accuracy check")
    parser.add_argument("--difficulty", nargs="+", default=["easy"], choices=["easy", "real", "hard"])
    args = parser.parse_args()
    report: dict = {"generation": []}
    with tempfile.TemporaryDirectory() as scratch:
        for difficulty in args.difficulty:
            report["generation"].append(measure_generation(TEACHING_SCALE, Path(scratch), difficulty))
            if not args.skip_full:
                report["generation"].append(measure_generation(1.0, Path(scratch), difficulty))
    report["flow_accuracy_on_synthme_faces"] = flow_errors(args.faces)
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
