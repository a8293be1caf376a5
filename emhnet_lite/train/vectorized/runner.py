"""Fold-vectorized LOSO: a shard's folds in even chunks, each chunk trained at once as one fold ensemble."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

from emhnet_lite.dataset import PreparedSet
from emhnet_lite.runs.layout import fold_dir_name
from emhnet_lite.train.fold import FoldRecorder
from emhnet_lite.train.plan import LosoConfig, ModelFactory, plan_fold
from emhnet_lite.train.trainer import EpochRecord
from emhnet_lite.utils import seed_everything


def run_folds_vectorized(
    data: PreparedSet,
    folds: list[int],
    config: LosoConfig,
    out: Path,
    *,
    device: torch.device,
    model_factory: ModelFactory,
    shard: str = "1/1",
    on_epoch: Callable[[int, EpochRecord], None] | None = None,
) -> list[dict[str, Any]]:
    """Train ``folds`` at once as one fold ensemble (``train/vectorized/trainer.py``) and write each fold's folder.

    Each fold is seeded, split, shuffled, augmented, optimised and selected exactly as in ``run_fold``; the
    folders are those ``run_fold`` writes, plus ``vectorized_folds`` (the ensemble size) in fold_done.json.
    """
    from emhnet_lite.train.vectorized.trainer import FoldJob, train_folds

    started = time.perf_counter()
    plans = [plan_fold(data, fold, config) for fold in folds]
    recorders = [FoldRecorder(plan, config, on_epoch) for plan in plans]
    models = []
    for plan in plans:
        seed_everything(plan.seed)  # the same initial weights as run_fold
        models.append(model_factory(config.model, **config.model_overrides))
    jobs = [
        FoldJob(seed=plan.seed, train=plan.train, eval_sets=plan.eval_sets, on_epoch=recorder)
        for plan, recorder in zip(plans, recorders, strict=True)
    ]
    train_folds(models, jobs, config.train, device=device, desc=f"folds {folds[0]}–{folds[-1]} ({len(folds)})")
    wall = (time.perf_counter() - started) / len(folds)
    return [
        recorder.write(
            out / "folds" / fold_dir_name(plan.fold, plan.subject_key),
            device=device,
            shard=shard,
            wall_time_s=wall,
            extra={"vectorized_folds": len(folds)},
        )
        for plan, recorder in zip(plans, recorders, strict=True)
    ]


def even_chunks(folds: list[int], most: int) -> list[list[int]]:
    """Split ``folds``, in order, into the fewest chunks of at most ``most`` whose sizes differ by at most one
    (34 folds at most 8 → 7, 7, 6, 7, 7 rather than 8, 8, 8, 8, 2: no small, inefficient last ensemble)."""
    count = -(-len(folds) // most) if folds else 0
    bounds = [round(i * len(folds) / count) for i in range(count + 1)] if count else [0]
    return [folds[bounds[i] : bounds[i + 1]] for i in range(count)]
