"""SynthME 2: difficulty levels, and each realism knob's effect measured on a tiny clip or a tiny dataset."""

from __future__ import annotations

import hashlib
import json
from dataclasses import replace
from pathlib import Path

import cv2
import numpy as np
import pandas as pd
import pytest

from emhnet_lite.cli import main as cli_main
from emhnet_lite.data import load_composite
from emhnet_lite.preprocess.regions import region_centres
from emhnet_lite.synth import SynthConfig, generate_synthme, ground_truth_index, read_ground_truth
from emhnet_lite.synth.faces import sample_face
from emhnet_lite.synth.identity import dress_face
from emhnet_lite.synth.layout import ClipPlan
from emhnet_lite.synth.motion import AU_BUMPS, au_field
from emhnet_lite.synth.realclip import render_real_clip
from emhnet_lite.synth.realism import (
    SHARED_RECIPES,
    NoiseBank,
    Nuisance,
    RigidMotion,
    control_bumps,
    draw_nuisance,
    draw_timing,
    shading_gain,
    shading_planes,
    shared_recipe,
)

#: ground_truth/index.csv of ``generate_synthme(scale=0.05, seed=3)`` from the generator before SynthME 2
EASY_INDEX_SHA256 = "d6c49233b1b2b0a7e78f076e9411884d08caba4ba3690214621031aac1b2dc50"


def tree_digest(root: Path) -> dict[str, str]:
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file()}


