"""Dataclass configs with named presets for EMHNet and the two baselines."""

from __future__ import annotations

from dataclasses import dataclass, field, replace

from emhnet_lite.constants import NUM_CLASSES, REGION_NAMES
from emhnet_lite.errors import ConfigError, UnknownNameError


@dataclass(frozen=True)
class EMHNetConfig:
    """Every open choice of the abstract, as a field; ``tiny`` is for CPU/CI/teaching, ``paper`` for GPUs."""

    num_classes: int = NUM_CLASSES
    # Region experts: the first ``num_regions`` boxes in REGION_NAMES order (0 = face branch only).
    num_regions: int = len(REGION_NAMES)
    # Side of the square each region box is resampled to, as a fraction of the input side: 14 px at 28, 28 px
    # at 56 (HTNet's 14/28 ratio), so the token count follows the input size.
    region_fraction: float = 0.5
    # Candidate block sides (px of the region crop) of the dynamic partitioning; sides that do not divide the
    # crop are zero-padded. 4/5/7 px at 14 px: 16 + 9 + 4 = 29 tokens; 2 px (49 tokens) is in ``paper``.
    scales: tuple[int, ...] = (4, 5, 7)
    dim: int = 32
    heads: int = 2
    expert_depth: int = 1
    mlp_ratio: float = 2.0
    router_hidden: int = 16
    # Level 1: ``hard`` = one partition per sample and region from the router (straight-through arg-max),
    # ``soft`` = softmax scale pooling, ``uniform`` = no router, equal mixing. See hmoe.PARTITION_MODES.
    partition: str = "hard"
    # Gumbel noise on the hard choice in training (exploration); off by default because the fold ensemble
    # (vmap) cannot draw random numbers and because a fixed seed should give the same choices.
    gumbel: bool = False
    cross_scale: bool = True  # cross-scale attention gate inside each expert (needs >= 2 scales)
    region_gate: bool = True  # level-2 weights from the sample (False = uniform 1/R)
    # Whole-face tokens for the global branch: blocks of this many pixels (7 = HTNet's patch size).
    global_patch: int = 7
    global_depth: int = 1  # 0 = no global transformer (face and gated region tokens pooled directly)
    # Load-balancing loss weight inside aux_loss (0 disables it; aux_loss is then 0). The trainer scales
    # aux_loss again by TrainConfig.aux_loss_weight (0.01), which is the effective coefficient.
    balance_weight: float = 1.0
    # Softmax temperature of both gates (lower = sharper routing); 1 = plain softmax.
    gate_temperature: float = 1.0

    def __post_init__(self) -> None:
        from emhnet_lite.model.hmoe import PARTITION_MODES

        if not self.scales or any(s < 1 for s in self.scales) or len(set(self.scales)) != len(self.scales):
            raise ConfigError(f"EMHNetConfig.scales must be distinct positive block sides, got {self.scales}")
        if self.dim % self.heads:
            raise ConfigError(f"EMHNetConfig: dim={self.dim} not divisible by heads={self.heads}")
        if not 0 < self.region_fraction <= 1:
            raise ConfigError(f"EMHNetConfig.region_fraction must be in (0, 1], got {self.region_fraction}")
        if self.num_regions < 0 or self.global_depth < 0 or self.expert_depth < 0:
            raise ConfigError("EMHNetConfig: num_regions, global_depth and expert_depth must be >= 0")
        if self.partition not in PARTITION_MODES:
            raise ConfigError(f"EMHNetConfig.partition={self.partition!r}; expected one of {PARTITION_MODES}")

    @classmethod
    def preset(cls, name: str, **overrides) -> EMHNetConfig:
        """A named preset (``tiny`` or ``paper``) with field overrides."""
        if name not in EMHNET_PRESETS:
            raise UnknownNameError(f"unknown EMHNet preset {name!r}; known: {sorted(EMHNET_PRESETS)}")
        return replace(EMHNET_PRESETS[name], **overrides)


EMHNET_PRESETS: dict[str, EMHNetConfig] = {
    # 29 tokens per region, width 32, one block per expert (budget 10 MFLOP per sample).
    "tiny": EMHNetConfig(),
    # GPU preset: 69 tokens per region (49 + 16 + 4, the DESIGN's 2/4/7 px), width 128, deeper experts.
    "paper": EMHNetConfig(scales=(2, 4, 7), dim=128, heads=4, expert_depth=2, mlp_ratio=4.0,
                          router_hidden=32, global_patch=4, global_depth=4),
}


@dataclass(frozen=True)
class HTNetConfig:
    """HTNet as published (``HTNet(image_size=28, patch_size=7, dim=256, heads=3, num_hierarchies=3,
    block_repeats=(2, 2, 10), num_classes=3)``, mlp_mult 4, dim_head = dim // heads)."""

    num_classes: int = NUM_CLASSES
    image_size: int = 28
    patch_size: int = 7
    dim: int = 256
    heads: int = 3
    num_hierarchies: int = 3
    block_repeats: tuple[int, ...] = field(default=(2, 2, 10))
    mlp_mult: int = 4
    channels: int = 3

    def __post_init__(self) -> None:
        if self.image_size % self.patch_size:
            raise ConfigError(f"HTNetConfig: image_size={self.image_size} not divisible by patch {self.patch_size}")
        if len(self.block_repeats) != self.num_hierarchies:
            raise ConfigError(f"HTNetConfig: {len(self.block_repeats)} block_repeats for "
                             f"{self.num_hierarchies} hierarchies")


#: ``paper``: HTNet as published (139.6 M parameters). ``reduced``: the same architecture at CPU size —
#: widths 32/64/128 instead of 256/512/1024, depths 1/1/2 instead of 2/2/10 — for CPU baselines and grids.
HTNET_PRESETS: dict[str, HTNetConfig] = {
    "paper": HTNetConfig(),
    "reduced": HTNetConfig(dim=32, heads=2, block_repeats=(1, 1, 2)),
}


@dataclass(frozen=True)
class STSTNetConfig:
    """STSTNet (Liong et al., FG 2019): three shallow conv streams of 3, 5 and 8 channels."""

    num_classes: int = NUM_CLASSES
    image_size: int = 28
    channels: int = 3
    stream_channels: tuple[int, ...] = (3, 5, 8)


#: Named ablations of EMHNet: name → config overrides applied on top of a preset (``build_model(name,
#: ablation=...)``, ``emhnet loso --ablation``). Each switches off one part of the abstract's design.
ABLATIONS: dict[str, dict] = {
    "full": {},
    "no_router": {"partition": "uniform"},  # fixed, uniform scale mixing: no per-sample partition
    "soft_router": {"partition": "soft"},  # the router's softmax pools the scales (no hard choice)
    "no_cross_scale": {"cross_scale": False},
    "no_region_gate": {"region_gate": False},  # uniform level-2 weights
    "no_global": {"global_depth": 0},  # no global transformer: face and gated region tokens pooled
    "single_scale": {"scales": (4,), "cross_scale": False},  # one fixed 4 px grid (in both presets)
    "no_regions": {"num_regions": 0},  # the face branch only: no crops, experts or gates
}
