"""Procedural faces for SynthME: 68 iBUG-order landmarks and a textured, shaded face rendered around them.

Optical flow needs texture, so skin, brows, hair and lips carry multi-scale noise and strands; features are
drawn from the landmarks, so the landmarks are exact by construction.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

#: supersampling factor of the renderer (drawn at 2x, then area-downsampled: anti-aliased edges)
SUPERSAMPLE = 2


@dataclass(frozen=True)
class FaceShape:
    """One subject's face: canvas size, landmarks ``[68, 2]`` (x, y) and appearance parameters."""

    width: int
    height: int
    landmarks: np.ndarray
    skin_rgb: tuple[float, float, float]
    lip_rgb: tuple[float, float, float]
    hair_rgb: tuple[float, float, float]
    iris_rgb: tuple[float, float, float]
    background_rgb: tuple[float, float, float]
    hairline_y: float
    texture_strength: float
    freckles: float
    stubble: float

    @property
    def interocular(self) -> float:
        """Distance between the eye centres in pixels (the unit of every AU radius)."""
        left, right = self.landmarks[36:42].mean(0), self.landmarks[42:48].mean(0)
        return float(np.linalg.norm(right - left))


def _rotate(points: np.ndarray, centre: np.ndarray, degrees: float) -> np.ndarray:
    angle = np.deg2rad(degrees)
    rotation = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
    return (points - centre) @ rotation.T + centre


def sample_face(rng: np.random.Generator, width: int, height: int) -> FaceShape:
    """Draw a random face geometry and appearance on a ``width`` x ``height`` canvas."""
    w, h = float(width), float(height)
    cx = w * (0.5 + rng.normal(0, 0.012))
    half_width = w * rng.uniform(0.34, 0.40)
    eye_y = h * rng.uniform(0.38, 0.43)
    chin_y = h * rng.uniform(0.89, 0.94)
    eye_gap = w * rng.uniform(0.15, 0.18)
    eye_half_w = w * rng.uniform(0.062, 0.076)
    eye_half_h = h * rng.uniform(0.020, 0.028)
    brow_y = eye_y - h * rng.uniform(0.075, 0.10)
    brow_arch = h * rng.uniform(0.008, 0.025)
    nose_y = eye_y + h * rng.uniform(0.17, 0.21)
    nose_half_w = w * rng.uniform(0.065, 0.085)
    mouth_y = nose_y + h * rng.uniform(0.085, 0.11)
    mouth_half_w = w * rng.uniform(0.11, 0.145)
    upper_lip = h * rng.uniform(0.018, 0.028)
    lower_lip = h * rng.uniform(0.022, 0.034)

    points = np.zeros((68, 2))
    jaw_top = eye_y + h * 0.03
    for k in range(17):  # jaw 0..16: image-left ear -> chin -> image-right ear
        theta = np.pi * k / 16
        points[k] = (cx - half_width * np.cos(theta) * (1 - 0.12 * np.sin(theta) ** 4),
                     jaw_top + (chin_y - jaw_top) * np.sin(theta))
    left_eye, right_eye = cx - eye_gap, cx + eye_gap
    for k, t in enumerate(np.linspace(0, 1, 5)):  # brows 17..21 (outer->inner) and 22..26 (inner->outer)
        arch = brow_arch * np.sin(np.pi * (0.3 + 0.7 * t))
        points[17 + k] = (left_eye - 1.35 * eye_half_w + t * 2.45 * eye_half_w, brow_y - arch + 0.01 * h * t)
        points[26 - k] = (right_eye + 1.35 * eye_half_w - t * 2.45 * eye_half_w, brow_y - arch + 0.01 * h * t)
    for k in range(4):  # nose bridge 27..30
        points[27 + k] = (cx, eye_y + (nose_y - eye_y) * k / 3)
    for k, t in enumerate(np.linspace(-1, 1, 5)):  # nostril base 31..35
        points[31 + k] = (cx + t * nose_half_w, nose_y + h * 0.022 * (1 - 0.45 * t * t))
    for centre, base in ((left_eye, 36), (right_eye, 42)):  # eyes: corner, 2 upper, corner, 2 lower
        order = [(-1, 0), (-1 / 3, -1), (1 / 3, -1), (1, 0), (1 / 3, 0.8), (-1 / 3, 0.8)]
        for k, (fx, fy) in enumerate(order):
            points[base + k] = (centre + fx * eye_half_w, eye_y + fy * eye_half_h)
    # (the image-right eye 42..47 starts at its inner corner, as iBUG's order does)
    outer = [(-1, 0), (-0.6, -0.8), (-0.2, -1), (0, -0.85), (0.2, -1), (0.6, -0.8), (1, 0), (0.6, 0.8),
             (0.2, 1), (0, 1), (-0.2, 1), (-0.6, 0.8)]
    for k, (fx, fy) in enumerate(outer):  # outer lip 48..59
        points[48 + k] = (cx + fx * mouth_half_w, mouth_y + fy * (upper_lip if fy < 0 else lower_lip))
    inner = [(-0.85, 0), (-0.3, -0.15), (0, -0.15), (0.3, -0.15), (0.85, 0), (0.3, 0.15), (0, 0.15),
             (-0.3, 0.15)]
    for k, (fx, fy) in enumerate(inner):  # inner lip 60..67
        points[60 + k] = (cx + fx * mouth_half_w, mouth_y + fy * (upper_lip + lower_lip) * 0.5)
    centre = np.array([cx, (eye_y + chin_y) / 2])
    points = _rotate(points, centre, rng.normal(0, 2.5))

    tone = rng.uniform(0, 1)
    skin = np.array([224, 182, 150]) * (1 - tone) + np.array([128, 86, 60]) * tone
    skin = skin * rng.uniform(0.93, 1.05, size=3)
    hair = np.array([rng.uniform(20, 110)] * 3) * np.array([1.0, rng.uniform(0.8, 0.95), rng.uniform(0.6, 0.85)])
    iris = [np.array([70, 45, 25]), np.array([60, 90, 120]), np.array([70, 95, 60])][int(rng.integers(0, 3))]
    lips = skin * np.array([0.92, 0.62, 0.62])
    background = rng.uniform(60, 200, size=3)
    return FaceShape(
        width=width, height=height, landmarks=points.astype(np.float32), skin_rgb=tuple(skin),
        lip_rgb=tuple(lips), hair_rgb=tuple(hair), iris_rgb=tuple(iris * rng.uniform(0.8, 1.2)),
        background_rgb=tuple(background), hairline_y=float(eye_y - h * rng.uniform(0.22, 0.3)),
        texture_strength=float(rng.uniform(0.8, 1.3)), freckles=float(rng.uniform(0, 1) ** 2),
        stubble=float(rng.uniform(0, 1) if rng.uniform() < 0.3 else 0.0),
    )


