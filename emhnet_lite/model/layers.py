"""Transformer layers with one weight set per expert, run for all experts in one batched op.

Every tensor carries a LEADING expert axis ``E`` ([E, B, N, D]: the four region experts, or ``E = 1`` for the
global transformer), so "weights not shared between regions" costs one batched matmul instead of four
Python calls; expert-first layout makes that matmul copy-free.
"""

from __future__ import annotations

import itertools
import math

import torch
import torch.nn.functional as F
from einops import rearrange
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
    query: torch.Tensor, key: torch.Tensor, value: torch.Tensor, allowed: torch.Tensor | None,
    bias: torch.Tensor | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Scaled dot-product attention that also returns the weights (figures, and the fold ensemble's vmap).

    query [E, B, h, Nq, dh], key/value [E, B, h, Nk, dh], allowed [Nq, Nk] bool (True = may attend), bias
    broadcastable to [E, B, h, Nq, Nk] (added to the scores). Softmax runs in float32 so the code is AMP-safe.
    """
    scores = torch.einsum("ebhqd,ebhkd->ebhqk", query, key).float() / math.sqrt(query.shape[-1])
    if bias is not None:
        scores = scores + bias.float()
    if allowed is not None:
        scores = scores.masked_fill(~allowed, float("-inf"))
    weights = scores.softmax(dim=-1)  # [E, B, h, Nq, Nk]
    out = torch.einsum("ebhqk,ebhkd->ebhqd", weights.to(value.dtype), value)  # [E, B, h, Nq, dh]
    return out, weights


def attend(query: torch.Tensor, key: torch.Tensor, value: torch.Tensor, bias: torch.Tensor | None = None,
           need_weights: bool = False) -> tuple[torch.Tensor, torch.Tensor | None]:
    """Attention [E, B, h, Nq, dh] x [E, B, h, Nk, dh] → ([E, B, h, Nq, dh], weights [E, B, h, Nq, Nk] or None).

    Fused ``F.scaled_dot_product_attention`` unless the weights are wanted (figures) or the call runs inside
    ``vmap`` (the fold ensemble), where SDPA has no batching rule and the explicit softmax is the fast path.
    """
    if need_weights or torch._C._functorch.is_batchedtensor(query):
        return masked_softmax_attention(query, key, value, None, bias)
    lead = query.shape[:2]  # fused kernels take [batch, h, N, dh]: fold the expert axis into the batch
    mask = None if bias is None else bias.to(query.dtype).expand(*lead, *bias.shape[2:]).flatten(0, 1)
    out = F.scaled_dot_product_attention(query.flatten(0, 1), key.flatten(0, 1), value.flatten(0, 1), attn_mask=mask)
    return out.unflatten(0, lead), None


def split_heads(x: torch.Tensor, heads: int) -> torch.Tensor:
    """[E, B, N, D] → [E, B, h, N, D / h]."""
    return rearrange(x, "e b n (h d) -> e b h n d", h=heads)


def grouped_attention(query: torch.Tensor, key: torch.Tensor, value: torch.Tensor, counts: list[int],
                      across: bool, need_weights: bool = False) -> tuple[torch.Tensor, torch.Tensor | None]:
    """Block-structured attention over a sequence made of consecutive groups (the scales) of ``counts`` tokens.

    ``across=False``: each token attends within its group (block-diagonal); ``across=True``: to every OTHER
    group (block-off-diagonal). One attention call per group on just the allowed keys, never an N x N mask.
    q/k/v [E, B, h, N, dh] → out [E, B, h, N, dh] and (``need_weights``) the full weights [E, B, h, N, N],
    zero where attention is not allowed.
    """
    starts = [0, *itertools.accumulate(counts)]
    queries, keys, values = (t.split(counts, dim=3) for t in (query, key, value))
    outputs, maps = [], []
    for g in range(len(counts)):
        columns = [j for j in range(len(counts)) if (j != g) == across]  # the key groups group g may see
        k, v = (parts[columns[0]] if len(columns) == 1 else torch.cat([parts[j] for j in columns], dim=3)
                for parts in (keys, values))  # [E, B, h, n_keys, dh]
        out, weights = attend(queries[g], k, v, need_weights=need_weights)  # [E, B, h, n_g, dh]
        outputs.append(out)
        if need_weights:  # place the weights in their key columns of an [.., n_g, N] row of zeros
            row = weights.new_zeros(*weights.shape[:-1], starts[-1])
            for j, piece in zip(columns, weights.split([counts[j] for j in columns], dim=-1), strict=True):
                row[..., starts[j]:starts[j + 1]] = piece
            maps.append(row)
    return torch.cat(outputs, dim=3), (torch.cat(maps, dim=3) if need_weights else None)


class ExpertAttention(nn.Module):
    """Multi-head attention with per-expert projections: full (with an optional key bias) or grouped."""

    def __init__(self, num_experts: int, dim: int, heads: int) -> None:
        super().__init__()
        if dim % heads:
            raise ValueError(f"ExpertAttention: dim={dim} is not divisible by heads={heads}")
        self.heads = heads
        self.to_q = ExpertLinear(num_experts, dim, dim, bias=False)
        self.to_kv = ExpertLinear(num_experts, dim, 2 * dim, bias=False)
        self.to_out = ExpertLinear(num_experts, dim, dim)

    def forward(self, x: torch.Tensor, counts: list[int] | None = None, across: bool = False,
                bias: torch.Tensor | None = None, need_weights: bool = False,
                ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """x [E, B, N, D] → ([E, B, N, D], weights [E, B, h, N, N] or None).

        ``counts``: the sequence is groups of these sizes and attention is grouped (``grouped_attention``);
        otherwise full attention with ``bias`` [E, B, N] added to every query's score of key n.
        """
        query = split_heads(self.to_q(x), self.heads)  # [E, B, h, N, dh]
        key, value = (split_heads(t, self.heads) for t in self.to_kv(x).chunk(2, dim=-1))
        if counts is not None:
            out, weights = grouped_attention(query, key, value, counts, across, need_weights)
        else:
            key_bias = None if bias is None else bias[:, :, None, None, :]  # [E, B, 1, 1, N]
            out, weights = attend(query, key, value, key_bias, need_weights)
        return self.to_out(rearrange(out, "e b h n d -> e b n (h d)")), weights


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

    def forward(self, x: torch.Tensor, counts: list[int] | None = None, bias: torch.Tensor | None = None,
                need_weights: bool = False) -> tuple[torch.Tensor, torch.Tensor | None]:
        """x [E, B, N, D] → (x [E, B, N, D], attention [E, B, h, N, N] or None); ``counts`` = attention
        within consecutive groups of these sizes, ``bias`` [E, B, N] = additive key bias (full attention)."""
        attended, weights = self.attn(self.norm_attn(x), counts=counts, bias=bias, need_weights=need_weights)
        x = x + attended
        x = x + self.mlp_out(F.gelu(self.mlp_in(self.norm_mlp(x))))
        return x, weights
