"""SynthME 2 identity variety: face proportions, relief shading, age lines, glasses and fringe occluders.

``dress_face`` turns one subject's ``FaceShape`` into the ``real`` rendering: a wider spread of face
proportions, relief shading (what lets dlib's HOG detector find the face), age-like lines, and for some
subjects glasses or a fringe over the brows. Occluders come with a mask: expression motion is switched
off under them (they do not deform with the skin), so brow motion behind a fringe is really hidden.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import cv2
import numpy as np

from emhnet_lite.synth.faces import FaceShape, render_face
from emhnet_lite.synth.realism import relief

#: Probabilities per subject at ``identity=1`` (scaled linearly by the knob).
GLASSES_PROBABILITY = 0.15
FRINGE_PROBABILITY = 0.15


@dataclass
class Dressed:
    """A rendered subject: face geometry, float32 image ``[H, W, 3]`` and occluder mask ``[H, W]`` (0..1)."""

    face: FaceShape
    image: np.ndarray
    occluder: np.ndarray | None
    traits: str  # e.g. "glasses+age0.6", for the ground-truth index


def _stretch(face: FaceShape, rng: np.random.Generator, strength: float) -> FaceShape:
    """Wider/narrower, longer/shorter faces: landmarks scaled about their centre (kept inside the canvas)."""
    centre = face.landmarks.mean(0)
    sx = 1 + strength * rng.uniform(-0.08, 0.05)
    sy = 1 + strength * rng.uniform(-0.04, 0.03)
    points = (face.landmarks - centre) * np.array([sx, sy], np.float32) + centre
    limit = np.array([face.width - 2, face.height - 2], np.float32)
    return replace(face, landmarks=np.clip(points, 1, limit).astype(np.float32))


def _age_lines(image: np.ndarray, face: FaceShape, age: float, rng: np.random.Generator) -> np.ndarray:
    """Forehead lines, nasolabial folds and crow's feet as soft darkening, depth ``age`` (0..1)."""
    p = face.landmarks
    io = face.interocular
    layer = np.zeros(image.shape[:2], np.float32)
    brow_top = float(p[17:27, 1].min())
    for k in range(int(rng.integers(2, 5))):
        y = brow_top - io * (0.25 + 0.16 * k + rng.normal(0, 0.02))
        xs = np.linspace(p[18, 0], p[25, 0], 9)
        ys = y + io * 0.04 * np.sin(np.linspace(0, np.pi, 9) + rng.uniform(0, 1))
        cv2.polylines(layer, [np.stack([xs, ys], 1).astype(np.int32)], False, 1.0, 1, cv2.LINE_AA)
    for nose, corner, sign in ((31, 48, -1), (35, 54, 1)):
        start = p[nose] + np.array([sign * 0.1 * io, -0.05 * io])
        end = p[corner] + np.array([sign * 0.15 * io, 0.25 * io])
        middle = (start + end) / 2 + np.array([sign * 0.12 * io, 0])
        cv2.polylines(layer, [np.stack([start, middle, end]).astype(np.int32)], False, 1.0, 1, cv2.LINE_AA)
    for corner, sign in ((36, -1), (45, 1)):
        for k in (-1, 0, 1):
            start = p[corner] + np.array([sign * 0.12 * io, k * 0.06 * io])
            cv2.line(layer, tuple(start.astype(int)), tuple((start + [sign * 0.15 * io, k * 0.07 * io]).astype(int)),
                     1.0, 1, cv2.LINE_AA)
    layer = cv2.GaussianBlur(layer, (0, 0), 0.7)
    return image * (1 - 0.22 * age * layer)[..., None]


