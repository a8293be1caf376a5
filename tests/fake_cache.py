"""A small fabricated prepared cache (random inputs in the cache format) for CLI tests that need no real data."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import torch


def write_cache(folder: Path) -> None:
    """A prepared-cache folder (manifest.csv + one .pt per sample) holding random inputs for 4 subjects."""
    generator = torch.Generator().manual_seed(4)
    rows = []
    for subject in ("sub01", "sub02", "sub03", "sub04"):
        for k in range(3):
            clip = f"EP0{k}_01"
            flow = torch.randn(3, 28, 28, generator=generator)  # [3, H, W]
            flow[0] += k - 1.0
            boxes = torch.tensor(
                [[0, 0, 14, 14], [14, 0, 28, 14], [0, 14, 14, 28], [14, 14, 28, 28]], dtype=torch.float32
            )  # [4, 4]
            path = f"casme2_{subject}_{clip}.pt"
            torch.save(
                {
                    "flow": flow,
                    "boxes": boxes,
                    "landmarks": torch.zeros(68, 2),
                    "info": json.dumps({"apex": 1}),
                },
                folder / path,
            )
            rows.append(
                {
                    "dataset": "casme2",
                    "subject": subject,
                    "clip": clip,
                    "label": k,
                    "status": "ok",
                    "landmark_source": "synth",
                    "fallbacks": "",
                    "flow_backend": "farneback",
                    "path": path,
                }
            )
    pd.DataFrame(rows).to_csv(folder / "manifest.csv", index=False)
