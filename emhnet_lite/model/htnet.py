"""HTNet (Wang et al., Neurocomputing 2024) as published: a NesT hierarchy on a 28x28 mosaic of four 14x14
flow crops. Written from the published architecture; the parameter count is an exact check (139,582,982).

Faithful on purpose, including its degenerate attention: with 7x7 patches on 28x28 every block holds one
token (``seq_len`` = 1), so each softmax runs over one key and attention reduces to ``to_out(V)``.
"""

from __future__ import annotations

import torch
from einops import rearrange
from torch import nn

from emhnet_lite.model.base import FlowClassifier
from emhnet_lite.model.config import HTNetConfig
from emhnet_lite.model.regions import check_boxes, crop_regions


class ChannelLayerNorm(nn.Module):
    """LayerNorm over the channel axis of [B, C, H, W] with gain/shift [1, C, 1, 1] (NesT's LayerNorm)."""

    def __init__(self, dim: int, eps: float = 1e-5) -> None:
        super().__init__()
        self.eps = eps
        self.g = nn.Parameter(torch.ones(1, dim, 1, 1))
        self.b = nn.Parameter(torch.zeros(1, dim, 1, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x [B, C, H, W] → normalised over C, same shape."""
        values = x.float()  # statistics in float32 (AMP-safe); a no-op for float32 inputs
        var = torch.var(values, dim=1, unbiased=False, keepdim=True)
        mean = torch.mean(values, dim=1, keepdim=True)
        return ((values - mean) / (var + self.eps).sqrt() * self.g + self.b).to(x.dtype)


class PointwiseConv(nn.Conv2d):
    """A 1x1 ``nn.Conv2d`` (same parameters and ``state_dict``) computed as a matmul over channels.

    Why: under ``vmap`` (fold ensembles) a convolution becomes a grouped convolution whose backward is slow on
    CPU, while an einsum stays a batched matmul — 1.4-1.6x faster per fold for ``htnet_reduced`` ensembles
    (benchmarks/bench_vectorized.py --sweep); one model alone runs at the same speed.
    """

    def __init__(self, in_channels: int, out_channels: int, bias: bool = True) -> None:
        super().__init__(in_channels, out_channels, 1, bias=bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x [B, C_in, H, W] → [B, C_out, H, W]."""
        y = torch.einsum("oc,bchw->bohw", self.weight[:, :, 0, 0], x)
        return y if self.bias is None else y + self.bias[:, None, None]


class ConvAttention(nn.Module):
    """Multi-head self-attention over the pixels of a [B, C, h, w] block, projections as 1x1 convs."""

    def __init__(self, dim: int, heads: int) -> None:
        super().__init__()
        dim_head = dim // heads  # HTNet ignores its dim_head argument and uses dim // heads
        inner = dim_head * heads
        self.heads = heads
        self.scale = dim_head ** -0.5
        self.norm = ChannelLayerNorm(dim)
        self.to_qkv = PointwiseConv(dim, inner * 3, bias=False)
        self.to_out = PointwiseConv(inner, dim)
        self.last_attention: torch.Tensor | None = None  # [B, h, n, n], kept for the chapter-02 demo

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x [n, C, h, w] (one attention block per item) → [n, C, h, w]."""
        height, width = x.shape[-2:]
        qkv = self.to_qkv(self.norm(x)).chunk(3, dim=1)
        q, k, v = (rearrange(t, "b (h d) x y -> b h (x y) d", h=self.heads) for t in qkv)  # [B, h, n, dh]
        attention = (torch.einsum("bhid,bhjd->bhij", q, k).float() * self.scale).softmax(dim=-1)  # [B,h,n,n]
        self.last_attention = attention.detach()
        out = torch.einsum("bhij,bhjd->bhid", attention.to(v.dtype), v)  # [B, h, n, dh]
        out = rearrange(out, "b h (x y) d -> b (h d) x y", x=height, y=width)
        return self.to_out(out)


class ConvFeedForward(nn.Module):
    """Pre-norm FFN with 1x1 convs, width ``mult * dim``, GELU."""

    def __init__(self, dim: int, mult: int) -> None:
        super().__init__()
        self.net = nn.Sequential(ChannelLayerNorm(dim), PointwiseConv(dim, dim * mult), nn.GELU(),
                                 PointwiseConv(dim * mult, dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x [n, C, h, w] → FFN(x), same shape (the residual is added by the caller)."""
        return self.net(x)


class BlockTransformer(nn.Module):
    """``depth`` attention + FFN residual blocks on [B*blocks, C, h, w], with a learned 1-D position
    embedding of length ``seq_len`` (h * w tokens per block)."""

    def __init__(self, dim: int, seq_len: int, depth: int, heads: int, mlp_mult: int) -> None:
        super().__init__()
        self.pos_emb = nn.Parameter(torch.randn(seq_len))
        self.layers = nn.ModuleList(
            [nn.ModuleList([ConvAttention(dim, heads), ConvFeedForward(dim, mlp_mult)]) for _ in range(depth)])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x [B*blocks, C, h, w] → same shape, after the position embedding and ``depth`` blocks."""
        height, width = x.shape[-2:]
        x = x + rearrange(self.pos_emb[: height * width], "(h w) -> 1 1 h w", h=height, w=width)
        for attention, feed_forward in self.layers:
            x = x + attention(x)
            x = x + feed_forward(x)
        return x


def aggregate(dim: int, dim_out: int) -> nn.Sequential:
    """Between levels: conv 3x3 (d → 2d), channel LayerNorm, max-pool 3/2/1 (halves the grid)."""
    return nn.Sequential(nn.Conv2d(dim, dim_out, 3, padding=1), ChannelLayerNorm(dim_out),
                         nn.MaxPool2d(3, stride=2, padding=1))


def htnet_mosaic(flow: torch.Tensor, boxes: torch.Tensor) -> torch.Tensor:
    """HTNet's input: four H/2 crops around the box centres tiled into an H x W mosaic, [B, 3, H, W].

    Layout as released: top row (left eye, left lip), bottom row (right eye, right lip). Centres are
    clamped to [H/4, 3H/4] and truncated to integers as in the release, but used as (x, y) — the release's
    (row, col) transposition is a bug the kit does not repeat.
    """
    height, width = flow.shape[-2:]
    half = height // 4
    centres = (boxes[..., :2] + boxes[..., 2:]) / 2  # [B, R, 2] (x, y)
    centres = centres.clamp(min=half, max=height - half).floor()
    crop_boxes = torch.cat([centres - half, centres + half], dim=-1)  # [B, R, 4] integer boxes of side H/2
    crops = crop_regions(flow, crop_boxes, 2 * half)  # [B, R, 3, H/2, H/2]
    left_eye, right_eye, left_lip, right_lip = crops.unbind(dim=1)
    top = torch.cat([left_eye, left_lip], dim=-1)
    bottom = torch.cat([right_eye, right_lip], dim=-1)
    return torch.cat([top, bottom], dim=-2)  # [B, 3, H, W]


class HTNet(FlowClassifier):
    """NesT with HTNet's configuration; ``forward(flow, boxes=None, return_aux=False)``."""

    def __init__(self, config: HTNetConfig) -> None:
        super().__init__()
        cfg = self.config = config
        fmap_size = cfg.image_size // cfg.patch_size
        seq_len = (fmap_size // 2 ** (cfg.num_hierarchies - 1)) ** 2  # 1 at the published config
        hierarchies = list(reversed(range(cfg.num_hierarchies)))
        mults = [2 ** i for i in reversed(hierarchies)]
        layer_heads = [m * cfg.heads for m in mults]
        layer_dims = [m * cfg.dim for m in mults]
        dims_out = [*layer_dims[1:], layer_dims[-1]]
        patch_dim = cfg.channels * cfg.patch_size ** 2
        self.to_patch_embedding = PointwiseConv(patch_dim, layer_dims[0])
        self.levels = nn.ModuleList()
        for level, heads, dim_in, dim_out, depth in zip(hierarchies, layer_heads, layer_dims, dims_out,
                                                         cfg.block_repeats, strict=True):
            self.levels.append(nn.ModuleList([
                BlockTransformer(dim_in, seq_len, depth, heads, cfg.mlp_mult),
                aggregate(dim_in, dim_out) if level != 0 else nn.Identity(),
            ]))
        self.norm = ChannelLayerNorm(layer_dims[-1])
        self.head = nn.Linear(layer_dims[-1], cfg.num_classes)

    def forward_features(self, flow: torch.Tensor, boxes: torch.Tensor | None = None,
                         return_aux: bool = False) -> torch.Tensor | tuple[torch.Tensor, dict]:
        """flow [B, 3, H, W] → mosaic → NesT → pooled features [B, 1024]."""
        size = self.config.image_size
        if flow.ndim != 4 or tuple(flow.shape[1:]) != (self.config.channels, size, size):
            raise ValueError(f"HTNet built for [B, 3, {size}, {size}] input, got {tuple(flow.shape)}; "
                             f"use build_model('htnet', image_size=...)")
        mosaic = htnet_mosaic(flow, check_boxes(flow, boxes, layout="quadrant"))  # HTNet's fallback
        p = self.config.patch_size
        x = self.to_patch_embedding(rearrange(mosaic, "b c (h p1) (w p2) -> b (p1 p2 c) h w", p1=p, p2=p))
        tokens_per_block = []
        for level, (transformer, aggregate_step) in zip(reversed(range(len(self.levels))), self.levels, strict=True):
            blocks = 2 ** level  # blocks per side at this level
            x = rearrange(x, "b c (b1 h) (b2 w) -> (b b1 b2) c h w", b1=blocks, b2=blocks)
            tokens_per_block.append(x.shape[-2] * x.shape[-1])
            x = transformer(x)
            x = rearrange(x, "(b b1 b2) c h w -> b c (b1 h) (b2 w)", b1=blocks, b2=blocks)
            x = aggregate_step(x)
        features = self.norm(x).mean(dim=(2, 3))  # [B, 1024]
        if not return_aux:
            return features
        attention = [m.last_attention for m in self.modules() if isinstance(m, ConvAttention)]  # [B*blocks, h, n, n]
        return features, {"aux_loss": features.new_zeros(()), "mosaic": mosaic,
                          "tokens_per_block": tokens_per_block, "attention": {"blocks": attention}}