@pytest.fixture(scope="module")
def real(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("real") / "synthme"
    generate_synthme(out, scale=0.02, seed=5, difficulty="real")
    return out


def tiny_clip(config: SynthConfig, emotion: str = "happiness", seed: int = 0, fps: int = 200):
    """Render one CASME II-like clip on a small canvas with ``config``'s knobs: (frames, truth, extras)."""
    rng = np.random.default_rng(seed)
    face = sample_face(rng, 96, 112)
    subject = dress_face(face, rng, config.identity, config.relief)
    plan = ClipPlan("casme2", "sub01", 0, "EP01_01", emotion, 1, 40, 3, 15, 36, 15)
    noise = NoiseBank(np.random.default_rng(1), (112, 96, 3), size=4)
    frames, truth, _, extras = render_real_clip(plan, subject, 1, fps, True, noise, (1.0, 1.0), 0.0,
                                                np.random.default_rng(seed + 1), config)
    return frames, truth, extras


def test_easy_is_the_original_generator(tmp_path):
    generate_synthme(tmp_path / "easy", scale=0.05, seed=3)
    index = (tmp_path / "easy" / "ground_truth" / "index.csv").read_bytes()
    assert hashlib.sha256(index).hexdigest() == EASY_INDEX_SHA256
    manifest = json.loads((tmp_path / "easy" / "synthme.json").read_text())
    assert set(manifest["config"]) == {"scale", "seed", "amplitude_min", "amplitude_max", "version"}
    assert SynthConfig().is_easy and SynthConfig().tag == "" and not SynthConfig.preset("real").is_easy


def test_presets_and_knob_errors(tmp_path):
    hard = generate_synthme(tmp_path / "hard", scale=0.02, seed=1, difficulty="hard")
    table, _ = load_composite(**hard)
    assert set(table["label"]) == {0, 1, 2}
    real = SynthConfig.preset("real", seed=4)
    assert real.timing_ms and real.head_motion > 0 and real.tag == "real"
    assert SynthConfig.preset("real", region_control=True).tag == "real_rc"
    assert SynthConfig.preset("real", head_motion=0.5).tag.startswith("real_custom")
    with pytest.raises(ValueError, match="unknown SynthME knob"):
        SynthConfig.preset("real", wobble=1)
    with pytest.raises(ValueError, match="difficulty"):
        SynthConfig.preset("medium")


def test_real_is_byte_identical_for_the_same_seed(real, tmp_path):
    again = tmp_path / "again"
    generate_synthme(again, scale=0.02, seed=5, difficulty="real")
    assert tree_digest(again) == tree_digest(real)


def test_real_reads_with_the_real_readers_and_differs_by_domain(real):
    table, report = load_composite(casme2=real / "casme2", samm=real / "samm", smic=real / "smic")
    assert report.matches_published is False and len(table) > 0
    for dataset, shape in (("casme2", (196, 168, 3)), ("samm", (224, 224)), ("smic", (126, 112, 3))):
        row = table[table["dataset"] == dataset].iloc[0]
        frame = cv2.imread(str(Path(row["frame_dir"]) / row["frame_template"].format(frame=int(row["onset"]))),
                           cv2.IMREAD_UNCHANGED)
        assert frame.shape == shape


def test_timing_in_ms_makes_200_fps_clips_twice_as_long():
    rng = np.random.default_rng(0)
    spans = {fps: [] for fps in (100, 200)}
    for fps in spans:
        for _ in range(300):
            t = draw_timing(rng, "casme2", fps, 1, 0.0, 10)
            spans[fps].append(t["offset"] - t["onset"])
            assert (t["offset"] - t["onset"]) / fps * 1000 <= 501
            assert (t["true_apex"] - t["onset"]) / fps * 1000 <= 251
    median = {fps: np.median(v) for fps, v in spans.items()}
    assert 40 <= median[200] <= 80 and abs(median[200] / median[100] - 2) < 0.1  # tens of frames at 200 fps


def test_apex_annotation_noise_in_the_dataset(real):
    index = ground_truth_index(real)
    coded = index[index["dataset"].isin(["casme2", "samm"]) & index["annotated_apex"].str.fullmatch(r"\d+")]
    error = coded["annotated_apex"].astype(int) - coded["true_apex"]
    assert (error != 0).mean() > 0.5 and error.abs().max() <= 20  # 15 ms sd at 200 fps: a few frames


def test_head_motion_is_not_removed_by_median_subtraction():
    centre = np.array([48.0, 56.0])

    def residual(rigid: list[float]) -> float:
        nuisance = Nuisance(np.array(rigid), (0.0, 1.0, 0.0), (0.0, 0.0, 0.0))
        field = RigidMotion(nuisance, centre, 96, 112).displacement(0.3)  # [H, W, 2]
        return float(np.abs(field - np.median(field.reshape(-1, 2), 0)).max())

    assert residual([4, -3, 0, 0, 0, 0]) < 1e-3  # a pure translation: removed exactly (easy's drift)
    for rotation_or_scale_or_perspective in ([0, 0, 3, 0, 0, 0], [0, 0, 0, 0.05, 0, 0], [0, 0, 0, 0, 5, 5]):
        assert residual(rotation_or_scale_or_perspective) > 0.3


def test_head_motion_moves_the_rendered_face_and_the_ground_truth_follows():
    still, truth_still, _ = tiny_clip(SynthConfig.preset("real", head_motion=0.0, illumination=0.0))
    moving, truth_moving, _ = tiny_clip(SynthConfig.preset("real", head_motion=3.0, illumination=0.0))
    assert np.abs(truth_moving["flow"] - truth_still["flow"]).mean() > 0.05
    assert np.abs(moving[-1].astype(float) - still[-1]).mean() > 1.0


def test_shading_gradient_varies_over_the_face_and_over_time():
    landmarks = sample_face(np.random.default_rng(0), 96, 112).landmarks
    planes = shading_planes(landmarks, 96, 112)
    nuisance = Nuisance(np.zeros(6), (0.0, 1.0, 0.0), (0.05, 0.3, 2.0))
    first, later = shading_gain(nuisance, 0.0, planes), shading_gain(nuisance, 0.4, planes)
    assert first.std() > 0.01 and np.abs(first - later).max() > 0.02


def test_sensor_noise_is_per_dataset(real):
    table, _ = load_composite(casme2=real / "casme2", samm=real / "samm", smic=real / "smic")
    noise = {}
    for dataset in ("casme2", "smic"):
        row = table[table["dataset"] == dataset].iloc[0]
        frames = [cv2.imread(str(Path(row["frame_dir"]) / row["frame_template"].format(frame=int(row["onset"]) + k)),
                             cv2.IMREAD_GRAYSCALE).astype(np.float32) for k in (0, 1)]
        noise[dataset] = float(np.std(frames[1] - frames[0]))  # temporal noise between neighbouring frames
    assert noise["smic"] > noise["casme2"]


def test_blinks_speech_and_distractor_timing_are_drawn():
    rng = np.random.default_rng(0)
    nuisance = draw_nuisance(rng, 1.0, 0.03, 300.0, 2, True, speech=1.0, blink_rate=1e6, peak=2.0)
    assert nuisance.blink_ms is not None and nuisance.speech is not None
    assert len({t[0] for t in nuisance.distractor_times}) == 2  # each distractor on its own time course
    quiet = draw_nuisance(rng, 1.0, 0.03, 300.0, 1, False, speech=0.0, blink_rate=0.0, peak=2.0)
    assert quiet.blink_ms is None and quiet.speech is None and np.isnan(quiet.distractor_times[0][0])


def test_speech_moves_the_lower_face_only():
    base = SynthConfig.preset("real", head_motion=0.0, illumination=0.0, blink_rate=0.0, identity=0.0)
    quiet, _, _ = tiny_clip(replace(base, speech=0.0), emotion="fear")
    talking, _, extras = tiny_clip(replace(base, speech=1.0), emotion="fear")
    assert extras["speech"] == 1
    difference = np.abs(np.stack(talking).astype(float) - np.stack(quiet))  # [T, H, W, 3]: noise + speech
    upper, mouth = difference[:, 10:45].mean(), difference[:, 80:105, 30:66].mean()
    assert mouth > upper + 0.2


def test_ambiguity_and_label_noise():
    rng = np.random.default_rng(0)
    shown = [shared_recipe(rng, "happiness", 1, 0.0, 1.0)[0] for _ in range(50)]
    assert all(e != "happiness" for e in shown)  # every clip shows another class
    recipes = [shared_recipe(rng, "surprise", 2, 1.0, 0.0)[1] for _ in range(50)]
    assert set(recipes) <= set(SHARED_RECIPES["surprise"]) and any(4 in r for r in recipes)  # AU4 in surprise
    assert shared_recipe(rng, "fear", None, 0.0, 1.0)[0] == "fear"  # dropped emotions keep theirs


def test_identity_variety_and_occluders_hide_motion():
    traits = [dress_face(sample_face(np.random.default_rng(k), 96, 112), np.random.default_rng(k), 1.0, 1.0)
              for k in range(40)]
    assert any("glasses" in t.traits for t in traits) and any("fringe" in t.traits for t in traits)
    occluded = next(t for t in traits if t.occluder is not None)
    assert occluded.occluder.max() > 0.9
    widths = [np.ptp(t.face.landmarks[:, 0]) for t in traits]
    assert np.std(widths) > 1.0


def test_relief_lets_dlib_find_the_faces():
    pytest.importorskip("dlib")
    from emhnet_lite.preprocess.landmarks import landmarks_from_dlib

    found = 0
    for k in range(4):
        face = sample_face(np.random.default_rng([7, k]), 168, 196)
        subject = dress_face(face, np.random.default_rng([8, k]), 0.0, 1.0)
        gray = cv2.cvtColor(np.clip(subject.image, 0, 255).astype(np.uint8), cv2.COLOR_RGB2GRAY)
        found += landmarks_from_dlib(gray).source == "dlib"
    assert found == 4


def test_region_control_moves_class_motion_off_the_region_centres():
    face = sample_face(np.random.default_rng(0), 168, 196)
    centres = region_centres(face.landmarks)  # [4, 2] (x, y)
    grid = np.stack(np.mgrid[0:196, 0:168][::-1], -1).astype(np.float32)  # [H, W, 2] (x, y)
    near = (np.linalg.norm(grid[:, :, None] - centres, axis=-1) < 0.35 * face.interocular).any(-1)
    table = control_bumps()
    natural_near = control_near = 0.0
    for au in AU_BUMPS:
        natural = np.linalg.norm(au_field(face.landmarks, (196, 168), [(au, "", 2.0)]), axis=-1)
        control = np.linalg.norm(au_field(face.landmarks, (196, 168), [(au, "", 2.0)], table), axis=-1)
        assert control.max() > 1.0  # the motion is still there, elsewhere
        assert control[near].sum() / control.sum() < 0.3, au
        natural_near += natural[near].sum() / natural.sum() / len(AU_BUMPS)
        control_near += control[near].sum() / control.sum() / len(AU_BUMPS)
    assert natural_near > 0.5 and control_near < 0.1  # measured: about 0.6 and 0.06


def test_cli_synth_difficulty_and_knobs(tmp_path, capsys):
    out = tmp_path / "s"
    assert cli_main(["synth", "--out", str(out), "--scale", "0.02", "--difficulty", "real",
                     "--knob", "speech=0.5", "--region-control"]) == 0
    config = json.loads((out / "synthme.json").read_text())["config"]
    assert config["difficulty"] == "real" and config["speech"] == 0.5 and config["region_control"] is True
    row = ground_truth_index(out).query("dataset == 'casme2'").iloc[0]
    assert read_ground_truth(out, "casme2", row["subject"], row["clip"])["flow"].shape == (196, 168, 2)
    assert cli_main(["synth", "--out", str(tmp_path / "t"), "--knob", "wobble=1"]) == 2
    assert "unknown SynthME knob" in capsys.readouterr().err


def test_chapter_gallery_figures_render(real, tmp_path):
    import matplotlib

    matplotlib.use("Agg")
    from emhnet_lite.synth import gallery

    table, _ = load_composite(casme2=real / "casme2", samm=real / "samm", smic=real / "smic")
    figures = [gallery.timing_figure(), gallery.head_motion_figure(), gallery.illumination_figure(),
               gallery.sensor_figure(table, table), gallery.distractor_figure(), gallery.identity_figure((0, 5)),
               gallery.region_control_figure()]
    for k, figure in enumerate(figures):
        figure.savefig(tmp_path / f"{k}.png", dpi=40)
    assert len(list(tmp_path.glob("*.png"))) == len(figures)


def test_loso_passes_the_synthme_level_to_its_shards():
    import argparse

    from emhnet_lite.commands import loso

    parser = argparse.ArgumentParser()
    loso.add_arguments(parser)
    args = parser.parse_args(["--data", "d", "--out", "o", "--synthme-scale", "0.02", "--synthme-difficulty", "real",
                              "--synthme-seed", "3"])
    argv = loso._child_argv(args, "1/2")
    assert argv[argv.index("--synthme-difficulty") + 1] == "real" and argv[argv.index("--synthme-seed") + 1] == "3"


def test_teaching_set_at_real_is_prepared_with_dlib(tmp_path):
    pytest.importorskip("dlib")
    from emhnet_lite.teaching import load_teaching_set

    prepared = load_teaching_set(tmp_path, scale=0.02, seed=5, difficulty="real", workers=1)
    manifest = next((tmp_path / "cache").glob("synthme_real_scale0.02_seed5/*/manifest.csv"))
    sources = pd.read_csv(manifest)["landmark_source"]
    assert len(prepared) > 0 and (sources == "dlib").mean() >= 0.8 and "synth" not in set(sources)
