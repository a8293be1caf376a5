"""Fold-vectorized LOSO: a shard's folds — of one run or of several (training seeds) — in even chunks, each
chunk trained at once as one fold ensemble."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from emhnet_lite.dataset import PreparedSet
from emhnet_lite.runs.layout import fold_dir_name
from emhnet_lite.train.fold import FoldRecorder
from emhnet_lite.train.plan import LosoConfig, ModelFactory, plan_fold
from emhnet_lite.train.trainer import EpochRecord
from emhnet_lite.utils import seed_everything


@dataclass(frozen=True)
class Member:
    """One fold of one LOSO run: the run's config, the fold index and the run folder it is written to."""

    config: LosoConfig
    fold: int
    out: Path


def run_members_vectorized(
    data: PreparedSet,
    members: list[Member],
    *,
    device: torch.device,
    model_factory: ModelFactory,
    shard: str = "1/1",
    on_epoch: Callable[[int, EpochRecord], None] | None = None,
) -> list[dict[str, Any]]:
    """Train ``members`` — folds of one or several runs (e.g. training seeds) of one architecture and schedule —
    at once as one fold ensemble (``train/vectorized/trainer.py``) and write each fold's folder into its run.

    Each member is seeded, split, shuffled, augmented, optimised and selected exactly as ``run_fold`` does for
    its run's config; the folders are those ``run_fold`` writes, plus ``vectorized_folds`` (the ensemble
    size) in fold.json. Seeds are folds too: which run a member belongs to changes nothing in its training.
    """
    from emhnet_lite.train.vectorized.trainer import FoldJob, train_folds

    shared = {(m.config.model, json.dumps(m.config.model_kwargs(), sort_keys=True, default=str), m.config.train)
              for m in members}
    if len(shared) != 1:
        raise ValueError(f"run_members_vectorized: members differ in model or schedule ({len(shared)} kinds); "
                         "an ensemble trains one architecture with one schedule")
    started = time.perf_counter()
    plans = [plan_fold(data, m.fold, m.config) for m in members]
    recorders = [FoldRecorder(plan, m.config, on_epoch) for plan, m in zip(plans, members, strict=True)]
    models = []
    for plan, member in zip(plans, members, strict=True):
        seed_everything(plan.seed)  # the same initial weights as run_fold
        models.append(model_factory(member.config.model, **member.config.model_kwargs()))
    jobs = [
        FoldJob(seed=plan.seed, train=plan.train, eval_sets=plan.eval_sets, on_epoch=recorder, source=data,
                rows=torch.from_numpy(plan.train_rows))
        for plan, recorder in zip(plans, recorders, strict=True)
    ]
    runs = len({m.out for m in members})
    desc = f"{len(members)} folds at once" + (
        f" of {runs} runs" if runs > 1 else f" ({members[0].fold}–{members[-1].fold})")
    train_folds(models, jobs, members[0].config.train, device=device, desc=desc)
    wall = (time.perf_counter() - started) / len(members)
    return [
        recorder.write(
            member.out / "folds" / fold_dir_name(plan.fold, plan.subject_key),
            device=device,
            shard=shard,
            wall_time_s=wall,
            extra={"vectorized_folds": len(members)},
        )
        for plan, recorder, member in zip(plans, recorders, members, strict=True)
    ]


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
    """Train ``folds`` of one run at once as one fold ensemble (``run_members_vectorized``)."""
    return run_members_vectorized(data, [Member(config, fold, Path(out)) for fold in folds], device=device,
                                  model_factory=model_factory, shard=shard, on_epoch=on_epoch)


def even_chunks(folds: list, most: int) -> list[list]:
    """Split ``folds``, in order, into the fewest chunks of at most ``most`` whose sizes differ by at most one
    (34 folds at most 8 → 7, 7, 6, 7, 7 rather than 8, 8, 8, 8, 2: no small, inefficient last ensemble)."""
    count = -(-len(folds) // most) if folds else 0
    bounds = [round(i * len(folds) / count) for i in range(count + 1)] if count else [0]
    return [folds[bounds[i] : bounds[i + 1]] for i in range(count)]
