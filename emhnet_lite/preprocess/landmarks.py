"""68-point iBUG landmarks (x, y): dlib on real photos, SynthME ground truth, or a fixed canonical template.

dlib's predictor is the iBUG 300-W model shipped by the ``face-recognition-models`` pip package (weights
never downloaded at run time). Its training data (300-W) is licensed for NON-COMMERCIAL research only.
Detection always runs on the full-resolution frame, never on a model-sized thumbnail.
"""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np

from emhnet_lite.errors import KitError, PathError

# iBUG 68-point index groups (image-left = the subject's right side).
JAW = slice(0, 17)
LEFT_BROW, RIGHT_BROW = slice(17, 22), slice(22, 27)
LEFT_EYE, RIGHT_EYE = slice(36, 42), slice(42, 48)
LEFT_LIP_CORNER, RIGHT_LIP_CORNER = 48, 54
#: Index of each point's mirror partner (image left ↔ image right), e.g. for flipping landmarks.
MIRROR_INDEX = (list(range(16, -1, -1)) + list(range(26, 16, -1)) + [27, 28, 29, 30] + [35, 34, 33, 32, 31]
                + [45, 44, 43, 42, 47, 46] + [39, 38, 37, 36, 41, 40]
                + [54, 53, 52, 51, 50, 49, 48, 59, 58, 57, 56, 55] + [64, 63, 62, 61, 60, 67, 66, 65])

# Canonical 68-point layout in a unit face frame, (x, y) in [0, 1]: the eye centres sit at (0.3, 0.36) and
# (0.7, 0.36) — the aligned-crop convention of ``align.py`` with eye_distance=0.4, eye_row=0.36. Derived by
# aligning dlib's landmarks on ``skimage.data.astronaut()`` (``align.derive_canonical_template``), rounded.
CANONICAL_TEMPLATE = np.array([
    [0.074, 0.389], [0.084, 0.499], [0.097, 0.605], [0.115, 0.715], [0.157, 0.816], [0.216, 0.903],
    [0.303, 0.976], [0.395, 1.036], [0.500, 1.049], [0.605, 1.036], [0.697, 0.976], [0.784, 0.903],
    [0.843, 0.816], [0.885, 0.715], [0.903, 0.605], [0.916, 0.499], [0.926, 0.389], [0.138, 0.298],
    [0.189, 0.243], [0.262, 0.234], [0.335, 0.243], [0.408, 0.266], [0.592, 0.266], [0.665, 0.243],
    [0.738, 0.234], [0.811, 0.243], [0.862, 0.298], [0.500, 0.362], [0.500, 0.435], [0.500, 0.508],
    [0.500, 0.581], [0.408, 0.623], [0.454, 0.632], [0.500, 0.646], [0.546, 0.632], [0.592, 0.623],
    [0.225, 0.358], [0.271, 0.330], [0.330, 0.330], [0.381, 0.376], [0.326, 0.381], [0.266, 0.385],
    [0.619, 0.376], [0.670, 0.330], [0.729, 0.330], [0.775, 0.358], [0.734, 0.385], [0.674, 0.381],
    [0.299, 0.706], [0.372, 0.697], [0.450, 0.696], [0.500, 0.710], [0.550, 0.696], [0.628, 0.697],
    [0.701, 0.706], [0.633, 0.797], [0.559, 0.838], [0.500, 0.848], [0.441, 0.838], [0.367, 0.797],
    [0.322, 0.715], [0.445, 0.729], [0.500, 0.738], [0.555, 0.729], [0.678, 0.715], [0.555, 0.792],
    [0.500, 0.792], [0.445, 0.792],
], dtype=np.float32)


class LandmarkError(KitError, ValueError):
    """No usable face in a frame (raised only when the config says ``on_no_face='error'``)."""


@dataclass
class LandmarkResult:
    """[68, 2] float32 (x, y) landmarks, where they came from, and the fallbacks used."""

    points: np.ndarray
    source: str  # dlib / synth / canonical
    fallbacks: list[str] = field(default_factory=list)


