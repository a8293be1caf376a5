"""The one frame reader of the kit (readers' checks, preprocessing, chapters): every problem becomes a
``FrameError`` naming the file and what is wrong."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import cv2
import numpy as np

from emhnet_lite.errors import KitError

MIN_FRAME_SIDE = 32  # smaller frames cannot hold a face worth aligning


class FrameError(KitError, ValueError):
    """A frame is missing, unreadable, or of an unexpected size, type or channel count."""


def frame_path(row: Any, frame: int) -> Path:
    """Path of frame number ``frame`` of a composite-table row (``frame_dir`` / ``frame_template``)."""
    return Path(row["frame_dir"]) / str(row["frame_template"]).format(frame=int(frame))


def to_gray(image: np.ndarray, where: str = "image") -> np.ndarray:
    """uint8 grey [H, W] from grey, BGR or BGRA uint8 input; anything else is a ``FrameError``."""
    if not isinstance(image, np.ndarray):
        raise FrameError(f"{where}: expected a numpy image, got {type(image).__name__}")
    if image.dtype != np.uint8:
        raise FrameError(f"{where}: expected uint8 pixels, got {image.dtype}")
    if image.ndim == 3 and image.shape[2] == 1:
        image = image[..., 0]
    if image.ndim == 2:
        gray = image
    elif image.ndim == 3 and image.shape[2] == 3:
        gray = cv2.cvtColor(image, cv2.COLOR_BGR2GRAY)
    elif image.ndim == 3 and image.shape[2] == 4:
        gray = cv2.cvtColor(image, cv2.COLOR_BGRA2GRAY)
    else:
        raise FrameError(f"{where}: expected a grey, BGR or BGRA image, got shape {image.shape}")
    if min(gray.shape) < MIN_FRAME_SIDE:
        raise FrameError(f"{where}: image {gray.shape[1]}x{gray.shape[0]} is smaller than "
                         f"{MIN_FRAME_SIDE} px on a side")
    return np.ascontiguousarray(gray)


def read_frame(path: str | Path) -> np.ndarray:
    """A frame file as uint8 grey [H, W]; missing or undecodable files raise ``FrameError`` naming the path."""
    path = Path(path)
    if not path.is_file():
        raise FrameError(f"{path}: frame file not found")
    image = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    if image is None:
        raise FrameError(f"{path}: frame file is corrupt or not an image (cannot be decoded)")
    return to_gray(image, str(path))


def check_pair(onset: np.ndarray, apex: np.ndarray, where: str) -> None:
    """Onset and apex must have one size (a release never changes resolution inside a clip)."""
    if onset.shape != apex.shape:
        raise FrameError(f"{where}: onset frame is {onset.shape[1]}x{onset.shape[0]} but apex frame is "
                         f"{apex.shape[1]}x{apex.shape[0]}")
