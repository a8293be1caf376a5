"""Flow-aware augmentation: a horizontal flip must mirror the image, negate u and swap left/right regions.

Mirroring x → W − x maps a flow (u, v) at x to (−u, v) at W − x; optical strain is unchanged in value
(the sign of u_y + v_x flips but is squared), so it is only mirrored. The image-left eye becomes the
image-right eye, so region boxes are mirrored AND swapped (left_eye ↔ right_eye, left_lip ↔ right_lip).
"""

from __future__ import annotations

import torch

from emhnet_lite.constants import FLOW_CHANNELS, REGION_NAMES

U_CHANNEL = FLOW_CHANNELS.index("u")


def _mirror_permutation() -> list[int]:
    """Index permutation of ``REGION_NAMES`` that swaps every ``left_*`` with its ``right_*`` partner."""
    order = []
    for name in REGION_NAMES:
        side, _, part = name.partition("_")
        partner = {"left": "right", "right": "left"}.get(side)
        mirrored = f"{partner}_{part}" if partner else name
        if mirrored not in REGION_NAMES:
            raise ValueError(f"region {name!r} has no mirrored partner {mirrored!r} in {REGION_NAMES}")
        order.append(REGION_NAMES.index(mirrored))
    return order


REGION_MIRROR = _mirror_permutation()  # [1, 0, 3, 2] for (left_eye, right_eye, left_lip, right_lip)


def hflip(flows: torch.Tensor, boxes: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Mirror flows [B, 3, H, W] left-right with u → −u; mirror boxes [B, 4, 4], swap left/right regions."""
    width = flows.shape[-1]
    flipped = torch.flip(flows, dims=[-1])  # [B, 3, H, W]
    flipped[:, U_CHANNEL] = -flipped[:, U_CHANNEL]
    x0, y0, x1, y1 = boxes.unbind(-1)  # each [B, 4]
    mirrored = torch.stack([width - x1, y0, width - x0, y1], dim=-1)  # [B, 4, 4], still x0 < x1
    return flipped, mirrored[:, REGION_MIRROR]


def augment_draws(batch: int, generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """The random numbers one batch's augmentation uses: flip and scale draws, each U(0, 1) [batch].

    Both are always drawn, in this order, so a fold's stream of draws depends only on its seed and batch
    sizes (the fold-vectorized trainer replays exactly these draws per fold).
    """
    flip_draw = torch.rand(batch, generator=generator)  # [B]
    scale_draw = torch.rand(batch, generator=generator)  # [B]
    return flip_draw, scale_draw


def apply_augmentation(
    flows: torch.Tensor,
    boxes: torch.Tensor,
    flip_draw: torch.Tensor,
    scale_draw: torch.Tensor,
    hflip_prob: float,
    amplitude_jitter: float,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Flip the samples whose ``flip_draw < hflip_prob`` and scale every flow by U(1 − j, 1 + j).

    flows [B, 3, H, W], boxes [B, 4, 4], draws [B] (from ``augment_draws``). Per-sample and elementwise, so
    augmenting several folds' batches concatenated gives the same numbers as augmenting each alone.
    """
    out_flows, out_boxes = flows.clone(), boxes.clone()
    flip_mask = (flip_draw < hflip_prob).to(flows.device)
    if flip_mask.any():
        flipped_flows, flipped_boxes = hflip(flows[flip_mask], boxes[flip_mask])
        out_flows[flip_mask], out_boxes[flip_mask] = flipped_flows, flipped_boxes
    if amplitude_jitter > 0:
        scale = (1.0 + amplitude_jitter * (2.0 * scale_draw - 1.0)).to(flows)  # [B]
        out_flows = out_flows * scale[:, None, None, None]  # strain is 1-homogeneous in (u, v): scales too
    return out_flows, out_boxes


def augment_batch(
    flows: torch.Tensor,
    boxes: torch.Tensor,
    hflip_prob: float,
    amplitude_jitter: float,
    generator: torch.Generator,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Random per-sample flip (probability ``hflip_prob``) and flow scaling by U(1 − j, 1 + j).

    All randomness comes from ``generator`` (CPU), so a fold's augmentations are fixed by its seed.
    """
    flip_draw, scale_draw = augment_draws(flows.shape[0], generator)
    return apply_augmentation(flows, boxes, flip_draw, scale_draw, hflip_prob, amplitude_jitter)
