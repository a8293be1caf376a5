"""Cross-scale attention gate: tokens of one scale attend to the tokens of the other scales, and a learned
sigmoid gate per token decides how much of that context is added."""

from __future__ import annotations

import torch
from torch import nn

from emhnet_lite.model.layers import ExpertAttention, ExpertLayerNorm, ExpertLinear


def same_scale_mask(scale_index: torch.Tensor) -> torch.Tensor:
    """[N, N] bool: True where query and key tokens belong to the same scale (within-scale attention)."""
    return scale_index[:, None] == scale_index[None, :]


class CrossScaleGate(nn.Module):
    """x ← x + sigmoid(g(x, c)) * c, with c = cross-attention of each token over the OTHER scales' tokens.

    Per-expert weights (one gate per region expert). The gate is per token so a fine-scale token can take
    coarse context while a coarse token ignores fine detail, or vice versa.
    """

    def __init__(self, num_experts: int, dim: int, heads: int) -> None:
        super().__init__()
        self.norm = ExpertLayerNorm(num_experts, dim)
        self.attn = ExpertAttention(num_experts, dim, heads)
        self.gate = ExpertLinear(num_experts, 2 * dim, 1)

    def forward(self, tokens: torch.Tensor, scale_index: torch.Tensor) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """tokens [E, B, N, D], scale_index [N] → tokens [E, B, N, D], {attention [E,B,h,N,N], gate [E,B,N]}."""
        if scale_index.unique().numel() < 2:
            raise ValueError("CrossScaleGate needs tokens of at least two scales")
        normed = self.norm(tokens)
        other_scales = ~same_scale_mask(scale_index)  # [N, N]
        context, weights = self.attn(normed, allowed=other_scales)  # [E, B, N, D]
        gate = torch.sigmoid(self.gate(torch.cat([normed, context], dim=-1)))  # [E, B, N, 1]
        return tokens + gate * context, {"attention": weights, "gate": gate.squeeze(-1)}
