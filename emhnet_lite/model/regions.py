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


def canonical_boxes(height: int, width: int, fraction: float = 0.5, batch: int | None = None,
                    device: torch.device | None = None) -> torch.Tensor:
    """The default region layout scaled to H, W: boxes [4, 4] (or [batch, 4, 4]) (x0, y0, x1, y1).

    Boxes are ``fraction`` of the side (14 px at 28) and shifted inward so they lie inside the image.
    """
    half_w, half_h = fraction * width / 2, fraction * height / 2
    rows = []
    for cx_frac, cy_frac in CANONICAL_CENTRES:
        cx = min(max(cx_frac * width, half_w), width - half_w)
        cy = min(max(cy_frac * height, half_h), height - half_h)
        rows.append([cx - half_w, cy - half_h, cx + half_w, cy + half_h])
    boxes = torch.tensor(rows, dtype=torch.float32, device=device)  # [4, 4]
    return boxes if batch is None else boxes.expand(batch, -1, -1).clone()


def is_vmapped(tensor: torch.Tensor) -> bool:
    """True inside ``torch.func.vmap`` (the fold ensemble), where branching on tensor values is impossible."""
    return torch._C._functorch.is_batchedtensor(tensor)


def check_boxes(flow: torch.Tensor, boxes: torch.Tensor | None) -> torch.Tensor:
    """Validate ``boxes`` against ``flow`` [B, C, H, W]; ``None`` → the canonical layout. Returns [B, R, 4]."""
    batch, _, height, width = flow.shape
    if boxes is None:
        return canonical_boxes(height, width, batch=batch, device=flow.device)
    if boxes.ndim != 3 or boxes.shape[0] != batch or boxes.shape[1:] != (len(REGION_NAMES), 4):
        raise ValueError(f"boxes must be [B={batch}, {len(REGION_NAMES)}, 4] (x0, y0, x1, y1) in "
                         f"{REGION_NAMES} order, got {tuple(boxes.shape)}")
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
