"""Transformer layers with one weight set per expert, run for all experts in one batched op.

Every tensor carries a LEADING expert axis ``E`` ([E, B, N, D]: the four region experts, or ``E = 1`` for the
global transformer), so "weights not shared between regions" costs one batched matmul instead of four
Python calls; expert-first layout makes that matmul copy-free.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn


class ExpertLinear(nn.Module):
    """``E`` independent linear maps applied to ``x`` [E, ..., in] → [E, ..., out]."""

    def __init__(self, num_experts: int, dim_in: int, dim_out: int, bias: bool = True) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.empty(num_experts, dim_in, dim_out))
        self.bias = nn.Parameter(torch.zeros(num_experts, dim_out)) if bias else None
        # ViT-style small init: keeps the residual stream near identity at the start of training.
        nn.init.trunc_normal_(self.weight, std=0.02)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x [E, ..., in] → [E, ..., out] with expert e's weights on x[e]."""
        flat = x.reshape(x.shape[0], -1, x.shape[-1])  # [E, T, in]
        weight = self.weight.to(flat.dtype)
        if self.bias is None:
            out = torch.bmm(flat, weight)  # [E, T, out]
        else:
            out = torch.baddbmm(self.bias.to(flat.dtype)[:, None, :], flat, weight)  # [E, T, out]
        return out.reshape(*x.shape[:-1], out.shape[-1])


class ExpertLayerNorm(nn.Module):
    """LayerNorm over the last axis with a separate gain and shift per expert; x [E, ..., D]."""

    def __init__(self, num_experts: int, dim: int, eps: float = 1e-5) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.ones(num_experts, dim))
        self.bias = nn.Parameter(torch.zeros(num_experts, dim))
        self.eps = eps

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x [E, ..., D] → normalised over D, scaled and shifted per expert."""
        normed = F.layer_norm(x, x.shape[-1:], eps=self.eps)
        view = (x.shape[0],) + (1,) * (x.ndim - 2) + (x.shape[-1],)
        return normed * self.weight.view(view).to(x.dtype) + self.bias.view(view).to(x.dtype)


def masked_softmax_attention(
    query: torch.Tensor, key: torch.Tensor, value: torch.Tensor, allowed: torch.Tensor | None
) -> tuple[torch.Tensor, torch.Tensor]:
    """Scaled dot-product attention that also returns the weights (for figures).

    query [E, B, h, Nq, dh], key/value [E, B, h, Nk, dh], allowed [Nq, Nk] bool (True = may attend).
    Softmax runs in float32 so the same code is AMP-safe.
    """
    scores = torch.einsum("ebhqd,ebhkd->ebhqk", query, key).float() / math.sqrt(query.shape[-1])
    if allowed is not None:
        scores = scores.masked_fill(~allowed, float("-inf"))
    weights = scores.softmax(dim=-1)  # [E, B, h, Nq, Nk]
    out = torch.einsum("ebhqk,ebhkd->ebhqd", weights.to(value.dtype), value)  # [E, B, h, Nq, dh]
    return out, weights


class ExpertAttention(nn.Module):
    """Multi-head attention with per-expert projections; queries and keys may come from different tokens."""

    def __init__(self, num_experts: int, dim: int, heads: int) -> None:
        super().__init__()
        if dim % heads:
            raise ValueError(f"ExpertAttention: dim={dim} is not divisible by heads={heads}")
        self.heads = heads
        self.to_q = ExpertLinear(num_experts, dim, dim, bias=False)
        self.to_kv = ExpertLinear(num_experts, dim, 2 * dim, bias=False)
        self.to_out = ExpertLinear(num_experts, dim, dim)

    def forward(
        self, x: torch.Tensor, context: torch.Tensor | None = None, allowed: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """x [E, B, Nq, D], context [E, B, Nk, D] (default x) → ([E, B, Nq, D], weights [E, B, h, Nq, Nk])."""
        context = x if context is None else context
        query = self.to_q(x)  # [E, B, Nq, D]
        key, value = self.to_kv(context).chunk(2, dim=-1)  # [E, B, Nk, D] each
        split = [t.unflatten(-1, (self.heads, -1)).transpose(2, 3) for t in (query, key, value)]  # [E,B,h,N,dh]
        out, weights = masked_softmax_attention(*split, allowed)
        out = out.transpose(2, 3).flatten(-2)  # [E, B, Nq, D]
        return self.to_out(out), weights


class ExpertBlock(nn.Module):
    """Pre-norm transformer block (attention + MLP) with per-expert weights."""

    def __init__(self, num_experts: int, dim: int, heads: int, mlp_ratio: float) -> None:
        super().__init__()
        hidden = int(dim * mlp_ratio)
        self.norm_attn = ExpertLayerNorm(num_experts, dim)
        self.attn = ExpertAttention(num_experts, dim, heads)
        self.norm_mlp = ExpertLayerNorm(num_experts, dim)
        self.mlp_in = ExpertLinear(num_experts, dim, hidden)
        self.mlp_out = ExpertLinear(num_experts, hidden, dim)

    def forward(self, x: torch.Tensor, allowed: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """x [E, B, N, D] → (x [E, B, N, D], attention [E, B, h, N, N])."""
        attended, weights = self.attn(self.norm_attn(x), allowed=allowed)
        x = x + attended
        x = x + self.mlp_out(F.gelu(self.mlp_in(self.norm_mlp(x))))
        return x, weights
