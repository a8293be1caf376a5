"""Pooled UF1/UAR: reproduce a peer's stored composite run, agree with sklearn, absent-class rule."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import f1_score, recall_score

from emhnet_lite import metrics
from emhnet_lite.figures.published import load_published

REFERENCE = Path(__file__).resolve().parent / "data"  # vendored facts, see tests/data/README.md


@pytest.fixture(scope="module")
def htnet_predictions() -> pd.DataFrame:
    path = REFERENCE / "htnet_released_predictions.csv"  # a missing file fails the test, never skips it
    return pd.read_csv(path, dtype={"subject": str}).rename(columns={"y_true": "true", "y_pred": "predicted"})


def test_reproduces_htnet_released_run(htnet_predictions: pd.DataFrame) -> None:
    table = metrics.breakdown(htnet_predictions).set_index("subset")
    expected = {
        "composite": (0.8313, 0.8175),
        "smic": (0.7691, 0.7620),
        "casme2": (0.9367, 0.9242),
        "samm": (0.7870, 0.7590),
    }
    for subset, (uf1, uar) in expected.items():
        assert round(table.loc[subset, "uf1"], 4) == uf1, subset
        assert round(table.loc[subset, "uar"], 4) == uar, subset
    assert table.loc["composite", "n_samples"] == 442
    assert table.loc["composite", "n_subjects"] == 68
    assert table.loc[["smic", "casme2", "samm"], "n_subjects"].tolist() == [16, 24, 28]


def test_matches_sklearn_when_all_classes_present() -> None:
    rng = np.random.default_rng(0)
    for _ in range(20):
        y_true = rng.integers(0, 3, 50)
        y_true[:3] = [0, 1, 2]
        y_pred = rng.integers(0, 3, 50)
        uf1, uar = metrics.uf1_uar(y_true, y_pred)
        assert uf1 == pytest.approx(f1_score(y_true, y_pred, average="macro", labels=[0, 1, 2]))
        assert uar == pytest.approx(recall_score(y_true, y_pred, average="macro", labels=[0, 1, 2]))


def test_absent_class_rule_is_explicit() -> None:
    # class 2 absent and never predicted: left out of both means
    result = metrics.scores([0, 0, 1, 1], [0, 1, 1, 1])
    assert result.classes_in_uf1 == 2 and result.classes_in_uar == 2
    assert result.uf1 == pytest.approx((2 / 3 + 0.8) / 2)
    assert result.uar == pytest.approx((0.5 + 1.0) / 2)
    # class 2 absent but predicted once: F1 = 0 counts, recall undefined
    result = metrics.scores([0, 0, 1, 1], [0, 2, 1, 1])
    assert result.classes_in_uf1 == 3 and result.classes_in_uar == 2
    assert result.f1_per_class[2] == 0.0 and np.isnan(result.recall_per_class[2])


def test_confusion_and_bad_labels() -> None:
    matrix = metrics.confusion_matrix([0, 1, 2, 2], [0, 2, 2, 1])
    assert matrix.tolist() == [[1, 0, 0], [0, 0, 1], [0, 1, 1]]
    frame = metrics.confusion_frame([0, 1, 2, 2], [0, 2, 2, 1], normalize=True)
    assert frame.loc["surprise"].sum() == pytest.approx(1.0)
    with pytest.raises(ValueError, match="position 1"):
        metrics.uf1_uar([0, 3], [0, 1])
    with pytest.raises(ValueError, match="y_pred has 1"):
        metrics.uf1_uar([0, 1], [0])


def test_per_fold_average_differs_from_pooled(htnet_predictions: pd.DataFrame) -> None:
    table = htnet_predictions.assign(fold=htnet_predictions["dataset"] + "/" + htnet_predictions["subject"])
    averaged = metrics.per_fold_average(table)
    assert averaged["n_folds"] == 68
    assert averaged["folds_with_all_classes"] < 68
    assert abs(averaged["uf1"] - metrics.uf1_uar(table["true"], table["predicted"])[0]) > 1e-3


def test_published_stored_prediction_rows_are_the_recomputation(htnet_predictions: pd.DataFrame) -> None:
    """The shipped table's "stored predictions" rows are exactly what the kit recomputes from the vendored file."""
    table = load_published()
    rows = table[table["kind"] == "stored predictions"].set_index("subset")
    recomputed = metrics.breakdown(htnet_predictions).set_index("subset")
    assert sorted(rows.index) == sorted(["composite", "smic", "casme2", "samm"])
    for subset, row in rows.iterrows():
        assert row["uf1"] == round(recomputed.loc[subset, "uf1"], 4), subset
        assert row["uar"] == round(recomputed.loc[subset, "uar"], 4), subset
        assert row["test_set_selected"] == "yes", subset
