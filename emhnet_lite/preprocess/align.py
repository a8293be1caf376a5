"""Face alignment: a similarity transform that levels the eye line and scales by inter-ocular distance.

The same transform, computed from the onset frame's landmarks, is applied to every frame of the clip so
that onset→apex flow measures facial motion, not the crop moving.
"""

from __future__ import annotations

import cv2
import numpy as np

from emhnet_lite.preprocess.landmarks import eye_centres


def alignment_matrix(points: np.ndarray, crop_size: int, eye_distance: float = 0.4,
                     eye_row: float = 0.36) -> np.ndarray:
    """2×3 affine (rotation + scale + shift) mapping frame (x, y) to the aligned ``crop_size`` crop.

    The image-left eye centre goes to (0.5 − eye_distance/2, eye_row)·crop_size and the image-right one to
    (0.5 + eye_distance/2, eye_row)·crop_size, so the margin scales with the inter-ocular distance.
    """
    left_eye, right_eye = eye_centres(points)
    delta = right_eye - left_eye  # (dx, dy)
    distance = float(np.hypot(*delta))
    if distance < 1e-3:
        raise ValueError("alignment: the two eye centres coincide (degenerate landmarks)")
    angle = np.arctan2(delta[1], delta[0])
    scale = eye_distance * crop_size / distance
    cos, sin = scale * np.cos(-angle), scale * np.sin(-angle)
    rotation = np.array([[cos, -sin], [sin, cos]], dtype=np.float64)
    eyes_mid = (left_eye + right_eye) / 2.0
    target_mid = np.array([0.5 * crop_size, eye_row * crop_size])
    shift = target_mid - rotation @ eyes_mid
    return np.hstack([rotation, shift[:, None]]).astype(np.float64)  # [2, 3]


def transform_points(points: np.ndarray, matrix: np.ndarray) -> np.ndarray:
    """Apply a 2×3 affine to [N, 2] (x, y) points."""
    return (points.astype(np.float64) @ matrix[:, :2].T + matrix[:, 2]).astype(np.float32)


def warp_face(frame: np.ndarray, matrix: np.ndarray, crop_size: int) -> np.ndarray:
    """The aligned ``crop_size`` × ``crop_size`` crop of a grey frame (bilinear, edges replicated)."""
    return cv2.warpAffine(frame, matrix, (crop_size, crop_size), flags=cv2.INTER_LINEAR,
                          borderMode=cv2.BORDER_REPLICATE)


def derive_canonical_template(points: np.ndarray, eye_distance: float = 0.4, eye_row: float = 0.36) -> np.ndarray:
    """Map [68, 2] landmarks into the unit aligned frame (eyes level, eye centres at fixed points)."""
    matrix = alignment_matrix(points, 1000, eye_distance, eye_row)
    return transform_points(points, matrix) / 1000.0
