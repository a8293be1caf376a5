"""Training and evaluation: schedules, flow-aware augmentation, the trainer, the LOSO runner, run folders."""

from emhnet_lite.train.augment import augment_batch, hflip
from emhnet_lite.train.config import PRESETS, TrainConfig, default_for_model, get_preset
from emhnet_lite.train.loso import LosoConfig, parse_shard, run_loso
from emhnet_lite.train.runfolder import load_checkpoint, load_run, merge_run
from emhnet_lite.train.trainer import evaluate, train_model

__all__ = [
    "PRESETS",
    "TrainConfig",
    "LosoConfig",
    "augment_batch",
    "default_for_model",
    "evaluate",
    "get_preset",
    "hflip",
    "load_checkpoint",
    "load_run",
    "merge_run",
    "parse_shard",
    "run_loso",
    "train_model",
]
