"""Preprocessing: landmarks, face alignment, onset→apex flow + strain, apex spotting, regions, the cache.

Public API: ``PreprocessConfig`` (presets in ``PREPROCESS_PRESETS``), ``prepare_sample(row, config)``,
``prepare_frames(onset, apex, config)`` and ``prepare_dataset(table, config, cache_dir)``; the SynthME set
every chapter uses is ``emhnet_lite.teaching.load_teaching_set``. See ``docs/preprocessing.md``.
"""

from emhnet_lite.data.frames import FrameError
from emhnet_lite.preprocess.cache import CacheError, cache_key, load_prepared, prepare_dataset, write_report
from emhnet_lite.preprocess.config import PREPROCESS_PRESETS, PreprocessConfig
from emhnet_lite.preprocess.flow import FlowError
from emhnet_lite.preprocess.landmarks import LandmarkError
from emhnet_lite.preprocess.pipeline import PreparedSample, prepare_frames, prepare_sample

__all__ = [
    "PREPROCESS_PRESETS", "CacheError", "FlowError", "FrameError", "LandmarkError", "PreparedSample",
    "PreprocessConfig",
    "cache_key", "load_prepared", "prepare_dataset", "prepare_frames", "prepare_sample", "write_report",
]
