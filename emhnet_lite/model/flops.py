"""Parameter and FLOP counts (``torch.utils.flop_counter``) for the model tables."""

from __future__ import annotations

import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode, sdpa_flop_count

#: FlopCounterMode has no formula for the CPU flash-attention kernel ``F.scaled_dot_product_attention`` runs
#: on; count it like the GPU kernels (q·k and weights·v), so fused and explicit attention cost the same.
CUSTOM_FLOPS = {torch.ops.aten._scaled_dot_product_flash_attention_for_cpu:
                lambda query, key, value, *args, out_shape=None, **kwargs: sdpa_flop_count(query, key, value)}


def count_parameters(model: nn.Module, trainable_only: bool = True) -> int:
    """Number of (trainable) parameters."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad or not trainable_only)


def count_flops(model: nn.Module, input_size: tuple[int, int, int] = (3, 28, 28), batch: int = 1) -> int:
    """Forward FLOPs per sample, as counted by ``FlopCounterMode`` (matmuls and convs, 2 per multiply-add;
    elementwise ops, softmax and pooling are not counted). Runs in eval mode under no_grad on CPU zeros."""
    device = next(model.parameters()).device
    flow = torch.zeros(batch, *input_size, device=device)
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad(), FlopCounterMode(display=False, custom_mapping=CUSTOM_FLOPS) as counter:
            model(flow)
    finally:
        model.train(was_training)
    return counter.get_total_flops() // batch
