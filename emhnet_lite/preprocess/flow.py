"""Onset→apex optical flow (TV-L1 or Farnebäck), optical strain, resizing and named normalizations.

Channel order everywhere: ``constants.FLOW_CHANNELS`` = (u, v, strain); u is +right (columns), v +down.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import cv2
import numpy as np

from emhnet_lite.errors import KitError
from emhnet_lite.preprocess.config import PreprocessConfig


class FlowError(KitError, ValueError):
    """The flow of a sample cannot be computed or is unusable (message names the sample and problem)."""


@dataclass
class FlowResult:
    """A [3, H, W] float32 model input plus the fallbacks that were needed to produce it."""

    flow: np.ndarray  # [3, H, W] (u, v, strain)
    fallbacks: list[str] = field(default_factory=list)


def compute_flow(onset: np.ndarray, apex: np.ndarray, config: PreprocessConfig) -> np.ndarray:
    """Dense flow from ``onset`` to ``apex`` (uint8 grey, same shape) → float32 [H, W, 2] (u, v) in px."""
    if onset.shape != apex.shape or onset.ndim != 2:
        raise FlowError(f"flow needs two grey images of one shape, got {onset.shape} and {apex.shape}")
    if config.flow_backend == "tvl1":
        tvl1 = cv2.optflow.DualTVL1OpticalFlow_create(
            nscales=config.tvl1_scales, warps=config.tvl1_warps, epsilon=config.tvl1_epsilon,
            innnerIterations=config.tvl1_inner_iterations,  # (sic: OpenCV's parameter name)
            outerIterations=config.tvl1_outer_iterations)
        flow = tvl1.calc(onset, apex, None)
    elif config.flow_backend == "farneback":
        flow = cv2.calcOpticalFlowFarneback(onset, apex, None, pyr_scale=0.5, levels=3, winsize=15,
                                            iterations=3, poly_n=5, poly_sigma=1.2, flags=0)
    else:  # guarded by PreprocessConfig; kept for direct callers
        raise FlowError(f"unknown flow backend {config.flow_backend!r}")
    return np.asarray(flow, dtype=np.float32)  # [H, W, 2]


def global_motion(flow: np.ndarray) -> np.ndarray:
    """The crop's median flow vector (u, v) of a [H, W, 2] flow: the head's drift, robust to the local motion."""
    return np.median(flow.reshape(-1, 2), axis=0).astype(np.float32)  # [2] px


def optical_strain(flow: np.ndarray) -> np.ndarray:
    """Strain magnitude sqrt(u_x² + v_y² + ½(u_y + v_x)²) of a [H, W, 2] flow, by central differences."""
    u, v = flow[..., 0], flow[..., 1]
    u_y, u_x = np.gradient(u)  # np.gradient returns d/drow (y) first, then d/dcol (x)
    v_y, v_x = np.gradient(v)
    return np.sqrt(u_x**2 + v_y**2 + 0.5 * (u_y + v_x) ** 2).astype(np.float32)  # [H, W]


def sanitize_flow(flow: np.ndarray, config: PreprocessConfig) -> tuple[np.ndarray, list[str]]:
    """Zero NaN/inf flow pixels (a counted fallback) when rare; raise ``FlowError`` when they are not."""
    finite = np.isfinite(flow)
    if finite.all():
        return flow, []
    bad_fraction = 1.0 - finite.all(axis=-1).mean()
    if bad_fraction > config.max_nonfinite_fraction:
        raise FlowError(f"flow has {bad_fraction:.1%} NaN/inf pixels "
                        f"(limit {config.max_nonfinite_fraction:.1%})")
    return np.where(finite, flow, 0.0).astype(np.float32), ["nonfinite_flow_zeroed"]


def resize_flow(flow: np.ndarray, strain: np.ndarray, size: int) -> np.ndarray:
    """[H, W, 2] flow + [H, W] strain → [3, size, size]; u, v rescaled to px of the new grid (area average)."""
    height, width = strain.shape
    u = cv2.resize(flow[..., 0], (size, size), interpolation=cv2.INTER_AREA) * (size / width)
    v = cv2.resize(flow[..., 1], (size, size), interpolation=cv2.INTER_AREA) * (size / height)
    s = cv2.resize(strain, (size, size), interpolation=cv2.INTER_AREA)  # strain is unitless: no rescale
    return np.stack([u, v, s]).astype(np.float32)  # [3, size, size]


def normalize_flow(flow3: np.ndarray, config: PreprocessConfig) -> FlowResult:
    """Apply the named per-channel normalization to a [3, H, W] (u, v, strain) input.

    ``robust_scale`` (default): u and v divided by ONE shared scale (the ``robust_quantile`` of |flow|),
    strain by its own quantile, then clipped to ±``robust_clip``; signs of u and v are kept, so a horizontal
    flip is ``u → −u`` plus a mirror. ``minmax255``: each channel min–max to 0–255 (the STSTNet/HTNet
    images; signs lost). ``none``: flow in input px, strain unitless. A motionless sample (zero scale or
    constant channel) is left at 0 and reported as a fallback instead of dividing by zero.
    """
    out = flow3.astype(np.float32).copy()
    fallbacks: list[str] = []
    if config.normalization == "none":
        return FlowResult(out, fallbacks)
    if config.normalization == "robust_scale":
        magnitude = np.sqrt(out[0] ** 2 + out[1] ** 2)  # [H, W]
        motion_scale = float(np.quantile(magnitude, config.robust_quantile))
        strain_scale = float(np.quantile(out[2], config.robust_quantile))
        if motion_scale <= 1e-8:
            fallbacks.append("zero_motion")
            out[0:2] = 0.0
        else:
            out[0:2] /= motion_scale
        if strain_scale <= 1e-8:
            fallbacks.append("zero_strain")
            out[2] = 0.0
        else:
            out[2] /= strain_scale
        np.clip(out, -config.robust_clip, config.robust_clip, out=out)
        return FlowResult(out, fallbacks)
    if config.normalization == "minmax255":
        for channel, name in enumerate(("u", "v", "strain")):
            low, high = float(out[channel].min()), float(out[channel].max())
            if high - low <= 1e-8:
                fallbacks.append(f"constant_{name}")
                out[channel] = 0.0
            else:
                out[channel] = (out[channel] - low) / (high - low) * 255.0
        return FlowResult(out, fallbacks)
    raise FlowError(f"unknown normalization {config.normalization!r}")

