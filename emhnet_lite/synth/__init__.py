"""SynthME: synthetic micro-expressions written in the CASME II, SAMM and SMIC-HS release layouts.

``ensure_synthme(root, scale, seed)`` generates (once) and returns the three dataset roots, which the real
readers load unchanged: ``load_composite(**ensure_synthme("../data"))``. ``difficulty="easy"`` (default,
the original generator), ``"real"`` (SynthME 2, calibrated) or ``"hard"``; see docs/data.md.
"""

from __future__ import annotations

from emhnet_lite.synth.config import DIFFICULTIES, SYNTHME_VERSION, SynthConfig
from emhnet_lite.synth.generate import (
    TEACHING_SCALE,
    blinks_at_apex,
    dataset_roots,
    ensure_synthme,
    generate_synthme,
    ground_truth_index,
    read_ground_truth,
    synthme_dirname,
)

__all__ = [
    "DIFFICULTIES", "SYNTHME_VERSION", "TEACHING_SCALE", "SynthConfig", "blinks_at_apex", "dataset_roots", "ensure_synthme", "generate_synthme",
    "ground_truth_index", "read_ground_truth", "synthme_dirname",
]
