"""Preprocessing: landmarks, face alignment, onset→apex flow + strain, apex spotting, regions, the cache.

Public API: ``PreprocessConfig`` (presets in ``PRESETS``), ``prepare_sample(row, config)``,
``prepare_frames(onset, apex, config)``, ``prepare_dataset(table, config, cache_dir)`` and
``load_teaching_set(data_root)`` (the SynthME set every chapter uses). See ``docs/preprocessing.md``.
"""

from emhnet_lite.preprocess.cache import cache_key, load_prepared, prepare_dataset, write_report
from emhnet_lite.preprocess.config import PRESETS, PreprocessConfig
from emhnet_lite.preprocess.flow import FlowError
from emhnet_lite.preprocess.frames import FrameError
from emhnet_lite.preprocess.landmarks import LandmarkError
from emhnet_lite.preprocess.pipeline import PreparedSample, prepare_frames, prepare_sample
from emhnet_lite.preprocess.teaching import load_teaching_set

__all__ = [
    "PRESETS", "FlowError", "FrameError", "LandmarkError", "PreparedSample", "PreprocessConfig", "cache_key",
    "load_prepared", "load_teaching_set", "prepare_dataset", "prepare_frames", "prepare_sample", "write_report",
]
