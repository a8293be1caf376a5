"""FoldOptimizer / clip_grad_norm_per_fold_: every fold's slice must match torch run on that fold alone, bitwise."""

from __future__ import annotations

import copy
import io

import pytest
import torch
from torch import nn

from emhnet_lite.train.config import TrainConfig
from emhnet_lite.train.trainer import build_optimizer, lr_factor
from emhnet_lite.train.vectorized.optim import FoldOptimizer, clip_grad_norm_per_fold_

F = 5
# A conv-like weight, its bias, a linear layer, its bias, and a length that leaves a vector-kernel tail.
SHAPES = [(4, 3, 3), (4,), (6, 4), (6,), (37,)]
STEPS = 20
STATE_NAMES = {
    "adamw": ("exp_avg", "exp_avg_sq"),
    "adam": ("exp_avg", "exp_avg_sq"),
    "sgd": ("momentum_buffer",),
}
CONFIGS = [
    TrainConfig(optimizer="adamw", lr=3e-2, weight_decay=1e-2, epochs=4, warmup_epochs=1, grad_clip=0.7),
    TrainConfig(optimizer="adam", lr=3e-2, weight_decay=0.0, epochs=4, warmup_epochs=1, grad_clip=0.7),
    TrainConfig(optimizer="adam", lr=3e-2, weight_decay=1e-2, epochs=4, warmup_epochs=1, grad_clip=0.7),
    TrainConfig(optimizer="sgd", lr=3e-2, weight_decay=1e-2, epochs=4, warmup_epochs=1, grad_clip=0.7),
    TrainConfig(optimizer="sgd", lr=3e-2, weight_decay=0.0, epochs=4, warmup_epochs=1, grad_clip=0.7),
]


def same(a: torch.Tensor, b: torch.Tensor) -> bool:
    """Bit-for-bit equality (stricter than torch.equal: the sign of zero and NaN payloads count too)."""
    return a.dtype == b.dtype and a.shape == b.shape and torch.equal(a.view(torch.int32), b.view(torch.int32))


def stacked_params(seed: int) -> list[torch.Tensor]:
    """Fold-stacked leaf tensors [F, *shape]."""
    generator = torch.Generator().manual_seed(seed)
    return [torch.randn(F, *shape, generator=generator).requires_grad_() for shape in SHAPES]


def fold_model(stacked: list[torch.Tensor], fold: int) -> nn.Module:
    """A module holding fold ``fold``'s own copy of every parameter (as the trainer would see it)."""
    model = nn.Module()
    model.weights = nn.ParameterList([nn.Parameter(p.detach()[fold].clone()) for p in stacked])
    return model


def active_masks(generator: torch.Generator) -> list[torch.Tensor]:
    """Random masks; fold 2 skips the first three steps, fold 4 skips steps 5-11, fold 0 always steps."""
    masks = []
    for step in range(STEPS):
        mask = torch.rand(F, generator=generator) < 0.7
        mask[0] = True
        if step < 3:
            mask[2] = False
        if 5 <= step <= 11:
            mask[4] = False
        masks.append(mask)
    masks[13] = torch.zeros(F, dtype=torch.bool)  # nobody steps
    return masks


def gradients(generator: torch.Generator) -> list[torch.Tensor]:
    """Gradients [F, *shape] with per-fold scales (some folds' total norm falls below the clip threshold)."""
    scale = torch.tensor([1.0, 0.01, 3.0, 0.1, 30.0])
    grads = [
        torch.randn(F, *shape, generator=generator) * scale.view(-1, *[1] * len(shape)) for shape in SHAPES
    ]
    grads[1][:, 0] = -0.0  # a negative zero must survive as torch keeps it (e.g. SGD's first buffer)
    return grads


def fold_state(optimizer: FoldOptimizer, stacked: list[torch.Tensor], fold: int) -> dict[tuple, torch.Tensor]:
    """Clones of fold ``fold``'s parameter slices and optimizer state slices (state not yet created: zeros)."""
    out = {}
    for index, p in enumerate(stacked):
        out[index, "param"] = p.detach()[fold].clone()
        state = optimizer.state.get(p, {})
        out[index, "step"] = state["step"][fold].clone() if "step" in state else torch.tensor(0.0)
        for name in STATE_NAMES[optimizer.kind]:
            out[index, name] = state[name][fold].clone() if name in state else torch.zeros(p.shape[1:])
    return out


