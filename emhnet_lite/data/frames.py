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


def read_video_frames(path: str | Path, numbers: list[int] | range) -> dict[int, np.ndarray]:
    """Decode frames ``numbers`` (1-based: frame 1 is the first decoded frame) of a video as BGR uint8 [H, W, 3].

    Decoding runs sequentially from the start (seeking is not frame-exact for every codec), so the same file
    always gives the same frames; a missing file, an undecodable video or a frame past its end raises
    ``FrameError`` naming the file and the frame.
    """
    path = Path(path)
    if not path.is_file():
        raise FrameError(f"{path}: video file not found")
    wanted = sorted({int(n) for n in numbers})
    if wanted and wanted[0] < 1:
        raise FrameError(f"{path}: frame {wanted[0]} requested; video frames are numbered from 1")
    capture = cv2.VideoCapture(str(path))
    if not capture.isOpened():
        raise FrameError(f"{path}: cannot open the video (unknown format or corrupt)")
    frames: dict[int, np.ndarray] = {}
    number = 0
    try:
        while wanted and number < wanted[-1]:
            ok, image = capture.read()
            if not ok:
                break
            number += 1
            if number in wanted:
                frames[number] = image
    finally:
        capture.release()
    missing = [n for n in wanted if n not in frames]
    if missing:
        raise FrameError(f"{path}: frame {missing[0]} requested but the video decodes to {number} frame(s)")
    return frames


def video_info(path: str | Path) -> dict[str, float | int]:
    """``frames`` (counted by decoding, not from the header), ``fps``, ``width``, ``height`` of a video."""
    capture = cv2.VideoCapture(str(path))
    if not capture.isOpened():
        raise FrameError(f"{path}: cannot open the video (unknown format or corrupt)")
    count = 0
    try:
        fps = round(float(capture.get(cv2.CAP_PROP_FPS)), 3)
        width, height = int(capture.get(cv2.CAP_PROP_FRAME_WIDTH)), int(capture.get(cv2.CAP_PROP_FRAME_HEIGHT))
        while capture.grab():
            count += 1
    finally:
        capture.release()
    return {"frames": count, "fps": fps, "width": width, "height": height}
