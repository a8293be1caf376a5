"""Fold-vectorized training: F LOSO folds trained at once as one batched ensemble, each exactly on its own
schedule — own weights, optimizer state, seed, shuffling, augmentation draws, training subset and epochs.

Per fold, the random numbers, batches, loss, clipping and optimizer arithmetic are those of
``trainer.train_model``; only the model's kernels run batched over the folds (see ``ensemble.py``),
so results agree with fold-by-fold training to float rounding (tests/test_vectorized.py states how closely).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field

import torch
from torch import nn
from torch.profiler import record_function

from emhnet_lite.dataset import PreparedSet
from emhnet_lite.errors import ConfigError
from emhnet_lite.model.regions import check_boxes
from emhnet_lite.progress import progress
from emhnet_lite.train.augment import apply_augmentation, augment_draws
from emhnet_lite.train.config import TrainConfig
from emhnet_lite.train.trainer import (
    EpochRecord,
    EvalOutput,
    build_criterion,
    deterministic_cpu,
    epoch_batches,
    lr_factor,
    training_loss,
    use_amp,
)
from emhnet_lite.train.vectorized.ensemble import FoldEnsemble, build_fold_ensemble
from emhnet_lite.train.vectorized.optim import FoldOptimizer, clip_grad_norm_per_fold_
from emhnet_lite.utils import keep_freed_memory


@dataclass
class FoldJob:
    """One fold's part of a vectorized run: its seed, training set, evaluation sets and epoch callback."""

    seed: int
    train: PreparedSet
    eval_sets: dict[str, PreparedSet] = field(default_factory=dict)
    on_epoch: Callable[[EpochRecord, FoldWeights], None] | None = None
    # optional: ``train`` is ``source.subset(rows)``; jobs sharing one source gather a step's batches with ONE
    # index into the shared tensor instead of one per fold plus a concatenation (same samples, same order)
    source: PreparedSet | None = None
    rows: torch.Tensor | None = None  # [N_train] int64 row numbers in ``source``


class FoldWeights:
    """Stands in for one fold's trained model in ``on_epoch`` callbacks: ``state_dict()`` of that fold only."""

    def __init__(self, ensemble: FoldEnsemble, fold: int) -> None:
        self.ensemble, self.fold = ensemble, fold

    def state_dict(self) -> dict[str, torch.Tensor]:
        return self.ensemble.fold_state_dict(self.fold)


@torch.no_grad()
def evaluate_folds(
    ensemble: FoldEnsemble, sets: list[PreparedSet], device: torch.device, config: TrainConfig
) -> list[EvalOutput]:
    """``trainer.evaluate`` for every fold at once: fold f's model on ``sets[f]`` (eval mode).

    Sets of different sizes are padded by repeating their last sample; padded outputs are dropped. The
    chunking by ``eval_batch_size`` per fold is that of ``evaluate``, so the mean losses add up the same way.
    """
    ensemble.eval()
    folds = torch.arange(len(sets), device=device)
    longest = max(len(s) for s in sets)
    probs: list[list[torch.Tensor]] = [[] for _ in sets]
    regions: list[list[torch.Tensor]] = [[] for _ in sets]
    scales: list[list[torch.Tensor]] = [[] for _ in sets]
    loss_sums = [0.0] * len(sets)
    for start in range(0, longest, config.eval_batch_size):
        width = min(config.eval_batch_size, longest - start)
        index = [torch.arange(start, start + width).clamp(max=max(len(s) - 1, 0)) for s in sets]
        flows = torch.stack([s.flows[i] for s, i in zip(sets, index, strict=True)]).to(device)  # [F, b, 3, H, W]
        boxes = torch.stack([s.boxes[i] for s, i in zip(sets, index, strict=True)]).to(device)  # [F, b, 4, 4]
        with torch.autocast(device_type=device.type, dtype=torch.float16, enabled=use_amp(config, device)):
            logits, aux = ensemble(flows, boxes, folds)
        logits = logits.float()  # [F, b, 3]
        for f, data in enumerate(sets):
            valid = max(0, min(width, len(data) - start))
            if valid == 0:
                continue
            labels = data.labels[start : start + valid].to(device)
            fold_logits = logits[f, :valid]
            loss_sums[f] += float(nn.functional.cross_entropy(fold_logits, labels, reduction="sum"))
            probs[f].append(fold_logits.softmax(dim=1).cpu())
            if aux.get("region_weights") is not None:
                regions[f].append(aux["region_weights"][f, :valid].float().cpu())
            if aux.get("scale_weights") is not None:
                scales[f].append(aux["scale_weights"][f, :valid].float().cpu())
    outputs = []
    for f, data in enumerate(sets):
        if not probs[f]:
            raise ValueError(f"evaluate_folds: fold {f} has an empty evaluation set")
        outputs.append(EvalOutput(
            probs=torch.cat(probs[f]),
            loss=loss_sums[f] / len(data),
            region_weights=torch.cat(regions[f]) if regions[f] else None,
            scale_weights=torch.cat(scales[f]) if scales[f] else None,
        ))
    return outputs


