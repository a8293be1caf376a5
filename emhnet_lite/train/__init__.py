"""Training and evaluation: schedules, flow-aware augmentation, the trainer, the LOSO runner.

LOSO: ``plan.py`` (settings, folds), ``fold.py`` (one fold), ``loso.py`` (the driver); ``vectorized/`` trains
F folds at once as one fold ensemble. Run folders (writing, merging, reading) are ``emhnet_lite.runs``.
"""

from emhnet_lite.train.augment import augment_batch, hflip
from emhnet_lite.train.config import TRAIN_PRESETS, TrainConfig, default_for_model, get_preset
from emhnet_lite.train.loso import run_loso
from emhnet_lite.train.plan import LosoConfig, parse_shard
from emhnet_lite.train.trainer import evaluate, train_model

__all__ = [
    "TRAIN_PRESETS",
    "TrainConfig",
    "LosoConfig",
    "augment_batch",
    "default_for_model",
    "evaluate",
    "get_preset",
    "hflip",
    "parse_shard",
    "run_loso",
    "train_model",
]
