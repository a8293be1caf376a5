"""Region experts: one transformer per facial region (weights not shared), over that region's multi-scale
tokens, computed for all regions at once with per-expert weights."""

from __future__ import annotations

import torch
from torch import nn

from emhnet_lite.model.cross_scale import CrossScaleGate, same_scale_mask
from emhnet_lite.model.layers import ExpertBlock, ExpertLayerNorm


class RegionExperts(nn.Module):
    """``num_experts`` transformers: within-scale self-attention blocks, then a cross-scale attention gate,
    then one summary vector per scale (mean over that scale's tokens) for the level-1 gate.

    ``num_experts=1`` is a single expert (as built and inspected in chapter 02).
    """

    def __init__(self, num_experts: int, dim: int, heads: int, depth: int, mlp_ratio: float) -> None:
        super().__init__()
        self.num_experts = num_experts
        self.blocks = nn.ModuleList([ExpertBlock(num_experts, dim, heads, mlp_ratio) for _ in range(depth)])
        self.cross_scale = CrossScaleGate(num_experts, dim, heads)
        self.norm = ExpertLayerNorm(num_experts, dim)

    def forward(self, tokens: torch.Tensor, scale_index: torch.Tensor) -> tuple[torch.Tensor, dict]:
        """tokens [E, B, N, D], scale_index [N] → per-scale summaries [E, B, S, D] and attention maps.

        Self-attention is restricted to the token's own scale (every scale has > 1 token, unlike HTNet's
        one-token blocks); the scales meet in the cross-scale gate.
        """
        counts = torch.bincount(scale_index)
        if (counts < 2).any():
            raise ValueError(f"every scale needs at least 2 tokens for attention, got counts {counts.tolist()}")
        within_scale = same_scale_mask(scale_index)  # [N, N]
        self_attention = []
        for block in self.blocks:
            tokens, weights = block(tokens, allowed=within_scale)  # [E, B, N, D], [E, B, h, N, N]
            self_attention.append(weights)
        tokens, cross = self.cross_scale(tokens, scale_index)  # [E, B, N, D]
        tokens = self.norm(tokens)
        one_hot = nn.functional.one_hot(scale_index, len(counts)).to(tokens.dtype)  # [N, S]
        summaries = torch.einsum("ebnd,ns->ebsd", tokens, one_hot / counts.to(tokens.dtype))  # [E, B, S, D]
        maps = {"self": self_attention, "cross": cross["attention"], "cross_gate": cross["gate"]}
        return summaries, maps
