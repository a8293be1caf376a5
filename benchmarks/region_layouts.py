"""Region layouts measured on a prepared cache: overlap, face coverage, image coverage, nose in the lip boxes.

Both layouts are recomputed from the landmarks stored with every prepared sample (model-input pixels), so one
cache measures both: ``landmark`` (boxes centred on eye+brow / lip-corner landmarks, sides 0.8 / 0.6 x the
inter-ocular distance; the default) and ``quadrant`` (the former half-side boxes).

    .venv/bin/python benchmarks/region_layouts.py data/full/cache/<synthme folder>/<config-key> [--out FILE]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import pandas as pd

from emhnet_lite.preprocess.cache import load_sample_file
from emhnet_lite.preprocess.config import REGION_LAYOUTS
from emhnet_lite.preprocess.regions import layout_statistics, region_boxes
from emhnet_lite.utils import write_json_atomic


def main(argv: list[str] | None = None) -> int:
    """Print one row per layout (means over the cache's samples) and optionally write them as JSON."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("cache", type=Path, help="a prepared cache folder (manifest.csv + .pt files)")
    parser.add_argument("--out", default=None, help="also write the rows as JSON here")
    args = parser.parse_args(argv)
    manifest = pd.read_csv(args.cache / "manifest.csv", dtype={"subject": str, "clip": str})
    ok = manifest[manifest["status"] == "ok"]
    points = np.stack([load_sample_file(args.cache / p)["landmarks"].numpy() for p in ok["path"]])  # [N, 68, 2]
    size = int(load_sample_file(args.cache / ok["path"].iloc[0])["flow"].shape[-1])
    rows = []
    for layout in REGION_LAYOUTS:
        boxes = np.stack([region_boxes(p, size, layout=layout) for p in points])  # [N, 4, 4]
        sides = boxes[:, :, 2] - boxes[:, :, 0]  # [N, 4]
        rows.append({"layout": layout, "samples": len(points), "input": size,
                     "eye_side_px": float(sides[:, :2].mean()), "lip_side_px": float(sides[:, 2:].mean()),
                     **layout_statistics(boxes, points, size)})
    table = pd.DataFrame(rows)
    print(table.to_string(index=False, float_format=lambda v: f"{v:.3f}"))
    if args.out:
        write_json_atomic(args.out, {"cache": str(args.cache), "rows": rows})
    return 0


if __name__ == "__main__":
    sys.exit(main())
