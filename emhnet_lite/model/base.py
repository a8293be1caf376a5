"""``FlowClassifier``: the interface every model of the kit shares (timm's forward_features / forward_head)."""

from __future__ import annotations

import torch
from torch import nn


class FlowClassifier(nn.Module):
    """Base of EMHNet, HTNet and STSTNet: subclasses define ``forward_features`` and a linear ``self.head``.

    ``forward(flow [B, 3, H, W], boxes [B, 4, 4] | None, return_aux)`` → logits [B, C], or (logits, aux) where
    aux always holds ``aux_loss``; one implementation here so the trainer treats every model alike.
    """

    head: nn.Module

    def forward_features(self, flow: torch.Tensor, boxes: torch.Tensor | None = None,
                         return_aux: bool = False) -> torch.Tensor | tuple[torch.Tensor, dict]:
        raise NotImplementedError

    def forward_head(self, features: torch.Tensor) -> torch.Tensor:
        """Pooled features [B, D] → logits [B, C]."""
        return self.head(features)

    def forward(self, flow: torch.Tensor, boxes: torch.Tensor | None = None,
                return_aux: bool = False) -> torch.Tensor | tuple[torch.Tensor, dict]:
        """Logits [B, C], or (logits, aux) with the model's gate/attention maps and ``aux_loss``."""
        if not return_aux:
            return self.forward_head(self.forward_features(flow, boxes))
        features, aux = self.forward_features(flow, boxes, return_aux=True)
        return self.forward_head(features), aux
