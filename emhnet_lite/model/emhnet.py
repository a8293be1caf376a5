"""EMHNet as the kit builds it: region crops → multi-scale tokens → region experts with cross-scale gates →
HMoE gate → global transformer over whole-face tokens + gated region embeddings → classification head."""

from __future__ import annotations

import torch
from torch import nn

from emhnet_lite.model.base import FlowClassifier
from emhnet_lite.model.config import EMHNetConfig
from emhnet_lite.model.expert import RegionExperts
from emhnet_lite.model.hmoe import HMoEGate
from emhnet_lite.model.layers import ExpertBlock, ExpertLayerNorm
from emhnet_lite.model.partition import MultiScaleTokenizer, ScaleRouter
from emhnet_lite.model.regions import check_boxes, crop_regions


class EMHNet(FlowClassifier):
    """``forward(flow [B, 3, H, W], boxes [B, 4, 4] | None, return_aux)`` → logits [B, C] (, aux)."""

    def __init__(self, config: EMHNetConfig) -> None:
        super().__init__()
        self.config = config
        cfg = config
        self.tokenizer = MultiScaleTokenizer(cfg.scales, cfg.dim)
        self.router = ScaleRouter(cfg.scales, cfg.num_regions, cfg.router_hidden)
        self.experts = RegionExperts(cfg.num_regions, cfg.dim, cfg.heads, cfg.expert_depth, cfg.mlp_ratio)
        self.gate = HMoEGate(cfg.num_regions, cfg.dim, cfg.gate_temperature, cfg.balance_weight)
        self.face_tokenizer = MultiScaleTokenizer((cfg.global_patch,), cfg.dim)
        # Tells the global transformer which region an embedding came from (regions have no pixel position).
        self.region_embedding = nn.Parameter(torch.zeros(cfg.num_regions, cfg.dim))
        nn.init.trunc_normal_(self.region_embedding, std=0.02)
        self.global_blocks = nn.ModuleList(
            [ExpertBlock(1, cfg.dim, cfg.heads, cfg.mlp_ratio) for _ in range(cfg.global_depth)])
        self.norm = ExpertLayerNorm(1, cfg.dim)
        self.head = nn.Linear(cfg.dim, cfg.num_classes)

    def region_size(self, height: int, width: int) -> int:
        """Side of the square region crop for an H x W input (14 at 28 x 28)."""
        return max(2, round(min(height, width) * self.config.region_fraction))

    def forward_features(self, flow: torch.Tensor, boxes: torch.Tensor | None = None,
                         return_aux: bool = False) -> torch.Tensor | tuple[torch.Tensor, dict]:
        """flow [B, 3, H, W] → pooled features [B, D] (and the aux dict)."""
        if flow.ndim != 4 or flow.shape[1] != 3:
            raise ValueError(f"EMHNet expects flow [B, 3, H, W] (u, v, strain), got {tuple(flow.shape)}")
        boxes = check_boxes(flow, boxes)  # [B, R, 4]
        size = self.region_size(*flow.shape[-2:])
        crops = crop_regions(flow, boxes, size)  # [B, R, 3, r, r]
        tokens = self.tokenizer(crops)  # [R, B, N, D] (expert-first)
        scale_index = self.tokenizer.scale_index(size, size, device=flow.device)  # [N]
        summaries, maps = self.experts(tokens, scale_index)  # [R, B, S, D]
        face_tokens = self.face_tokenizer(flow[:, None])[0]  # [B, M, D]
        gate = self.gate(summaries, self.router(crops), face_tokens.mean(dim=1))
        # Scale by R so a uniform gate (1/R each) leaves the embeddings at their natural size.
        weights = gate["region_weights"].to(flow.dtype) * self.config.num_regions  # [B, R]
        region_tokens = gate["region_embeddings"].transpose(0, 1) * weights[..., None]  # [B, R, D]
        region_tokens = region_tokens + self.region_embedding
        sequence = torch.cat([face_tokens, region_tokens], dim=1)[None]  # [1, B, M + R, D]
        global_attention = []
        for block in self.global_blocks:
            sequence, attention = block(sequence)  # full attention: face and region tokens all mix
            global_attention.append(attention[0])  # [B, h, M + R, M + R]
        features = self.norm(sequence.mean(dim=2))[0]  # [B, D]
        if not return_aux:
            return features
        aux = {
            "region_weights": gate["region_weights"],  # [B, R] level 2
            "scale_weights": gate["scale_weights"],  # [B, R, S] level 1
            "aux_loss": gate["aux_loss"],
            # expert maps are [B, R, h, N, N] per block, the cross-scale gate [B, R, N]
            "attention": {"expert_self": [m.transpose(0, 1) for m in maps["self"]],
                          "cross_scale": maps["cross"].transpose(0, 1),
                          "cross_scale_gate": maps["cross_gate"].transpose(0, 1), "global": global_attention},
            "scale_index": scale_index,
            "face_grid": self.face_tokenizer.token_counts(*flow.shape[-2:])[0],
            "boxes": boxes,
        }
        return features, aux
