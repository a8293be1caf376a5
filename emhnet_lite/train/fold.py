"""One LOSO fold: train a fresh model, track the last / val / oracle epochs, write the fold folder."""

from __future__ import annotations

import platform
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
from torch import nn

from emhnet_lite import metrics
from emhnet_lite.dataset import PreparedSet
from emhnet_lite.runs.layout import FOLD_DONE, GATE_COLUMNS, PROB_COLUMNS, save_checkpoint, write_csv_atomic
from emhnet_lite.train.plan import FoldPlan, LosoConfig, ModelFactory, plan_fold
from emhnet_lite.train.trainer import EpochRecord, EvalOutput, accuracy, state_dict_cpu, train_model
from emhnet_lite.utils import seed_everything, write_json_atomic


def _epoch_rows(record: EpochRecord, output: EvalOutput, test: PreparedSet) -> pd.DataFrame:
    """One row per test sample for ``test_epochs.csv``."""
    rows = test.table[["dataset", "subject", "clip"]].astype(str).copy()
    rows.insert(0, "epoch", record.epoch)
    rows["true"] = test.labels.numpy()
    rows["predicted"] = output.predicted.numpy()
    for i, column in enumerate(PROB_COLUMNS):
        rows[column] = output.probs[:, i].numpy()
    if output.region_weights is not None:
        for i, column in enumerate(GATE_COLUMNS):
            rows[column] = output.region_weights[:, i].numpy()
    if output.scale_weights is not None:
        scales = output.scale_weights
        if scales.ndim == 2:  # [N, S]
            for i in range(scales.shape[1]):
                rows[f"scale_{i}"] = scales[:, i].numpy()
        else:  # [N, 4, S] per region
            for r, region in enumerate(GATE_COLUMNS):
                for i in range(scales.shape[-1]):
                    rows[f"scale_{region.removeprefix('gate_')}_{i}"] = scales[:, r, i].numpy()
    return rows


class _Selector:
    """Tracks the last, val and oracle epochs during training and keeps the primary one's weights."""

    def __init__(self, primary: str, test: PreparedSet, val: PreparedSet | None) -> None:
        self.primary, self.test, self.val = primary, test, val
        self.epoch = {"last": None, "oracle": None, "val": None}
        self.best_oracle: float = -1.0
        self.best_val: tuple[float, float] | None = None
        self.weights: dict[str, torch.Tensor] | None = None

    def __call__(self, record: EpochRecord, model: nn.Module) -> None:
        changed = {"last"}
        self.epoch["last"] = record.epoch
        test_acc = accuracy(record.evals["test"], self.test.labels)
        if test_acc >= self.best_oracle:  # ties → later epoch, as HTNet
            self.best_oracle, self.epoch["oracle"] = test_acc, record.epoch
            changed.add("oracle")
        if self.val is not None:
            output = record.evals["val"]
            val_uf1 = metrics.scores(self.val.labels.numpy(), output.predicted.numpy()).uf1
            key = (-1.0 if np.isnan(val_uf1) else val_uf1, -output.loss)  # NaN (no class defined) ranks last
            if self.best_val is None or key > self.best_val:  # ties → earlier epoch
                self.best_val, self.epoch["val"] = key, record.epoch
                changed.add("val")
        if self.primary in changed:
            self.weights = state_dict_cpu(model)


