"""Overlay figure pieces that need no trained run: sample choice, data-fingerprint check, drawing."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from figures_fake_run import make_fake_run

from emhnet_lite.dataset import PreparedSet
from emhnet_lite.figures.overlay import OverlaySample, check_same_data, choose_samples, overlay_figure
from emhnet_lite.runs import RunFolderError, load_run


def test_choose_samples_cycles_classes_and_datasets(tmp_path: Path):
    run = load_run(make_fake_run(tmp_path / "run"))
    table = run.predictions["last"]
    chosen = choose_samples(run, 4)
    assert list(table["true"].iloc[chosen]) == [0, 1, 2, 0]
    assert list(table["dataset"].iloc[chosen]) == ["smic", "casme2", "samm", "smic"]
    assert len(set(chosen)) == 4 and chosen == choose_samples(run, 4)


def test_fingerprint_mismatch_is_refused(tmp_path: Path):
    run = load_run(make_fake_run(tmp_path / "run"))
    table = pd.DataFrame({"dataset": ["smic", "smic"], "subject": ["s1", "s2"], "clip": ["a", "b"]})
    data = PreparedSet(table, torch.zeros(2, 3, 28, 28), torch.zeros(2, 4, 4), torch.zeros(2, dtype=torch.int64))
    with pytest.raises(RunFolderError, match="no data.fingerprint"):
        check_same_data(run, data)
    run.config["data"]["fingerprint"] = "0" * 64
    with pytest.raises(RunFolderError, match="does not match the prepared set"):
        check_same_data(run, data)


def test_overlay_figure_draws_every_panel(tmp_path: Path):
    run = load_run(make_fake_run(tmp_path / "run"))
    rng = np.random.default_rng(0)
    sample = OverlaySample(title="SynthME · SAMM layout 006/clip\ntrue positive · predicted positive",
                           face=rng.integers(0, 255, (112, 112), dtype=np.uint8),
                           flow_crop=rng.normal(size=(112, 112, 2)).astype(np.float32),
                           boxes=np.array([[0, 0, 14, 14], [14, 0, 28, 14], [0, 14, 14, 28], [14, 14, 28, 28]],
                                          dtype=np.float32),
                           region_weights=np.array([0.1, 0.2, 0.3, 0.4]), attention=rng.random((4, 4)),
                           input_size=(28, 28), patch=7)
    fig = overlay_figure([sample, sample], run)
    assert len(fig.axes) == 6
    texts = "\n".join(t.get_text() for t in fig.findobj(lambda a: hasattr(a, "get_text")))
    assert "right_lip 0.40" in texts and "SynthME (synthetic)" in texts


def test_ensure_teaching_run_leaves_other_runs_untouched(tmp_path: Path, monkeypatch):
    from emhnet_lite import teaching

    run_dir = make_fake_run(tmp_path / "real", source="cache:tvl1-28-abc")
    before = {p.name: p.read_bytes() for p in run_dir.iterdir()}

    def no_data(*args, **kwargs):
        raise AssertionError("a finished non-teaching run must not load or retrain anything")

    monkeypatch.setattr("emhnet_lite.teaching.load_teaching_set", no_data)
    assert teaching.ensure_teaching_run(run_dir, tmp_path / "data") == run_dir
    assert {p.name: p.read_bytes() for p in run_dir.iterdir()} == before
