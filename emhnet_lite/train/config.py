"""Training schedules as dataclasses with named presets (CPU teaching/tiny runs, GPU paper runs)."""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields, replace
from typing import Any

from emhnet_lite.errors import ConfigError, UnknownNameError

OPTIMIZERS = ("adamw", "adam", "sgd")
SCHEDULES = ("cosine", "constant")
CLASS_WEIGHTINGS = ("none", "balanced")


@dataclass(frozen=True)
class TrainConfig:
    """One fold's optimisation schedule; every field is recorded in the run's ``config.json``."""

    epochs: int = 30
    batch_size: int = 32
    optimizer: str = "adamw"
    lr: float = 2e-3
    weight_decay: float = 1e-2
    schedule: str = "cosine"  # cosine decay to 0 over ``epochs`` after ``warmup_epochs`` linear warm-up
    warmup_epochs: int = 2
    label_smoothing: float = 0.0
    class_weighting: str = "none"  # "balanced": cross-entropy weights ∝ 1 / class frequency (training set)
    hflip_prob: float = 0.5  # flow-aware horizontal flip (mirror, u → −u, swap left/right regions)
    amplitude_jitter: float = 0.1  # flow scaled by U(1 − j, 1 + j) per sample (u, v, strain all scale)
    aux_loss_weight: float = 0.01  # weight of the model's aux["aux_loss"] (HMoE load balancing), if any
    grad_clip: float = 1.0  # max gradient norm; 0 disables clipping
    amp: str = "auto"  # "auto": float16 autocast + GradScaler on CUDA only; "off": always float32
    eval_batch_size: int = 256

    def __post_init__(self) -> None:
        checks = {
            "optimizer": OPTIMIZERS,
            "schedule": SCHEDULES,
            "class_weighting": CLASS_WEIGHTINGS,
            "amp": ("auto", "off"),
        }
        for name, allowed in checks.items():
            if getattr(self, name) not in allowed:
                raise ConfigError(f"TrainConfig.{name}={getattr(self, name)!r}; expected one of {allowed}")
        if self.epochs < 1 or self.batch_size < 1:
            raise ConfigError(
                f"TrainConfig: epochs ({self.epochs}) and batch_size ({self.batch_size}) must be ≥ 1"
            )
        if not 0.0 <= self.hflip_prob <= 1.0:
            raise ConfigError(f"TrainConfig.hflip_prob={self.hflip_prob} must be in [0, 1]")
        if not 0.0 <= self.amplitude_jitter < 1.0:
            raise ConfigError(f"TrainConfig.amplitude_jitter={self.amplitude_jitter} must be in [0, 1)")

    def as_dict(self) -> dict[str, Any]:
        """Plain dict for JSON."""
        return asdict(self)

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> TrainConfig:
        """Inverse of ``as_dict``; unknown keys are an error naming them."""
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(values) - known)
        if unknown:
            raise UnknownNameError(f"TrainConfig: unknown field(s) {unknown}; known: {sorted(known)}")
        return cls(**values)


#: Named schedules. ``tiny_<model>`` are the CPU defaults of the small models (full LOSO in minutes), tuned on
#: calibration data; ``teaching`` is shorter still for the chapter notebooks; ``paper`` follows HTNet's released
#: schedule (Adam, lr 5e-5, batch 256, 800 epochs, no augmentation: HTNet's released code neither flips nor
#: jitters) for GPU runs.
TRAIN_PRESETS: dict[str, TrainConfig] = {
    "teaching": TrainConfig(epochs=15, batch_size=32, lr=3e-3, warmup_epochs=1),
    # the common CPU schedule and the centre of the tuning grid (not tuned itself; its 12 epochs were once read off
    # evaluation data, so no model's default uses it any more). CPU cost: a 68-fold LOSO in minutes with --jobs 2.
    "tiny": TrainConfig(epochs=12, warmup_epochs=1),
    # each model's CPU schedule, chosen by benchmarks/tune_schedules.py on calibration SynthME seed 1000 (`real`)
    # with one grid and budget for every model (epochs 8/16 × lr 1e-3/3e-3, every 2nd LOSO fold):
    # results/schedule_tuning.md. Evaluation seeds played no part.
    "tiny_ststnet": TrainConfig(epochs=8, lr=3e-3, warmup_epochs=1),
    "tiny_htnet": TrainConfig(epochs=16, lr=1e-3, warmup_epochs=1),
    "tiny_emhnet": TrainConfig(epochs=16, lr=3e-3, warmup_epochs=1),
    "paper": TrainConfig(
        epochs=800,
        batch_size=256,
        optimizer="adam",
        lr=5e-5,
        weight_decay=0.0,
        schedule="constant",
        warmup_epochs=0,
        hflip_prob=0.0,
        amplitude_jitter=0.0,
        grad_clip=0.0,
    ),
}

#: The default schedule of each model when none is named (models not listed use ``tiny``).
MODEL_DEFAULT_PRESET: dict[str, str] = {
    "emhnet_tiny": "tiny_emhnet",
    "ststnet": "tiny_ststnet",
    "emhnet": "paper",
    "htnet": "paper",
    "htnet_reduced": "tiny_htnet",
}


def get_preset(name: str, **overrides: Any) -> TrainConfig:
    """A named preset with field overrides applied (``get_preset("tiny", epochs=5)``)."""
    if name not in TRAIN_PRESETS:
        raise UnknownNameError(f"unknown training preset {name!r}; known: {sorted(TRAIN_PRESETS)}")
    return replace(TRAIN_PRESETS[name], **overrides) if overrides else TRAIN_PRESETS[name]


def default_for_model(model_name: str, **overrides: Any) -> TrainConfig:
    """The default schedule for ``model_name`` (see ``MODEL_DEFAULT_PRESET``)."""
    return get_preset(MODEL_DEFAULT_PRESET.get(model_name, "tiny"), **overrides)
