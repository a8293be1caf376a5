"""EMHNet as the kit builds it: region crops → candidate block partitions → region experts with cross-scale
gates → HMoE gate (per-sample partition choice, region weights) → global transformer over whole-face tokens
and region tokens, with the region weights as attention bias and gated sum → classification head."""

from __future__ import annotations

import torch
from torch import nn

from emhnet_lite.model.base import FlowClassifier
from emhnet_lite.model.config import EMHNetConfig
from emhnet_lite.model.expert import RegionExperts
from emhnet_lite.model.hmoe import HMoEGate
from emhnet_lite.model.layers import ExpertBlock, ExpertLayerNorm
from emhnet_lite.model.partition import MultiScaleTokenizer, PartitionRouter
from emhnet_lite.model.regions import check_boxes, crop_regions


def swap(tensor: torch.Tensor | None) -> torch.Tensor | None:
    """Expert-first [R, B, ...] → batch-first [B, R, ...] (None stays None)."""
    return None if tensor is None else tensor.transpose(0, 1)


class EMHNet(FlowClassifier):
    """``forward(flow [B, 3, H, W], boxes [B, R, 4] | None, return_aux)`` → logits [B, C] (, aux)."""

    def __init__(self, config: EMHNetConfig) -> None:
        super().__init__()
        self.config = cfg = config
        regions, num_scales = cfg.num_regions, len(cfg.scales)
        if regions:
            self.tokenizer = MultiScaleTokenizer(cfg.scales, cfg.dim)
            use_router = cfg.partition != "uniform" and num_scales > 1
            self.router = PartitionRouter(regions, cfg.dim, num_scales, cfg.router_hidden) if use_router else None
            self.experts = RegionExperts(regions, cfg.dim, cfg.heads, cfg.expert_depth, cfg.mlp_ratio,
                                         cross_scale=cfg.cross_scale and num_scales > 1)
            self.gate = HMoEGate(regions, cfg.dim, cfg.gate_temperature, cfg.balance_weight, cfg.partition,
                                 cfg.region_gate, cfg.gumbel)
            # Tells the global transformer which region a token came from (regions have no pixel position).
            self.region_embedding = nn.Parameter(torch.zeros(regions, cfg.dim))
            nn.init.trunc_normal_(self.region_embedding, std=0.02)
        self.face_tokenizer = MultiScaleTokenizer((cfg.global_patch,), cfg.dim)
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
        need_weights = return_aux and not self.training  # attention maps: eval-mode aux only (figures)
        face_tokens = self.face_tokenizer(flow[:, None])[0]  # [B, M, D]
        face_count = face_tokens.shape[1]
        aux: dict = {"face_grid": face_count, "aux_loss": flow.new_zeros((), dtype=torch.float32), "attention": {}}
        sequence, bias = face_tokens, None
        if self.config.num_regions:
            region_tokens, weights, aux = self._regions(flow, boxes, face_tokens.mean(dim=1), need_weights, aux)
            sequence = torch.cat([face_tokens, region_tokens], dim=1)  # [B, M + R, D]
            # level 2 acts inside attention: key bias log(R·w) (0 for a uniform gate, -inf for w = 0)
            bias = torch.cat([weights.new_zeros(weights.shape[0], face_count),
                              torch.log(weights * self.config.num_regions)], dim=1)[None]  # [1, B, M + R]
        sequence = sequence[None]  # [1, B, T, D]
        global_attention = []
        for block in self.global_blocks:
            sequence, attention = block(sequence, bias=bias, need_weights=need_weights)
            global_attention.append(None if attention is None else attention[0])  # [B, h, T, T]
        pooled = sequence[:, :, :face_count].mean(dim=2)  # [1, B, D] whole-face stream
        if self.config.num_regions:  # ... plus the gated sum of the region tokens (level 2 acts again)
            pooled = pooled + torch.einsum("br,ebrd->ebd", weights.to(sequence.dtype), sequence[:, :, face_count:])
        features = self.norm(pooled)[0]  # [B, D]
        if not return_aux:
            return features
        aux["attention"]["global"] = global_attention
        return features, aux

    def _regions(self, flow: torch.Tensor, boxes: torch.Tensor | None, face_context: torch.Tensor,
                 need_weights: bool, aux: dict) -> tuple[torch.Tensor, torch.Tensor, dict]:
        """The region branch → region tokens [B, R, D], level-2 weights [B, R] (float32) and the aux dict."""
        boxes = check_boxes(flow, boxes, self.config.num_regions)  # [B, R, 4]
        size = self.region_size(*flow.shape[-2:])
        crops = crop_regions(flow, boxes, size)  # [B, R, 3, r, r]
        tokens = self.tokenizer(crops)  # [R, B, N, D] (expert-first), candidate partitions in scale order
        scale_index = self.tokenizer.scale_index(size, size, device=flow.device)  # [N]
        counts = self.tokenizer.token_counts(size, size)
        logits = None if self.router is None else self.router(tokens, counts)  # [R, B, S]
        summaries, maps = self.experts(tokens, scale_index, need_weights)  # [R, B, S, D]
        gate = self.gate(summaries, logits, face_context)
        region_tokens = gate["region_embeddings"].transpose(0, 1) + self.region_embedding  # [B, R, D]
        aux = {
            **aux,
            "region_weights": gate["region_weights"],  # [B, R] level 2
            "scale_weights": gate["scale_weights"],  # [B, R, S] level 1 (one-hot when the choice is hard)
            "router_probs": gate["router_probs"],  # [B, R, S] or None (no router)
            "aux_loss": gate["aux_loss"],
            # [B, R, h, N, N] per expert block, [B, R, h, N, N] and gate [B, R, N] (None: training / absent)
            "attention": {name: [swap(m) for m in value] if isinstance(value, list) else swap(value)
                          for name, value in (("expert_self", maps["self"]), ("cross_scale", maps["cross"]),
                                              ("cross_scale_gate", maps["cross_gate"]))},
            "scale_index": scale_index,
            "boxes": boxes,
        }
        if gate["router_probs"] is not None:  # the chosen partition: index into config.scales, [B, R]
            aux["partition"] = gate["scale_weights"].argmax(dim=-1)
        return region_tokens, gate["region_weights"], aux
