"""The preprocessing cache: manifest, incremental reruns, atomic writes, parallel = sequential, bad rows."""

from __future__ import annotations

import cv2
import numpy as np
import pandas as pd
import pytest
import torch
from skimage import data

from emhnet_lite.data.frames import FrameError
from emhnet_lite.dataset import PreparedSet
from emhnet_lite.preprocess import PreprocessConfig, cache_key, prepare_dataset, prepare_sample, write_report
from emhnet_lite.preprocess import cache as cache_module

CONFIG = PreprocessConfig(landmark_source="dlib", flow_backend="farneback")


def write_clip(folder, shift: float, frames: int = 5, bump: tuple[float, ...] | None = None) -> None:
    """Frames img1..imgN of the astronaut's face drifting right by ``shift`` px per frame, optionally with a
    local upward movement of the mouth area whose amplitude (px) per frame is ``bump``."""
    face = cv2.cvtColor(data.astronaut(), cv2.COLOR_RGB2BGR)[20:276, 100:356]  # [256, 256, 3]
    rows, cols = np.mgrid[0:256, 0:256].astype(np.float32)
    local = np.exp(-((cols - 128) ** 2 + (rows - 150) ** 2) / (2 * 25.0**2)).astype(np.float32)  # [256, 256]
    folder.mkdir(parents=True)
    for n in range(1, frames + 1):
        lift = 0.0 if bump is None else bump[n - 1]
        map_x = cols - shift * (n - 1)
        map_y = rows + lift * local  # content moves up by `lift` around the mouth
        frame = cv2.remap(face, map_x, map_y, cv2.INTER_CUBIC, borderMode=cv2.BORDER_REFLECT)
        cv2.imwrite(str(folder / f"img{n}.png"), frame)


def row(tmp_path, clip: str, subject: str = "sub01", onset: int = 1, apex: int = 3, offset: int = 5,
        label=0, apex_source: str = "annotated") -> dict:
    return {"dataset": "casme2", "subject": subject, "clip": clip, "onset": onset, "apex": apex,
            "offset": offset, "apex_source": apex_source, "emotion": "disgust", "label": label,
            "action_units": "", "fps": 200, "frame_dir": str(tmp_path / "frames" / clip),
            "frame_template": "img{frame}.png"}


@pytest.fixture(scope="module")
def clips(tmp_path_factory):
    root = tmp_path_factory.mktemp("clips")
    write_clip(root / "frames" / "EP01", 0.5)
    write_clip(root / "frames" / "EP02", -0.5)
    write_clip(root / "frames" / "EP04", 0.4, frames=7, bump=(0, 1, 2, 3, 2, 1, 0))  # apex = frame 4
    (root / "frames" / "EP03").mkdir()
    (root / "frames" / "EP03" / "img1.png").write_bytes(b"not an image")
    table = pd.DataFrame([row(root, "EP01"), row(root, "EP02", subject="sub02", label=1),
                          row(root, "EP03"), row(root, "EP01", subject="sub03", label=pd.NA)])
    table["label"] = table["label"].astype("Int64")
    return root, table


def test_manifest_lists_every_sample_with_status_and_sources(clips, tmp_path):
    _, table = clips
    prepared = prepare_dataset(table, CONFIG, tmp_path / "cache", workers=1)
    assert isinstance(prepared, PreparedSet) and len(prepared) == 2
    assert tuple(prepared.flows.shape) == (2, 3, 28, 28) and prepared.labels.tolist() == [0, 1]
    manifest = pd.read_csv(tmp_path / "cache" / cache_key(CONFIG) / "manifest.csv")
    assert manifest["status"].tolist() == ["ok", "ok", "error", "skipped_no_label"]
    assert "EP03/img1.png" in manifest.loc[2, "error"] and "cannot be decoded" in manifest.loc[2, "error"]
    assert manifest.loc[0, "landmark_source"] == "dlib" and manifest.loc[0, "flow_backend"] == "farneback"
    report = write_report(tmp_path / "cache" / cache_key(CONFIG))
    assert "status error: 1" in report and "landmark source dlib: 2" in report
    payload = torch.load(tmp_path / "cache" / cache_key(CONFIG) / "casme2/sub01/EP01.pt", weights_only=True)
    assert set(payload) == {"flow", "boxes", "landmarks", "info"}


def test_rerun_is_incremental_and_identical(clips, tmp_path):
    _, table = clips
    first = prepare_dataset(table, CONFIG, tmp_path, workers=1)
    done = tmp_path / cache_key(CONFIG) / "casme2/sub01/EP01.pt"
    stamp = done.stat().st_mtime_ns
    second = prepare_dataset(table, CONFIG, tmp_path, workers=1)
    assert done.stat().st_mtime_ns == stamp  # not recomputed
    assert torch.equal(first.flows, second.flows) and torch.equal(first.boxes, second.boxes)