def _glasses(image: np.ndarray, face: FaceShape, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Dark frames around both eyes and a bridge; lenses tint the eyes a little. Returns (image, mask)."""
    p = face.landmarks
    io = face.interocular
    frame = np.zeros(image.shape[:2], np.float32)
    lens = np.zeros(image.shape[:2], np.float32)
    half_w, half_h = 0.42 * io * rng.uniform(0.9, 1.1), 0.27 * io * rng.uniform(0.85, 1.15)
    thickness = max(1, int(round(0.05 * io)))
    centres = [p[36:42].mean(0) + [0, 0.04 * io], p[42:48].mean(0) + [0, 0.04 * io]]
    for centre in centres:
        box = (tuple(int(v) for v in centre), (int(half_w), int(half_h)), 0, 0, 360)
        cv2.ellipse(lens, *box, 1.0, -1, cv2.LINE_AA)
        cv2.ellipse(frame, *box, 1.0, thickness, cv2.LINE_AA)
    inner = [centres[0] + [half_w, -0.1 * io], centres[1] - [half_w, 0.1 * io]]
    cv2.line(frame, tuple(inner[0].astype(int)), tuple(inner[1].astype(int)), 1.0, thickness, cv2.LINE_AA)
    colour = np.array([rng.uniform(10, 60)] * 3, np.float32)
    image = image * (1 - 0.08 * lens)[..., None]
    image = image * (1 - frame[..., None]) + colour * frame[..., None]
    return image, frame


def _fringe(image: np.ndarray, face: FaceShape, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Hair falling over the forehead down to (and over part of) one or both brows. Returns (image, mask)."""
    p = face.landmarks
    io = face.interocular
    height, width = image.shape[:2]
    grid_y, grid_x = np.mgrid[0:height, 0:width].astype(np.float32)
    left, right = (p[17, 0] - 0.2 * io, p[26, 0] + 0.2 * io)
    if rng.uniform() < 0.5:  # a side-swept fringe covers one brow only
        middle = (p[21, 0] + p[22, 0]) / 2
        left, right = (left, middle + 0.1 * io) if rng.uniform() < 0.5 else (middle - 0.1 * io, right)
    edge = float(p[17:27, 1].mean()) + io * rng.uniform(-0.05, 0.08)
    wave = edge + 0.06 * io * np.sin(grid_x / (0.12 * io) + rng.uniform(0, 6.3))
    top = face.hairline_y - 0.1 * io  # hair starts at the hairline: the fringe falls from there
    mask = ((grid_x > left) & (grid_x < right) & (grid_y < wave) & (grid_y > top)).astype(np.float32)
    mask = cv2.GaussianBlur(mask, (0, 0), 0.8)
    strands = cv2.GaussianBlur(rng.standard_normal((height, width)).astype(np.float32), (0, 0), 0.4, sigmaY=2.0)
    hair = np.array(face.hair_rgb, np.float32) * (1 + 0.35 * strands / (strands.std() + 1e-6))[..., None]
    return image * (1 - mask[..., None]) + hair * mask[..., None], mask


def expose(image: np.ndarray, face: FaceShape, target: float) -> np.ndarray:
    """Auto-exposure: scale the image so the face box's mean luminance is ``target`` grey levels."""
    x0, y0 = np.floor(face.landmarks.min(0)).astype(int)
    x1, y1 = np.ceil(face.landmarks.max(0)).astype(int)
    luminance = image[max(y0, 0):y1, max(x0, 0):x1] @ np.array([0.299, 0.587, 0.114], np.float32)
    return image * np.float32(target / max(float(luminance.mean()), 1.0))


def dress_face(face: FaceShape, rng: np.random.Generator, identity: float, relief_strength: float,
               exposure: bool = False) -> Dressed:
    """Render one subject at ``real``: proportions, relief, age lines, occluders (all from ``rng``);
    ``exposure``: the camera's auto-exposure brings the face to 120-160 grey levels."""
    if identity > 0:
        face = _stretch(face, rng, identity)
    image = render_face(face, rng)
    if relief_strength > 0:
        image = relief(image, face.landmarks, relief_strength)
    traits, masks = [], []
    if identity > 0:
        age = float(rng.uniform(0, 1) ** 1.5 * identity)
        image = _age_lines(image, face, age, rng)
        traits.append(f"age{age:.2f}")
        if rng.uniform() < GLASSES_PROBABILITY * identity:
            image, mask = _glasses(image, face, rng)
            masks.append(mask)
            traits.append("glasses")
        if rng.uniform() < FRINGE_PROBABILITY * identity:
            image, mask = _fringe(image, face, rng)
            masks.append(mask)
            traits.append("fringe")
    if exposure:
        image = expose(image, face, float(rng.uniform(120, 160)))
    occluder = np.clip(sum(masks), 0, 1).astype(np.float32) if masks else None
    return Dressed(face, np.clip(image, 0, 255).astype(np.float32), occluder, "+".join(traits))
