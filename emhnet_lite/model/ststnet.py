"""STSTNet (Liong et al., FG 2019): three shallow conv streams (3, 5, 8 channels) on the whole flow image.

Published size: 1,683 parameters ("0.00167 M", STSTNet paper Table V); the kit's build has exactly that.
"""

from __future__ import annotations

import torch
from torch import nn

from emhnet_lite.model.base import FlowClassifier
from emhnet_lite.model.config import STSTNetConfig


def pooled_side(image_size: int) -> int:
    """Feature-map side after max-pool 3/3/1 and avg-pool 2/2 (5 at 28)."""
    after_max = (image_size + 2 - 3) // 3 + 1
    return after_max // 2


class STSTNet(FlowClassifier):
    """Streams: conv 3x3 (pad 1) → ReLU → BatchNorm → max-pool 3x3/3 pad 1; concat → avg-pool 2 → dense."""

    def __init__(self, config: STSTNetConfig) -> None:
        super().__init__()
        self.config = config
        self.streams = nn.ModuleList([
            nn.Sequential(nn.Conv2d(config.channels, width, 3, padding=1), nn.ReLU(), nn.BatchNorm2d(width),
                          nn.MaxPool2d(3, stride=3, padding=1))
            for width in config.stream_channels
        ])
        self.pool = nn.AvgPool2d(2)
        side = pooled_side(config.image_size)
        self.head = nn.Linear(sum(config.stream_channels) * side * side, config.num_classes)

    def forward_features(self, flow: torch.Tensor, boxes: torch.Tensor | None = None,
                         return_aux: bool = False) -> torch.Tensor | tuple[torch.Tensor, dict]:
        """flow [B, 3, H, W] → flattened features [B, 16 * side^2]; boxes are ignored (whole-face model)."""
        size = self.config.image_size
        if flow.ndim != 4 or tuple(flow.shape[1:]) != (self.config.channels, size, size):
            raise ValueError(f"STSTNet built for [B, 3, {size}, {size}] input, got {tuple(flow.shape)}; "
                             f"use build_model('ststnet', image_size=...)")
        maps = torch.cat([stream(flow) for stream in self.streams], dim=1)  # [B, 16, h', w']
        features = self.pool(maps).flatten(1)  # [B, 16 * side^2]
        return (features, {"aux_loss": features.new_zeros(())}) if return_aux else features
