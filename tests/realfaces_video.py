"""A tiny synthetic video for the real-face release and predict tests (written by OpenCV, no network)."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np


def write_tiny_video(path: Path, frames: int = 16, size: int = 64) -> Path:
    """An MJPG ``.avi`` of a grey disc whose lower half stretches over time; frame n carries n dots."""
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 25.0, (size, size))
    assert writer.isOpened()
    for n in range(frames):
        image = np.full((size, size, 3), 40, np.uint8)  # [H, W, 3] BGR
        cv2.ellipse(image, (size // 2, size // 2), (size // 4, size // 4 + n // 2), 0, 0, 360, (180, 170, 160), -1)
        cv2.circle(image, (size // 2 - 7, size // 2 - 5), 3, (20, 20, 20), -1)
        cv2.circle(image, (size // 2 + 7, size // 2 - 5), 3, (20, 20, 20), -1)
        for k in range(n):
            image[2, 2 + 2 * k] = 255
        writer.write(image)
    writer.release()
    return path
