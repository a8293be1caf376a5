"""SynthME: release layouts, exact composite counts at scale 1.0, determinism, ground truth, caching, CLI."""

from __future__ import annotations

import hashlib
from pathlib import Path

import cv2
import numpy as np
import pytest

from emhnet_lite.cli import main as cli_main
from emhnet_lite.constants import CLASS_NAMES, DATASETS, PUBLISHED_COMPOSITE
from emhnet_lite.data import frame_path, load_composite, read_frame
from emhnet_lite.synth import TEACHING_SCALE, ensure_synthme, generate_synthme, read_ground_truth
from emhnet_lite.synth.layout import PUBLISHED_SUBJECTS, plan_dataset, scaled_counts
from emhnet_lite.synth.motion import au_field, ground_truth_flow, sample_field


def tree_digest(root: Path) -> dict[str, str]:
    """Relative path -> sha256 of every file under ``root``."""
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file()}


@pytest.fixture(scope="module")
def tiny(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("synth") / "a"
    generate_synthme(out, scale=0.03, seed=7)
    return out


def test_same_seed_gives_byte_identical_output(tmp_path):
    generate_synthme(tmp_path / "a", scale=0.02, seed=7)
    generate_synthme(tmp_path / "b", scale=0.02, seed=7)
    first, second = tree_digest(tmp_path / "a"), tree_digest(tmp_path / "b")
    assert first == second
    assert any(name.endswith(".xlsx") for name in first) and any(name.endswith(".bmp") for name in first)
    other = tmp_path / "c"
    generate_synthme(other, scale=0.02, seed=8)
    assert tree_digest(other) != first


def test_release_layouts(tiny):
    assert (tiny / "casme2" / "CASME2-coding-20140508.xlsx").is_file()
    assert list((tiny / "casme2" / "CASME2_RAW_selected").glob("sub[0-9][0-9]/EP*/img*.jpg"))
    assert (tiny / "samm" / "SAMM_Micro_FACS_Codes_v2.xlsx").is_file()
    samm_frames = list((tiny / "samm" / "SAMM").glob("[0-9][0-9][0-9]/*_*_*/[0-9][0-9][0-9]_[0-9][0-9][0-9][0-9][0-9].jpg"))
    assert samm_frames and read_frame(samm_frames[0]).ndim == 2
    assert cv2.imread(str(samm_frames[0]), cv2.IMREAD_UNCHANGED).ndim == 2  # SAMM is grayscale
    smic = list((tiny / "smic" / "HS").glob("s[0-9]*/micro/*/s*_*_[0-9][0-9]/*.bmp"))
    assert smic and {p.parts[-3] for p in smic} == {"negative", "positive", "surprise"}
    assert not (tiny / "casme2" / "ground_truth").exists() and (tiny / "ground_truth" / "index.csv").is_file()


@pytest.mark.parametrize("dataset", DATASETS)
def test_full_scale_plan_has_published_counts(dataset):
    plans = plan_dataset(dataset, 1.0, np.random.default_rng([0, DATASETS.index(dataset), 0]))
    kept = [p for p in plans if p.label is not None]
    published = PUBLISHED_COMPOSITE[dataset]
    assert len({p.subject for p in kept}) == published["subjects"]
    assert sorted({p.subject for p in kept}) == PUBLISHED_SUBJECTS[dataset]
    for index, name in enumerate(CLASS_NAMES):
        assert sum(p.label == index for p in kept) == published[name]
    if dataset != "smic":  # SMIC is already 3-class; the others get a few rows the composite drops
        assert len(plans) > len(kept)
    assert len({(p.subject, p.clip) for p in plans}) == len(plans)


@pytest.mark.parametrize("scale", [0.02, 0.05, TEACHING_SCALE, 0.5])
def test_smaller_scales_keep_every_class(scale):
    total_subjects = 0
    for dataset in DATASETS:
        subjects, classes = scaled_counts(dataset, scale)
        assert min(classes.values()) >= 1 and subjects >= 2
        total_subjects += subjects
    if scale == TEACHING_SCALE:
        assert 10 <= total_subjects <= 14


def test_tiny_synth_loads_with_every_class(tiny):
    table, report = load_composite(casme2=tiny / "casme2", samm=tiny / "samm", smic=tiny / "smic")
    for dataset in DATASETS:
        assert set(table.loc[table["dataset"] == dataset, "label"]) == {0, 1, 2}
    assert report.dropped_emotions  # the mapping is exercised


def test_ground_truth_flow_explains_the_motion(tiny):
    table, _ = load_composite(casme2=tiny / "casme2", samm=tiny / "samm", smic=tiny / "smic")
    row = table[table["dataset"] == "casme2"].iloc[0]
    truth = read_ground_truth(tiny, "casme2", row["subject"], row["clip"])
    flow = truth["flow"]
    onset = read_frame(frame_path(row, truth["onset"])).astype(np.float32)
    apex = read_frame(frame_path(row, truth["apex"])).astype(np.float32)
    assert flow.shape == (*onset.shape, 2) and truth["landmarks_apex"].shape == (68, 2)
    assert truth["onset"] == row["onset"] and truth["offset"] == row["offset"]
    assert row["onset"] <= truth["apex"] <= row["offset"]
    assert 0.5 < np.abs(flow).max() < 6.0  # micro amplitude
    grid_y, grid_x = np.mgrid[0:onset.shape[0], 0:onset.shape[1]].astype(np.float32)
    warped_back = cv2.remap(apex, grid_x + flow[..., 0], grid_y + flow[..., 1], cv2.INTER_CUBIC)
    moving = np.linalg.norm(flow, axis=-1) > 0.5

    def residual(image: np.ndarray) -> float:  # blur away sensor noise, remove the flicker's gain offset
        difference = cv2.GaussianBlur(image - onset, (0, 0), 1.5)[moving]
        return float(np.abs(difference - np.median(difference)).mean())

    assert residual(warped_back) < 0.6 * residual(apex)
    assert truth["action_units"]


def test_ground_truth_flow_inverts_the_warp():
    landmarks = np.zeros((68, 2), np.float32)
    landmarks[:, 0], landmarks[:, 1] = np.linspace(10, 50, 68), 30
    landmarks[36:42], landmarks[42:48] = (20, 20), (40, 20)
    field = au_field(landmarks, (60, 60), [(12, "", 2.0), (1, "", 1.5)])
    flow = ground_truth_flow(np.zeros_like(field), field)
    # a texture point q seen at onset at q is at q + flow(q) at apex, where y - field(y) == q
    y = np.stack(np.mgrid[0:60, 0:60][::-1], -1).astype(np.float32) + flow
    sampled = sample_field(field, y)
    residual = y - sampled - np.stack(np.mgrid[0:60, 0:60][::-1], -1)
    assert np.abs(residual).max() < 1e-3


def test_ensure_synthme_is_load_if_present(tmp_path):
    roots = ensure_synthme(tmp_path, scale=0.02, seed=0)
    assert set(roots) == {"casme2", "samm", "smic"}
    marker = roots["casme2"].parent / "synthme.json"
    stamp = marker.stat().st_mtime_ns
    again = ensure_synthme(tmp_path, scale=0.02, seed=0)
    assert again == roots and marker.stat().st_mtime_ns == stamp
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no staging folder left


def test_cli_synth(tmp_path, capsys):
    assert cli_main(["synth", "--out", str(tmp_path / "s"), "--scale", "0.02", "--seed", "1"]) == 0
    assert "total" in capsys.readouterr().out
    assert cli_main(["synth", "--out", str(tmp_path / "s"), "--scale", "0.02", "--seed", "2"]) == 2