def eye_centres(points: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Image-left and image-right eye centres (x, y) of a [68, 2] landmark array."""
    return points[LEFT_EYE].mean(axis=0), points[RIGHT_EYE].mean(axis=0)


def canonical_landmarks(width: int, height: int) -> np.ndarray:
    """The canonical template stretched over a ``width`` × ``height`` frame (already cropped and aligned)."""
    return (CANONICAL_TEMPLATE * np.array([width, height], dtype=np.float32)).astype(np.float32)


def predictor_path() -> Path:
    """Path of ``shape_predictor_68_face_landmarks.dat`` inside ``face_recognition_models``, not imported.

    Importing that package pulls ``pkg_resources`` (needs setuptools < 81), so only its spec is located.
    """
    spec = importlib.util.find_spec("face_recognition_models")
    if spec is None or not spec.submodule_search_locations:
        raise PathError("face-recognition-models is not installed (pip install face-recognition-models)")
    path = Path(list(spec.submodule_search_locations)[0]) / "models" / "shape_predictor_68_face_landmarks.dat"
    if not path.is_file():
        raise PathError(f"dlib 68-point model missing: {path}")
    return path


@lru_cache(maxsize=1)
def _dlib_models():
    """Load dlib's HOG face detector and the 68-point predictor once per process."""
    import dlib

    return dlib.get_frontal_face_detector(), dlib.shape_predictor(str(predictor_path()))


def detect_dlib(frame: np.ndarray, upsample: int = 0) -> tuple[np.ndarray | None, int]:
    """dlib landmarks on a full-resolution uint8 frame → ([68, 2] (x, y) of the best face or None, n faces).

    With several faces the highest-scoring detection is used (the caller counts this as a fallback).
    """
    detector, predictor = _dlib_models()
    image = np.ascontiguousarray(frame)
    rects, scores, _ = detector.run(image, upsample, 0.0)
    if len(rects) == 0:
        return None, 0
    best = int(np.argmax(scores))
    shape = predictor(image, rects[best])
    points = np.array([[shape.part(i).x, shape.part(i).y] for i in range(68)], dtype=np.float32)
    return points, len(rects)


def landmarks_from_dlib(frame: np.ndarray, upsample: int = 0, on_no_face: str = "canonical",
                        where: str = "frame") -> LandmarkResult:
    """dlib landmarks with the documented, counted fallbacks: no face → retry with one more upsampling pass
    (``face_found_upsampled``), still none → canonical template or error; several faces → best score."""
    points, n_faces = detect_dlib(frame, upsample)
    fallbacks: list[str] = []
    if points is None:  # small faces (< ~80 px) need one upsampling pass of the HOG detector
        points, n_faces = detect_dlib(frame, upsample + 1)
        fallbacks.append("face_found_upsampled")
    if points is None:
        if on_no_face == "error":
            raise LandmarkError(f"{where}: dlib found no face")
        height, width = frame.shape[:2]
        return LandmarkResult(canonical_landmarks(width, height), "canonical", ["no_face_canonical"])
    fallbacks += ["multiple_faces_best_score"] if n_faces > 1 else []
    return LandmarkResult(points, "dlib", fallbacks)


def synthme_root_of(frame_dir: str | Path) -> Path | None:
    """The SynthME folder above a clip's frame folder (the one holding ``ground_truth/``), or None."""
    for folder in Path(frame_dir).resolve().parents:
        if (folder / "ground_truth").is_dir() and (folder / "synthme.json").is_file():
            return folder
    return None


def synth_landmarks(row: Any, frame: int) -> np.ndarray | None:
    """SynthME ground-truth [68, 2] (x, y) landmarks of ``frame`` (the clip's onset or true apex) for a
    composite row, or None when the row is not SynthME or the frame has no ground truth."""
    root = synthme_root_of(row["frame_dir"])
    if root is None:
        return None
    from emhnet_lite.synth import read_ground_truth

    truth = read_ground_truth(root, str(row["dataset"]), str(row["subject"]), str(row["clip"]))
    if int(frame) == truth["onset"]:
        return np.asarray(truth["landmarks_onset"], dtype=np.float32)
    if int(frame) == truth["apex"]:
        return np.asarray(truth["landmarks_apex"], dtype=np.float32)
    return None