def _noise(rng: np.random.Generator, shape: tuple[int, int], sigma: float) -> np.ndarray:
    """Gaussian-filtered white noise with unit standard deviation ``[H, W]``."""
    field = cv2.GaussianBlur(rng.standard_normal(shape).astype(np.float32), (0, 0), sigma)
    return field / (field.std() + 1e-6)


def _strands(rng: np.random.Generator, mask: np.ndarray, count: int, length: float, angle: float,
             spread: float, thickness: int) -> np.ndarray:
    """Short oriented dark/light strokes inside ``mask`` (hair, brow hairs) as a signed ``[H, W]`` layer."""
    layer = np.zeros(mask.shape, np.float32)
    ys, xs = np.nonzero(mask)
    if len(xs) == 0:
        return layer
    picks = rng.integers(0, len(xs), size=count)
    angles = angle + rng.normal(0, spread, size=count)
    values = rng.choice([-1.0, 1.0], size=count, p=[0.65, 0.35]) * rng.uniform(0.4, 1.0, size=count)
    for x, y, a, v in zip(xs[picks], ys[picks], angles, values, strict=True):
        dx, dy = np.cos(a) * length, np.sin(a) * length
        cv2.line(layer, (int(x - dx), int(y - dy)), (int(x + dx), int(y + dy)), float(v), thickness,
                 cv2.LINE_AA)
    return layer


