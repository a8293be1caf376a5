"""SynthME: synthetic micro-expressions written in the CASME II, SAMM and SMIC-HS release layouts.

``ensure_synthme(root, scale, seed)`` generates (once) and returns the three dataset roots, which the real
readers load unchanged: ``load_composite(**ensure_synthme("../data"))``.
"""

from __future__ import annotations

from emhnet_lite.synth.generate import (
    SYNTHME_VERSION,
    TEACHING_SCALE,
    SynthConfig,
    dataset_roots,
    ensure_synthme,
    generate_synthme,
    ground_truth_index,
    read_ground_truth,
    synthme_dirname,
)

__all__ = [
    "SYNTHME_VERSION", "TEACHING_SCALE", "SynthConfig", "dataset_roots", "ensure_synthme", "generate_synthme",
    "ground_truth_index", "read_ground_truth", "synthme_dirname",
]
