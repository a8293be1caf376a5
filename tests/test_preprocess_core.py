"""Preprocessing core: flow, strain, normalization, regions, alignment, dlib on a real photo, bad input."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
from skimage import data

from emhnet_lite.constants import FLOW_CHANNELS, REGION_NAMES
from emhnet_lite.preprocess import FlowError, FrameError, LandmarkError, PreprocessConfig, prepare_frames
from emhnet_lite.preprocess.align import alignment_matrix, derive_canonical_template, transform_points
from emhnet_lite.preprocess.flow import (
    compute_flow,
    normalize_flow,
    optical_strain,
    resize_flow,
    sanitize_flow,
)
from emhnet_lite.preprocess.landmarks import (
    CANONICAL_TEMPLATE,
    MIRROR_INDEX,
    detect_dlib,
    eye_centres,
    landmarks_from_dlib,
)
from emhnet_lite.preprocess.regions import crop_box, region_boxes


@pytest.fixture(scope="module")
def astronaut_bgr() -> np.ndarray:
    return cv2.cvtColor(data.astronaut(), cv2.COLOR_RGB2BGR)  # [512, 512, 3]


@pytest.fixture(scope="module")
def astronaut_landmarks(astronaut_bgr) -> np.ndarray:
    points, n_faces = detect_dlib(astronaut_bgr)
    assert points is not None and n_faces == 1
    return points


def shifted(image: np.ndarray, dx: float, dy: float) -> np.ndarray:
    matrix = np.float32([[1, 0, dx], [0, 1, dy]])
    return cv2.warpAffine(image, matrix, (image.shape[1], image.shape[0]), borderMode=cv2.BORDER_REFLECT)


def test_channel_order_is_the_contract():
    assert FLOW_CHANNELS == ("u", "v", "strain")


@pytest.mark.parametrize("backend", ["tvl1", "farneback"])
def test_flow_recovers_known_shift_with_sign(astronaut_bgr, backend):
    grey = cv2.cvtColor(astronaut_bgr, cv2.COLOR_BGR2GRAY)[100:228, 180:308]  # [128, 128] face
    moved = shifted(grey, 1.0, -0.5)  # content moves right (+u) and up (−v)
    flow = compute_flow(grey, moved, PreprocessConfig(flow_backend=backend))  # [128, 128, 2]
    inner = flow[16:-16, 16:-16]
    assert flow.shape == (128, 128, 2) and flow.dtype == np.float32
    assert abs(inner[..., 0].mean() - 1.0) < 0.15
    assert abs(inner[..., 1].mean() + 0.5) < 0.15


def test_strain_formula_on_analytic_field():
    rows, cols = np.mgrid[0:32, 0:32].astype(np.float32)
    flow = np.stack([0.1 * cols + 0.2 * rows, 0.3 * rows], axis=-1)  # u_x=.1, u_y=.2, v_x=0, v_y=.3
    expected = np.sqrt(0.1**2 + 0.3**2 + 0.5 * (0.2 + 0.0) ** 2)
    assert np.allclose(optical_strain(flow), expected, atol=1e-5)


def test_strain_is_zero_for_pure_translation():
    flow = np.ones((20, 20, 2), np.float32) * np.array([1.5, -0.7], np.float32)
    assert np.allclose(optical_strain(flow), 0.0)


def test_resize_rescales_flow_to_input_pixels():
    flow = np.ones((112, 112, 2), np.float32) * np.array([4.0, -2.0], np.float32)
    out = resize_flow(flow, np.zeros((112, 112), np.float32), 28)
    assert out.shape == (3, 28, 28)
    assert np.allclose(out[0], 1.0) and np.allclose(out[1], -0.5)


def test_robust_scale_keeps_signs_and_shares_uv_scale():
    rng = np.random.default_rng(0)
    flow3 = rng.normal(size=(3, 28, 28)).astype(np.float32)
    flow3[2] = np.abs(flow3[2])
    out = normalize_flow(flow3, PreprocessConfig()).flow
    inside = np.abs(out[:2]) < 3.0  # unclipped values
    assert np.array_equal(np.sign(out[:2][inside]), np.sign(flow3[:2][inside]))
    ratio = out[0][inside[0]] / flow3[0][inside[0]]
    ratio_v = out[1][inside[1]] / flow3[1][inside[1]]
    assert np.allclose(ratio, ratio[0], rtol=1e-4) and np.allclose(ratio_v, ratio[0], rtol=1e-4)
    # flipping u flips the normalized u exactly (the trainer's horizontal flip relies on it)
    flipped = flow3.copy()
    flipped[0] *= -1
    assert np.allclose(normalize_flow(flipped, PreprocessConfig()).flow[0], -out[0])


def test_minmax255_matches_prior_images_and_constant_channel_is_counted():
    flow3 = np.stack([np.linspace(-1, 1, 784).reshape(28, 28), np.full((28, 28), 0.3),
                      np.linspace(0, 2, 784).reshape(28, 28)]).astype(np.float32)
    result = normalize_flow(flow3, PreprocessConfig(normalization="minmax255"))
    assert result.flow[0].min() == 0.0 and result.flow[0].max() == 255.0
    assert np.all(result.flow[1] == 0.0) and result.fallbacks == ["constant_v"]


def test_zero_motion_is_a_counted_fallback_not_a_division_by_zero():
    result = normalize_flow(np.zeros((3, 28, 28), np.float32), PreprocessConfig())
    assert np.all(np.isfinite(result.flow)) and not result.flow.any()
    assert result.fallbacks == ["zero_motion", "zero_strain"]


def test_nonfinite_flow_zeroed_when_rare_and_error_when_not():
    flow = np.ones((100, 100, 2), np.float32)
    flow[0, 0, 0] = np.nan
    flow[1, 1, 1] = np.inf
    clean, fallbacks = sanitize_flow(flow, PreprocessConfig())
    assert np.isfinite(clean).all() and clean[0, 0, 0] == 0.0 and fallbacks == ["nonfinite_flow_zeroed"]
    flow[:20] = np.nan
    with pytest.raises(FlowError, match="NaN/inf"):
        sanitize_flow(flow, PreprocessConfig())


def test_alignment_levels_eyes_and_places_them(astronaut_landmarks):
    matrix = alignment_matrix(astronaut_landmarks, 112)
    left, right = eye_centres(transform_points(astronaut_landmarks, matrix))
    assert np.allclose(left, [0.3 * 112, 0.36 * 112], atol=1e-3)
    assert np.allclose(right, [0.7 * 112, 0.36 * 112], atol=1e-3)


def test_canonical_template_is_symmetric_and_rederivable(astronaut_landmarks):
    mirrored = CANONICAL_TEMPLATE[MIRROR_INDEX].copy()
    mirrored[:, 0] = 1.0 - mirrored[:, 0]
    assert np.allclose(mirrored, CANONICAL_TEMPLATE, atol=2e-3)
    derived = derive_canonical_template(astronaut_landmarks)
    symmetric = (derived + np.c_[1.0 - derived[MIRROR_INDEX, 0], derived[MIRROR_INDEX, 1]]) / 2
    assert np.abs(symmetric - CANONICAL_TEMPLATE).max() < 2e-3


def test_dlib_landmarks_land_on_the_astronaut_face(astronaut_landmarks):
    left, right = eye_centres(astronaut_landmarks)
    # the face occupies x ≈ 170–270, y ≈ 75–170 in the 512×512 photo; image-left eye has the smaller x
    assert 170 < left[0] < right[0] < 270 and 80 < left[1] < 140 and 80 < right[1] < 140
    assert astronaut_landmarks[48, 1] > left[1] + 20  # lip corner below the eyes (x, y not swapped)


def test_boxes_are_not_transposed_on_a_non_square_picture():
    # landmarks of a face in the top-right corner of a 28-px input: x large, y small
    points = CANONICAL_TEMPLATE * 10 + np.array([16.0, 1.0], np.float32)
    boxes = region_boxes(points, 28, 0.5, layout="quadrant")
    assert boxes.shape == (len(REGION_NAMES), 4) and boxes.dtype == np.float32
    assert (boxes[:, 2] - boxes[:, 0] == 14).all() and (boxes[:, 3] - boxes[:, 1] == 14).all()
    assert boxes[0, 0] > boxes[0, 1]  # x0 (columns) is the large coordinate, y0 (rows) the small one
    assert boxes[0, 0] < boxes[1, 0] and boxes[0, 1] < boxes[2, 1]  # left eye left of right eye, above lips
    image = np.zeros((28, 28))
    image[3, 20] = 1.0  # a mark at row 3, column 20 (near the image-left eye of that face)
    assert crop_box(image, boxes[0]).sum() == 1.0


def test_landmark_regions_are_centred_and_sized_by_the_inter_ocular_distance():
    from emhnet_lite.preprocess.cache import cache_key
    from emhnet_lite.preprocess.regions import layout_statistics, region_centres, region_sides

    points = CANONICAL_TEMPLATE * 20 + np.array([5.0, 4.0], np.float32)  # a 20 px face inside 28 px
    boxes = region_boxes(points, 28)  # default: landmark layout
    iod = float(np.linalg.norm(np.subtract(*eye_centres(points))))
    np.testing.assert_allclose(boxes[:, 2] - boxes[:, 0], [0.8 * iod] * 2 + [0.6 * iod] * 2, rtol=1e-5)
    np.testing.assert_allclose(boxes[:, 3] - boxes[:, 1], boxes[:, 2] - boxes[:, 0])
    np.testing.assert_allclose((boxes[:, :2] + boxes[:, 2:]) / 2, region_centres(points) + 0.5, atol=1e-5)
    np.testing.assert_allclose(region_sides(points, 1.0, 1.0), [iod] * 4, rtol=1e-5)
    landmark = layout_statistics(boxes[None], points[None], 28)
    quadrant = layout_statistics(region_boxes(points, 28, layout="quadrant")[None], points[None], 28)
    assert landmark["overlap"] == 0.0 < quadrant["overlap"] and landmark["nose_in_lip_boxes"] == 0.0
    assert landmark["face_coverage"] < quadrant["face_coverage"] and 0.2 < landmark["face_coverage"] < 0.8
    # a box near the border is shifted inside, never shrunk
    edge = region_boxes(points - np.array([5.0, 4.0], np.float32), 28)
    assert (edge >= 0).all() and np.allclose(edge[:, 2] - edge[:, 0], boxes[:, 2] - boxes[:, 0])
    with pytest.raises(ValueError, match="layout"):
        region_boxes(points, 28, layout="grid")
    # the region definition is part of the cache key: another layout never reuses prepared boxes
    assert cache_key(PreprocessConfig()) != cache_key(PreprocessConfig(region_layout="quadrant"))
    with pytest.raises(ValueError, match="region_layout"):
        PreprocessConfig(region_layout="grid")


def test_prepare_frames_on_the_astronaut(astronaut_bgr):
    apex = shifted(astronaut_bgr, 1.0, 0.0)
    config = PreprocessConfig(landmark_source="dlib", normalization="none", global_motion="none")
    sample = prepare_frames(astronaut_bgr, apex, config, keep_steps=True)
    assert tuple(sample.flow.shape) == (3, 28, 28) and tuple(sample.boxes.shape) == (4, 4)
    assert tuple(sample.landmarks.shape) == (68, 2)
    assert sample.info["landmark_source"] == "dlib" and sample.info["fallbacks"] == []
    assert 0.2 < float(sample.flow[0].mean()) < 0.32  # 1 px × 1.03 alignment scale × 28/112
    # the left-eye box, mapped to the aligned crop, contains the crop's left-eye centre
    left_eye_crop, _ = eye_centres(sample.steps["landmarks_crop"])
    x0, y0, x1, y1 = sample.boxes[0].numpy() * (112 / 28)
    assert x0 <= left_eye_crop[0] < x1 and y0 <= left_eye_crop[1] < y1


def test_global_head_motion_is_removed_and_reported(astronaut_bgr):
    apex = shifted(astronaut_bgr, 1.0, 0.0)  # the whole head moves: no expression at all
    sample = prepare_frames(astronaut_bgr, apex, PreprocessConfig(landmark_source="dlib", normalization="none"))
    drift_u, drift_v = sample.info["global_motion_px"]
    assert abs(drift_u - 1.03) < 0.1 and abs(drift_v) < 0.1  # 1 px × the alignment scale, in crop px
    assert float(sample.flow[:2].abs().mean()) < 0.02


def test_same_input_same_output(astronaut_bgr):
    apex = shifted(astronaut_bgr, 0.5, 0.5)
    config = PreprocessConfig(landmark_source="dlib")
    first, second = prepare_frames(astronaut_bgr, apex, config), prepare_frames(astronaut_bgr, apex, config)
    assert np.array_equal(first.flow.numpy(), second.flow.numpy())


def test_no_face_is_counted_fallback_or_error():
    noise = np.random.default_rng(0).integers(0, 255, (120, 160), dtype=np.uint8)
    result = landmarks_from_dlib(noise)
    assert result.source == "canonical" and result.fallbacks == ["no_face_canonical"]
    with pytest.raises(LandmarkError, match="no face"):
        landmarks_from_dlib(noise, on_no_face="error", where="noise.png")


def test_several_faces_use_the_best_and_count_it(astronaut_bgr):
    face = astronaut_bgr[40:220, 130:330]  # [180, 200, 3]
    two = np.concatenate([face, face[:, ::-1]], axis=1)  # the face and its mirror side by side
    points, n_faces = detect_dlib(two)
    assert n_faces == 2 and points is not None
    result = landmarks_from_dlib(two)
    assert result.source == "dlib" and result.fallbacks == ["multiple_faces_best_score"]


@pytest.mark.parametrize("bad, message", [
    (np.zeros((64, 64, 2), np.uint8), "grey, BGR or BGRA"),
    (np.zeros((64, 64), np.float32), "uint8"),
    (np.zeros((20, 64), np.uint8), "smaller than"),
])
def test_unexpected_images_raise_clear_errors(bad, message):
    with pytest.raises(FrameError, match=message):
        prepare_frames(bad, bad, PreprocessConfig(landmark_source="canonical"), where="sample s1")


def test_onset_and_apex_of_different_sizes_raise(astronaut_bgr):
    with pytest.raises(FrameError, match="onset frame is 512x512 but apex frame is 256x256"):
        prepare_frames(astronaut_bgr, astronaut_bgr[:256, :256], PreprocessConfig(landmark_source="canonical"))


def test_config_rejects_unknown_names():
    with pytest.raises(ValueError, match="normalization"):
        PreprocessConfig(normalization="zscore")
    with pytest.raises(KeyError, match="unknown preprocessing preset"):
        PreprocessConfig.preset("nope")
    assert PreprocessConfig.preset("56").size == 56


def test_small_face_is_found_with_one_upsampling_pass_and_counted(astronaut_bgr):
    small = cv2.resize(astronaut_bgr, None, fx=0.5, fy=0.5, interpolation=cv2.INTER_AREA)  # face ≈ 45 px
    assert detect_dlib(small, 0)[0] is None
    result = landmarks_from_dlib(small)
    assert result.source == "dlib" and result.fallbacks == ["face_found_upsampled"]
    left, right = eye_centres(result.points)
    assert 85 < left[0] < right[0] < 135  # the same eyes as at full size, at half the coordinates


def test_flow_colour_and_box_drawing():
    from emhnet_lite.preprocess.view import REGION_COLORS, draw_boxes, flow_colour

    flow = np.zeros((6, 8, 2), np.float32)
    flow[2, 3] = [1.0, 0.0]
    own_scale, fixed_scale = flow_colour(flow), flow_colour(flow, max_norm=2.0)
    assert own_scale.shape == fixed_scale.shape == (6, 8, 3) and own_scale.dtype == np.uint8
    assert (own_scale[0, 0] == 255).all()  # no motion is white
    assert fixed_scale[2, 3].min() > own_scale[2, 3].min()  # half the fixed scale: less saturated
    boxes = np.array([[1, 2, 5, 6], [0, 0, 1, 1], [0, 0, 1, 1], [0, 0, 1, 1]], np.float32)
    canvas = draw_boxes(np.zeros((10, 10), np.uint8), boxes)
    assert tuple(canvas[2, 1]) == REGION_COLORS[0] and tuple(canvas[5, 4]) == REGION_COLORS[0]  # (row y, col x)
    assert tuple(canvas[6, 5]) == (0, 0, 0)  # half-open: x1, y1 are outside the box
