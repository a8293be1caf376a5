"""The kit's one apex spotter, for clips without an annotated apex (SMIC-HS); the readers' default, the middle
frame, is ``data.common.middle_frame``.

``spot`` = argmax over the clip of the mean Farnebäck flow magnitude against the onset, computed on small
aligned face crops after subtracting each flow field's median vector (the head's global drift, which the
onset-based alignment does not remove and which otherwise peaks at the clip's last frame). Tuned on
full-scale SynthME (164 SMIC clips, docs/preprocessing.md): drift compensation cut the mean apex error from
4.1 to about 1.7 frames at 48 px; 96-px crops without temporal smoothing brought it to about 0.7 frames.
"""

from __future__ import annotations

from collections.abc import Callable

import cv2
import numpy as np

from emhnet_lite.preprocess.align import alignment_matrix, warp_face
from emhnet_lite.preprocess.flow import global_motion


def motion_curve(frames: list[np.ndarray], onset_index: int = 0) -> np.ndarray:
    """Mean magnitude of each frame's flow against ``frames[onset_index]`` minus its median vector → [T]."""
    reference = frames[onset_index]
    curve = np.zeros(len(frames), dtype=np.float64)
    for index, frame in enumerate(frames):
        if index == onset_index:
            continue
        flow = cv2.calcOpticalFlowFarneback(reference, frame, None, 0.5, 2, 9, 3, 5, 1.1, 0)  # [h, w, 2]
        local = flow - global_motion(flow)  # remove global translation (head drift)
        curve[index] = float(np.sqrt((local**2).sum(axis=-1)).mean())
    return curve


def spot_apex(read: Callable[[int], np.ndarray], onset: int, offset: int, landmarks: np.ndarray,
              spot_size: int = 96) -> tuple[int, np.ndarray]:
    """Spot the apex frame number in [onset+1, offset] → (frame, motion curve over onset..offset).

    ``read(frame_number)`` returns a grey full-resolution frame; ``landmarks`` are the onset frame's.
    """
    if offset <= onset:
        return int(onset), np.zeros(1)
    matrix = alignment_matrix(landmarks, spot_size)
    crops = [warp_face(read(n), matrix, spot_size) for n in range(onset, offset + 1)]
    curve = motion_curve(crops, 0)  # [T]
    candidates = curve.copy()
    candidates[0] = -np.inf  # the onset itself is never the apex
    return int(onset + int(np.argmax(candidates))), curve
