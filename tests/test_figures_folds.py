"""Per-fold summaries behind chapter 07's figures: gate means per fold, quartiles over folds; the head-drift
estimate of preprocessing (a median, robust to local motion)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from emhnet_lite.constants import REGION_NAMES
from emhnet_lite.figures.plots import COLLAPSE_THRESHOLD, fold_gate_means, fold_quantiles
from emhnet_lite.preprocess.flow import global_motion


def test_fold_gate_means_is_one_row_per_fold_in_region_order():
    gates = pd.DataFrame({"fold": [1, 0, 0], "gate_left_eye": [0.5, 0.02, 0.04], "gate_right_eye": [0.5, 0.02, 0.04],
                          "gate_left_lip": [0.0, 0.5, 0.46], "gate_right_lip": [0.0, 0.46, 0.46]})
    means = fold_gate_means(gates)
    assert list(means.index) == [0, 1] and list(means.columns) == list(REGION_NAMES)
    np.testing.assert_allclose(means.loc[0].to_numpy(), [0.03, 0.03, 0.48, 0.46])
    assert (means.loc[0] < COLLAPSE_THRESHOLD).tolist() == [True, True, False, False]


def test_fold_quantiles_are_linear_quartiles_per_epoch():
    history = pd.DataFrame({"epoch": [1, 1, 1, 1, 2, 2, 2, 2], "acc": [1.0, 0.0, 0.5, 0.25, 0.5, 0.5, 0.5, 0.5]})
    band = fold_quantiles(history, "acc")
    assert list(band.columns) == ["q25", "median", "q75"]
    assert band.loc[1].tolist() == [0.1875, 0.375, 0.625] and band.loc[2].tolist() == [0.5, 0.5, 0.5]


def test_global_motion_recovers_a_drift_under_local_motion():
    flow = np.zeros((20, 20, 2), np.float32) + np.float32([0.7, -0.3])
    flow[2:6, 2:6] += 5.0  # a local movement on 4 % of the pixels
    np.testing.assert_allclose(global_motion(flow), [0.7, -0.3], atol=1e-6)