class FoldRecorder:
    """Collects one fold's per-epoch history, test rows and selected weights; writes the fold folder."""

    def __init__(
        self, plan: FoldPlan, config: LosoConfig, on_epoch: Callable[[int, EpochRecord], None] | None = None
    ) -> None:
        self.plan, self.config, self.on_epoch = plan, config, on_epoch
        self.selector = _Selector(config.selection, plan.test, plan.val)
        self.epoch_frames: list[pd.DataFrame] = []
        self.history: list[dict[str, Any]] = []

    def __call__(self, record: EpochRecord, trained: nn.Module) -> None:
        """After every epoch: track selections, keep the test rows and the history row."""
        plan = self.plan
        self.selector(record, trained)
        test_out = record.evals["test"]
        self.epoch_frames.append(_epoch_rows(record, test_out, plan.test))
        row = {
            "fold": plan.fold,
            "dataset": plan.subject_key.split("/")[0],
            "subject": plan.subject_key.split("/", 1)[1],
            "epoch": record.epoch,
            "lr": record.lr,
            "train_loss": record.train_loss,
            "train_acc": record.train_acc,
            "aux_loss": record.aux_loss,
            "val_loss": np.nan,
            "val_acc": np.nan,
            "val_uf1": np.nan,
            "test_loss": test_out.loss,
            "test_acc": accuracy(test_out, plan.test.labels),
        }
        if plan.val is not None:
            val_out = record.evals["val"]
            row.update(
                val_loss=val_out.loss,
                val_acc=accuracy(val_out, plan.val.labels),
                val_uf1=metrics.scores(plan.val.labels.numpy(), val_out.predicted.numpy()).uf1,
            )
        self.history.append(row)
        if self.on_epoch is not None:
            self.on_epoch(plan.fold, record)

    def write(self, fold_dir: Path, *, device: torch.device, shard: str, wall_time_s: float,
              extra: dict[str, Any] | None = None) -> dict[str, Any]:
        """Write checkpoint, history, test epochs and (last, marking the fold finished) ``fold_done.json``."""
        plan, config, selector = self.plan, self.config, self.selector
        fold_dir.mkdir(parents=True, exist_ok=True)
        save_checkpoint(
            fold_dir / "checkpoint.pt",
            selector.weights,
            epoch=selector.epoch[config.selection],
            selection=config.selection,
            model=config.model,
            fold=plan.fold,
            subject=plan.subject_key,
            test_set_selected=config.selection == "oracle",
        )
        write_csv_atomic(fold_dir / "history.csv", pd.DataFrame(self.history))
        write_csv_atomic(fold_dir / "test_epochs.csv", pd.concat(self.epoch_frames, ignore_index=True))
        info = {
            "fold": plan.fold,
            "dataset": plan.subject_key.split("/")[0],
            "subject": plan.subject_key.split("/", 1)[1],
            "seed": plan.seed,
            "n_train": len(plan.train),
            "n_val": 0 if plan.val is None else len(plan.val),
            "n_test": len(plan.test),
            "val_subjects": plan.val_subjects,
            "epochs": config.train.epochs,
            "selected_epoch": {k: v for k, v in selector.epoch.items() if v is not None},
            "primary_selection": config.selection,
            "wall_time_s": round(wall_time_s, 3),
            "device": str(device),
            "torch_threads": torch.get_num_threads(),
            "shard": shard,
            "host": platform.node(),
            "finished_utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            **(extra or {}),
        }
        write_json_atomic(fold_dir / FOLD_DONE, info)  # last: marks the fold finished
        return info


def run_fold(
    data: PreparedSet,
    fold: int,
    config: LosoConfig,
    fold_dir: Path,
    *,
    device: torch.device,
    model_factory: ModelFactory,
    shard: str = "1/1",
    on_epoch: Callable[[int, EpochRecord], None] | None = None,
) -> dict[str, Any]:
    """Train and evaluate fold ``fold`` (test subject = ``data.subjects[fold]``) and write its folder."""
    started = time.perf_counter()
    plan = plan_fold(data, fold, config)
    seed_everything(plan.seed)
    model = model_factory(config.model, **config.model_kwargs())
    recorder = FoldRecorder(plan, config, on_epoch)
    train_model(
        model,
        plan.train,
        config.train,
        seed=plan.seed,
        device=device,
        eval_sets=plan.eval_sets,
        on_epoch=recorder,
        desc=f"fold {fold} {plan.subject_key}",
    )
    return recorder.write(fold_dir, device=device, shard=shard, wall_time_s=time.perf_counter() - started)
