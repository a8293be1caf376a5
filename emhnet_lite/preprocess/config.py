"""``PreprocessConfig``: every choice of the onset→apex pipeline in one hashable dataclass, with presets.

The cache key is the hash of this config, so two runs with the same config share (and trust) one cache.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, replace
from typing import Any

from emhnet_lite.errors import ConfigError, UnknownNameError

LANDMARK_SOURCES = ("auto", "dlib", "synth", "canonical")
FLOW_BACKENDS = ("tvl1", "farneback")
NORMALIZATIONS = ("robust_scale", "minmax255", "none")
APEX_POLICIES = ("table", "middle", "spot")
ON_FACE_PROBLEM = ("canonical", "error")
GLOBAL_MOTION = ("median", "none")
#: ``landmark``: square boxes centred on the region landmarks, sides from the inter-ocular distance;
#: ``quadrant``: the former layout, boxes of half the image side (near-quadrants that overlap a lot).
REGION_LAYOUTS = ("landmark", "quadrant")


@dataclass(frozen=True)
class PreprocessConfig:
    """All preprocessing choices; see ``docs/preprocessing.md`` for the reasoning behind each default.

    landmark_source: ``dlib`` (68-point iBUG predictor, real photos), ``synth`` (SynthME ground truth),
    ``canonical`` (fixed template for already cropped and aligned releases) or ``auto`` (SynthME ground
    truth when the clip has it, else dlib). ``on_no_face`` decides what happens when dlib finds no face:
    ``canonical`` (counted fallback, listed in the manifest) or ``error``.
    """

    size: int = 28  # model input side (flow is [3, size, size])
    crop_size: int = 112  # side of the aligned face crop the flow is computed on
    eye_distance: float = 0.40  # inter-ocular distance as a fraction of crop_size (sets the margin)
    eye_row: float = 0.36  # eye line height as a fraction of crop_size
    landmark_source: str = "auto"
    on_no_face: str = "canonical"
    detector_upsample: int = 0  # dlib HOG upsampling passes (0 = full resolution as is)
    flow_backend: str = "tvl1"
    tvl1_scales: int = 3  # TV-L1 pyramid levels (OpenCV default 5; micro motion needs few)
    tvl1_warps: int = 3
    tvl1_epsilon: float = 0.02
    tvl1_inner_iterations: int = 20
    tvl1_outer_iterations: int = 5
    global_motion: str = "median"  # subtract the crop's median flow vector (head drift) before strain/resize
    normalization: str = "robust_scale"
    robust_quantile: float = 0.99  # u, v share one scale: the quantile of |flow|; strain its own
    robust_clip: float = 3.0  # after scaling, values are clipped to [-clip, clip]
    apex_policy: str = "table"  # for clips without an annotated apex (SMIC): table / middle / spot
    spot_size: int = 96  # side of the aligned crops used by apex spotting (Farneback, drift-compensated)
    region_layout: str = "landmark"  # landmark-centred boxes sized by the inter-ocular distance, or "quadrant"
    region_eye_iod: float = 0.8  # eye+brow box side / inter-ocular distance (landmark layout)
    region_lip_iod: float = 0.6  # lip-corner box side / inter-ocular distance (landmark layout)
    region_fraction: float = 0.5  # quadrant layout: box side as a fraction of size (14 px at 28, like HTNet)
    max_nonfinite_fraction: float = 0.01  # NaN/inf flow pixels zeroed (counted) up to this fraction

    def __post_init__(self) -> None:
        checks = [("landmark_source", LANDMARK_SOURCES), ("flow_backend", FLOW_BACKENDS),
                  ("normalization", NORMALIZATIONS), ("apex_policy", APEX_POLICIES),
                  ("on_no_face", ON_FACE_PROBLEM), ("global_motion", GLOBAL_MOTION),
                  ("region_layout", REGION_LAYOUTS)]
        for name, allowed in checks:
            if getattr(self, name) not in allowed:
                raise ConfigError(f"PreprocessConfig.{name}={getattr(self, name)!r}; expected one of {allowed}")
        if self.size < 8 or self.crop_size < 32:
            raise ConfigError(f"PreprocessConfig: size={self.size} must be >= 8 and crop_size={self.crop_size} >= 32")
        if not 0.0 < self.region_fraction <= 1.0:
            raise ConfigError(f"PreprocessConfig.region_fraction={self.region_fraction} must be in (0, 1]")
        if self.region_eye_iod <= 0 or self.region_lip_iod <= 0:
            raise ConfigError("PreprocessConfig.region_eye_iod and region_lip_iod must be > 0")

    @classmethod
    def preset(cls, name: str, **overrides: Any) -> PreprocessConfig:
        """A named preset (see ``PREPROCESS_PRESETS``) with optional field overrides."""
        if name not in PREPROCESS_PRESETS:
            raise UnknownNameError(f"unknown preprocessing preset {name!r}; choose from {sorted(PREPROCESS_PRESETS)}")
        return replace(PREPROCESS_PRESETS[name], **overrides)

    def to_dict(self) -> dict[str, Any]:
        """Plain dict (what ``config.json`` in the cache holds)."""
        return asdict(self)


PREPROCESS_PRESETS: dict[str, PreprocessConfig] = {
    # the kit's default: TV-L1, 28x28, SynthME ground-truth landmarks when present else dlib
    "default": PreprocessConfig(),
    # the chapters' teaching set: same as default (kept as its own name so it can diverge explicitly)
    "teaching": PreprocessConfig(),
    # larger input for the multi-scale chapter and GPU runs
    "56": PreprocessConfig(size=56),
    # real photos only: dlib landmarks, never the SynthME ground truth
    "real": PreprocessConfig(landmark_source="dlib"),
    # releases that are already cropped and aligned (CASME II Cropped, SMIC cropped): fixed landmarks
    "cropped": PreprocessConfig(landmark_source="canonical"),
    # fast: Farneback flow (about 30x faster than TV-L1, less accurate)
    "fast": PreprocessConfig(flow_backend="farneback"),
    # SMIC apex by spotting instead of the middle frame
    "spot": PreprocessConfig(apex_policy="spot"),
    # the former region layout: half-side boxes around the region centres (near-quadrants)
    "quadrant": PreprocessConfig(region_layout="quadrant"),
}
