"""The four facial regions as boxes in model-input pixels, from landmarks in the same coordinate frame.

Order = ``constants.REGION_NAMES``: left eye+brow, right eye+brow, left lip corner, right lip corner, where
left/right are IMAGE sides (the image-left eye is the subject's right eye). Boxes are (x0, y0, x1, y1):
x is the column, y the row — the transposition bug of the prior code (landmark x used as a row) is avoided
by never indexing an array with a landmark pair directly (use ``crop_box``).
"""

from __future__ import annotations

import numpy as np

from emhnet_lite.constants import REGION_NAMES
from emhnet_lite.preprocess.landmarks import (
    LEFT_BROW,
    LEFT_EYE,
    LEFT_LIP_CORNER,
    RIGHT_BROW,
    RIGHT_EYE,
    RIGHT_LIP_CORNER,
)


def region_centres(points: np.ndarray) -> np.ndarray:
    """[4, 2] (x, y) centres: eye+brow point means and the two lip corners, in ``REGION_NAMES`` order."""
    left_eye_brow = np.concatenate([points[LEFT_EYE], points[LEFT_BROW]]).mean(axis=0)
    right_eye_brow = np.concatenate([points[RIGHT_EYE], points[RIGHT_BROW]]).mean(axis=0)
    centres = np.stack([left_eye_brow, right_eye_brow, points[LEFT_LIP_CORNER], points[RIGHT_LIP_CORNER]])
    assert len(centres) == len(REGION_NAMES)
    return centres.astype(np.float32)


def region_boxes(points: np.ndarray, size: int, fraction: float = 0.5) -> np.ndarray:
    """[4, 4] float32 (x0, y0, x1, y1) boxes of side round(fraction·size) centred on the regions.

    A box reaching past the border is shifted back inside (never shrunk), so every region has the same
    size — 14×14 at 28×28 with the default fraction, like HTNet's crops.
    """
    side = max(1, int(round(fraction * size)))
    centres = region_centres(points)  # [4, 2] (x, y)
    # points are pixel-centre coordinates (pixel i spans [i - 0.5, i + 0.5)); boxes are half-open pixel edges
    starts = np.clip(np.round(centres + 0.5 - side / 2.0), 0, size - side)  # [4, 2] (x0, y0)
    return np.concatenate([starts, starts + side], axis=1).astype(np.float32)  # [4, 4]


def crop_box(image: np.ndarray, box: np.ndarray) -> np.ndarray:
    """The [..., y0:y1, x0:x1] window of a [..., H, W] array (rows are y, columns are x)."""
    x0, y0, x1, y1 = (int(round(float(value))) for value in box)
    return image[..., y0:y1, x0:x1]
