"""Device-agnostic training of one model on a ``PreparedSet``: seeded, deterministic on CPU, AMP on CUDA."""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

import torch
from torch import nn

from emhnet_lite.constants import NUM_CLASSES
from emhnet_lite.dataset import PreparedSet
from emhnet_lite.progress import progress
from emhnet_lite.train.augment import augment_batch
from emhnet_lite.train.config import TrainConfig


@dataclass
class EvalOutput:
    """A model's outputs on one evaluation set (all on CPU)."""

    probs: torch.Tensor  # [N, 3] softmax probabilities
    loss: float  # mean cross-entropy (unweighted)
    region_weights: torch.Tensor | None = None  # [N, 4] HMoE region gate, if the model returns one
    scale_weights: torch.Tensor | None = None  # [N, S] or [N, 4, S], if the model returns them

    @property
    def predicted(self) -> torch.Tensor:
        """Argmax class per sample, [N]."""
        return self.probs.argmax(dim=1)


@dataclass
class EpochRecord:
    """What one epoch produced: training loss/accuracy and the evaluations after the epoch."""

    epoch: int  # 1-based
    lr: float
    train_loss: float
    train_acc: float
    aux_loss: float
    evals: dict[str, EvalOutput] = field(default_factory=dict)


def forward_with_aux(model: nn.Module, flows: torch.Tensor, boxes: torch.Tensor) -> tuple[torch.Tensor, dict]:
    """Call ``model(flow, boxes, return_aux=True)`` and normalise to ``(logits [B, 3], aux dict)``."""
    output = model(flows, boxes, return_aux=True)
    if isinstance(output, tuple):
        logits, aux = output
        return logits, dict(aux or {})
    return output, {}


def use_amp(config: TrainConfig, device: torch.device) -> bool:
    """float16 autocast only on CUDA and only when the config allows it."""
    return config.amp == "auto" and device.type == "cuda"


@contextmanager
def deterministic_cpu(device: torch.device) -> Iterator[None]:
    """Force deterministic torch kernels while training on CPU (restored afterwards).

    Deterministic mode also fills every new tensor with NaN by default (a debugging aid that changes no
    result); that cost 40% of a fold-vectorized STSTNet step, so it is switched off here.
    """
    previous = torch.are_deterministic_algorithms_enabled()
    previous_fill = torch.utils.deterministic.fill_uninitialized_memory
    if device.type == "cpu":
        torch.use_deterministic_algorithms(True)
        torch.utils.deterministic.fill_uninitialized_memory = False
    try:
        yield
    finally:
        torch.use_deterministic_algorithms(previous)
        torch.utils.deterministic.fill_uninitialized_memory = previous_fill


def class_weights(labels: torch.Tensor, mode: str) -> torch.Tensor | None:
    """Cross-entropy weights: ``balanced`` = N / (C · count_c) (absent classes get 0), ``none`` = None."""
    if mode == "none":
        return None
    counts = torch.bincount(labels, minlength=NUM_CLASSES).float()  # [3]
    weights = torch.where(counts > 0, labels.numel() / (NUM_CLASSES * counts.clamp(min=1)), torch.zeros(()))
    return weights


def build_criterion(train_labels: torch.Tensor, config: TrainConfig, device: torch.device) -> nn.Module:
    """Cross-entropy with the config's class weighting (from the training labels) and label smoothing."""
    weights = class_weights(train_labels, config.class_weighting)
    return nn.CrossEntropyLoss(weight=None if weights is None else weights.to(device),
                               label_smoothing=config.label_smoothing)


def training_loss(criterion: nn.Module, logits: torch.Tensor, labels: torch.Tensor,
                  aux_loss: torch.Tensor | None, config: TrainConfig) -> torch.Tensor:
    """One batch's loss: cross-entropy in float32 plus ``aux_loss_weight`` × the model's aux loss, if any."""
    loss = criterion(logits.float(), labels)
    if aux_loss is not None and config.aux_loss_weight > 0:
        loss = loss + config.aux_loss_weight * aux_loss.float()
    return loss


def epoch_batches(n: int, batch_size: int, generator: torch.Generator) -> list[torch.Tensor]:
    """One epoch's shuffled index batches of an ``n``-sample training set (one ``randperm`` draw).

    When ``n % batch_size == 1`` one random sample is dropped: a batch of one breaks BatchNorm.
    """
    order = torch.randperm(n, generator=generator)  # [N]
    if n % batch_size == 1:
        order = order[:-1]
    return [order[start : start + batch_size] for start in range(0, len(order), batch_size)]


def build_optimizer(model: nn.Module, config: TrainConfig) -> torch.optim.Optimizer:
    """The optimizer named in the config."""
    params = [p for p in model.parameters() if p.requires_grad]
    if config.optimizer == "adamw":
        return torch.optim.AdamW(params, lr=config.lr, weight_decay=config.weight_decay)
    if config.optimizer == "adam":
        return torch.optim.Adam(params, lr=config.lr, weight_decay=config.weight_decay)
    return torch.optim.SGD(params, lr=config.lr, momentum=0.9, weight_decay=config.weight_decay)


def lr_factor(config: TrainConfig, epoch_index: int) -> float:
    """Multiplier of the base lr at 0-based ``epoch_index``: linear warm-up, then cosine or constant."""
    if epoch_index < config.warmup_epochs:
        return (epoch_index + 1) / (config.warmup_epochs + 1)
    if config.schedule == "constant":
        return 1.0
    span = max(config.epochs - config.warmup_epochs, 1)
    return 0.5 * (1.0 + math.cos(math.pi * (epoch_index - config.warmup_epochs) / span))


