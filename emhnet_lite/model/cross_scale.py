"""Cross-scale attention gate: tokens of one scale attend to the tokens of the other scales, and a learned
sigmoid gate per token decides how much of that context is added."""

from __future__ import annotations

import torch
from torch import nn

from emhnet_lite.model.layers import ExpertAttention, ExpertLayerNorm, ExpertLinear


def same_scale_mask(scale_index: torch.Tensor) -> torch.Tensor:
    """[N, N] bool: True where query and key tokens belong to the same scale (within-scale attention)."""
    return scale_index[:, None] == scale_index[None, :]


def scale_counts(scale_index: torch.Tensor) -> list[int]:
    """Tokens per scale of a sequence whose scales are consecutive groups (as the tokenizer builds it)."""
    counts = torch.bincount(scale_index).tolist()
    if scale_index.tolist() != [s for s, c in enumerate(counts) for _ in range(c)]:
        raise ValueError("scale_index must list the scales as consecutive groups 0, 0, ..., 1, 1, ...")
    return counts


class CrossScaleGate(nn.Module):
    """x ← x + sigmoid(g(x, c)) * c, with c = cross-attention of each token over the OTHER scales' tokens.

    Per-expert weights (one gate per region expert). The gate is per token so a fine-scale token can take
    coarse context while a coarse token ignores fine detail, or vice versa. Each scale's queries attend to the
    concatenated other scales only (no masked N x N attention).
    """

    def __init__(self, num_experts: int, dim: int, heads: int) -> None:
        super().__init__()
        self.norm = ExpertLayerNorm(num_experts, dim)
        self.attn = ExpertAttention(num_experts, dim, heads)
        self.gate = ExpertLinear(num_experts, 2 * dim, 1)

    def forward(self, tokens: torch.Tensor, scale_index: torch.Tensor, need_weights: bool | None = None,
                ) -> tuple[torch.Tensor, dict[str, torch.Tensor | None]]:
        """tokens [E, B, N, D], scale_index [N] → tokens [E, B, N, D], {attention [E,B,h,N,N] (zero on
        same-scale pairs; None unless ``need_weights``, default: in eval mode), gate [E,B,N]}."""
        counts = scale_counts(scale_index)
        if len(counts) < 2:
            raise ValueError("CrossScaleGate needs tokens of at least two scales")
        need_weights = not self.training if need_weights is None else need_weights
        normed = self.norm(tokens)
        context, weights = self.attn(normed, counts=counts, across=True, need_weights=need_weights)  # [E,B,N,D]
        gate = torch.sigmoid(self.gate(torch.cat([normed, context], dim=-1)))  # [E, B, N, 1]
        return tokens + gate * context, {"attention": weights, "gate": gate.squeeze(-1)}
