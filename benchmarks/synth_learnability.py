"""Is SynthME learnable but not trivial? Linear probes on ground-truth flow under LOSO (pooled UF1/UAR).

Features per clip, from the ground-truth onset->apex flow at native resolution:
- ``regional``: mean (u, v) in the four kit regions (eye+brow boxes, lip-corner boxes from the onset
  landmarks), 8 numbers;
- ``global``: mean (u, v) over the whole face box, 2 numbers (the weak baseline of DESIGN §4).
Classifier: standardised multinomial logistic regression, leave-one-subject-out over the composite's
subjects, predictions pooled over folds. Chance UF1 is about 0.33.

    .venv/bin/python benchmarks/synth_learnability.py [--root DIR] [--scale 1.0] [--seed 0]
        [--difficulty easy|real|hard] [--out results/synth_learnability.json]

``--out`` adds the result (keyed by difficulty and seed) to a JSON file, keeping the other entries.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import numpy as np
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import f1_score, recall_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from emhnet_lite.data import load_composite
from emhnet_lite.synth import dataset_roots, generate_synthme, read_ground_truth
from emhnet_lite.utils import write_json_atomic


def region_boxes(landmarks: np.ndarray) -> list[tuple[int, int, int, int]]:
    """(x0, y0, x1, y1) of left eye+brow, right eye+brow, left lip corner, right lip corner."""
    interocular = float(np.linalg.norm(landmarks[42:48].mean(0) - landmarks[36:42].mean(0)))
    pad = 0.15 * interocular
    boxes = []
    for indices in (list(range(17, 22)) + list(range(36, 42)), list(range(22, 27)) + list(range(42, 48))):
        points = landmarks[indices]
        boxes.append((points[:, 0].min() - pad, points[:, 1].min() - pad, points[:, 0].max() + pad,
                      points[:, 1].max() + pad))
    half = 0.3 * interocular
    for corner in (48, 54):
        x, y = landmarks[corner]
        boxes.append((x - half, y - half, x + half, y + half))
    return [tuple(int(round(v)) for v in box) for box in boxes]


def features(truth: dict) -> tuple[np.ndarray, np.ndarray]:
    """Regional (8) and global (2) mean ground-truth flow of one clip."""
    flow = truth["flow"]  # [H, W, 2]
    regional = []
    for x0, y0, x1, y1 in region_boxes(truth["landmarks_onset"]):
        regional.extend(flow[max(y0, 0):y1, max(x0, 0):x1].reshape(-1, 2).mean(0))
    landmarks = truth["landmarks_onset"]
    x0, y0 = np.floor(landmarks.min(0)).astype(int)
    x1, y1 = np.ceil(landmarks.max(0)).astype(int)
    face = flow[max(y0 - 20, 0):y1, max(x0, 0):x1].reshape(-1, 2).mean(0)
    return np.array(regional), face


def loso_scores(x: np.ndarray, y: np.ndarray, groups: np.ndarray) -> dict[str, float]:
    """Pooled UF1 / UAR of a standardised logistic regression over leave-one-subject-out folds."""
    predictions = np.empty_like(y)
    for subject in np.unique(groups):
        test = groups == subject
        model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000, C=1.0))
        model.fit(x[~test], y[~test])
        predictions[test] = model.predict(x[test])
    return {"uf1": round(float(f1_score(y, predictions, average="macro", labels=[0, 1, 2])), 4),
            "uar": round(float(recall_score(y, predictions, average="macro", labels=[0, 1, 2])), 4)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--root", type=Path, default=None, help="existing SynthME folder (else generate)")
    parser.add_argument("--scale", type=float, default=1.0)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--difficulty", default="easy", choices=["easy", "real", "hard"])
    parser.add_argument("--out", type=Path, default=None, help="JSON file to add this result to")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as scratch:
        root = args.root or Path(scratch) / "synthme"
        if args.root is None:
            generate_synthme(root, scale=args.scale, seed=args.seed, difficulty=args.difficulty)
        start = time.perf_counter()
        table, _ = load_composite(**dataset_roots(root))
        regional, overall = [], []
        for row in table.itertuples():
            region_mean, face_mean = features(read_ground_truth(root, row.dataset, row.subject, row.clip))
            regional.append(region_mean)
            overall.append(face_mean)
        y = table["label"].to_numpy(dtype=np.int64)
        groups = (table["dataset"] + "/" + table["subject"]).to_numpy()
        result = {"samples": len(table), "subjects": int(len(np.unique(groups))),
                  "regional_mean_flow": loso_scores(np.array(regional), y, groups),
                  "global_mean_flow": loso_scores(np.array(overall), y, groups),
                  "majority_class_uf1": round(float(f1_score(y, np.zeros_like(y), average="macro",
                                                             labels=[0, 1, 2])), 4),
                  "seconds": round(time.perf_counter() - start, 1)}
        manifest = json.loads((root / "synthme.json").read_text())["config"]
        result = {"difficulty": manifest.get("difficulty", "easy"),
                  "region_control": manifest.get("region_control", False), "scale": manifest["scale"],
                  "seed": manifest["seed"], **result}
    print(json.dumps(result, indent=2))
    if args.out is not None:
        entries = json.loads(args.out.read_text()) if args.out.is_file() else {}
        level = result["difficulty"] + ("_rc" if result["region_control"] else "")
        entries[f"{level}_scale{result['scale']:g}_seed{result['seed']}"] = result
        write_json_atomic(args.out, dict(sorted(entries.items())))


if __name__ == "__main__":
    main()
