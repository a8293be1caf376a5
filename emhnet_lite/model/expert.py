"""Region experts: one transformer per facial region (weights not shared), over that region's multi-scale
tokens, computed for all regions at once with per-expert weights."""

from __future__ import annotations

import torch
from torch import nn

from emhnet_lite.model.cross_scale import CrossScaleGate, scale_counts
from emhnet_lite.model.layers import ExpertBlock, ExpertLayerNorm


class RegionExperts(nn.Module):
    """``num_experts`` transformers: within-scale self-attention blocks, then (``cross_scale``, ≥ 2 scales) a
    cross-scale attention gate, then one summary vector per scale (mean over that scale's tokens).

    ``num_experts=1`` is a single expert (as built and inspected in chapter 02).
    """

    def __init__(self, num_experts: int, dim: int, heads: int, depth: int, mlp_ratio: float,
                 cross_scale: bool = True) -> None:
        super().__init__()
        self.num_experts = num_experts
        self.blocks = nn.ModuleList([ExpertBlock(num_experts, dim, heads, mlp_ratio) for _ in range(depth)])
        self.cross_scale = CrossScaleGate(num_experts, dim, heads) if cross_scale else None
        self.norm = ExpertLayerNorm(num_experts, dim)

    def forward(self, tokens: torch.Tensor, scale_index: torch.Tensor,
                need_weights: bool | None = None) -> tuple[torch.Tensor, dict]:
        """tokens [E, B, N, D], scale_index [N] → per-scale summaries [E, B, S, D] and attention maps
        (``need_weights``, default in eval mode: full [E, B, h, N, N] maps, zero outside a scale).

        Self-attention is block-diagonal: restricted to the token's own scale (every scale has > 1 token, unlike
        HTNet's one-token blocks), one fused attention call per scale; the scales meet in the cross-scale gate.
        """
        counts = scale_counts(scale_index)
        if min(counts) < 2:
            raise ValueError(f"every scale needs at least 2 tokens for attention, got counts {counts}")
        need_weights = not self.training if need_weights is None else need_weights
        self_attention = []
        for block in self.blocks:
            tokens, weights = block(tokens, counts=counts, need_weights=need_weights)  # [E, B, N, D]
            self_attention.append(weights)
        cross = {"attention": None, "gate": None}
        if self.cross_scale is not None and len(counts) > 1:
            tokens, cross = self.cross_scale(tokens, scale_index, need_weights)  # [E, B, N, D]
        tokens = self.norm(tokens)
        summaries = torch.stack([group.mean(dim=2) for group in tokens.split(counts, dim=2)], dim=2)  # [E,B,S,D]
        maps = {"self": self_attention, "cross": cross["attention"], "cross_gate": cross["gate"]}
        return summaries, maps
