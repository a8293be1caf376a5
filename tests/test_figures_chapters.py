"""Teaching figures and explorers of chapters 03–06, the selection-on-noise simulation, the paper preset."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from matplotlib.figure import Figure

from emhnet_lite import metrics
from emhnet_lite.figures import chapters, explore
from emhnet_lite.train import get_preset


def test_explorer_draws_and_saves_the_fallback_settings_in_batch_runs(tmp_path: Path, monkeypatch):
    monkeypatch.setenv("EMHNET_BATCH", "1")
    seen = []

    def draw(ax, block: int, region: str) -> None:
        seen.append((block, region))
        ax.plot([0, block])

    assert not explore.interactive_session()
    fig = explore.explorer(draw, {"block": (2, 4, 7), "region": ("a", "b")},
                           [{"block": 2, "region": "a"}, {"block": 7, "region": "b"}, {"block": 4, "region": "a"}],
                           tmp_path / "x.png", columns=2, title="t")
    assert isinstance(fig, Figure) and seen == [(2, "a"), (7, "b"), (4, "a")]
    assert (tmp_path / "x.png").stat().st_size > 1000
    assert sum(ax.get_visible() for ax in fig.axes) == 3  # the fourth grid cell is hidden


def test_explorer_builds_a_widget_panel_in_a_live_session(tmp_path: Path, monkeypatch):
    pytest.importorskip("ipywidgets")
    monkeypatch.setattr(explore, "interactive_session", lambda: True)
    calls = []
    panel = explore.explorer(lambda ax, t: calls.append(t), {"t": (0.5, 1.0, 2.0)}, [{"t": 1.0}],
                             tmp_path / "never.png")
    slider = panel.children[0]
    assert slider.value == 1.0 and calls == [1.0]
    slider.value = 2.0  # moving the slider redraws with the new setting
    assert calls == [1.0, 2.0] and not (tmp_path / "never.png").exists()


def test_oracle_predictions_keep_each_folds_best_epoch_ties_to_the_later():
    true, folds = np.array([0, 1, 2, 2]), np.array([0, 0, 1, 1])
    preds = np.array([[0, 1, 0, 0], [1, 1, 2, 0], [0, 1, 0, 2]])
    np.testing.assert_array_equal(metrics.oracle_predictions(true, folds, preds), [0, 1, 0, 2])


def test_selection_on_noise_leaks_only_with_the_oracle():
    true = np.r_[np.zeros(30), np.ones(15), np.full(15, 2)].astype(int)
    folds = np.arange(60) % 10
    one = {rule: metrics.selection_on_noise(true, folds, 1, rule, repeats=20) for rule in metrics.SELECTION_RULES}
    assert all(np.array_equal(one["last"], one[rule]) for rule in one), "one epoch: nothing to choose"
    many = {rule: metrics.selection_on_noise(true, folds, 30, rule, repeats=40).mean(0)[0]
            for rule in metrics.SELECTION_RULES}
    assert abs(many["last"] - 1 / 3) < 0.06 and abs(many["val"] - 1 / 3) < 0.06
    assert many["oracle"] > many["last"] + 0.2
    with pytest.raises(ValueError, match="unknown selection rule"):
        metrics.selection_on_noise(true, folds, 3, "best")


def test_chapter_figures_draw_from_small_inputs():
    labels = torch.tensor([0, 0, 1, 2, 2, 1])
    weights = torch.tensor([[0.97, 0.01, 0.01, 0.01]]).repeat(6, 1)
    assert chapters.starved_regions(weights) == ["right_eye", "left_lip", "right_lip"]
    fig = Figure()
    chapters.region_weight_bars(fig.subplots(), weights, labels, "t")
    assert "collapsed" in fig.axes[0].get_title()
    scale_weights = torch.nn.functional.one_hot(torch.randint(0, 3, (6, 4)), 3).float()
    assert len(chapters.partition_share_figure(scale_weights, labels, (4, 5, 7), "t").axes) == 4
    index = torch.tensor([0] * 16 + [1] * 9 + [2] * 4)
    cross = torch.rand(2, 29, 29).softmax(-1)
    fig = chapters.cross_scale_figure(cross, torch.rand(4, 29), index, (4, 5, 7), torch.randn(2, 14, 14), 0, "t")
    assert len(fig.axes) >= 4
    ax = Figure().subplots()
    chapters.noise_selection_panel(ax, np.random.rand(10, 2), np.random.rand(10, 2), "oracle", 15, {"m": 0.6})
    assert "15 epochs" in ax.get_title()
    fig = chapters.confusion_pair_figure({"a": (np.array([0, 1, 2]), np.array([0, 0, 2]))}, "t")
    assert len(fig.axes) == 1


def test_paper_preset_has_no_augmentation_like_htnets_released_code():
    paper = get_preset("paper")
    assert paper.hflip_prob == 0.0 and paper.amplitude_jitter == 0.0
    assert get_preset("tiny").hflip_prob == 0.5
