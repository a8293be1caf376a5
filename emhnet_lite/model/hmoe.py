"""Hierarchical mixture-of-experts gate: the partition (scale) choice inside each region expert (level 1) and
region weights across the experts (level 2), both conditioned on the sample."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from emhnet_lite.model.layers import ExpertLinear

#: Level-1 modes: ``hard`` = one partition per sample and region (straight-through arg-max, optionally with
#: Gumbel noise in training), ``soft`` = softmax-weighted scale pooling, ``uniform`` = fixed equal mixing.
PARTITION_MODES = ("hard", "soft", "uniform")


def load_balance_loss(weights: torch.Tensor) -> torch.Tensor:
    """``K * sum_k mean_b(w_bk)^2 - 1`` for gate weights [..., B, K]: 0 when the batch uses all K choices
    equally on average, K - 1 when it always picks one (a collapsed gate). Averaged over leading axes."""
    usage = weights.float().mean(dim=-2)  # [..., K]
    return (weights.shape[-1] * usage.square().sum(dim=-1) - 1).mean()


def choose_partition(logits: torch.Tensor, mode: str, temperature: float, training: bool,
                     gumbel: bool = False) -> tuple[torch.Tensor, torch.Tensor]:
    """Partition logits [..., S] → (weights used to mix the scales [..., S], router probabilities [..., S]).

    ``hard``: forward = one-hot of the arg-max (of logits + Gumbel noise when ``gumbel`` and training),
    backward = the softmax's gradient (straight-through), so the router learns from the task loss.
    """
    probs = (logits.float() / temperature).softmax(dim=-1)
    if mode == "soft":
        return probs, probs
    if mode == "uniform":
        return torch.full_like(probs, 1.0 / probs.shape[-1]), probs
    scores = logits.float()
    if gumbel and training:  # random draws: fold-by-fold training only (the vmap ensemble refuses randomness)
        scores = scores - torch.empty_like(scores).exponential_().log()
        probs = (scores / temperature).softmax(dim=-1)
    hard = F.one_hot(scores.argmax(dim=-1), probs.shape[-1]).to(probs.dtype)
    return (hard - probs.detach() + probs if training else hard), probs


class HMoEGate(nn.Module):
    """Two-level gate.

    Level 1: the router's partition logits choose (``hard``) or weigh (``soft``) each region's candidate
    partitions; the region embedding is the chosen partition's summary. Level 2: a per-region score from
    [region embedding, whole-face context] → softmax over the regions (uniform when ``region_gate=False``).
    ``region_weight_override`` ([R], e.g. a 0 to switch a region off) replaces the level-2 weights;
    ``partition_override`` (a scale index) forces that partition on every sample and region (for analysis).
    """

    def __init__(self, num_regions: int, dim: int, temperature: float = 1.0, balance_weight: float = 0.0,
                 partition: str = "soft", region_gate: bool = True, gumbel: bool = False) -> None:
        super().__init__()
        if partition not in PARTITION_MODES:
            raise ValueError(f"HMoEGate: partition={partition!r}; expected one of {PARTITION_MODES}")
        self.region_score = ExpertLinear(num_regions, 2 * dim, 1) if region_gate else None
        self.temperature = temperature
        self.balance_weight = balance_weight
        self.partition = partition
        self.gumbel = gumbel
        self.region_weight_override: torch.Tensor | None = None
        self.partition_override: int | None = None

    def forward(self, summaries: torch.Tensor, scale_logits: torch.Tensor | None,
                face_context: torch.Tensor) -> dict:
        """summaries [R, B, S, D], scale_logits [R, B, S] (None for ``uniform``), face_context [B, D] → dict with
        region_embeddings [R, B, D], scale_weights [B, R, S], router_probs [B, R, S] (None when uniform),
        region_weights [B, R], aux_loss []."""
        regions, batch, scales, _ = summaries.shape
        if scale_logits is None:  # uniform mixing needs no router
            scale_logits = summaries.new_zeros(regions, batch, scales)
            mode = "uniform"
        else:
            mode = self.partition
        scale_weights, probs = choose_partition(scale_logits, mode, self.temperature, self.training, self.gumbel)
        if self.partition_override is not None:
            scale_weights = F.one_hot(torch.full_like(probs[..., 0], self.partition_override, dtype=torch.long),
                                      scales).to(probs.dtype)
        region_embeddings = torch.einsum("rbs,rbsd->rbd", scale_weights.to(summaries.dtype), summaries)
        if self.region_score is not None:
            context = face_context[None].expand_as(region_embeddings)  # [R, B, D]
            region_logits = self.region_score(torch.cat([region_embeddings, context], dim=-1))  # [R, B, 1]
            region_weights = (region_logits[..., 0].t().float() / self.temperature).softmax(dim=-1)  # [B, R]
        else:
            region_weights = summaries.new_full((batch, regions), 1.0 / regions, dtype=torch.float32)
        if self.region_weight_override is not None:
            region_weights = self.region_weight_override.to(region_weights).expand(batch, regions)
        losses = []
        if self.balance_weight > 0 and self.region_score is not None:
            losses.append(load_balance_loss(region_weights))
        if self.balance_weight > 0 and mode != "uniform" and scales > 1:
            losses.append(load_balance_loss(probs))
        aux_loss = self.balance_weight * sum(losses) if losses else region_weights.new_zeros(())
        return {"region_embeddings": region_embeddings, "scale_weights": scale_weights.transpose(0, 1),
                "router_probs": None if mode == "uniform" else probs.transpose(0, 1),
                "region_weights": region_weights, "aux_loss": aux_loss}