def assert_fold_matches(
    optimizer: FoldOptimizer,
    stacked: list[torch.Tensor],
    references: list[torch.optim.Optimizer],
    models: list[nn.Module],
    where: str,
) -> None:
    """Every fold's parameters, moments / momentum buffers and step counts equal its reference optimizer's."""
    for fold in range(F):
        for index, (p, q) in enumerate(zip(stacked, models[fold].parameters(), strict=True)):
            assert same(p.detach()[fold], q.detach()), f"{where}: fold {fold} param {index}"
            ours, theirs = optimizer.state.get(p, {}), references[fold].state.get(q, {})
            for name in STATE_NAMES[optimizer.kind]:
                if name in theirs:
                    assert same(ours[name][fold], theirs[name]), f"{where}: fold {fold} {name} {index}"
                elif name in ours:  # the reference has not created it yet: still zeros here
                    assert not ours[name][fold].any(), f"{where}: fold {fold} {name} {index} not zero"
            reference_steps = float(theirs["step"]) if "step" in theirs else None
            if optimizer.kind != "sgd":
                assert float(ours.get("step", torch.zeros(F))[fold]) == (reference_steps or 0.0), where


@pytest.mark.parametrize("config", CONFIGS, ids=lambda c: f"{c.optimizer}-wd{c.weight_decay}")
def test_every_fold_matches_torch_alone(config: TrainConfig) -> None:
    generator = torch.Generator().manual_seed(7)
    stacked = stacked_params(0)
    models = [fold_model(stacked, fold) for fold in range(F)]
    references = [build_optimizer(model, config) for model in models]
    optimizer = FoldOptimizer(stacked, config, F)
    schedulers = [
        torch.optim.lr_scheduler.LambdaLR(o, lambda e: lr_factor(config, e)) for o in [optimizer, *references]
    ]
    lrs = set()
    for step, active in enumerate(active_masks(generator)):
        grads = gradients(generator)
        skip = 1 if step % 6 == 4 else None  # a parameter without gradient this step (torch skips it)
        for index, (p, g) in enumerate(zip(stacked, grads, strict=True)):
            p.grad = None if index == skip else g.clone()
        for fold, model in enumerate(models):
            for index, (q, g) in enumerate(zip(model.parameters(), grads, strict=True)):
                q.grad = None if index == skip else g[fold].clone()
        norms = clip_grad_norm_per_fold_(stacked, config.grad_clip, F)
        for fold, model in enumerate(models):
            assert same(norms[fold], nn.utils.clip_grad_norm_(model.parameters(), config.grad_clip))
        before = {fold: fold_state(optimizer, stacked, fold) for fold in range(F) if not active[fold]}
        optimizer.step(active=active)
        for fold, reference in enumerate(references):
            if active[fold]:
                reference.step()
        for fold, saved in before.items():
            after = fold_state(optimizer, stacked, fold)
            changed = [key for key, value in saved.items() if not same(value, after[key])]
            assert not changed, f"step {step}: inactive fold {fold} changed {changed}"
        assert_fold_matches(optimizer, stacked, references, models, f"step {step}")
        lrs.add(optimizer.param_groups[0]["lr"])
        if step % 5 == 4:  # an "epoch" ends: the lr changes mid-run
            for scheduler in schedulers:
                scheduler.step()
    assert len(lrs) == 4  # warm-up, then cosine: four different learning rates were used
    steps = optimizer.state[stacked[0]]["step"]
    assert len(set(steps.tolist())) > 1  # the folds really took different numbers of steps


def test_clip_matches_torch_per_fold() -> None:
    generator = torch.Generator().manual_seed(3)
    stacked = stacked_params(1)
    grads = [torch.randn(F, *shape, generator=generator) for shape in SHAPES]
    for g in grads:
        g[1] *= 1e-3  # below max_norm: coefficient clamped at 1
        g[3] = 0.0  # all-zero gradients
        g[4] *= 1e3
    for p, g in zip(stacked, grads, strict=True):
        p.grad = g.clone()
    stacked[2].grad = None  # skipped, like torch skips a parameter without gradient
    norms = clip_grad_norm_per_fold_(stacked, 0.7, F)
    assert norms.shape == (F,)
    assert float(norms[1]) < 0.7 and float(norms[3]) == 0.0 and float(norms[4]) > 0.7
    for fold in range(F):
        model = fold_model(stacked, fold)
        for index, (q, g) in enumerate(zip(model.parameters(), grads, strict=True)):
            q.grad = None if index == 2 else g[fold].clone()
        assert same(norms[fold], nn.utils.clip_grad_norm_(model.parameters(), 0.7))
        for p, q in zip(stacked, model.parameters(), strict=True):
            assert (p.grad is None) == (q.grad is None)
            if p.grad is not None:
                assert same(p.grad[fold], q.grad), f"fold {fold}"
    assert same(stacked[0].grad[1], grads[0][1])  # below the threshold: untouched
    assert not stacked[0].grad[3].any()
    assert same(clip_grad_norm_per_fold_([torch.zeros(F, 2)], 1.0, F), torch.zeros(F))