def render_face(face: FaceShape, rng: np.random.Generator) -> np.ndarray:
    """Render the neutral face as float32 RGB ``[H, W, 3]`` in 0..255 (no noise: added per frame)."""
    s = SUPERSAMPLE
    height, width = face.height * s, face.width * s
    pts = face.landmarks.astype(np.float64) * s
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float32)
    strength = face.texture_strength

    image = np.ones((height, width, 3), np.float32) * np.array(face.background_rgb, np.float32)
    image *= (1 + 0.10 * _noise(rng, (height, width), 12 * s) + 0.05 * _noise(rng, (height, width), 2 * s))[..., None]

    jaw = pts[0:17]
    face_centre_x = float(jaw[:, 0].mean())
    top_y = face.hairline_y * s - 0.06 * height
    forehead = [(face_centre_x + (jaw[16, 0] - face_centre_x) * np.cos(t), jaw[0, 1] - (jaw[0, 1] - top_y) * np.sin(t))
                for t in np.linspace(0, np.pi, 20)]
    outline = np.concatenate([jaw, np.array(forehead)]).astype(np.int32)
    face_mask = np.zeros((height, width), np.uint8)
    cv2.fillPoly(face_mask, [outline], 1)
    hair_mask = np.zeros_like(face_mask)
    cv2.ellipse(hair_mask, (int(face_centre_x), int(jaw[0, 1])),
                (int((jaw[16, 0] - jaw[0, 0]) * 0.56), int((jaw[0, 1] - top_y) * 1.12)), 0, 180, 360, 1, -1)
    hair_mask[(face_mask == 1) & (yy > face.hairline_y * s)] = 0

    # skin: ellipsoid shading x multi-scale texture, blush on the cheeks
    semi_x = (jaw[16, 0] - jaw[0, 0]) / 2
    semi_y = (jaw[8, 1] - top_y) / 2
    centre_y = (jaw[8, 1] + top_y) / 2
    radial = ((xx - face_centre_x) / semi_x) ** 2 + ((yy - centre_y) / semi_y) ** 2
    shading = 0.62 + 0.38 * np.sqrt(np.clip(1 - radial, 0, 1)) + 0.04 * (1 - yy / height)
    texture = (0.030 * _noise(rng, (height, width), 0.8 * s) + 0.025 * _noise(rng, (height, width), 2.0 * s)
               + 0.035 * _noise(rng, (height, width), 6.0 * s)) * strength
    pores = (rng.uniform(size=(height, width)) < 0.004 * (1 + 3 * face.freckles)).astype(np.float32)
    texture -= cv2.GaussianBlur(pores, (0, 0), 0.9 * s) * (0.6 + 1.2 * face.freckles)
    skin = np.array(face.skin_rgb, np.float32) * (shading * (1 + texture))[..., None]
    for eye in (pts[36:42].mean(0), pts[42:48].mean(0)):
        blush = np.exp(-(((xx - eye[0]) ** 2 + (yy - eye[1] - 0.16 * height) ** 2) / (2 * (0.07 * width) ** 2)))
        skin[..., 1:] *= (1 - 0.06 * blush)[..., None]
    if face.stubble > 0:
        beard = np.clip((yy - pts[33, 1]) / (0.05 * height), 0, 1) * face.stubble
        skin *= (1 - 0.25 * beard * np.clip(0.6 + _noise(rng, (height, width), 0.7 * s), 0, 2) / 2)[..., None]
    soft_face = cv2.GaussianBlur(face_mask.astype(np.float32), (0, 0), 1.2 * s)[..., None]
    image = image * (1 - soft_face) + skin * soft_face

    # hair: base colour with strands
    hair_layer = _strands(rng, hair_mask > 0, int(hair_mask.sum() / (6 * s * s)), 5 * s, np.pi / 2, 0.5, 1)
    hair = np.array(face.hair_rgb, np.float32) * (1 + 0.35 * hair_layer + 0.15 * _noise(rng, (height, width), s))[..., None]
    soft_hair = cv2.GaussianBlur(hair_mask.astype(np.float32), (0, 0), 1.0 * s)[..., None]
    image = image * (1 - soft_hair) + hair * soft_hair

    # nose: side shading, nostrils, tip highlight
    nose_shade = np.zeros((height, width), np.float32)
    for side in (31, 35):
        cv2.line(nose_shade, tuple(pts[28].astype(int) + np.array([int((pts[side, 0] - pts[30, 0]) * 0.5), 0])),
                 tuple(pts[side].astype(int)), 1.0, int(2 * s), cv2.LINE_AA)
    nose_shade = cv2.GaussianBlur(nose_shade, (0, 0), 2.5 * s)
    image *= (1 - 0.25 * nose_shade)[..., None]
    for nostril in (pts[32], pts[34]):
        cv2.ellipse(image, tuple(nostril.astype(int)), (int(0.016 * width), int(0.009 * height)), 0, 0, 360,
                    tuple(float(c) * 0.35 for c in face.skin_rgb), -1, cv2.LINE_AA)
    tip = np.exp(-(((xx - pts[30, 0]) ** 2 + (yy - pts[30, 1]) ** 2) / (2 * (0.02 * width) ** 2)))
    image *= (1 + 0.10 * tip)[..., None]

    # eyes: sclera, textured iris, pupil, highlight, lids; crease above
    for base in (36, 42):
        eye = pts[base:base + 6]
        sclera = np.zeros((height, width), np.uint8)
        cv2.fillPoly(sclera, [eye.astype(np.int32)], 1)
        centre = eye.mean(0) + np.array([rng.normal(0, 0.01 * width), 0])
        radius = (eye[4, 1] - eye[1, 1]) * 0.62
        iris_mask = (((xx - centre[0]) ** 2 + (yy - centre[1]) ** 2) < radius ** 2) & (sclera > 0)
        eye_rgb = np.where(iris_mask[..., None], np.array(face.iris_rgb, np.float32)
                           * (1 + 0.25 * _noise(rng, (height, width), 0.6 * s))[..., None],
                           np.array([235, 228, 220], np.float32))
        pupil = ((xx - centre[0]) ** 2 + (yy - centre[1]) ** 2) < (radius * 0.42) ** 2
        eye_rgb[pupil] = 15
        glint = ((xx - centre[0] + radius * 0.3) ** 2 + (yy - centre[1] + radius * 0.3) ** 2) < (radius * 0.15) ** 2
        eye_rgb[glint] = 250
        soft_eye = cv2.GaussianBlur(sclera.astype(np.float32), (0, 0), 0.6 * s)[..., None]
        image = image * (1 - soft_eye) + eye_rgb * soft_eye
        lids = np.zeros((height, width), np.float32)
        cv2.polylines(lids, [eye[[0, 1, 2, 3]].astype(np.int32)], False, 1.0, int(1.6 * s), cv2.LINE_AA)
        cv2.polylines(lids, [eye[[3, 4, 5, 0]].astype(np.int32)], False, 0.4, int(1.0 * s), cv2.LINE_AA)
        crease = eye[[0, 1, 2, 3]] - np.array([0, 0.6 * (eye[4, 1] - eye[1, 1])])
        cv2.polylines(lids, [crease.astype(np.int32)], False, 0.35, int(1.0 * s), cv2.LINE_AA)
        image *= (1 - 0.75 * cv2.GaussianBlur(lids, (0, 0), 0.5 * s))[..., None]

    # brows: a tapered band filled with hair strands
    for first in (17, 22):
        brow = pts[first:first + 5]
        band = np.zeros((height, width), np.uint8)
        thickness = 0.034 * height
        upper = brow - np.array([0, thickness * 0.5])
        lower = brow + np.array([0, thickness * 0.5])
        cv2.fillPoly(band, [np.concatenate([upper, lower[::-1]]).astype(np.int32)], 1)
        direction = np.arctan2(brow[-1, 1] - brow[0, 1], brow[-1, 0] - brow[0, 0])
        strands = _strands(rng, band > 0, int(band.sum() / (1.5 * s * s)), 2.2 * s, direction, 0.35, 1)
        density = cv2.GaussianBlur(band.astype(np.float32), (0, 0), 1.2 * s)
        darkness = np.clip(0.8 * density + 0.35 * strands * density, 0, 0.92)
        image = image * (1 - darkness[..., None]) + np.array(face.hair_rgb, np.float32) * darkness[..., None]

    # mouth: textured lips, dark line between them
    lip_mask = np.zeros((height, width), np.uint8)
    cv2.fillPoly(lip_mask, [pts[48:60].astype(np.int32)], 1)
    lips = np.array(face.lip_rgb, np.float32) * (1 + 0.08 * _noise(rng, (height, width), 0.7 * s)
                                                  + 0.06 * _noise(rng, (height, width), 2.5 * s))[..., None]
    soft_lips = cv2.GaussianBlur(lip_mask.astype(np.float32), (0, 0), 0.9 * s)[..., None]
    image = image * (1 - soft_lips) + lips * soft_lips
    line = np.zeros((height, width), np.float32)
    cv2.polylines(line, [pts[[48, 60, 61, 62, 63, 64, 54]].astype(np.int32)], False, 1.0, int(1.3 * s), cv2.LINE_AA)
    image *= (1 - 0.6 * cv2.GaussianBlur(line, (0, 0), 0.6 * s))[..., None]

    image = cv2.resize(image, (face.width, face.height), interpolation=cv2.INTER_AREA)
    return np.clip(image, 0, 255).astype(np.float32)
