"""Apply a finished LOSO run's fold models to new clips: mean probability over the valid fold models.

Fold model *k* was trained on every subject of the run except its held-out subject, so it is a fair
predictor for that subject and for any subject the run never saw. A clip whose ``dataset/subject`` is one
of the run's subjects is therefore predicted by that subject's fold model alone (this reproduces the
run's own test predictions); a clip of a new subject by all fold models. Subject ids are compared as
``dataset/subject`` keys: give new people ids that the run's data does not use.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from torch import nn

from emhnet_lite.constants import CLASS_NAMES
from emhnet_lite.dataset import PreparedSet
from emhnet_lite.runs.layout import FOLD_DONE, PROB_COLUMNS, finished_folds, load_checkpoint
from emhnet_lite.runs.read import RunFolderError
from emhnet_lite.train.plan import default_model_factory
from emhnet_lite.train.trainer import forward_with_aux

SD_COLUMNS = [f"sd_{name}" for name in CLASS_NAMES]


@dataclass
class FoldModel:
    """One finished fold's model, in eval mode, and the subject it never saw."""

    name: str  # fold folder name, e.g. ``03_casme2_sub04``
    held_out: str  # ``dataset/subject``
    model: nn.Module


def load_fold_models(run_dir: str | os.PathLike, device: torch.device) -> tuple[dict, list[FoldModel]]:
    """(``config.json`` as a dict, the finished folds' models with their checkpoint weights)."""
    run_dir = Path(run_dir)
    config_path = run_dir / "config.json"
    if not config_path.is_file():
        raise RunFolderError(f"{run_dir}: not a run folder (no config.json)")
    config = json.loads(config_path.read_text())
    folds = []
    for fold_dir in finished_folds(run_dir):
        info = json.loads((fold_dir / FOLD_DONE).read_text())
        checkpoint = fold_dir / "checkpoint.pt"
        if not checkpoint.is_file():
            raise RunFolderError(f"{fold_dir}: finished fold without checkpoint.pt")
        ablation = {"ablation": config["ablation"]} if config.get("ablation", "full") != "full" else {}
        model = default_model_factory(config["model"], **config["model_overrides"], **ablation)
        model.load_state_dict(load_checkpoint(checkpoint)["state_dict"])
        folds.append(FoldModel(fold_dir.name, f"{info['dataset']}/{info['subject']}", model.to(device).eval()))
    if not folds:
        raise RunFolderError(f"{run_dir}: no finished folds (folds/*/{FOLD_DONE})")
    return config, folds


@torch.no_grad()
def fold_probabilities(folds: list[FoldModel], data: PreparedSet, device: torch.device,
                       batch_size: int = 256) -> torch.Tensor:
    """Softmax probabilities of every fold model on every clip: [M, N, 3] float32 (float32 forward)."""
    out = []
    for fold in folds:
        parts = []
        for start in range(0, len(data), batch_size):
            flows = data.flows[start : start + batch_size].to(device)  # [b, 3, H, W]
            boxes = data.boxes[start : start + batch_size].to(device)  # [b, 4, 4]
            logits, _ = forward_with_aux(fold.model, flows, boxes)  # [b, 3]
            parts.append(logits.float().softmax(dim=1).cpu())
        out.append(torch.cat(parts))
    return torch.stack(out)  # [M, N, 3]


def validity(folds: list[FoldModel], data: PreparedSet, run_subjects: list[str]) -> np.ndarray:
    """[M, N] bool: fold model m may predict clip n (it never saw clip n's subject)."""
    known = set(run_subjects)
    keys = data.subject_keys
    mask = np.array([[key not in known or key == fold.held_out for key in keys] for fold in folds])
    empty = np.flatnonzero(~mask.any(axis=0))
    if len(empty):
        raise RunFolderError(f"clip {keys[empty[0]]}/{data.table['clip'].iloc[empty[0]]}: its subject was "
                             "trained on by every finished fold (its own fold is missing)")
    return mask


def predict(run_dir: str | os.PathLike, data: PreparedSet, device: str | torch.device = "cpu",
            labelled: bool = True) -> pd.DataFrame:
    """Per-clip ensemble prediction of a run's fold models (columns: ``docs/run_folder.md`` "Predicting")."""
    device = torch.device(device)
    config, folds = load_fold_models(run_dir, device)
    expected = tuple(config["data"]["input_size"])
    if tuple(data.flows.shape[-2:]) != expected:
        raise RunFolderError(f"{run_dir}: models take {expected[0]}x{expected[1]} inputs but the clips are "
                             f"{data.flows.shape[-2]}x{data.flows.shape[-1]}; prepare them with --size {expected[0]}")
    probs = fold_probabilities(folds, data, device).numpy()  # [M, N, 3]
    valid = validity(folds, data, config["data"]["subjects"])  # [M, N]
    weights = valid[..., None].astype(np.float64)  # [M, N, 1]
    count = weights.sum(axis=0)  # [N, 1]
    mean = (probs * weights).sum(axis=0) / count  # [N, 3]
    sd = np.sqrt((((probs - mean) ** 2) * weights).sum(axis=0) / count)  # [N, 3] population sd
    predicted = mean.argmax(axis=1)  # [N]
    votes = probs.argmax(axis=2)  # [M, N]
    agreement = ((votes == predicted[None]) & valid).sum(axis=0) / valid.sum(axis=0)  # [N]
    table = data.table.reset_index(drop=True)
    frame = pd.DataFrame({"dataset": table["dataset"].astype(str), "subject": table["subject"].astype(str),
                          "clip": table["clip"].astype(str)})
    if labelled:
        frame["true"] = data.labels.numpy()
        frame["true_name"] = [CLASS_NAMES[i] for i in frame["true"]]
    frame["predicted"] = predicted
    frame["predicted_name"] = [CLASS_NAMES[i] for i in predicted]
    for index, column in enumerate(PROB_COLUMNS):
        frame[column] = mean[:, index]
    for index, column in enumerate(SD_COLUMNS):
        frame[column] = sd[:, index]
    frame["agreement"] = agreement
    frame["n_models"] = valid.sum(axis=0)
    known = set(config["data"]["subjects"])
    frame["models"] = [next(f.name for f in folds if f.held_out == key) if key in known else "all"
                       for key in data.subject_keys]
    frame["selection"] = config["selection"]
    frame["run"] = str(run_dir)
    return frame
