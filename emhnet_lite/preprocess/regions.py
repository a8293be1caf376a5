"""The four facial regions as boxes in model-input pixels, from landmarks in the same coordinate frame.

Order = ``constants.REGION_NAMES``: left eye+brow, right eye+brow, left lip corner, right lip corner, where
left/right are IMAGE sides (the image-left eye is the subject's right eye). Boxes are (x0, y0, x1, y1):
x is the column, y the row — the transposition bug of the prior code (landmark x used as a row) is avoided
by never indexing an array with a landmark pair directly (use ``crop_box``).
"""

from __future__ import annotations

import numpy as np

from emhnet_lite.constants import REGION_NAMES
from emhnet_lite.preprocess.config import REGION_LAYOUTS
from emhnet_lite.preprocess.landmarks import (
    LEFT_BROW,
    LEFT_EYE,
    LEFT_LIP_CORNER,
    RIGHT_BROW,
    RIGHT_EYE,
    RIGHT_LIP_CORNER,
    eye_centres,
)


def region_centres(points: np.ndarray) -> np.ndarray:
    """[4, 2] (x, y) centres: eye+brow point means and the two lip corners, in ``REGION_NAMES`` order."""
    left_eye_brow = np.concatenate([points[LEFT_EYE], points[LEFT_BROW]]).mean(axis=0)
    right_eye_brow = np.concatenate([points[RIGHT_EYE], points[RIGHT_BROW]]).mean(axis=0)
    centres = np.stack([left_eye_brow, right_eye_brow, points[LEFT_LIP_CORNER], points[RIGHT_LIP_CORNER]])
    assert len(centres) == len(REGION_NAMES)
    return centres.astype(np.float32)


def region_sides(points: np.ndarray, eye_iod: float = 0.8, lip_iod: float = 0.6) -> np.ndarray:
    """[4] box sides: ``eye_iod`` x the inter-ocular distance for the eye+brow regions, ``lip_iod`` x it for
    the lip corners (brow to lower lid spans ~0.4 IOD and a brow ~0.7 IOD; the mouth is ~1 IOD wide, so two
    0.6 IOD corner boxes do not meet in the middle)."""
    left, right = eye_centres(points)
    iod = float(np.linalg.norm(right - left))
    return np.array([eye_iod, eye_iod, lip_iod, lip_iod], dtype=np.float32) * iod


def region_boxes(points: np.ndarray, size: int, fraction: float = 0.5, layout: str = "landmark",
                 eye_iod: float = 0.8, lip_iod: float = 0.6) -> np.ndarray:
    """[4, 4] float32 (x0, y0, x1, y1) boxes in ``REGION_NAMES`` order for landmarks in a ``size`` image.

    ``landmark``: float square boxes centred on the regions (``region_centres``), sides from ``region_sides``.
    ``quadrant``: integer boxes of side round(fraction·size) (14×14 at 28×28, like HTNet's crops). Either way
    a box reaching past the border is shifted back inside (never shrunk).
    """
    if layout not in REGION_LAYOUTS:
        raise ValueError(f"region layout {layout!r}; expected one of {REGION_LAYOUTS}")
    centres = region_centres(points)  # [4, 2] (x, y)
    if layout == "quadrant":
        side = max(1, int(round(fraction * size)))
        # points are pixel-centre coordinates (pixel i spans [i - 0.5, i + 0.5)); boxes are half-open pixel edges
        starts = np.clip(np.round(centres + 0.5 - side / 2.0), 0, size - side)  # [4, 2] (x0, y0)
        return np.concatenate([starts, starts + side], axis=1).astype(np.float32)  # [4, 4]
    sides = np.minimum(region_sides(points, eye_iod, lip_iod), size)[:, None]  # [4, 1]
    starts = np.clip(centres + 0.5 - sides / 2.0, 0, size - sides)  # [4, 2] pixel edges
    return np.concatenate([starts, starts + sides], axis=1).astype(np.float32)  # [4, 4]


def layout_statistics(boxes: np.ndarray, points: np.ndarray, size: int, zoom: int = 8) -> dict[str, float]:
    """Overlap and face coverage of region boxes [N, 4, 4] with landmarks [N, 68, 2] in a ``size`` image.

    ``overlap``: share of the boxes' union covered by two or more boxes; ``face_coverage``: share of the face
    (convex hull of the 68 landmarks) inside the union; ``image_coverage``: share of the image in the union;
    ``nose_in_lip_boxes``: share of samples with the nose tip (point 33) inside a lip box. Means over samples,
    rasterised at ``zoom`` sub-pixels per pixel.
    """
    import cv2

    side = size * zoom
    grid = (np.arange(side) + 0.5) / zoom  # sub-pixel centres in pixel-edge coordinates
    overlaps, faces, images, nose = [], [], [], []
    for sample_boxes, sample_points in zip(boxes, points, strict=True):
        count = np.zeros((side, side), np.int32)
        for x0, y0, x1, y1 in sample_boxes:
            count += ((grid[:, None] >= y0) & (grid[:, None] < y1) & (grid[None] >= x0) & (grid[None] < x1))
        union = count > 0
        hull = cv2.convexHull(((sample_points + 0.5) * zoom).astype(np.int32))
        face = cv2.fillConvexPoly(np.zeros((side, side), np.uint8), hull, 1).astype(bool)
        overlaps.append((count > 1).sum() / max(1, union.sum()))
        faces.append((union & face).sum() / max(1, face.sum()))
        images.append(union.mean())
        tip_x, tip_y = sample_points[33] + 0.5
        nose.append(any(x0 <= tip_x < x1 and y0 <= tip_y < y1 for x0, y0, x1, y1 in sample_boxes[2:]))
    return {"overlap": float(np.mean(overlaps)), "face_coverage": float(np.mean(faces)),
            "image_coverage": float(np.mean(images)), "nose_in_lip_boxes": float(np.mean(nose))}


def crop_box(image: np.ndarray, box: np.ndarray) -> np.ndarray:
    """The [..., y0:y1, x0:x1] window of a [..., H, W] array (rows are y, columns are x)."""
    x0, y0, x1, y1 = (int(round(float(value))) for value in box)
    return image[..., y0:y1, x0:x1]
