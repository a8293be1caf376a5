"""Region boxes and a differentiable, batched crop-and-resize of the four facial regions."""

from __future__ import annotations

import torch
from torchvision.ops import roi_align

from emhnet_lite.constants import REGION_NAMES

#: Canonical region centres as (x, y) fractions of the input: HTNet's fixed fallback landmarks on its 28x28
#: image (left eye, right eye, left mouth corner, right mouth corner), divided by 28. Image left first.
CANONICAL_CENTRES: tuple[tuple[float, float], ...] = (
    (9.53 / 28, 11.06 / 28),
    (21.40 / 28, 10.92 / 28),
    (10.26 / 28, 22.12 / 28),
    (20.58 / 28, 22.26 / 28),
)
#: The landmark layout of ``preprocess.regions.region_boxes`` on the canonical template (aligned crop, eyes at
#: x = 0.3 and 0.7): eye+brow and lip-corner centres and box sides (0.8 and 0.6 x the inter-ocular distance
#: 0.4), as fractions of the input side (a test checks them against the preprocessing code).
LANDMARK_CENTRES: tuple[tuple[float, float], ...] = ((0.2846, 0.3131), (0.7154, 0.3131), (0.299, 0.706),
                                                     (0.701, 0.706))
LANDMARK_SIDES: tuple[float, ...] = (0.32, 0.32, 0.24, 0.24)


def canonical_boxes(height: int, width: int, fraction: float = 0.5, batch: int | None = None,
                    device: torch.device | None = None, layout: str = "landmark") -> torch.Tensor:
    """The default region layout scaled to H, W: boxes [4, 4] (or [batch, 4, 4]) (x0, y0, x1, y1).

    ``landmark``: the preprocessing's landmark boxes on the canonical face; ``quadrant``: HTNet's fallback
    centres with boxes of ``fraction`` of the side. Boxes are shifted inward so they lie inside the image.
    """
    if layout == "landmark":
        centres, sides = LANDMARK_CENTRES, [(s * width, s * height) for s in LANDMARK_SIDES]
    elif layout == "quadrant":
        centres, sides = CANONICAL_CENTRES, [(fraction * width, fraction * height)] * len(CANONICAL_CENTRES)
    else:
        raise ValueError(f"canonical_boxes: layout {layout!r}; expected 'landmark' or 'quadrant'")
    rows = []
    for (cx_frac, cy_frac), (side_w, side_h) in zip(centres, sides, strict=True):
        half_w, half_h = side_w / 2, side_h / 2
        cx = min(max(cx_frac * width, half_w), width - half_w)
        cy = min(max(cy_frac * height, half_h), height - half_h)
        rows.append([cx - half_w, cy - half_h, cx + half_w, cy + half_h])
    boxes = torch.tensor(rows, dtype=torch.float32, device=device)  # [4, 4]
    return boxes if batch is None else boxes.expand(batch, -1, -1).clone()


def is_vmapped(tensor: torch.Tensor) -> bool:
    """True inside ``torch.func.vmap`` (the fold ensemble), where branching on tensor values is impossible."""
    return torch._C._functorch.is_batchedtensor(tensor)


def check_boxes(flow: torch.Tensor, boxes: torch.Tensor | None, num_regions: int = len(REGION_NAMES),
                layout: str = "landmark") -> torch.Tensor:
    """Validate ``boxes`` [B, R', 4] against ``flow`` [B, C, H, W]; ``None`` → the canonical ``layout``. Returns
    the first ``num_regions`` boxes [B, R, 4] (REGION_NAMES order; a model with fewer experts uses fewer)."""
    batch, _, height, width = flow.shape
    if boxes is None:
        if num_regions > len(REGION_NAMES):
            raise ValueError(f"a model with {num_regions} regions needs boxes [B, {num_regions}, 4]; there is no "
                             f"canonical layout beyond the {len(REGION_NAMES)} regions {REGION_NAMES}")
        return canonical_boxes(height, width, batch=batch, device=flow.device, layout=layout)[:, :num_regions]
    if boxes.ndim != 3 or boxes.shape[0] != batch or boxes.shape[1] < num_regions or boxes.shape[2] != 4:
        raise ValueError(f"boxes must be [B={batch}, R >= {num_regions}, 4] (x0, y0, x1, y1) in "
                         f"{REGION_NAMES} order, got {tuple(boxes.shape)}")
    boxes = boxes[:, :num_regions]
    if is_vmapped(boxes):  # inside a fold ensemble: values were checked before training (no data branches)
        return boxes.to(device=flow.device, dtype=torch.float32)
    if not torch.isfinite(boxes).all():
        raise ValueError("boxes contain NaN or inf")
    if (boxes[..., 2] <= boxes[..., 0]).any() or (boxes[..., 3] <= boxes[..., 1]).any():
        raise ValueError("boxes must have x1 > x0 and y1 > y0 (half-open pixel boxes)")
    return boxes.to(device=flow.device, dtype=torch.float32)


def crop_regions(flow: torch.Tensor, boxes: torch.Tensor, size: int) -> torch.Tensor:
    """Crop every box from ``flow`` [B, C, H, W] and resize it to ``size`` x ``size``: [B, R, C, size, size].

    ``roi_align(aligned=True)`` is bilinear and differentiable; an integer box of side ``size`` returns
    its pixels exactly, so the same call reproduces a plain slice and handles per-sample landmark boxes.
    """
    batch, regions = boxes.shape[:2]
    sample_index = torch.arange(batch, device=flow.device, dtype=boxes.dtype).repeat_interleave(regions)
    rois = torch.cat([sample_index[:, None], boxes.reshape(-1, 4)], dim=1)  # [B*R, 5]
    crops = roi_align(flow, rois.to(flow.dtype), output_size=(size, size), spatial_scale=1.0,
                      sampling_ratio=-1, aligned=True)  # [B*R, C, size, size]
    return crops.unflatten(0, (batch, regions))
