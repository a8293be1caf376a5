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
    ``scale=None`` uses SynthME's teaching scale; the cache lives in ``data_root/cache/<config-key>/``
    (SynthME of another scale or seed gets other rows, and samples are keyed by dataset/subject/clip, so
    the cache folder also carries the SynthME folder name).
    """
    from emhnet_lite import synth
    from emhnet_lite.data import load_composite

    root = Path(data_root)
    roots = synth.ensure_synthme(root, scale=synth.TEACHING_SCALE if scale is None else scale, seed=seed)
    table, _ = load_composite(**roots)
    config = config or PreprocessConfig.preset("teaching", size=size)
    cache_dir = root / "cache" / Path(roots["casme2"]).parent.name
    return prepare_dataset(table, config, cache_dir, workers=workers)
