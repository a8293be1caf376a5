"""The pipeline on SynthME's real layouts: ground-truth landmarks, flow accuracy, teaching set, CLI."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from emhnet_lite.cli import main as cli_main
from emhnet_lite.data import load_composite
from emhnet_lite.data.frames import frame_path, read_frame
from emhnet_lite.preprocess import (
    PreprocessConfig,
    cache_key,
    prepare_dataset,
    prepare_sample,
)
from emhnet_lite.preprocess.flow import compute_flow
from emhnet_lite.preprocess.landmarks import synth_landmarks, synthme_root_of
from emhnet_lite.synth import generate_synthme, read_ground_truth
from emhnet_lite.teaching import load_teaching_set


@pytest.fixture(scope="module")
def synthme(tmp_path_factory):
    roots = generate_synthme(tmp_path_factory.mktemp("synth") / "synthme", scale=0.05, seed=3)
    table, _ = load_composite(**roots)
    return roots, table


def first_of_each_dataset(table: pd.DataFrame) -> pd.DataFrame:
    return table.groupby("dataset", sort=True).head(1).reset_index(drop=True)


def test_synth_landmarks_come_from_ground_truth(synthme):
    _, table = synthme
    row = table.iloc[0]
    truth = read_ground_truth(synthme_root_of(row["frame_dir"]), row["dataset"], row["subject"], row["clip"])
    assert np.array_equal(synth_landmarks(row, int(row["onset"])), truth["landmarks_onset"])
    sample = prepare_sample(row, PreprocessConfig())
    assert sample.info["landmark_source"] == "synth" and sample.info["fallbacks"] == []


@pytest.mark.parametrize("backend, limit", [("tvl1", 0.2), ("farneback", 0.3)])
def test_flow_matches_synthme_ground_truth(synthme, backend, limit):
    _, table = synthme
    row = table.iloc[0]
    truth = read_ground_truth(synthme_root_of(row["frame_dir"]), row["dataset"], row["subject"], row["clip"])
    onset = read_frame(frame_path(row, truth["onset"]))
    apex = read_frame(frame_path(row, truth["apex"]))
    flow = compute_flow(onset, apex, PreprocessConfig(flow_backend=backend))  # native resolution
    x0, y0 = truth["landmarks_onset"].min(0).astype(int)
    x1, y1 = truth["landmarks_onset"].max(0).astype(int)
    epe = np.linalg.norm(flow - truth["flow"], axis=-1)[y0:y1, x0:x1].mean()
    still = np.linalg.norm(truth["flow"], axis=-1)[y0:y1, x0:x1].mean()
    assert epe < limit and epe < still  # better than predicting no motion


def test_every_dataset_layout_prepares(synthme, tmp_path):
    _, table = synthme
    rows = first_of_each_dataset(table)
    prepared = prepare_dataset(rows, PreprocessConfig(flow_backend="farneback"), tmp_path, workers=1, strict=True)
    assert sorted(prepared.table["dataset"]) == ["casme2", "samm", "smic"]
    assert tuple(prepared.flows.shape) == (3, 3, 28, 28) and torch.isfinite(prepared.flows).all()
    assert prepared.labels.tolist() == [int(v) for v in rows["label"]]


def test_size_56_and_boxes_scale(synthme):
    _, table = synthme
    sample = prepare_sample(table.iloc[0], PreprocessConfig(size=56, flow_backend="farneback"))
    assert tuple(sample.flow.shape) == (3, 56, 56)
    from emhnet_lite.preprocess.regions import region_sides

    sides = region_sides(sample.landmarks.numpy())  # 0.8 / 0.6 x the inter-ocular distance at 56 px
    assert 15 < sides[0] < 21 and 11 < sides[2] < 16
    torch.testing.assert_close(sample.boxes[:, 2] - sample.boxes[:, 0], torch.from_numpy(sides))
    quadrant = prepare_sample(table.iloc[0], PreprocessConfig(size=56, flow_backend="farneback", region_layout="quadrant"))
    assert ((quadrant.boxes[:, 2:] - quadrant.boxes[:, :2]) == 28).all()
    assert (sample.boxes >= 0).all() and (sample.boxes <= 56).all()


def test_teaching_set_is_identical_fresh_or_cached(tmp_path, monkeypatch):
    import emhnet_lite.synth as synth

    monkeypatch.setattr(synth, "TEACHING_SCALE", 0.05)  # the real teaching scale is for the notebooks
    config = PreprocessConfig(flow_backend="farneback")
    fresh = load_teaching_set(tmp_path, config=config, workers=1)
    cached = load_teaching_set(tmp_path, config=config, workers=1)
    assert len(fresh) == len(cached) > 0 and torch.equal(fresh.flows, cached.flows)
    assert fresh.table["clip"].tolist() == cached.table["clip"].tolist()


def test_prepare_command_writes_a_manifest(synthme, tmp_path, capsys):
    roots, table = synthme
    data_root = Path(roots["casme2"]).parent
    code = cli_main(["prepare", "--data", str(data_root), "--out", str(tmp_path), "--flow", "farneback",
                     "--workers", "1"])
    assert code == 0
    manifest = pd.read_csv(tmp_path / cache_key(PreprocessConfig(flow_backend="farneback")) / "manifest.csv")
    assert len(manifest) == len(table) and (manifest["status"] == "ok").all()
    assert "samples ready" in capsys.readouterr().out


def test_prepare_command_without_releases_fails_clearly(tmp_path, capsys):
    assert cli_main(["prepare", "--data", str(tmp_path), "--out", str(tmp_path / "cache")]) == 2
    assert "no CASME II / SAMM / SMIC-HS release found" in capsys.readouterr().err


def test_composite_sample_list_rows_are_prepared_by_name(synthme, tmp_path):
    _, table = synthme
    listed = table[["dataset", "subject", "clip", "label"]].head(2)
    rows = table.merge(listed, on=["dataset", "subject", "clip", "label"])
    prepared = prepare_dataset(rows, PreprocessConfig(flow_backend="farneback"), tmp_path, workers=1)
    assert prepared.table["clip"].tolist() == listed["clip"].tolist()
