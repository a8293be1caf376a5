"""Pooled UF1 / UAR (the MEGC2019 composite metrics), per-dataset breakdowns and confusion matrices.

UF1 is the mean over classes of per-class F1 = 2TP / (2TP + FP + FN); UAR the mean over classes of
per-class recall = TP / (TP + FN). Both are computed on predictions POOLED over all LOSO folds.

Absent classes (explicit rule, reported in ``MetricResult.classes_in_uf1 / classes_in_uar``):
- a class with no true samples has no recall: it is left out of UAR;
- its F1 is 0 if the model predicted it (pure false positives), and undefined (left out of UF1) if it
  was neither present nor predicted (0/0).
With all three classes present (every composite and per-dataset table) this equals sklearn's
``f1_score`` / ``recall_score`` with ``average="macro", labels=[0, 1, 2]``. STSTNet/HTNet skip a class
silently in a ``try/except``; here the count of classes used is part of every result.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass

import numpy as np
import pandas as pd

from emhnet_lite.constants import CLASS_NAMES, NUM_CLASSES

LABELS: tuple[int, ...] = tuple(range(NUM_CLASSES))


@dataclass(frozen=True)
class MetricResult:
    """Pooled scores of one prediction set; per-class lists use NaN where a value is undefined."""

    uf1: float
    uar: float
    accuracy: float
    n_samples: int
    f1_per_class: list[float]
    recall_per_class: list[float]
    classes_in_uf1: int
    classes_in_uar: int
    confusion: list[list[int]]

    def as_dict(self) -> dict:
        """Plain JSON-ready dict (NaN kept as None)."""
        out = asdict(self)
        for key in ("f1_per_class", "recall_per_class"):
            out[key] = [None if np.isnan(v) else float(v) for v in out[key]]
        for key in ("uf1", "uar", "accuracy"):
            out[key] = None if np.isnan(out[key]) else float(out[key])
        return out


def as_label_array(values: Sequence[int] | np.ndarray, name: str) -> np.ndarray:
    """Validate labels: 1-D integers in 0..NUM_CLASSES-1, else a clear error naming the argument."""
    array = np.asarray(values)
    if array.ndim != 1:
        raise ValueError(f"{name}: expected a 1-D sequence of labels, got shape {array.shape}")
    if array.size and not np.issubdtype(array.dtype, np.integer):
        if not np.all(np.equal(np.mod(array.astype(float), 1), 0)):
            raise ValueError(f"{name}: labels must be integers {LABELS}, got dtype {array.dtype}")
        array = array.astype(np.int64)
    bad = ~np.isin(array, LABELS)
    if bad.any():
        first = int(np.flatnonzero(bad)[0])
        raise ValueError(f"{name}: label {array[first].item()!r} at position {first} is not one of {LABELS}")
    return array.astype(np.int64)


def confusion_matrix(y_true: Sequence[int], y_pred: Sequence[int]) -> np.ndarray:
    """3×3 confusion counts, rows = true class, columns = predicted class (classes 0, 1, 2)."""
    true = as_label_array(y_true, "y_true")
    pred = as_label_array(y_pred, "y_pred")
    if true.shape != pred.shape:
        raise ValueError(f"y_true has {true.size} labels but y_pred has {pred.size}")
    matrix = np.zeros((NUM_CLASSES, NUM_CLASSES), dtype=np.int64)
    np.add.at(matrix, (true, pred), 1)
    return matrix


def per_class_from_confusion(matrix: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-class (F1, recall) ``[..., C]`` of confusion counts ``[..., C, C]`` (rows true); NaN = undefined."""
    matrix = np.asarray(matrix, dtype=float)
    tp = np.diagonal(matrix, axis1=-2, axis2=-1)  # [..., C]
    support = matrix.sum(axis=-1)  # [..., C] true c
    f1_denominator = support + matrix.sum(axis=-2)  # = 2TP + FP + FN
    with np.errstate(divide="ignore", invalid="ignore"):
        f1 = np.where(f1_denominator > 0, 2 * tp / f1_denominator, np.nan)
        recall = np.where(support > 0, tp / support, np.nan)
    return f1, recall


