"""Leave-one-subject-out runner: one fresh model per subject, resumable, shardable, leak-free by default."""

from __future__ import annotations

import hashlib
import json
import platform
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
from torch import nn

from emhnet_lite import metrics
from emhnet_lite.dataset import PreparedSet
from emhnet_lite.progress import progress
from emhnet_lite.train import runfolder
from emhnet_lite.train.config import SELECTIONS, TrainConfig, default_for_model
from emhnet_lite.train.trainer import EpochRecord, EvalOutput, accuracy, state_dict_cpu, train_model
from emhnet_lite.utils import keep_freed_memory, resolve_device, seed_everything, write_json_atomic

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

    def __post_init__(self) -> None:
        if self.selection not in SELECTIONS:
            raise ValueError(f"LosoConfig.selection={self.selection!r}; expected one of {SELECTIONS}")
        if self.selection == "val" and self.val_subjects < 1:
            raise ValueError("LosoConfig.val_subjects must be ≥ 1 for selection='val'")

    @classmethod
    def for_model(cls, model: str, preset: str | None = None, **kwargs: Any) -> LosoConfig:
        """Config with the model's default schedule (or the named preset)."""
        from emhnet_lite.train.config import get_preset

        train = get_preset(preset) if preset else default_for_model(model)
        return cls(model=model, train=train, **kwargs)


def parse_shard(text: str) -> tuple[int, int]:
    """``"K/N"`` → (K, N) with 1 ≤ K ≤ N; fold i belongs to shard (i mod N) + 1."""
    try:
        k, n = (int(part) for part in text.split("/"))
    except ValueError:
        raise ValueError(f"--shard {text!r}: expected K/N, e.g. 2/4") from None
    if not 1 <= k <= n:
        raise ValueError(f"--shard {text!r}: need 1 ≤ K ≤ N")
    return k, n


def data_fingerprint(data: PreparedSet) -> str:
    """sha256 of flows, boxes, labels and sample ids: a resumed run or shard must see the same data."""
    digest = hashlib.sha256()
    for tensor in (data.flows, data.boxes, data.labels):
        digest.update(tensor.detach().cpu().contiguous().numpy().tobytes())
    ids = data.table[["dataset", "subject", "clip"]].astype(str).agg("/".join, axis=1)
    digest.update("\n".join(ids).encode())
    return digest.hexdigest()


def default_model_factory(name: str, **overrides: Any) -> nn.Module:
    """``emhnet_lite.model.build_model`` (imported lazily)."""
    from emhnet_lite.model import build_model

    return build_model(name, num_classes=3, **overrides)


def model_fingerprint(factory: ModelFactory, config: LosoConfig) -> dict[str, Any]:
    """Parameter count and a hash of the seeded initial weights: a changed architecture changes it."""
    state = torch.random.get_rng_state()
    try:
        torch.manual_seed(config.seed)
        model = factory(config.model, **config.model_overrides)
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


def _epoch_rows(record: EpochRecord, output: EvalOutput, test: PreparedSet) -> pd.DataFrame:
    """One row per test sample for ``test_epochs.csv``."""
    rows = test.table[["dataset", "subject", "clip"]].astype(str).copy()
    rows.insert(0, "epoch", record.epoch)
    rows["true"] = test.labels.numpy()
    rows["predicted"] = output.predicted.numpy()
    for i, column in enumerate(runfolder.PROB_COLUMNS):
        rows[column] = output.probs[:, i].numpy()
    if output.region_weights is not None:
        for i, column in enumerate(runfolder.GATE_COLUMNS):
            rows[column] = output.region_weights[:, i].numpy()
    if output.scale_weights is not None:
        scales = output.scale_weights
        if scales.ndim == 2:  # [N, S]
            for i in range(scales.shape[1]):
                rows[f"scale_{i}"] = scales[:, i].numpy()
        else:  # [N, 4, S] per region
            for r, region in enumerate(runfolder.GATE_COLUMNS):
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
            raise ValueError(
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
    )


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
        runfolder.save_checkpoint(
            fold_dir / "checkpoint.pt",
            selector.weights,
            epoch=selector.epoch[config.selection],
            selection=config.selection,
            model=config.model,
            fold=plan.fold,
            subject=plan.subject_key,
            test_set_selected=config.selection == "oracle",
        )
        runfolder.write_csv_atomic(fold_dir / "history.csv", pd.DataFrame(self.history))
        runfolder.write_csv_atomic(fold_dir / "test_epochs.csv", pd.concat(self.epoch_frames, ignore_index=True))
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
        write_json_atomic(fold_dir / runfolder.FOLD_DONE, info)  # last: marks the fold finished
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
    model = model_factory(config.model, **config.model_overrides)
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
    """Train ``folds`` at once as one fold ensemble (``train/vectorized.py``) and write each fold's folder.

    Each fold is seeded, split, shuffled, augmented, optimised and selected exactly as in ``run_fold``; the
    folders are those ``run_fold`` writes, plus ``vectorized_folds`` (the ensemble size) in fold_done.json.
    """
    from emhnet_lite.train.vectorized import FoldJob, train_folds

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
            out / "folds" / runfolder.fold_dir_name(plan.fold, plan.subject_key),
            device=device,
            shard=shard,
            wall_time_s=wall,
            extra={"vectorized_folds": len(folds)},
        )
        for plan, recorder in zip(plans, recorders, strict=True)
    ]


