"""The ``torchvision::roi_align`` vmap rule a fold ensemble needs (registered when this wing is imported).

Without it ``torch.func.vmap`` over the region crop (``model/regions.crop_regions``) falls back to a slow
per-fold loop and prints a performance warning.
"""

from __future__ import annotations

import torch
import torchvision  # noqa: F401  (loads the torchvision::roi_align operator the rule is registered for)


def _roi_align_over_folds(info, in_dims, flow, rois, spatial_scale, height, width, sampling_ratio, aligned):
    """vmap rule for ``roi_align``: fold the vmapped axis into the sample axis and make one call.

    flow [F, B, C, H, W] and rois [F, K, 5] (sample index within the fold) → one roi_align over F·B samples.
    Without it vmap falls back to a slow per-fold loop and prints a performance warning.
    """
    flow_dim, rois_dim = in_dims[:2]  # the scalar arguments are never vmapped
    folds = info.batch_size
    flow = flow.movedim(flow_dim, 0) if flow_dim is not None else flow.expand(folds, *flow.shape)
    rois = rois.movedim(rois_dim, 0) if rois_dim is not None else rois.expand(folds, *rois.shape)
    per_fold = flow.shape[1]
    offset = torch.arange(folds, device=rois.device, dtype=rois.dtype)[:, None] * per_fold  # [F, 1]
    rois = torch.cat([rois[..., :1] + offset[..., None], rois[..., 1:]], dim=-1).flatten(0, 1)  # [F*K, 5]
    out = torch.ops.torchvision.roi_align(flow.flatten(0, 1), rois, spatial_scale, height, width,
                                          sampling_ratio, aligned)  # [F*K, C, h, w]
    return out.unflatten(0, (folds, -1)), 0


torch.library.register_vmap("torchvision::roi_align", _roi_align_over_folds)
