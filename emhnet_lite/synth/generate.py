"""Write SynthME: three release-shaped trees (CASME II, SAMM, SMIC-HS) plus ground truth beside them.

``DIR/casme2``, ``DIR/samm`` and ``DIR/smic`` are what the readers load; ``DIR/ground_truth/`` holds per clip
the onset->apex flow, onset/apex landmarks, the true apex and the AUs; ``DIR/synthme.json`` the manifest.
"""

from __future__ import annotations

import functools
import io
import json
import os
import shutil
import tempfile
import zipfile
from dataclasses import replace
from pathlib import Path

import cv2
import numpy as np
import pandas as pd

from emhnet_lite.constants import DATASETS
from emhnet_lite.data.casme2 import CASME2_WORKBOOK
from emhnet_lite.data.samm import SAMM_WORKBOOK
from emhnet_lite.errors import ConfigError, OutputExistsError, PathError
from emhnet_lite.progress import progress
from emhnet_lite.synth.config import SYNTHME_VERSION, SynthConfig
from emhnet_lite.synth.faces import FaceShape, render_face, sample_face
from emhnet_lite.synth.identity import dress_face
from emhnet_lite.synth.layout import SPECS, ClipPlan, plan_dataset, write_casme2_workbook, write_samm_workbook
from emhnet_lite.synth.motion import (
    HABIT_AUS,
    ClipMotion,
    au_field,
    blink_field,
    clip_truth,
    intensity_profile,
    sample_motion,
)
from emhnet_lite.synth.realclip import render_real_clip
from emhnet_lite.synth.realism import DOMAINS, Domain, NoiseBank, draw_timing

#: Scale of the teaching notebooks: 12 subjects (3 SMIC, 4 CASME II, 5 SAMM), every class in every dataset.
TEACHING_SCALE = 0.18
MANIFEST = "synthme.json"
GROUND_TRUTH = "ground_truth"
JPEG_QUALITY = 92


def dataset_roots(root: str | os.PathLike) -> dict[str, Path]:
    """The three dataset roots inside a SynthME folder, keyed like ``load_composite``'s arguments."""
    root = Path(root)
    return {"casme2": root / "casme2", "samm": root / "samm", "smic": root / "smic"}


def synthme_dirname(scale: float, seed: int, tag: str = "") -> str:
    """Folder name that keys a cached SynthME copy by scale, seed and level tag (``SynthConfig.tag``)."""
    return f"synthme_{tag + '_' if tag else ''}scale{scale:g}_seed{seed}"


def _npz_bytes(arrays: dict[str, np.ndarray], compress: bool = True) -> bytes:
    """A ``.npz`` (deflated, or stored: SynthME 2's budget) with fixed zip timestamps (``np.savez`` stamps
    the current time)."""
    method = zipfile.ZIP_DEFLATED if compress else zipfile.ZIP_STORED
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", method) as archive:
        for name, array in arrays.items():
            member = io.BytesIO()
            np.save(member, np.ascontiguousarray(array), allow_pickle=False)
            info = zipfile.ZipInfo(f"{name}.npy", date_time=(2014, 5, 8, 0, 0, 0))
            info.compress_type = method
            info.external_attr = 0o600 << 16
            archive.writestr(info, member.getvalue())
    return buffer.getvalue()


def _drift(motion: ClipMotion, index: int, count: int) -> np.ndarray:
    """Head translation (dx, dy) in px at clip frame ``index``: a slow ramp plus a small wobble."""
    t = index / max(count - 1, 1)
    wobble = motion.drift_wobble * np.sin(2 * np.pi * 1.3 * t + motion.flicker_phase)
    return np.array(motion.drift_px, np.float32) * t + wobble


