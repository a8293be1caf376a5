"""Action-unit-like displacement fields, class -> AU recipes, nuisances, and exact onset->apex ground truth.

A frame is the neutral face warped backwards, ``frame(x) = face(x - d(x))``: the texture point at ``q`` is
seen at ``y`` with ``y - d(y) = q``. Displacements ``d`` are sums of Gaussian vector bumps anchored at
landmarks (radius in interocular units, amplitude in pixels at native size).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from scipy.ndimage import map_coordinates

#: AU -> list of (landmark indices whose mean is the anchor, (dx, dy) unit vector, radius / interocular,
#: side) with side "L" = image-left half, "R" = image-right half, "" = midline.
AU_BUMPS: dict[int, list[tuple[tuple[int, ...], tuple[float, float], float, str]]] = {
    1: [((20, 21), (0.0, -1.0), 0.20, "L"), ((22, 23), (0.0, -1.0), 0.20, "R")],
    2: [((17, 18), (0.0, -1.0), 0.22, "L"), ((25, 26), (0.0, -1.0), 0.22, "R")],
    4: [((19, 20, 21), (0.45, 0.9), 0.20, "L"), ((22, 23, 24), (-0.45, 0.9), 0.20, "R")],
    5: [((37, 38), (0.0, -1.0), 0.11, "L"), ((43, 44), (0.0, -1.0), 0.11, "R")],
    6: [((36, 41, 1, 31), (0.0, -1.0), 0.24, "L"), ((45, 46, 15, 35), (0.0, -1.0), 0.24, "R")],
    7: [((40, 41), (0.0, -1.0), 0.10, "L"), ((46, 47), (0.0, -1.0), 0.10, "R")],
    9: [((31, 39), (0.25, -1.0), 0.16, "L"), ((35, 42), (-0.25, -1.0), 0.16, "R")],
    10: [((49, 50), (0.0, -1.0), 0.15, "L"), ((52, 53), (0.0, -1.0), 0.15, "R")],
    12: [((48,), (-0.75, -0.65), 0.17, "L"), ((54,), (0.75, -0.65), 0.17, "R")],
    14: [((48,), (0.9, -0.1), 0.13, "L"), ((54,), (-0.9, -0.1), 0.13, "R")],
    15: [((48,), (-0.15, 1.0), 0.16, "L"), ((54,), (0.15, 1.0), 0.16, "R")],
    17: [((57, 8), (0.0, -1.0), 0.24, "")],
    24: [((51, 62), (0.0, 0.8), 0.14, ""), ((57, 66), (0.0, -0.8), 0.14, "")],
    26: [((57, 8, 7, 9), (0.0, 1.0), 0.32, "")],
}
AU_NAMES = {1: "inner brow raiser", 2: "outer brow raiser", 4: "brow lowerer", 5: "upper lid raiser",
            6: "cheek raiser", 7: "lid tightener", 9: "nose wrinkler", 10: "upper lip raiser",
            12: "lip corner puller", 14: "dimpler", 15: "lip corner depressor", 17: "chin raiser",
            24: "lip pressor", 26: "jaw drop"}

#: Source emotion (lower case) -> candidate AU recipes (each a tuple of AUs), drawn uniformly.
#: Classes share AUs on purpose (AU1 in surprise/sadness/fear, AU12/AU14 in happiness/contempt, AU4 in
#: several negatives) so the task is learnable but not trivial.
EMOTION_RECIPES: dict[str, list[tuple[int, ...]]] = {
    "happiness": [(12,), (6, 12), (12,), (6, 12)],
    "positive": [(12,), (6, 12), (12,)],
    "surprise": [(1, 2), (1, 2, 5), (1, 2, 26), (1,), (2, 5), (5, 26)],
    "disgust": [(9,), (9, 10), (4, 9), (10,), (4, 10)],
    "repression": [(14,), (15,), (17,), (14, 17), (24,), (15, 17)],
    "anger": [(4,), (4, 7), (4, 24), (4, 7, 17)],
    "contempt": [(14,), (12,), (14, 7)],
    "fear": [(1, 2, 4), (1, 4, 5), (1, 2, 4, 5)],
    "sadness": [(1, 4), (1, 15), (1, 4, 15)],
    "negative": [(4,), (9,), (14,), (15,), (4, 7), (1, 4), (4, 15), (9, 10), (17,)],
    "others": [(7,), (17,), (24,), (14,), (5,)],
    "other": [(7,), (17,), (24,), (14,), (5,)],
}
#: AUs drawn as one-sided (either side) with this probability.
UNILATERAL_AUS = {12: 0.3, 14: 0.6, 15: 0.3, 10: 0.3}
DISTRACTOR_PROBABILITY = 0.5
#: AUs a subject may show out of habit in any clip (a subject-specific nuisance, which makes LOSO harder).
HABIT_AUS = (1, 4, 7, 12, 14, 15, 17, 24)
HABIT_PROBABILITY = 0.4


@dataclass
class ClipMotion:
    """The motion of one clip: AUs with sides and intensities, timing, and the nuisance parameters."""

    aus: list[tuple[int, str, float]]  # (AU, side "" / "L" / "R", peak amplitude in px)
    distractors: list[tuple[int, str, float]] = field(default_factory=list)
    drift_px: tuple[float, float] = (0.0, 0.0)  # head translation at the clip's last frame
    drift_wobble: float = 0.0
    blink_frame: int | None = None  # frame index (0-based in the clip) of the blink's peak, or None
    blink_width: float = 2.5
    flicker_amplitude: float = 0.0
    flicker_phase: float = 0.0
    noise_sigma: float = 1.0

    @property
    def action_units(self) -> str:
        """FACS-style code of the expression AUs (e.g. ``1+2``, ``R12``), as the workbooks write it."""
        return "+".join(f"{side}{au}" for au, side, _ in self.aus)


def sample_motion(rng: np.random.Generator, emotion: str, amplitude_range: tuple[float, float] = (1.0, 3.0),
                  clip_frames: int = 20, habit: int | None = None,
                  recipe: tuple[int, ...] | None = None) -> ClipMotion:
    """Draw the AU recipe of ``emotion`` with random sides, intensities, distractors and nuisances.

    ``habit`` is the subject's habitual AU, added (weaker) to some clips whatever the class; ``recipe``
    (SynthME 2's shared-AU recipes) replaces the drawn one.
    """
    recipes = EMOTION_RECIPES[emotion.lower()]
    recipe = tuple(dict.fromkeys(recipe or recipes[int(rng.integers(0, len(recipes)))]))
    peak = rng.uniform(*amplitude_range)
    aus = []
    for au in recipe:
        side = ""
        if au in UNILATERAL_AUS and rng.uniform() < UNILATERAL_AUS[au]:
            side = "L" if rng.uniform() < 0.5 else "R"
        aus.append((au, side, float(peak * rng.uniform(0.6, 1.0))))
    distractors = []
    if rng.uniform() < DISTRACTOR_PROBABILITY:
        au = int(rng.choice([a for a in AU_BUMPS if a not in recipe]))
        distractors.append((au, "", float(peak * rng.uniform(0.3, 0.8))))
    if habit is not None and habit not in recipe and rng.uniform() < HABIT_PROBABILITY:
        distractors.append((habit, "", float(peak * rng.uniform(0.3, 0.7))))
    blink = int(rng.integers(1, clip_frames - 1)) if rng.uniform() < 0.15 else None
    return ClipMotion(
        aus=aus, distractors=distractors, drift_px=(float(rng.normal(0, 0.5)), float(rng.normal(0, 0.5))),
        drift_wobble=float(rng.uniform(0, 0.15)), blink_frame=blink, blink_width=float(rng.uniform(1.5, 3.0)),
        flicker_amplitude=float(rng.uniform(0.0, 0.012)), flicker_phase=float(rng.uniform(0, 2 * np.pi)),
        noise_sigma=float(rng.uniform(0.8, 1.5)),
    )


def _bump(grid_x: np.ndarray, grid_y: np.ndarray, centre: np.ndarray, radius: float) -> np.ndarray:
    return np.exp(-((grid_x - centre[0]) ** 2 + (grid_y - centre[1]) ** 2) / (2 * radius ** 2))


def au_field(landmarks: np.ndarray, shape: tuple[int, int], aus: list[tuple[int, str, float]],
             table: dict | None = None) -> np.ndarray:
    """Sum of the AUs' displacement bumps at unit time, float32 ``[H, W, 2]`` (dx, dy) in pixels.

    ``table`` replaces ``AU_BUMPS`` (``region_control``); its entries may carry a 5th element, an anchor
    offset in interocular units.
    """
    table = AU_BUMPS if table is None else table
    height, width = shape
    grid_y, grid_x = np.mgrid[0:height, 0:width].astype(np.float32)
    interocular = float(np.linalg.norm(landmarks[42:48].mean(0) - landmarks[36:42].mean(0)))
    field_xy = np.zeros((height, width, 2), np.float32)
    for au, side, amplitude in aus:
        for indices, (dx, dy), radius, bump_side, *offset in table[au]:
            if side and bump_side and side != bump_side:
                continue
            centre = landmarks[list(indices)].mean(0)
            if offset:
                centre = centre + np.asarray(offset[0], np.float32) * interocular
            weight = _bump(grid_x, grid_y, centre, radius * interocular) * amplitude
            field_xy[..., 0] += weight * dx
            field_xy[..., 1] += weight * dy
    return field_xy


def blink_field(landmarks: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """Upper-lid closing displacement of a full blink (both eyes), float32 ``[H, W, 2]``."""
    height, width = shape
    grid_y, grid_x = np.mgrid[0:height, 0:width].astype(np.float32)
    field_xy = np.zeros((height, width, 2), np.float32)
    for upper in ((37, 38), (43, 44)):
        centre = landmarks[list(upper)].mean(0)
        eye_height = float(np.ptp(landmarks[upper[0] - 1:upper[0] + 5, 1]))
        field_xy[..., 1] += _bump(grid_x, grid_y, centre, eye_height * 0.9) * eye_height * 0.8
    return field_xy


def intensity_profile(frame: int, onset: int, apex: int, offset: int) -> float:
    """Smooth raised-cosine expression intensity: 0 before onset, 1 at apex, 0 again at offset."""
    if frame <= onset or frame >= offset:
        return 0.0
    if frame <= apex:
        return 0.5 - 0.5 * np.cos(np.pi * (frame - onset) / max(apex - onset, 1))
    return 0.5 + 0.5 * np.cos(np.pi * (frame - apex) / max(offset - apex, 1))


def sample_field(field_xy: np.ndarray, points: np.ndarray) -> np.ndarray:
    """Exact bilinear samples of ``field_xy`` ``[H, W, 2]`` at float (x, y) ``points`` ``[..., 2]``.

    (scipy, not ``cv2.remap``: remap quantizes coordinates to 1/32 px, too coarse for ground truth.)
    """
    coords = [points[..., 1].ravel(), points[..., 0].ravel()]  # (row, col)
    channels = [map_coordinates(field_xy[..., c], coords, order=1, mode="nearest") for c in range(2)]
    return np.stack(channels, -1).reshape(points.shape).astype(np.float32)


def forward_positions(field_xy: np.ndarray, points: np.ndarray, iterations: int = 12,
                      tolerance: float = 1e-4) -> np.ndarray:
    """Where texture points ``q`` appear after warping by ``field_xy``: solve ``y - d(y) = q`` (fixed point,
    converges because micro displacements vary slowly: |grad d| << 1)."""
    positions = points.astype(np.float32).copy()
    for _ in range(iterations):
        updated = points + sample_field(field_xy, positions)
        change = float(np.abs(updated - positions).max())
        positions = updated
        if change < tolerance:
            break
    return positions


def ground_truth_flow(onset_field: np.ndarray, apex_field: np.ndarray) -> np.ndarray:
    """Exact onset->apex flow ``[H, W, 2]`` (u, v): an onset pixel x shows ``q = x - d_on(x)``, found at apex
    where ``y - d_ap(y) = q``."""
    height, width = onset_field.shape[:2]
    grid_y, grid_x = np.mgrid[0:height, 0:width].astype(np.float32)
    grid = np.stack([grid_x, grid_y], -1)
    texture_points = grid - onset_field
    return (forward_positions(apex_field, texture_points) - grid).astype(np.float32)


def clip_truth(onset_field: np.ndarray, apex_field: np.ndarray, landmarks: np.ndarray,
               frames: tuple[int, int, int]) -> dict[str, np.ndarray]:
    """A clip's ground truth (flow, landmarks, onset/true-apex/offset frames), one definition for every level."""
    return {
        "flow": ground_truth_flow(onset_field, apex_field),  # [H, W, 2] (u, v) px, onset -> apex
        "landmarks_neutral": landmarks.astype(np.float32),  # [68, 2] (x, y)
        "landmarks_onset": forward_positions(onset_field, landmarks),
        "landmarks_apex": forward_positions(apex_field, landmarks),
        "frames": np.array(frames, np.int64),  # onset, true apex, offset
    }