def run_steps(optimizer: FoldOptimizer, stacked: list[torch.Tensor], seed: int, count: int) -> None:
    """``count`` clipped steps with seeded gradients and masks."""
    generator = torch.Generator().manual_seed(seed)
    for _ in range(count):
        for p, g in zip(stacked, gradients(generator), strict=True):
            p.grad = g
        clip_grad_norm_per_fold_(stacked, 1.0, F)
        optimizer.step(active=torch.rand(F, generator=generator) < 0.7)


@pytest.mark.parametrize("kind", ["adamw", "sgd"])
def test_state_dict_round_trip_and_lambda_lr(kind: str) -> None:
    config = TrainConfig(optimizer=kind, lr=1e-2, epochs=3, warmup_epochs=1)
    stacked = stacked_params(2)
    optimizer = FoldOptimizer(stacked, config, F)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda e: lr_factor(config, e))
    assert optimizer.param_groups[0]["lr"] == pytest.approx(config.lr / 2)  # warm-up epoch
    run_steps(optimizer, stacked, seed=5, count=6)
    scheduler.step()
    assert optimizer.param_groups[0]["lr"] == config.lr

    buffer = io.BytesIO()
    torch.save({"optimizer": optimizer.state_dict(), "scheduler": scheduler.state_dict()}, buffer)
    buffer.seek(0)
    saved = torch.load(buffer)
    copies = [p.detach().clone().requires_grad_() for p in stacked]
    restored = FoldOptimizer(copies, config, F)
    restored_scheduler = torch.optim.lr_scheduler.LambdaLR(restored, lambda e: lr_factor(config, e))
    restored.load_state_dict(saved["optimizer"])
    restored_scheduler.load_state_dict(saved["scheduler"])
    assert restored.param_groups[0]["lr"] == optimizer.param_groups[0]["lr"]
    assert same(restored.state[copies[0]]["step"], optimizer.state[stacked[0]]["step"])

    run_steps(optimizer, stacked, seed=6, count=5)
    run_steps(restored, copies, seed=6, count=5)
    for p, q in zip(stacked, copies, strict=True):
        assert same(p, q)
    for p, q in zip(stacked, copies, strict=True):
        for name, value in optimizer.state[p].items():
            assert same(value, restored.state[q][name]), name


def test_grad_scaler_unscale_and_step_pass_the_mask() -> None:
    config = TrainConfig(optimizer="adamw")
    plain, scaled = stacked_params(4), stacked_params(4)
    optimizers = FoldOptimizer(plain, config, F), FoldOptimizer(scaled, config, F)
    scaler = torch.amp.GradScaler("cpu", init_scale=2.0**12)
    scaler.scale(torch.ones(()))  # creates the scale, as scaler.scale(loss) does
    generator = torch.Generator().manual_seed(9)
    for _ in range(4):
        grads, active = gradients(generator), torch.rand(F, generator=generator) < 0.7
        for p, q, g in zip(plain, scaled, grads, strict=True):
            p.grad, q.grad = g.clone(), g * 2.0**12  # what scaler.scale(loss).backward() gives
        clip_grad_norm_per_fold_(plain, 1.0, F)
        optimizers[0].step(active=active)
        scaler.unscale_(optimizers[1])
        clip_grad_norm_per_fold_(scaled, 1.0, F)
        scaler.step(optimizers[1], active=active)
        scaler.update()
    for p, q in zip(plain, scaled, strict=True):
        assert same(p, q)


def test_rejects_unstacked_parameters_and_bad_masks() -> None:
    with pytest.raises(ValueError, match="not stacked"):
        FoldOptimizer([torch.zeros(F + 1, 2, requires_grad=True)], TrainConfig(), F)
    optimizer = FoldOptimizer(stacked_params(0), TrainConfig(), F)
    with pytest.raises(ValueError, match="active"):
        optimizer.step(active=torch.ones(F + 1, dtype=torch.bool))
    state_before = copy.deepcopy(optimizer.state_dict())
    optimizer.step(active=torch.zeros(F, dtype=torch.bool))  # no gradients, nobody active: a no-op
    assert optimizer.state_dict() == state_before