def _render_clip(plan: ClipPlan, face: FaceShape, base: np.ndarray, habit: int, rng: np.random.Generator,
                 config: SynthConfig) -> tuple[list[np.ndarray], dict[str, np.ndarray], ClipMotion]:
    """Frames (uint8, RGB or gray) of one clip, its ground-truth arrays and its motion."""
    count = plan.last_frame - plan.first_frame + 1
    motion = sample_motion(rng, plan.emotion, (config.amplitude_min, config.amplitude_max), count, habit)
    shape = (face.height, face.width)
    expression = au_field(face.landmarks, shape, motion.aus + motion.distractors)
    blink = blink_field(face.landmarks, shape) if motion.blink_frame is not None else None
    grid_y, grid_x = np.mgrid[0:face.height, 0:face.width].astype(np.float32)

    def displacement(frame: int) -> np.ndarray:
        index = frame - plan.first_frame
        field_xy = expression * intensity_profile(frame, plan.onset, plan.true_apex, plan.offset)
        field_xy = field_xy + _drift(motion, index, count)
        if blink is not None:
            field_xy = field_xy + blink * float(np.exp(-((index - motion.blink_frame) ** 2)
                                                      / (2 * motion.blink_width ** 2)))
        return field_xy.astype(np.float32)

    frames = []
    for frame in range(plan.first_frame, plan.last_frame + 1):
        field_xy = displacement(frame)
        warped = cv2.remap(base, grid_x - field_xy[..., 0], grid_y - field_xy[..., 1], cv2.INTER_CUBIC,
                           borderMode=cv2.BORDER_REFLECT101)
        index = frame - plan.first_frame
        gain = 1 + motion.flicker_amplitude * np.sin(2 * np.pi * index / 7.0 + motion.flicker_phase)
        if not SPECS[plan.dataset].color:
            warped = cv2.cvtColor(warped, cv2.COLOR_RGB2GRAY)
        noisy = warped * gain + rng.normal(0, motion.noise_sigma, warped.shape).astype(np.float32)
        frames.append(np.clip(np.round(noisy), 0, 255).astype(np.uint8))
    onset_field, apex_field = displacement(plan.onset), displacement(plan.true_apex)
    truth = clip_truth(onset_field, apex_field, face.landmarks, (plan.onset, plan.true_apex, plan.offset))
    return frames, truth, motion


def _encode(image: np.ndarray, suffix: str, quality: int = JPEG_QUALITY) -> bytes:
    """JPEG (fixed quality, baseline) or BMP bytes of an RGB or gray uint8 frame."""
    if image.ndim == 3:
        image = cv2.cvtColor(image, cv2.COLOR_RGB2BGR)
    params = [cv2.IMWRITE_JPEG_QUALITY, quality, cv2.IMWRITE_JPEG_OPTIMIZE, 0] if suffix == ".jpg" else []
    ok, data = cv2.imencode(suffix, image, params)
    if not ok:
        raise RuntimeError(f"could not encode a {suffix} frame")
    return data.tobytes()


def _canvas(dataset: str, config: SynthConfig) -> Domain:
    """The dataset's canvas, colour, noise, compression and blur (``easy``'s unless ``sensor_domains``)."""
    if config.sensor_domains:
        return DOMAINS[dataset]
    spec = SPECS[dataset]
    return Domain(spec.width, spec.height, spec.color, (0.8, 1.5), JPEG_QUALITY, 0.0)


def _retime(plan: ClipPlan, dataset_index: int, clip_index: int, config: SynthConfig) -> ClipPlan:
    """SynthME 2 timing: frames from millisecond durations and a noisy annotated apex (own random stream)."""
    rng = np.random.default_rng([config.seed, dataset_index, 3, clip_index])
    fps = SPECS[plan.dataset].fps
    if config.timing_ms:
        return replace(plan, **draw_timing(rng, plan.dataset, fps, plan.first_frame, config.apex_noise_ms,
                                           plan.apex_cell))
    if isinstance(plan.apex_cell, int) and plan.apex_cell != -1:
        error = int(round(rng.normal(0, config.apex_noise_ms) * fps / 1000))
        return replace(plan, apex_cell=int(np.clip(plan.true_apex + error, plan.onset + 1, plan.offset - 1)))
    return plan


