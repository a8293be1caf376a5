"""A LOSO experiment's settings and its folds: ``LosoConfig``, shards, the per-fold train/val/test split.

``resolved_config`` is what a run folder's ``config.json`` records: settings plus the identity of the data
and of the model's seeded initial weights, so a resumed run or another shard must match it.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from torch import nn

from emhnet_lite.dataset import PreparedSet, data_fingerprint
from emhnet_lite.errors import ConfigError
from emhnet_lite.runs.layout import SELECTIONS
from emhnet_lite.train.config import TrainConfig

ModelFactory = Callable[..., nn.Module]


@dataclass
class LosoConfig:
    """A LOSO experiment: model, schedule, epoch-selection mode, base seed."""

    model: str = "emhnet_tiny"
    train: TrainConfig = field(default_factory=TrainConfig)
    selection: str = "last"  # last | val | oracle (oracle = test-set-selected, leaky; see docs/run_folder.md)
    seed: int = 0  # fold k uses seed + k
    val_subjects: int = 4  # validation subjects drawn from the fold's training subjects (selection="val")
    model_overrides: dict[str, Any] = field(default_factory=dict)
    ablation: str = "full"  # a named EMHNet ablation (emhnet_lite.model.ABLATIONS), recorded in config.json

    def __post_init__(self) -> None:
        from emhnet_lite.model import ABLATIONS

        if self.ablation not in ABLATIONS:
            raise ConfigError(f"LosoConfig.ablation={self.ablation!r}; expected one of {list(ABLATIONS)}")
        if self.selection not in SELECTIONS:
            raise ConfigError(f"LosoConfig.selection={self.selection!r}; expected one of {SELECTIONS}")
        if self.selection == "val" and self.val_subjects < 1:
            raise ConfigError("--val-subjects must be ≥ 1 for --select val (LosoConfig.val_subjects)")

    def check_subjects(self, n_subjects: int) -> None:
        """Refuse data this config cannot split, before anything is written (a fold trains on n - 1 subjects)."""
        if n_subjects < 2:
            raise ConfigError(f"LOSO needs at least 2 subjects, got {n_subjects}")
        if self.selection == "val" and self.val_subjects >= n_subjects - 1:
            raise ConfigError(f"--val-subjects {self.val_subjects}: each fold has only {n_subjects - 1} training "
                              f"subjects; use at most {n_subjects - 2}")

    def model_kwargs(self) -> dict[str, Any]:
        """Keyword arguments of the model factory: the overrides, plus the ablation when it is not ``full``."""
        return self.model_overrides if self.ablation == "full" else {**self.model_overrides, "ablation": self.ablation}


def parse_shard(text: str) -> tuple[int, int]:
    """``"K/N"`` → (K, N) with 1 ≤ K ≤ N; fold i belongs to shard (i mod N) + 1."""
    try:
        k, n = (int(part) for part in text.split("/"))
    except ValueError:
        raise ConfigError(f"--shard {text!r}: expected K/N, e.g. 2/4") from None
    if not 1 <= k <= n:
        raise ConfigError(f"--shard {text!r}: need 1 ≤ K ≤ N")
    return k, n


def default_model_factory(name: str, **overrides: Any) -> nn.Module:
    """``emhnet_lite.model.build_model`` (imported lazily)."""
    from emhnet_lite.model import build_model

    return build_model(name, num_classes=3, **overrides)


def model_fingerprint(factory: ModelFactory, config: LosoConfig) -> dict[str, Any]:
    """Parameter count and a hash of the seeded initial weights: a changed architecture changes it."""
    state = torch.random.get_rng_state()
    try:
        torch.manual_seed(config.seed)
        model = factory(config.model, **config.model_kwargs())
    finally:
        torch.random.set_rng_state(state)
    digest = hashlib.sha256()
    for key, value in model.state_dict().items():
        digest.update(key.encode())
        digest.update(value.detach().cpu().contiguous().numpy().tobytes())
    return {"parameters": sum(p.numel() for p in model.parameters()), "init_sha256": digest.hexdigest()[:16]}


def resolved_config(
    config: LosoConfig, data: PreparedSet, data_source: str, model_factory: ModelFactory | None = None
) -> dict[str, Any]:
    """The JSON written to ``config.json`` (settings + data and model identity, no machine details)."""
    return {
        "model": config.model,
        "model_overrides": config.model_overrides,
        "ablation": config.ablation,
        "model_fingerprint": model_fingerprint(model_factory or default_model_factory, config),
        "train": config.train.as_dict(),
        "selection": config.selection,
        "seed": config.seed,
        "val_subjects": config.val_subjects,
        "data": {
            "source": data_source,
            "n_samples": len(data),
            "n_subjects": len(data.subjects),
            "subjects": data.subjects,
            "input_size": list(data.flows.shape[-2:]),
            "fingerprint": data_fingerprint(data),
        },
    }


@dataclass
class FoldPlan:
    """Who is trained and tested in one fold: test subject, seed, and the train/val/test subsets."""

    fold: int
    subject_key: str
    seed: int
    train: PreparedSet
    test: PreparedSet
    val: PreparedSet | None
    val_subjects: list[str]
    train_rows: np.ndarray | None = None  # rows of the full data set that ``train`` holds, in order

    @property
    def eval_sets(self) -> dict[str, PreparedSet]:
        return {"test": self.test} | ({"val": self.val} if self.val is not None else {})


def plan_fold(data: PreparedSet, fold: int, config: LosoConfig) -> FoldPlan:
    """Split ``data`` for fold ``fold`` (test subject = ``data.subjects[fold]``, seed = base seed + fold)."""
    subject_key = data.subjects[fold]
    seed = config.seed + fold
    keys = np.asarray(data.subject_keys)
    test_mask = keys == subject_key
    train_subjects = sorted(set(keys[~test_mask]))
    val_subjects: list[str] = []
    if config.selection == "val":
        if config.val_subjects >= len(train_subjects):
            raise ConfigError(
                f"fold {fold}: val_subjects={config.val_subjects} but only "
                f"{len(train_subjects)} training subjects"
            )
        rng = np.random.default_rng(seed)
        val_subjects = sorted(rng.choice(train_subjects, size=config.val_subjects, replace=False).tolist())
    val_mask = np.isin(keys, val_subjects)
    return FoldPlan(
        fold=fold,
        subject_key=subject_key,
        seed=seed,
        train=data.subset(~test_mask & ~val_mask),
        test=data.subset(test_mask),
        val=data.subset(val_mask) if val_subjects else None,
        val_subjects=val_subjects,
        train_rows=np.flatnonzero(~test_mask & ~val_mask),
    )
