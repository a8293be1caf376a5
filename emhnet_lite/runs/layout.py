"""The run-folder format (``docs/run_folder.md``): selection names and labels, table columns, fold folders.

Every writer (the LOSO runner, ``merge_run``) and the one reader (``runs.read.load_run``) take the format
from here, so a column or a selection label has one definition.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pandas as pd
import torch

from emhnet_lite.constants import CLASS_NAMES, REGION_NAMES
from emhnet_lite.utils import atomic_path

#: Epoch-selection modes; ``oracle`` picks the best test-subject epoch (leaky, always labelled).
SELECTIONS: tuple[str, ...] = ("last", "val", "oracle")
SELECTION_LABELS: dict[str, str] = {
    "last": "last epoch",
    "val": "validation-selected epoch",
    "oracle": "oracle (test-set-selected)",
}
PROB_COLUMNS: list[str] = [f"prob_{name}" for name in CLASS_NAMES]
GATE_COLUMNS: tuple[str, ...] = tuple(f"gate_{name}" for name in REGION_NAMES)
PREDICTION_COLUMNS = ("dataset", "subject", "clip", "fold", "true", "predicted", "selected_epoch")
METRIC_COLUMNS = ("selection", "subset", "n_samples", "uf1", "uar")
HISTORY_COLUMNS = ("fold", "dataset", "subject", "epoch", "train_loss", "train_acc", "test_loss", "test_acc")
#: Written last into a fold folder: its presence marks the fold finished.
FOLD_DONE = "fold.json"


def selection_label(selection: str) -> str:
    """Human label of a selection mode; the oracle's always says test-set-selected."""
    return SELECTION_LABELS[selection]


def write_csv_atomic(path: str | os.PathLike, frame: pd.DataFrame) -> Path:
    """Write ``frame`` as CSV (no index) atomically."""
    with atomic_path(path) as tmp:
        frame.to_csv(tmp, index=False)
    return Path(path)


def read_csv(path: str | os.PathLike) -> pd.DataFrame:
    """Read a run-folder CSV keeping ids (subject, clip, dataset) as strings."""
    return pd.read_csv(path, dtype={"subject": str, "clip": str, "dataset": str})


def save_checkpoint(path: str | os.PathLike, state_dict: dict[str, torch.Tensor], **meta: Any) -> Path:
    """Save weights plus JSON-able metadata so that ``torch.load(..., weights_only=True)`` can read them."""
    with atomic_path(path) as tmp:
        torch.save({"state_dict": state_dict, **meta}, tmp)
    return Path(path)


def load_checkpoint(path: str | os.PathLike, map_location: str | torch.device = "cpu") -> dict[str, Any]:
    """Load a fold checkpoint safely (``weights_only=True``): ``{"state_dict": ..., "epoch": ..., ...}``."""
    return torch.load(path, map_location=map_location, weights_only=True)


def fold_dir_name(fold: int, subject_key: str) -> str:
    """``NN_<dataset>_<subject>`` for subject key ``dataset/subject``."""
    return f"{fold:02d}_" + subject_key.replace("/", "_")


def fold_is_done(fold_dir: str | os.PathLike) -> bool:
    """A fold is finished iff its ``fold.json`` (written last) exists."""
    return (Path(fold_dir) / FOLD_DONE).exists()


def finished_folds(run_dir: str | os.PathLike) -> list[Path]:
    """Finished fold folders of a run, in fold order."""
    folds = Path(run_dir) / "folds"
    return sorted(p for p in folds.glob("*") if p.is_dir() and fold_is_done(p)) if folds.exists() else []