def test_changed_frames_are_recomputed_not_trusted(clips, tmp_path):
    root, table = clips
    clip_dir = tmp_path / "frames" / "EP01"
    write_clip(clip_dir, 0.5)
    rows = table.iloc[:1].assign(frame_dir=str(clip_dir))
    before = prepare_dataset(rows, CONFIG, tmp_path / "cache", workers=1)
    cv2.imwrite(str(clip_dir / "img3.png"), cv2.imread(str(clip_dir / "img5.png")))  # the data changed
    after = prepare_dataset(rows, CONFIG, tmp_path / "cache", workers=1)
    assert not torch.equal(before.flows, after.flows)
    again = prepare_dataset(rows, CONFIG, tmp_path / "cache", workers=1)
    assert torch.equal(after.flows, again.flows)


def test_parallel_processes_equal_sequential(clips, tmp_path):
    _, table = clips  # TV-L1: the parent uses OpenCV's thread pool, the workers one thread each
    config = PreprocessConfig(landmark_source="dlib")
    sequential = prepare_dataset(table.iloc[:2], config, tmp_path / "one", workers=1)
    parallel = prepare_dataset(table, config, tmp_path / "two", workers=2)
    assert torch.equal(sequential.flows, parallel.flows) and torch.equal(sequential.boxes, parallel.boxes)


def test_interrupted_write_leaves_no_sample_file(clips, tmp_path, monkeypatch):
    _, table = clips

    def crash(obj, path):
        with open(path, "wb") as handle:
            handle.write(b"half")
        raise KeyboardInterrupt("killed mid-write")

    monkeypatch.setattr(cache_module.torch, "save", crash)
    with pytest.raises(KeyboardInterrupt):
        prepare_dataset(table.iloc[:1], CONFIG, tmp_path, workers=1)
    folder = tmp_path / cache_key(CONFIG)
    assert not (folder / "casme2/sub01/EP01.pt").exists()
    assert list(folder.rglob("*.pt")) == [] and list(folder.rglob("*.tmp")) == []
    monkeypatch.undo()
    assert len(prepare_dataset(table.iloc[:1], CONFIG, tmp_path, workers=1)) == 1


def test_cache_key_follows_the_config():
    assert cache_key(CONFIG) != cache_key(PreprocessConfig(landmark_source="dlib", flow_backend="tvl1"))
    assert cache_key(CONFIG) == cache_key(PreprocessConfig(landmark_source="dlib", flow_backend="farneback"))


def test_onset_equal_apex_uses_middle_frame_and_counts_it(clips):
    root, _ = clips
    sample = prepare_sample(row(root, "EP01", apex=1), CONFIG)
    assert sample.info["apex"] == 3 and sample.info["fallbacks"] == ["apex_equals_onset_middle"]
    with pytest.raises(FrameError, match="onset == apex == offset"):
        prepare_sample(row(root, "EP01", apex=1, offset=1), CONFIG)


def test_missing_frame_names_the_file(clips):
    root, _ = clips
    with pytest.raises(FrameError, match="img9.png: frame file not found"):
        prepare_sample(row(root, "EP01", apex=9, offset=9), CONFIG)


@pytest.mark.parametrize("policy, expected", [("middle", 4), ("spot", 4), ("table", 6)])
def test_apex_policy_for_unannotated_clips(clips, policy, expected):
    root, _ = clips  # EP04: a mouth movement peaking at frame 4 under a head drift that peaks at frame 7
    config = PreprocessConfig(landmark_source="dlib", flow_backend="farneback", apex_policy=policy)
    sample = prepare_sample(row(root, "EP04", apex=6, offset=7, apex_source="middle"), config)
    assert sample.info["apex"] == expected and sample.info["apex_source"] == (
        "middle" if policy == "table" else policy)


def test_spot_ignores_head_drift(clips):
    root, _ = clips  # EP04 drifts most at frame 7; without drift compensation spotting would pick it
    from emhnet_lite.data.frames import frame_path, read_frame
    from emhnet_lite.preprocess.apex import spot_apex
    from emhnet_lite.preprocess.landmarks import detect_dlib

    clip = row(root, "EP04", offset=7)
    points, _ = detect_dlib(read_frame(frame_path(clip, 1)))
    spotted, curve = spot_apex(lambda n: read_frame(frame_path(clip, n)), 1, 7, points)
    assert spotted == 4 and curve[3] > curve[6]