def run_loso(
    data: PreparedSet,
    config: LosoConfig,
    out: str | Path,
    *,
    shard: tuple[int, int] = (1, 1),
    resume: bool = False,
    device: str = "auto",
    data_source: str = "",
    model_factory: ModelFactory | None = None,
    merge: bool = True,
    threads: int | None = None,
    on_config_mismatch: str = "error",
    on_epoch: Callable[[int, EpochRecord], None] | None = None,
    vectorize_folds: int = 1,
) -> dict[str, Any] | None:
    """Run (this shard's share of) the LOSO folds into ``out`` and merge when the run is complete.

    ``vectorize_folds`` F > 1 trains the folds F at a time as one batched fold ensemble (same seeds, same
    run folder; predictions equal fold-by-fold training up to float rounding, see docs/run_folder.md).

    Folds already finished in ``out`` are skipped when ``resume``; otherwise finding any is an error.
    A folder holding a run with other settings, data or model is an error, or with
    ``on_config_mismatch="archive"`` is moved aside (kept) and replaced. ``threads`` sets torch's CPU
    threads for the run (restored after); 1 makes CPU results independent of the machine's core count.
    Returns the merged ``metrics.json``, or None while other shards' folds are missing.
    """
    keep_freed_memory()  # reuse freed activation memory: fewer page faults, same results
    previous_threads = torch.get_num_threads()
    if threads is not None:
        torch.set_num_threads(threads)
    try:
        return _run_loso(
            data,
            config,
            out,
            shard=shard,
            resume=resume,
            device=device,
            data_source=data_source,
            model_factory=model_factory,
            merge=merge,
            on_epoch=on_epoch,
            on_config_mismatch=on_config_mismatch,
            vectorize_folds=vectorize_folds,
        )
    finally:
        torch.set_num_threads(previous_threads)


def _run_loso(
    data: PreparedSet,
    config: LosoConfig,
    out: str | Path,
    *,
    shard: tuple[int, int],
    resume: bool,
    device: str,
    data_source: str,
    model_factory: ModelFactory | None,
    merge: bool,
    on_epoch: Callable[[int, EpochRecord], None] | None,
    on_config_mismatch: str,
    vectorize_folds: int = 1,
) -> dict[str, Any] | None:
    """``run_loso`` without the thread handling."""
    if vectorize_folds < 1:
        raise ValueError(f"vectorize_folds must be ≥ 1, got {vectorize_folds}")
    started = time.perf_counter()
    out = Path(out)
    torch_device = resolve_device(device)
    factory = model_factory or default_model_factory
    subjects = data.subjects
    if len(subjects) < 2:
        raise ValueError(f"LOSO needs at least 2 subjects, got {len(subjects)}")
    runfolder.write_or_check_config(
        out, resolved_config(config, data, data_source, factory), on_config_mismatch
    )
    k, n = shard
    mine = [fold for fold in range(len(subjects)) if fold % n == k - 1]
    done = [
        fold
        for fold in mine
        if runfolder.fold_is_done(out / "folds" / runfolder.fold_dir_name(fold, subjects[fold]))
    ]
    if done and not resume:
        raise FileExistsError(
            f"{out}: {len(done)} fold(s) of this shard already finished; pass resume=True "
            "(--resume) to continue, or use a new output folder"
        )
    todo = [fold for fold in mine if fold not in done]
    if vectorize_folds > 1:
        chunks = even_chunks(todo, vectorize_folds)
        for chunk in progress(chunks, desc=f"LOSO {config.model} shard {k}/{n}, {vectorize_folds} folds at once"):
            run_folds_vectorized(
                data, chunk, config, out, device=torch_device, model_factory=factory, shard=f"{k}/{n}",
                on_epoch=on_epoch,
            )
    else:
        for fold in progress(todo, desc=f"LOSO {config.model} shard {k}/{n}"):
            fold_dir = out / "folds" / runfolder.fold_dir_name(fold, subjects[fold])
            run_fold(
                data, fold, config, fold_dir, device=torch_device, model_factory=factory, shard=f"{k}/{n}",
                on_epoch=on_epoch,
            )
    if not merge:
        return None
    all_done = all(
        runfolder.fold_is_done(out / "folds" / runfolder.fold_dir_name(i, s)) for i, s in enumerate(subjects)
    )
    if not all_done:
        return None
    elapsed = time.perf_counter() - started if n == 1 and todo else None  # only a process that trained
    return runfolder.merge_run(out, process_wall_time_s=elapsed)


def even_chunks(folds: list[int], most: int) -> list[list[int]]:
    """Split ``folds`` into the fewest chunks of at most ``most``, with sizes differing by at most one
    (34 folds at most 8 → 7, 7, 7, 7, 6 rather than 8, 8, 8, 8, 2: no small, inefficient last ensemble)."""
    count = -(-len(folds) // most) if folds else 0
    bounds = [round(i * len(folds) / count) for i in range(count + 1)] if count else [0]
    return [folds[bounds[i] : bounds[i + 1]] for i in range(count)]


def config_from_json(path: str | Path) -> LosoConfig:
    """Rebuild the ``LosoConfig`` recorded in a run's ``config.json``."""
    values = json.loads(Path(path).read_text())
    return LosoConfig(
        model=values["model"],
        train=TrainConfig.from_dict(values["train"]),
        selection=values["selection"],
        seed=values["seed"],
        val_subjects=values["val_subjects"],
        model_overrides=values["model_overrides"],
    )


__all__ = ["LosoConfig", "run_loso", "run_fold", "run_folds_vectorized", "plan_fold", "parse_shard", "data_fingerprint", "config_from_json"]
