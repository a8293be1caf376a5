"""Dynamic multi-scale block partitioning: candidate block grids with padding, and a per-sample router.

A region crop [C, r, r] is cut into non-overlapping ``s x s`` blocks for every candidate side ``s``; when ``s``
does not divide ``r`` the crop is zero-padded first, so the token count follows the input size. The
``PartitionRouter`` reads each region's own tokens and scores the candidate partitions per sample; the HMoE
gate turns the scores into a hard choice (straight-through) — that is what makes the partitioning dynamic.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from einops import rearrange
from torch import nn

from emhnet_lite.model.layers import ExpertLinear


def padding_for(size: int, block: int) -> tuple[int, int]:
    """Zero padding (before, after) that makes ``size`` a multiple of ``block``, split evenly.

    Split on both sides so the region centre stays at the token grid centre.
    """
    total = (-size) % block
    return total // 2, total - total // 2


def pad_to_multiple(x: torch.Tensor, block: int) -> torch.Tensor:
    """Zero-pad the last two axes of ``x`` [..., H, W] to multiples of ``block``.

    Zero is the physically neutral flow value (no motion), so padding adds no spurious motion.
    """
    top, bottom = padding_for(x.shape[-2], block)
    left, right = padding_for(x.shape[-1], block)
    return F.pad(x, (left, right, top, bottom))


def grid_shape(height: int, width: int, block: int) -> tuple[int, int]:
    """Token grid (rows, cols) of an H x W map cut into ``block`` blocks after padding."""
    return math.ceil(height / block), math.ceil(width / block)


def partition_blocks(x: torch.Tensor, block: int) -> torch.Tensor:
    """Cut ``x`` [N, C, H, W] into flattened blocks: [N, tokens, block*block*C] (row-major token order)."""
    padded = pad_to_multiple(x, block)  # [N, C, H', W']
    return rearrange(padded, "n c (gh bh) (gw bw) -> n (gh gw) (bh bw c)", bh=block, bw=block)


def block_centres(height: int, width: int, block: int, device: torch.device | None = None) -> torch.Tensor:
    """Centres (x, y) of the blocks in [0, 1] coordinates of the unpadded map: [tokens, 2].

    Scale-independent positions let tokens of different scales that cover the same place line up.
    """
    top, _ = padding_for(height, block)
    left, _ = padding_for(width, block)
    rows, cols = grid_shape(height, width, block)
    ys = (torch.arange(rows, device=device) * block + block / 2 - top) / height  # [rows]
    xs = (torch.arange(cols, device=device) * block + block / 2 - left) / width  # [cols]
    grid_y, grid_x = torch.meshgrid(ys, xs, indexing="ij")
    return torch.stack([grid_x.flatten(), grid_y.flatten()], dim=-1)  # [rows*cols, 2]


class MultiScaleTokenizer(nn.Module):
    """Blocks at every scale → width-``dim`` tokens with a position and a scale embedding.

    One linear embedding per scale, shared by the regions: the same pixel statistics mean the same thing in
    every region, and the region experts specialise afterwards.
    """

    def __init__(self, scales: tuple[int, ...], dim: int, channels: int = 3) -> None:
        super().__init__()
        self.scales = tuple(scales)
        self.embed = nn.ModuleList([nn.Linear(channels * s * s, dim) for s in self.scales])
        self.position = nn.Linear(2, dim)  # block centre (x, y) → dim
        self.scale_embedding = nn.Parameter(torch.zeros(len(self.scales), dim))
        nn.init.trunc_normal_(self.scale_embedding, std=0.02)

    def token_counts(self, height: int, width: int) -> list[int]:
        """Number of tokens per scale for an H x W crop."""
        return [math.prod(grid_shape(height, width, s)) for s in self.scales]

    def scale_index(self, height: int, width: int, device: torch.device | None = None) -> torch.Tensor:
        """Scale id of every token of the concatenated sequence: [N_total] long."""
        counts = self.token_counts(height, width)
        return torch.repeat_interleave(torch.arange(len(counts), device=device), torch.tensor(counts, device=device))

    def forward(self, crops: torch.Tensor) -> torch.Tensor:
        """crops [B, R, C, h, w] → tokens [R, B, N_total, dim] (expert-first), scales in ``scales`` order."""
        batch, regions, _, height, width = crops.shape
        flat = crops.transpose(0, 1).flatten(0, 1)  # [R*B, C, h, w]
        per_scale = []
        for scale_id, (block, embed) in enumerate(zip(self.scales, self.embed, strict=True)):
            blocks = partition_blocks(flat, block)  # [R*B, n_s, C*s*s]
            centres = block_centres(height, width, block, device=crops.device).to(flat.dtype)  # [n_s, 2]
            tokens = embed(blocks) + self.position(centres) + self.scale_embedding[scale_id]  # [R*B, n_s, D]
            per_scale.append(tokens)
        return torch.cat(per_scale, dim=1).unflatten(0, (regions, batch))  # [R, B, N_total, D]


class PartitionRouter(nn.Module):
    """Per-region router over the candidate partitions: tokens [R, B, N, D] → partition logits [R, B, S].

    It reads the region's own tokens of every candidate grid (their mean and max per scale, so both the
    overall motion and how concentrated it is), one MLP per region (weights not shared: eyes and lip corners
    move differently). The HMoE gate makes the choice (hard, soft or uniform).
    """

    def __init__(self, num_regions: int, dim: int, num_scales: int, hidden: int) -> None:
        super().__init__()
        self.hidden = ExpertLinear(num_regions, 2 * dim * num_scales, hidden)
        self.out = ExpertLinear(num_regions, hidden, num_scales)
        nn.init.normal_(self.out.weight, std=0.5)  # distinct choices per sample from the start (not ~uniform)

    def forward(self, tokens: torch.Tensor, counts: list[int]) -> torch.Tensor:
        """tokens [R, B, N, D] with scales as consecutive groups of ``counts`` → logits [R, B, S]."""
        groups = tokens.split(counts, dim=2)  # S x [R, B, n_s, D]
        stats = [torch.cat([g.mean(dim=2), g.amax(dim=2)], dim=-1) for g in groups]  # S x [R, B, 2D]
        return self.out(F.gelu(self.hidden(torch.cat(stats, dim=-1))))  # [R, B, S]