def _write_tree(out: Path, config: SynthConfig) -> dict:
    """Generate every dataset into ``out`` (an empty folder); returns the manifest."""
    ground_rows = []
    counts = {}
    for dataset_index, dataset in enumerate(DATASETS):
        spec = SPECS[dataset]
        plan_rng = np.random.default_rng([config.seed, dataset_index, 0])
        plans = plan_dataset(dataset, config.scale, plan_rng)
        root = out / dataset
        faces: dict[int, tuple] = {}
        action_units = {}
        canvas = _canvas(dataset, config)
        noise = None if config.is_easy else NoiseBank(np.random.default_rng([config.seed, dataset_index, 5]),
                                                       canvas.shape, blur=canvas.blur)
        for clip_index, plan in enumerate(progress(plans, desc=f"SynthME {dataset}", unit="clip")):
            if config.timing_ms or config.apex_noise_ms:
                plan = plans[clip_index] = _retime(plan, dataset_index, clip_index, config)
            if plan.subject_index not in faces:
                face_rng = np.random.default_rng([config.seed, dataset_index, 1, plan.subject_index])
                face = sample_face(face_rng, canvas.width, canvas.height)
                habit = int(face_rng.choice(HABIT_AUS))
                if config.is_easy:
                    faces[plan.subject_index] = (face, render_face(face, face_rng), habit)
                else:
                    identity_rng = np.random.default_rng([config.seed, dataset_index, 4, plan.subject_index])
                    faces[plan.subject_index] = (dress_face(face, identity_rng, config.identity, config.relief,
                                                                            config.sensor_domains),
                                                 None, habit)
            face, base, habit = faces[plan.subject_index]
            clip_rng = np.random.default_rng([config.seed, dataset_index, 2, clip_index])
            extras: dict = {}
            if config.is_easy:
                frames, truth, motion = _render_clip(plan, face, base, habit, clip_rng, config)
            else:
                frames, truth, motion, extras = render_real_clip(
                    plan, face, habit, spec.fps, canvas.color, noise, canvas.noise, canvas.blur, clip_rng, config)
                face = face.face
            frame_dir = plan.frame_dir(root)
            frame_dir.mkdir(parents=True, exist_ok=True)
            suffix = Path(plan.frame_template).suffix
            for number, image in zip(range(plan.first_frame, plan.last_frame + 1), frames, strict=True):
                (frame_dir / plan.frame_template.format(frame=number)).write_bytes(
                    _encode(image, suffix, canvas.jpeg_quality))
            truth_path = out / GROUND_TRUTH / dataset / plan.subject / f"{plan.clip}.npz"
            truth_path.parent.mkdir(parents=True, exist_ok=True)
            truth_path.write_bytes(_npz_bytes(truth, compress=config.is_easy))
            action_units[plan.clip + "@" + plan.subject] = motion.action_units
            ground_rows.append({
                "dataset": dataset, "subject": plan.subject, "clip": plan.clip, "emotion": plan.emotion,
                "label": plan.label, "action_units": motion.action_units,
                "distractors": "+".join(str(au) for au, _, _ in motion.distractors),
                "onset": plan.onset, "true_apex": plan.true_apex, "offset": plan.offset,
                "annotated_apex": "" if plan.apex_cell is None else plan.apex_cell,
                "peak_px": round(max(a for _, _, a in motion.aus), 4),
                "drift_x": round(motion.drift_px[0], 4), "drift_y": round(motion.drift_px[1], 4),
                "blink_frame": "" if motion.blink_frame is None else plan.first_frame + motion.blink_frame,
                "face_width": face.width, "face_height": face.height, **extras,
            })
        if dataset == "casme2":
            write_casme2_workbook(root / CASME2_WORKBOOK, plans, action_units)
        elif dataset == "samm":
            write_samm_workbook(root / SAMM_WORKBOOK, plans, action_units)
        counts[dataset] = {"subjects": len({p.subject for p in plans}), "clips": len(plans),
                           "frames": sum(p.last_frame - p.first_frame + 1 for p in plans)}
    index = pd.DataFrame(ground_rows)
    index["label"] = index["label"].astype("Int64")
    (out / GROUND_TRUTH / "index.csv").write_text(index.to_csv(index=False, lineterminator="\n"))
    manifest = {"generator": "SynthME", "config": config.manifest(), "counts": counts,
                "datasets": {d: d for d in DATASETS}, "ground_truth": GROUND_TRUTH}
    (out / MANIFEST).write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n")
    return manifest


def _manifest_matches(folder: Path, config: SynthConfig) -> bool:
    try:
        manifest = json.loads((folder / MANIFEST).read_text())
    except (OSError, ValueError):
        return False
    return manifest.get("config") == config.manifest()


def generate_synthme(out: str | os.PathLike, scale: float = 1.0, seed: int = 0, difficulty: str = "easy",
                     config: SynthConfig | None = None) -> dict[str, Path]:
    """Generate SynthME into ``out`` atomically (temp folder, then rename); same config -> same bytes.

    ``config`` (a full ``SynthConfig``) overrides ``scale``/``seed``/``difficulty``. Returns the three
    dataset roots. An existing ``out`` with the same config is kept (load-if-present); an existing ``out``
    with another config or no manifest is an error (never overwritten).
    """
    config = config or SynthConfig.preset(difficulty, scale=float(scale), seed=int(seed))
    if config.scale <= 0:
        raise ConfigError(f"--scale {config.scale}: must be positive (1.0 = the composite's size)")
    out = Path(out)
    if out.exists():
        if _manifest_matches(out, config):
            return dataset_roots(out)
        raise OutputExistsError(f"{out} exists and is not SynthME with scale={config.scale:g}, seed={config.seed}, "
                                f"difficulty={config.tag or 'easy'} (v{SYNTHME_VERSION}); remove it or choose "
                                "another folder")
    out.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{out.name}.", dir=out.parent))
    try:
        _write_tree(staging, config)
        try:
            os.rename(staging, out)
        except OSError:
            if not _manifest_matches(out, config):  # not a concurrent writer of the same data
                raise
    finally:
        if staging.exists():
            shutil.rmtree(staging)
    return dataset_roots(out)


