"""``load_teaching_set``: the SynthME composite every chapter uses, prepared once and cached."""

from __future__ import annotations

import os
from pathlib import Path

from emhnet_lite.dataset import PreparedSet
from emhnet_lite.preprocess.cache import prepare_dataset
from emhnet_lite.preprocess.config import PreprocessConfig


def load_teaching_set(data_root: str | os.PathLike = "../data", scale: float | None = None, seed: int = 0,
                      size: int = 28, config: PreprocessConfig | None = None,
                      workers: int | None = None) -> PreparedSet:
    """Ensure SynthME under ``data_root``, read it with the real readers, prepare/load the cache.

    Load-if-present: a second call reads the cached ``.pt`` files and returns identical tensors.
    ``scale=None`` uses SynthME's teaching scale.
    """
    from emhnet_lite import synth
    from emhnet_lite.data import load_composite

    root = Path(data_root)
    synth_root = synth.ensure_synthme(root / "synthme", scale=scale, seed=seed)
    composite = load_composite(casme2=synth_root / "CASME2", samm=synth_root / "SAMM", smic=synth_root / "SMIC")
    table = composite[0] if isinstance(composite, tuple) else composite
    config = config or PreprocessConfig.preset("teaching", size=size)
    return prepare_dataset(table, config, root / "cache", workers=workers)
