"""dlib on SynthME: faces found and landmark error against the ground truth, per dataset.

For ``--per-dataset`` random clips of each dataset: dlib (``landmarks_from_dlib``, the prepare path) on the
native onset frame, scored against the ground-truth onset landmarks: found rate, normalised mean error over
all 68 points and over the 12 eye points (which set the alignment), in interocular units.

    .venv/bin/python benchmarks/synth_landmarks.py --root DIR [--per-dataset 25] [--out results/x.json]
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import pandas as pd

from emhnet_lite.data import frame_path, load_composite, read_frame
from emhnet_lite.preprocess.landmarks import landmarks_from_dlib
from emhnet_lite.synth import dataset_roots, read_ground_truth
from emhnet_lite.utils import write_json_atomic


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--root", type=Path, required=True, help="a SynthME folder")
    parser.add_argument("--per-dataset", type=int, default=25)
    parser.add_argument("--out", type=Path, default=None, help="also write the summary to this JSON file")
    args = parser.parse_args()
    table, _ = load_composite(**dataset_roots(args.root))
    rows = []
    for dataset, group in table.groupby("dataset"):
        for _, row in group.sample(min(args.per_dataset, len(group)), random_state=0).iterrows():
            truth = read_ground_truth(args.root, dataset, row["subject"], row["clip"])["landmarks_onset"]
            found = landmarks_from_dlib(read_frame(frame_path(row, int(row["onset"]))))
            interocular = float(np.linalg.norm(truth[42:48].mean(0) - truth[36:42].mean(0)))
            error = np.linalg.norm(found.points - truth, axis=1) / interocular  # [68]
            ok = found.source == "dlib"
            rows.append({"dataset": dataset, "found": ok, "nme_68": float(error.mean()) if ok else np.nan,
                         "nme_eyes": float(error[36:48].mean()) if ok else np.nan})
    frame = pd.DataFrame(rows)
    summary = {dataset: {"clips": len(g), "found": round(float(g["found"].mean()), 3),
                         "nme_68_median": round(float(g["nme_68"].median()), 3),
                         "nme_eyes_median": round(float(g["nme_eyes"].median()), 3)}
               for dataset, g in frame.groupby("dataset")}
    config = json.loads((args.root / "synthme.json").read_text())["config"]
    defaults = {"difficulty": "easy", "region_control": False}
    summary = {"synthme": {k: config.get(k, defaults.get(k)) for k in ("difficulty", "scale", "seed", "region_control")},
               **summary}
    print(json.dumps(summary, indent=2))
    if args.out is not None:
        write_json_atomic(args.out, summary)


if __name__ == "__main__":
    main()