@torch.no_grad()
def evaluate(model: nn.Module, data: PreparedSet, device: torch.device, config: TrainConfig) -> EvalOutput:
    """Probabilities, mean loss and gate weights of ``model`` on ``data`` (eval mode, no augmentation)."""
    model.eval()
    probs, regions, scales, loss_sum = [], [], [], 0.0
    for start in range(0, len(data), config.eval_batch_size):
        flows = data.flows[start : start + config.eval_batch_size].to(device)  # [b, 3, H, W]
        boxes = data.boxes[start : start + config.eval_batch_size].to(device)  # [b, 4, 4]
        labels = data.labels[start : start + config.eval_batch_size].to(device)  # [b]
        with torch.autocast(device_type=device.type, dtype=torch.float16, enabled=use_amp(config, device)):
            logits, aux = forward_with_aux(model, flows, boxes)
        logits = logits.float()  # [b, 3]
        loss_sum += float(nn.functional.cross_entropy(logits, labels, reduction="sum"))
        probs.append(logits.softmax(dim=1).cpu())
        if aux.get("region_weights") is not None:
            regions.append(aux["region_weights"].float().cpu())
        if aux.get("scale_weights") is not None:
            scales.append(aux["scale_weights"].float().cpu())
    if not probs:
        raise ValueError("evaluate: empty evaluation set")
    return EvalOutput(
        probs=torch.cat(probs),
        loss=loss_sum / len(data),
        region_weights=torch.cat(regions) if regions else None,
        scale_weights=torch.cat(scales) if scales else None,
    )


def train_model(
    model: nn.Module,
    train_set: PreparedSet,
    config: TrainConfig,
    *,
    seed: int,
    device: torch.device,
    eval_sets: dict[str, PreparedSet] | None = None,
    on_epoch: Callable[[EpochRecord, nn.Module], None] | None = None,
    desc: str = "train",
) -> list[EpochRecord]:
    """Train ``model`` in place for ``config.epochs`` epochs; evaluate ``eval_sets`` after every epoch.

    Shuffling and augmentation draw from one CPU generator seeded with ``seed`` (model init and dropout
    use the global RNG: seed it before building the model, as the LOSO runner does). ``on_epoch`` sees
    each epoch's record and the model (e.g. to keep the weights of a selected epoch).
    """
    if len(train_set) < 2:
        raise ValueError(f"train_model: need at least 2 training samples, got {len(train_set)}")
    model.to(device)
    generator = torch.Generator().manual_seed(seed)
    optimizer = build_optimizer(model, config)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda e: lr_factor(config, e))
    amp = use_amp(config, device)
    scaler = torch.amp.GradScaler(device.type, enabled=amp)
    criterion = build_criterion(train_set.labels, config, device)
    records: list[EpochRecord] = []
    n = len(train_set)
    with deterministic_cpu(device):
        for epoch_index in progress(range(config.epochs), desc=desc, leave=False):
            model.train()
            lr = optimizer.param_groups[0]["lr"]
            loss_sum, aux_sum, correct, seen = 0.0, 0.0, 0, 0
            for index in epoch_batches(n, config.batch_size, generator):
                flows, boxes = augment_batch(
                    train_set.flows[index],
                    train_set.boxes[index],
                    config.hflip_prob,
                    config.amplitude_jitter,
                    generator,
                )
                flows, boxes = flows.to(device), boxes.to(device)  # [b, 3, H, W], [b, 4, 4]
                labels = train_set.labels[index].to(device)  # [b]
                with torch.autocast(device_type=device.type, dtype=torch.float16, enabled=amp):
                    logits, aux = forward_with_aux(model, flows, boxes)
                    aux_loss = aux.get("aux_loss")
                    loss = training_loss(criterion, logits, labels, aux_loss, config)
                optimizer.zero_grad(set_to_none=True)
                scaler.scale(loss).backward()
                if config.grad_clip > 0:
                    scaler.unscale_(optimizer)
                    nn.utils.clip_grad_norm_(model.parameters(), config.grad_clip)
                scaler.step(optimizer)
                scaler.update()
                batch = len(index)
                loss_sum += float(loss.detach()) * batch
                aux_sum += float(aux_loss.detach()) * batch if aux_loss is not None else 0.0
                correct += int((logits.detach().argmax(dim=1) == labels).sum())
                seen += batch
            scheduler.step()
            record = EpochRecord(
                epoch=epoch_index + 1,
                lr=lr,
                train_loss=loss_sum / seen,
                train_acc=correct / seen,
                aux_loss=aux_sum / seen,
            )
            for name, data in (eval_sets or {}).items():
                record.evals[name] = evaluate(model, data, device, config)
            records.append(record)
            if on_epoch is not None:
                on_epoch(record, model)
    return records


def accuracy(output: EvalOutput, labels: torch.Tensor) -> float:
    """Fraction of ``labels`` [N] matched by the argmax of ``output``."""
    return float((output.predicted == labels.cpu()).float().mean())


def state_dict_cpu(model: nn.Module) -> dict[str, torch.Tensor]:
    """A detached CPU copy of the model's weights (safe to keep while training continues)."""
    return {key: value.detach().cpu().clone() for key, value in model.state_dict().items()}