def _step_groups(
    jobs: list[FoldJob],
    indices: list[torch.Tensor],
    active: list[int],
    generators: list[torch.Generator],
    config: TrainConfig,
    device: torch.device,
) -> list[tuple[list[int], torch.Tensor, torch.Tensor, torch.Tensor]]:
    """One step's inputs: the active folds' batches, augmented with each fold's own draws, grouped by batch
    size (a group runs as one ensemble call) → [(folds, flows [G, b, 3, H, W], boxes [G, b, 4, 4], labels [G, b])].
    """
    by_size: dict[int, list[int]] = defaultdict(list)
    draws, index_of = {}, {}
    for f, index in zip(active, indices, strict=True):
        draws[f] = augment_draws(len(index), generators[f])  # drawn in fold order, as train_model draws them
        index_of[f] = index
        by_size[len(index)].append(f)
    groups = []
    source = jobs[0].source
    shared = source is not None and all(jobs[f].source is source and jobs[f].rows is not None for f in active)
    for size, members in by_size.items():
        if shared:  # one gather from the shared tensor: the members' batches as rows of ``source``
            rows = torch.cat([jobs[f].rows[index_of[f]] for f in members])  # [G*b]
            flows, boxes, labels = source.flows[rows], source.boxes[rows], source.labels[rows].view(len(members), size)
        else:
            sets = [jobs[f].train for f in members]
            flows = torch.cat([s.flows[index_of[f]] for s, f in zip(sets, members, strict=True)])  # [G*b, 3, H, W]
            boxes = torch.cat([s.boxes[index_of[f]] for s, f in zip(sets, members, strict=True)])  # [G*b, 4, 4]
            labels = torch.stack([s.labels[index_of[f]] for s, f in zip(sets, members, strict=True)])  # [G, b]
        flows, boxes = apply_augmentation(
            flows,
            boxes,
            torch.cat([draws[f][0] for f in members]),
            torch.cat([draws[f][1] for f in members]),
            config.hflip_prob,
            config.amplitude_jitter,
        )
        groups.append((members, flows.to(device).unflatten(0, (len(members), size)),
                       boxes.to(device).unflatten(0, (len(members), size)), labels.to(device)))
    return groups


def _accumulate(totals: list[list], members: list[int], losses: torch.Tensor, aux_losses: torch.Tensor | None,
                logits: torch.Tensor, labels: torch.Tensor) -> None:
    """Add one group's losses, aux losses and correct counts to each fold's epoch totals (python floats, as
    ``train_model`` sums them)."""
    size = labels.shape[1]
    loss_values = losses.detach().tolist()
    aux_values = aux_losses.detach().float().tolist() if aux_losses is not None else [0.0] * len(members)
    correct = (logits.detach().argmax(dim=-1) == labels).sum(dim=-1).tolist()
    for g, f in enumerate(members):
        totals[f][0] += loss_values[g] * size
        totals[f][1] += aux_values[g] * size
        totals[f][2] += correct[g]
        totals[f][3] += size