def ensure_synthme(root: str | os.PathLike, scale: float = TEACHING_SCALE, seed: int = 0,
                   difficulty: str = "easy", region_control: bool = False) -> dict[str, Path]:
    """Load-if-present SynthME under ``root`` keyed by scale, seed and level, generating it once if absent.

    Returns ``{"casme2": ..., "samm": ..., "smic": ...}`` so that ``load_composite(**roots)`` reads it.
    A cached copy from an older generator version is regenerated.
    """
    config = SynthConfig.preset(difficulty, scale=float(scale), seed=int(seed), region_control=region_control)
    folder = Path(root) / synthme_dirname(scale, seed, config.tag)
    if folder.exists() and not _manifest_matches(folder, config):
        shutil.rmtree(folder)
    return generate_synthme(folder, config=config)


def _synth_root(root: str | os.PathLike) -> Path:
    """Accept the SynthME folder or one of its dataset roots."""
    root = Path(root)
    for candidate in (root, root.parent):
        if (candidate / GROUND_TRUTH).is_dir():
            return candidate
    raise PathError(f"no {GROUND_TRUTH}/ folder in {root} or its parent: not a SynthME folder")


def read_ground_truth(root: str | os.PathLike, dataset: str, subject: str, clip: str) -> dict:
    """Ground truth of one clip: ``flow`` [H, W, 2] (u, v) onset->apex px, ``landmarks_onset``/``_apex``
    [68, 2] (x, y), ``onset``/``apex``/``offset`` (true frame numbers) and ``action_units``."""
    synth_root = _synth_root(root)
    path = synth_root / GROUND_TRUTH / dataset / subject / f"{clip}.npz"
    if not path.is_file():
        raise FileNotFoundError(f"no ground truth for {dataset}/{subject}/{clip}: {path} not found")
    with np.load(path, allow_pickle=False) as archive:
        truth = {name: archive[name] for name in archive.files}
    onset, apex, offset = (int(v) for v in truth.pop("frames"))
    index = _read_index(str((synth_root / GROUND_TRUTH / "index.csv").resolve()),
                        (synth_root / GROUND_TRUTH / "index.csv").stat().st_mtime_ns)
    row = index[(index["dataset"] == dataset) & (index["subject"] == subject) & (index["clip"] == clip)]
    truth.update(onset=onset, apex=apex, offset=offset,
                 action_units=str(row["action_units"].iloc[0]) if len(row) else "",
                 distractors=str(row["distractors"].iloc[0]) if len(row) else "")
    return truth


def ground_truth_index(root: str | os.PathLike) -> pd.DataFrame:
    """The per-clip ground-truth table (true apex, AUs, distractors, nuisances) of a SynthME folder."""
    path = _synth_root(root) / GROUND_TRUTH / "index.csv"
    return _read_index(str(path.resolve()), path.stat().st_mtime_ns).copy()


def blinks_at_apex(root: str | os.PathLike, table: pd.DataFrame, within: int = 3) -> np.ndarray:
    """Per row of a composite ``table`` of this SynthME: does the clip blink within ``within`` frames of its true
    apex? Such a blink is in the onset→apex flow, larger than the expression (chapter 01). → bool ``[len(table)]``."""
    index = ground_truth_index(root).set_index(["dataset", "subject", "clip"])
    rows = index.loc[list(zip(table["dataset"], table["subject"], table["clip"], strict=True))]
    return np.array([blink != "" and abs(int(blink) - int(apex)) <= within
                     for blink, apex in zip(rows["blink_frame"], rows["true_apex"], strict=True)], dtype=bool)


@functools.lru_cache(maxsize=8)
def _read_index(path: str, mtime_ns: int) -> pd.DataFrame:
    """Cached read of ``index.csv`` (keyed by path and modification time): one read per folder."""
    index = pd.read_csv(path, dtype={"subject": str, "clip": str, "action_units": str, "distractors": str,
                                     "annotated_apex": str, "blink_frame": str}, keep_default_na=False)
    index["label"] = pd.to_numeric(index["label"].replace("", None)).astype("Int64")
    return index
