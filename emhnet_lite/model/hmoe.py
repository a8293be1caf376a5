"""Hierarchical mixture-of-experts gate: scale weights inside each region expert (level 1) and region
weights across the four experts (level 2), both softmax gates conditioned on the sample."""

from __future__ import annotations

import torch
from torch import nn

from emhnet_lite.model.layers import ExpertLinear


def load_balance_loss(weights: torch.Tensor) -> torch.Tensor:
    """``K * sum_k mean_b(w_bk)^2 - 1`` for gate weights [..., B, K]: 0 when the batch uses all K choices
    equally on average, K - 1 when it always picks one (a collapsed gate). Averaged over leading axes."""
    usage = weights.float().mean(dim=-2)  # [..., K]
    return (weights.shape[-1] * usage.square().sum(dim=-1) - 1).mean()


class HMoEGate(nn.Module):
    """Two-level gate.

    Level 1: softmax over the router's scale logits → region embedding = weighted sum of scale summaries.
    Level 2: per-region score from [region embedding, whole-face context] → softmax over the regions.
    """

    def __init__(self, num_regions: int, dim: int, temperature: float = 1.0, balance_weight: float = 0.0) -> None:
        super().__init__()
        self.region_score = ExpertLinear(num_regions, 2 * dim, 1)
        self.temperature = temperature
        self.balance_weight = balance_weight

    def forward(self, summaries: torch.Tensor, scale_logits: torch.Tensor, face_context: torch.Tensor) -> dict:
        """summaries [R, B, S, D], scale_logits [R, B, S], face_context [B, D] → dict with
        region_embeddings [R, B, D], scale_weights [B, R, S], region_weights [B, R], aux_loss []."""
        scale_weights = (scale_logits.float() / self.temperature).softmax(dim=-1)  # [R, B, S]
        region_embeddings = torch.einsum("rbs,rbsd->rbd", scale_weights.to(summaries.dtype), summaries)
        context = face_context[None].expand_as(region_embeddings)  # [R, B, D]
        region_logits = self.region_score(torch.cat([region_embeddings, context], dim=-1))  # [R, B, 1]
        region_weights = (region_logits[..., 0].t().float() / self.temperature).softmax(dim=-1)  # [B, R]
        if self.balance_weight > 0:
            balance = load_balance_loss(region_weights) + load_balance_loss(scale_weights)
            aux_loss = self.balance_weight * balance
        else:
            aux_loss = region_weights.new_zeros(())
        return {"region_embeddings": region_embeddings, "scale_weights": scale_weights.transpose(0, 1),
                "region_weights": region_weights, "aux_loss": aux_loss}
