"""One sample end to end: frames → landmarks → aligned crops → onset→apex flow + strain → model input.

``prepare_sample(row, config)`` works on a composite-table row; ``prepare_frames`` on two images in memory
(e.g. a real photo and a warped copy). Problems raise a ``ValueError`` subclass naming the sample, or are
counted fallbacks listed in ``info["fallbacks"]`` (and in the cache manifest).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from emhnet_lite.data.common import middle_frame
from emhnet_lite.data.frames import FrameError, check_pair, frame_path, read_frame, to_gray
from emhnet_lite.preprocess.align import alignment_matrix, transform_points, warp_face
from emhnet_lite.preprocess.apex import spot_apex
from emhnet_lite.preprocess.config import PreprocessConfig
from emhnet_lite.preprocess.flow import (
    FlowError,
    compute_flow,
    global_motion,
    normalize_flow,
    optical_strain,
    resize_flow,
    sanitize_flow,
)
from emhnet_lite.preprocess.landmarks import (
    LandmarkResult,
    canonical_landmarks,
    landmarks_from_dlib,
    synth_landmarks,
)
from emhnet_lite.preprocess.regions import region_boxes


@dataclass
class PreparedSample:
    """The model input of one sample plus what it took to make it.

    flow [3, size, size] float32 (u, v, strain); boxes [4, 4] float32 (x0, y0, x1, y1) and landmarks
    [68, 2] float32 (x, y), both in model-input pixels; info: ids, frames, landmark source, fallbacks.
    ``steps`` (only with ``keep_steps=True``) holds the intermediate numpy arrays for figures.
    """

    flow: torch.Tensor
    boxes: torch.Tensor
    landmarks: torch.Tensor
    info: dict[str, Any]
    steps: dict[str, np.ndarray] = field(default_factory=dict)


def _landmarks_for(onset_frame: np.ndarray, config: PreprocessConfig, where: str,
                   row: Any | None) -> LandmarkResult:
    """Landmarks of the onset frame from the configured source (full resolution, never a thumbnail)."""
    source = config.landmark_source
    if source in ("synth", "auto") and row is not None:
        truth = synth_landmarks(row, int(row["onset"]))
        if truth is not None:
            return LandmarkResult(truth, "synth")
        if source == "synth":
            raise FrameError(f"{where}: landmark_source='synth' but the clip has no SynthME ground truth")
    elif source == "synth":
        raise FrameError(f"{where}: landmark_source='synth' needs a SynthME composite row")
    if source == "canonical":
        height, width = onset_frame.shape
        return LandmarkResult(canonical_landmarks(width, height), "canonical")
    return landmarks_from_dlib(onset_frame, config.detector_upsample, config.on_no_face, where)


def prepare_frames(onset_image: np.ndarray, apex_image: np.ndarray, config: PreprocessConfig, *,
                   landmarks: LandmarkResult | None = None, where: str = "sample", row: Any | None = None,
                   keep_steps: bool = False) -> PreparedSample:
    """Two full-resolution frames (grey/BGR/BGRA uint8) → ``PreparedSample`` (landmarks found if not given)."""
    onset = to_gray(onset_image, f"{where} onset")
    apex = to_gray(apex_image, f"{where} apex")
    check_pair(onset, apex, where)
    found = landmarks if landmarks is not None else _landmarks_for(onset, config, where, row)
    matrix = alignment_matrix(found.points, config.crop_size, config.eye_distance, config.eye_row)
    onset_crop = warp_face(onset, matrix, config.crop_size)  # [crop, crop]
    apex_crop = warp_face(apex, matrix, config.crop_size)
    try:
        raw_flow = compute_flow(onset_crop, apex_crop, config)  # [crop, crop, 2] px
        raw_flow, flow_fallbacks = sanitize_flow(raw_flow, config)
    except FlowError as error:
        raise FlowError(f"{where}: {error}") from None
    drift = np.zeros(2, np.float32)
    if config.global_motion == "median":  # head drift: one translation of the whole crop, no expression
        drift = global_motion(raw_flow)  # (u, v) px
        raw_flow = raw_flow - drift
    strain = optical_strain(raw_flow)  # [crop, crop]
    normalized = normalize_flow(resize_flow(raw_flow, strain, config.size), config)  # [3, size, size]
    scale = config.size / config.crop_size  # crop px → input px, pixel-centre convention
    points_input = (transform_points(found.points, matrix) + 0.5) * scale - 0.5  # [68, 2] (x, y)
    boxes = region_boxes(points_input, config.size, config.region_fraction, config.region_layout,
                         config.region_eye_iod, config.region_lip_iod)  # [4, 4]
    info = {"landmark_source": found.source, "flow_backend": config.flow_backend,
            "global_motion_px": [round(float(value), 4) for value in drift],
            "fallbacks": list(found.fallbacks) + flow_fallbacks + normalized.fallbacks}
    steps: dict[str, np.ndarray] = {}
    if keep_steps:
        steps = {"onset_frame": onset, "apex_frame": apex, "landmarks_frame": found.points,
                 "matrix": matrix, "onset_crop": onset_crop, "apex_crop": apex_crop,
                 "landmarks_crop": transform_points(found.points, matrix), "flow_crop": raw_flow,
                 "strain_crop": strain}
    return PreparedSample(flow=torch.from_numpy(np.ascontiguousarray(normalized.flow)),
                          boxes=torch.from_numpy(boxes), landmarks=torch.from_numpy(points_input.astype(np.float32)),
                          info=info, steps=steps)


def sample_name(row: Any) -> str:
    """``dataset/subject/clip`` of a composite row (used in every message)."""
    return f"{row['dataset']}/{row['subject']}/{row['clip']}"


def choose_apex(row: Any, config: PreprocessConfig, landmarks: np.ndarray | None) -> tuple[int, str, list[str]]:
    """(apex frame, apex source, fallbacks): the table's apex, or the configured policy for unannotated clips."""
    onset, offset = int(row["onset"]), int(row["offset"])
    apex, source = int(row["apex"]), str(row.get("apex_source", "annotated"))
    fallbacks: list[str] = []
    if source != "annotated" and config.apex_policy == "middle":
        apex, source = middle_frame(onset, offset), "middle"
    elif source != "annotated" and config.apex_policy == "spot":
        apex, _ = spot_apex(lambda n: read_frame(frame_path(row, n)), onset, offset, landmarks, config.spot_size)
        source = "spot"
    if apex == onset:
        if offset <= onset:
            raise FrameError(f"{sample_name(row)}: onset == apex == offset ({onset}); no motion to measure")
        apex = middle_frame(onset, offset)
        fallbacks.append("apex_equals_onset_middle")
    return apex, source, fallbacks


def prepare_sample(row: Any, config: PreprocessConfig | None = None, keep_steps: bool = False) -> PreparedSample:
    """One composite-table row → ``PreparedSample`` (flow [3, size, size], boxes [4, 4], landmarks [68, 2])."""
    config = config or PreprocessConfig()
    where = sample_name(row)
    onset_number = int(row["onset"])
    onset = read_frame(frame_path(row, onset_number))
    landmarks = _landmarks_for(onset, config, where, row)
    apex_number, apex_source, apex_fallbacks = choose_apex(row, config, landmarks.points)
    apex = read_frame(frame_path(row, apex_number))
    sample = prepare_frames(onset, apex, config, landmarks=landmarks, where=where, row=row, keep_steps=keep_steps)
    sample.info = {"dataset": str(row["dataset"]), "subject": str(row["subject"]), "clip": str(row["clip"]),
                   "onset": onset_number, "apex": apex_number, "apex_source": apex_source,
                   **sample.info, "fallbacks": apex_fallbacks + sample.info["fallbacks"]}
    return sample
