"""EMHNet, its parts, and the HTNet / STSTNet baselines behind one ``build_model`` entry point.

Every model: ``forward(flow [B, 3, H, W], boxes [B, 4, 4] | None = None, return_aux=False)`` → logits [B, C]
or ``(logits, aux)`` with ``aux["aux_loss"]`` always present (a scalar, zero when unused).
"""

from __future__ import annotations

from dataclasses import fields, replace

from torch import nn

from emhnet_lite.errors import ConfigError, UnknownNameError
from emhnet_lite.model.config import (
    ABLATIONS,
    EMHNET_PRESETS,
    HTNET_PRESETS,
    EMHNetConfig,
    HTNetConfig,
    STSTNetConfig,
)
from emhnet_lite.model.emhnet import EMHNet
from emhnet_lite.model.flops import count_flops, count_parameters
from emhnet_lite.model.htnet import HTNet
from emhnet_lite.model.regions import canonical_boxes, crop_regions
from emhnet_lite.model.ststnet import STSTNet

#: Published / exact parameter counts the tests check.
HTNET_PARAMETERS = 139_582_982
STSTNET_PUBLISHED_PARAMETERS = 1_683

#: Model name → (model class, base config). ``emhnet`` is the paper-scale preset; ``htnet_reduced`` is
#: HTNet's architecture at CPU size (``HTNET_PRESETS["reduced"]``), the CPU baseline of comparisons.
MODEL_REGISTRY: dict[str, tuple[type[nn.Module], object]] = {
    "emhnet_tiny": (EMHNet, EMHNET_PRESETS["tiny"]),
    "emhnet": (EMHNet, EMHNET_PRESETS["paper"]),
    "htnet": (HTNet, HTNET_PRESETS["paper"]),
    "htnet_reduced": (HTNet, HTNET_PRESETS["reduced"]),
    "ststnet": (STSTNet, STSTNetConfig()),
}
MODEL_NAMES: tuple[str, ...] = tuple(MODEL_REGISTRY)


def model_config(name: str, num_classes: int = 3, ablation: str = "full", **overrides):
    """The resolved config dataclass of a named model: preset, then the ``ablation``'s overrides (EMHNet only),
    then ``overrides`` (unknown fields, models or ablations are an error naming them)."""
    if name not in MODEL_REGISTRY:
        raise UnknownNameError(f"unknown model {name!r}; known: {list(MODEL_NAMES)}")
    if ablation not in ABLATIONS:
        raise UnknownNameError(f"unknown ablation {ablation!r}; known: {list(ABLATIONS)}")
    model_class, base = MODEL_REGISTRY[name]
    if ablation != "full" and model_class is not EMHNet:
        raise UnknownNameError(f"ablation {ablation!r} applies to EMHNet models only, not {name!r}")
    known = {f.name for f in fields(base)}
    unknown = sorted(set(overrides) - known)
    if unknown:
        raise ConfigError(f"build_model({name!r}): unknown config field(s) {unknown}; known: {sorted(known)}")
    overrides = {**ABLATIONS[ablation], **overrides}
    for key in ("scales", "block_repeats", "stream_channels"):
        if key in overrides:
            overrides[key] = tuple(overrides[key])
    return replace(base, num_classes=num_classes, **overrides)


def build_model(name: str, num_classes: int = 3, ablation: str = "full", **overrides) -> nn.Module:
    """Build ``emhnet_tiny``, ``emhnet``, ``htnet``, ``htnet_reduced`` or ``ststnet``, optionally as a named
    EMHNet ``ablation`` (``ABLATIONS``), with config overrides (e.g. ``dim=64``, ``image_size=56`` for the
    fixed-size baselines). Seed torch first for reproducible weights."""
    config = model_config(name, num_classes, ablation, **overrides)  # an unknown name / field: KitError
    model_class, _ = MODEL_REGISTRY[name]
    return model_class(config)


__all__ = [
    "ABLATIONS", "EMHNET_PRESETS", "HTNET_PRESETS", "EMHNetConfig", "EMHNet", "HTNetConfig", "HTNet", "STSTNetConfig",
    "STSTNet",
    "HTNET_PARAMETERS", "STSTNET_PUBLISHED_PARAMETERS", "MODEL_NAMES", "MODEL_REGISTRY", "build_model",
    "model_config", "count_flops", "count_parameters", "canonical_boxes", "crop_regions",
]