def pooled_from_confusion(matrix: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(UF1, UAR) of confusion counts ``[..., C, C]``, vectorised over leading axes (NaN: no class defined).

    The single owner of the absent-class rule: ``scores`` calls it on one matrix, the bootstrap in
    ``emhnet_lite.stats`` on thousands of resampled ones at once.
    """
    f1, recall = per_class_from_confusion(matrix)
    with np.errstate(divide="ignore", invalid="ignore"):
        uf1 = np.nansum(f1, axis=-1) / (~np.isnan(f1)).sum(axis=-1)  # mean over the defined classes
        uar = np.nansum(recall, axis=-1) / (~np.isnan(recall)).sum(axis=-1)
    return uf1, uar


def scores(y_true: Sequence[int], y_pred: Sequence[int]) -> MetricResult:
    """All pooled scores (UF1, UAR, accuracy, per-class values, confusion) with the absent-class rule."""
    matrix = confusion_matrix(y_true, y_pred)
    f1, recall = per_class_from_confusion(matrix)
    uf1, uar = pooled_from_confusion(matrix)
    n = int(matrix.sum())
    return MetricResult(
        uf1=float(uf1),
        uar=float(uar),
        accuracy=float(np.trace(matrix) / n) if n else float("nan"),
        n_samples=n,
        f1_per_class=[float(v) for v in f1],
        recall_per_class=[float(v) for v in recall],
        classes_in_uf1=int((~np.isnan(f1)).sum()),
        classes_in_uar=int((~np.isnan(recall)).sum()),
        confusion=matrix.tolist(),
    )


def uf1_uar(y_true: Sequence[int], y_pred: Sequence[int]) -> tuple[float, float]:
    """Pooled (UF1, UAR) over classes 0, 1, 2 — the composite's headline metrics."""
    result = scores(y_true, y_pred)
    return result.uf1, result.uar


def subset_scores(
    table: pd.DataFrame,
    true_col: str = "true",
    pred_col: str = "predicted",
    dataset_col: str = "dataset",
    subject_col: str = "subject",
) -> list[tuple[str, MetricResult, float]]:
    """(subset, scores, number of subjects) for the pooled table and for each dataset's share of it.

    Per-dataset rows restrict the SAME pooled predictions to that dataset's rows (the MEGC2019 CDE
    convention), they are not separate trainings. Subsets: ``composite`` then datasets in table order.
    The subject count is NaN when the table has no ``subject_col``.
    """
    for column in (true_col, pred_col, dataset_col):
        if column not in table.columns:
            raise KeyError(
                f"breakdown: prediction table has no column {column!r} (has {list(table.columns)})"
            )
    subsets = [("composite", table)]
    subsets += [(str(name), part) for name, part in table.groupby(dataset_col, sort=False)]
    results = []
    for name, part in subsets:
        result = scores(part[true_col].to_numpy(), part[pred_col].to_numpy())
        n_subjects = (
            (part[dataset_col].astype(str) + "/" + part[subject_col].astype(str)).nunique()
            if subject_col in part.columns
            else np.nan
        )
        results.append((name, result, n_subjects))
    return results


def breakdown_frame(results: list[tuple[str, MetricResult, float]]) -> pd.DataFrame:
    """One row per subset of ``subset_scores``: sizes, UF1, UAR, accuracy and the classes each mean used."""
    rows = [
        {
            "subset": name,
            "n_samples": result.n_samples,
            "n_subjects": n_subjects,
            "uf1": result.uf1,
            "uar": result.uar,
            "accuracy": result.accuracy,
            "classes_in_uf1": result.classes_in_uf1,
            "classes_in_uar": result.classes_in_uar,
        }
        for name, result, n_subjects in results
    ]
    return pd.DataFrame(rows)


def breakdown(
    table: pd.DataFrame,
    true_col: str = "true",
    pred_col: str = "predicted",
    dataset_col: str = "dataset",
    subject_col: str = "subject",
) -> pd.DataFrame:
    """Scores on the pooled table and on each dataset's share of it (one row per subset, see ``subset_scores``)."""
    return breakdown_frame(subset_scores(table, true_col, pred_col, dataset_col, subject_col))


def per_fold_average(
    table: pd.DataFrame, fold_col: str = "fold", true_col: str = "true", pred_col: str = "predicted"
) -> dict[str, float]:
    """UF1/UAR computed per fold then averaged — shown only to contrast with pooling (not the protocol).

    A single subject rarely holds all three classes, so per-fold scores rest on 1–2 classes and their
    mean is noisy and biased; the composite protocol pools instead.
    """
    per_fold = [
        scores(part[true_col].to_numpy(), part[pred_col].to_numpy())
        for _, part in table.groupby(fold_col, sort=True)
    ]
    return {
        "uf1": float(np.nanmean([r.uf1 for r in per_fold])),
        "uar": float(np.nanmean([r.uar for r in per_fold])),
        "n_folds": len(per_fold),
        "folds_with_all_classes": int(sum(r.classes_in_uar == NUM_CLASSES for r in per_fold)),
    }


def confusion_frame(y_true: Sequence[int], y_pred: Sequence[int], normalize: bool = False) -> pd.DataFrame:
    """Confusion matrix as a labelled DataFrame (rows true, columns predicted); ``normalize`` = row shares."""
    matrix = confusion_matrix(y_true, y_pred).astype(float if normalize else np.int64)
    if normalize:
        totals = matrix.sum(axis=1, keepdims=True)
        matrix = np.divide(matrix, totals, out=np.full_like(matrix, np.nan), where=totals > 0)
    return pd.DataFrame(
        matrix, index=pd.Index(CLASS_NAMES, name="true"), columns=pd.Index(CLASS_NAMES, name="predicted")
    )


#: Epoch-selection rules that :func:`selection_on_noise` simulates (the runner's ``--select`` choices).
SELECTION_RULES: tuple[str, ...] = ("last", "val", "oracle")


def oracle_predictions(y_true: Sequence[int], folds: Sequence[int], preds_by_epoch: np.ndarray) -> np.ndarray:
    """Per fold, the predictions of the epoch most accurate on that fold's own clips (ties → later epoch).

    ``preds_by_epoch`` is ``[E, N]``; the result ``[N]``. This is the test-set-selected ("oracle") rule of
    HTNet's released code applied to saved per-epoch predictions (the runner's ``EpochTracker`` does the same
    during training).
    """
    true, folds = as_label_array(y_true, "y_true"), np.asarray(folds)
    preds = np.asarray(preds_by_epoch)
    chosen = np.empty_like(true)
    for fold in np.unique(folds):
        rows = folds == fold
        accuracy = (preds[:, rows] == true[rows]).mean(axis=1)  # [E]
        chosen[rows] = preds[np.flatnonzero(accuracy == accuracy.max())[-1], rows]
    return chosen


def selection_on_noise(y_true: Sequence[int], folds: Sequence[int], epochs: int, rule: str = "oracle",
                       repeats: int = 200, seed: int = 0) -> np.ndarray:
    """Pooled (UF1, UAR) ``[repeats, 2]`` of "models" that guess uniformly at random at every epoch.

    ``rule`` picks each fold's epoch: ``last``; ``val`` — the epoch most accurate on the *other* folds' clips
    (a stand-in for validation subjects taken from the training subjects); ``oracle`` — the epoch most
    accurate on the fold's own test clips. Random guesses have no skill, so any gain of a rule over ``last`` is
    what the rule leaks from the test labels (chapter 06).
    """
    if rule not in SELECTION_RULES:
        raise ValueError(f"unknown selection rule {rule!r}; known: {SELECTION_RULES}")
    true, folds = as_label_array(y_true, "y_true"), np.asarray(folds)
    rng = np.random.default_rng(seed)
    results = np.empty((repeats, 2))
    for repeat in range(repeats):
        preds = rng.integers(0, NUM_CLASSES, size=(epochs, true.size))  # [E, N]
        if rule == "last":
            chosen = preds[-1]
        elif rule == "oracle":
            chosen = oracle_predictions(true, folds, preds)
        else:
            chosen = np.empty_like(true)
            for fold in np.unique(folds):
                rows = folds == fold
                accuracy = (preds[:, ~rows] == true[~rows]).mean(axis=1)  # [E] on the other folds' clips
                chosen[rows] = preds[np.flatnonzero(accuracy == accuracy.max())[-1], rows]
        results[repeat] = uf1_uar(true, chosen)
    return results