def train_folds(
    models: list[nn.Module],
    jobs: list[FoldJob],
    config: TrainConfig,
    *,
    device: torch.device,
    desc: str = "folds",
) -> list[list[EpochRecord]]:
    """Train ``models[f]`` on ``jobs[f]`` for every fold at once; returns each fold's epoch records.

    ``models`` must be freshly built with each fold's seed (as ``run_fold`` builds them): they are stacked
    into one ``FoldEnsemble`` and not modified. Callbacks get ``FoldWeights`` instead of a model.
    """
    if len(models) != len(jobs) or not jobs:
        raise ValueError(f"train_folds: {len(models)} models for {len(jobs)} jobs")
    for f, job in enumerate(jobs):
        if len(job.train) < 2:
            raise ValueError(f"train_folds: fold {f} needs at least 2 training samples, got {len(job.train)}")
        check_boxes(job.train.flows, job.train.boxes)  # values are validated here, not under vmap
    folds_n = len(jobs)
    keep_freed_memory()  # the ensemble's activations are large: reuse their memory between steps
    ensemble = build_fold_ensemble([model.to(device) for model in models])
    parameters = ensemble.stacked_parameters()
    optimizer = FoldOptimizer(parameters, config, folds_n)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda e: lr_factor(config, e))
    amp = use_amp(config, device)
    scaler = torch.amp.GradScaler(device.type, enabled=amp)
    generators = [torch.Generator().manual_seed(job.seed) for job in jobs]
    criteria = [build_criterion(job.train.labels, config, device) for job in jobs]
    history: list[list[EpochRecord]] = [[] for _ in jobs]
    with deterministic_cpu(device):
        for epoch_index in progress(range(config.epochs), desc=desc, leave=False):
            ensemble.train()
            lr = optimizer.param_groups[0]["lr"]
            batches = [epoch_batches(len(job.train), config.batch_size, gen) for job, gen in zip(jobs, generators, strict=True)]
            totals = [[0.0, 0.0, 0, 0] for _ in jobs]  # loss_sum, aux_sum, correct, seen
            for step in range(max(len(b) for b in batches)):
                active = [f for f in range(folds_n) if step < len(batches[f])]
                with record_function("folds: batches + augmentation"):
                    groups = _step_groups(jobs, [batches[f][step] for f in active], active, generators, config,
                                          device)
                optimizer.zero_grad(set_to_none=True)
                step_loss = None
                for members, flows, boxes, labels in groups:
                    with record_function("folds: forward + loss"), torch.autocast(
                        device_type=device.type, dtype=torch.float16, enabled=amp
                    ):
                        logits, aux = ensemble(flows, boxes, torch.tensor(members, device=device))  # [G, b, 3]
                        aux_losses = aux.get("aux_loss")  # [G] or None
                        stacked = torch.stack([  # each fold's own loss, as train_model computes it
                            training_loss(criteria[f], logits[g], labels[g],
                                          None if aux_losses is None else aux_losses[g], config)
                            for g, f in enumerate(members)
                        ])  # [G]
                    step_loss = stacked.sum() if step_loss is None else step_loss + stacked.sum()
                    _accumulate(totals, members, stacked, aux_losses, logits, labels)
                with record_function("folds: backward"):
                    scaler.scale(step_loss).backward()  # fold f's weights get only its own loss's gradient
                with record_function("folds: clipping + optimizer"):
                    if config.grad_clip > 0:
                        scaler.unscale_(optimizer)
                        clip_grad_norm_per_fold_(parameters, config.grad_clip, folds_n)
                    active_mask = torch.zeros(folds_n, dtype=torch.bool, device=device)
                    active_mask[active] = True
                    scaler.step(optimizer, active=active_mask)
                    scaler.update()
            scheduler.step()
            records = [
                EpochRecord(epoch=epoch_index + 1, lr=lr, train_loss=t[0] / t[3], train_acc=t[2] / t[3],
                            aux_loss=t[1] / t[3])
                for t in totals
            ]
            for name in jobs[0].eval_sets:
                with record_function("folds: evaluation"):
                    outputs = evaluate_folds(ensemble, [job.eval_sets[name] for job in jobs], device, config)
                for record, output in zip(records, outputs, strict=True):
                    record.evals[name] = output
            for f, (job, record) in enumerate(zip(jobs, records, strict=True)):
                history[f].append(record)
                if job.on_epoch is not None:
                    job.on_epoch(record, FoldWeights(ensemble, f))
    return history


#: ``--vectorize-folds auto`` on CPU: folds per ensemble, chosen so one training activation of the ensemble
#: stays in the last-level cache (measured in benchmarks/bench_vectorized.py); models not listed train
#: fold by fold. On CUDA every model listed here trains all of a shard's folds at once.
AUTO_FOLDS_CPU: dict[str, int] = {"ststnet": 8, "emhnet_tiny": 8,  # both flat from F = 4 to 16
                                   "htnet_reduced": 16}  # 1.6x per fold at 16, 1.4x at 8, flat at 32
AUTO_FOLDS_CUDA = 68


def parse_vectorize_folds(text: str | int, model: str, device: str = "auto") -> int:
    """``--vectorize-folds`` value → folds per ensemble (≥ 1); ``auto`` looks the model up for the device."""
    if str(text) == "auto":
        if model not in AUTO_FOLDS_CPU:
            return 1
        from emhnet_lite.utils import resolve_device

        return AUTO_FOLDS_CUDA if resolve_device(device).type == "cuda" else AUTO_FOLDS_CPU[model]
    try:
        value = int(text)
    except ValueError:
        raise ConfigError(f"--vectorize-folds {text!r}: expected a positive integer or 'auto'") from None
    if value < 1:
        raise ConfigError(f"--vectorize-folds {text!r}: must be ≥ 1 (1 = fold by fold)")
    return value
