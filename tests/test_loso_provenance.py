"""A run on a SynthME cache is labelled synthetic from the cache's recorded provenance, never by a name."""

from __future__ import annotations

import json

import pandas as pd

from emhnet_lite.preprocess.cache import data_provenance, is_synthetic_cache
from emhnet_lite.runs import is_synthetic_source
from emhnet_lite.teaching import cache_source


def _table(*frame_dirs):
    return pd.DataFrame({"dataset": ["casme2", "samm"][: len(frame_dirs)], "frame_dir": [str(d) for d in frame_dirs]})


def test_provenance_finds_the_synthme_marker_above_the_frames(tmp_path):
    synth_root, real_root = tmp_path / "any_name", tmp_path / "real"
    synth_clip = synth_root / "casme2" / "CASME2_RAW_selected" / "sub01" / "EP02_01f"
    real_clip = real_root / "SAMM" / "006" / "006_1_2"
    synth_clip.mkdir(parents=True)
    real_clip.mkdir(parents=True)
    (synth_root / "synthme.json").write_text("{}")
    assert data_provenance(_table(synth_clip))["synthetic"] is True
    assert data_provenance(_table(real_clip))["synthetic"] is False
    mixed = data_provenance(_table(synth_clip, real_clip))
    assert mixed["synthetic"] is False and mixed["synthetic_datasets"] == ["casme2"]


def test_cache_source_names_synthetic_caches_explicitly(tmp_path):
    synthetic, real, old = tmp_path / "tvl1-28-aaa", tmp_path / "tvl1-28-bbb", tmp_path / "tvl1-28-ccc"
    for folder, record in ((synthetic, {"synthetic": True}), (real, {"synthetic": False}), (old, None)):
        folder.mkdir()
        if record is not None:
            (folder / "source.json").write_text(json.dumps(record))
    assert is_synthetic_cache(synthetic) is True and is_synthetic_cache(old) is None
    assert is_synthetic_source(cache_source(synthetic))
    assert not is_synthetic_source(cache_source(real))
    assert "provenance unknown" in cache_source(old)
