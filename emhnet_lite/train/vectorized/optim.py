"""Optimizer and gradient clipping for F LOSO folds trained at once on fold-stacked [F, ...] parameters,
vectorized over folds yet bitwise equal, fold by fold, to torch's AdamW / Adam / SGD and clip_grad_norm_."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch
from torch import Tensor

from emhnet_lite.train.config import TrainConfig

#: Hyper-parameters ``build_optimizer`` leaves at torch's defaults (Adam betas / eps; SGD momentum 0.9).
ADAM_BETAS = (0.9, 0.999)
ADAM_EPS = 1e-8
SGD_MOMENTUM = 0.9


def _fold_runs(active: Tensor) -> list[tuple[int, int]]:
    """Maximal runs ``(start, stop)`` of consecutive True entries of the bool mask ``active`` [F]."""
    runs: list[tuple[int, int]] = []
    for f, on in enumerate(active.tolist()):
        if on:
            if runs and runs[-1][1] == f:
                runs[-1] = (runs[-1][0], f + 1)
            else:
                runs.append((f, f + 1))
    return runs


class FoldOptimizer(torch.optim.Optimizer):
    """AdamW / Adam / SGD(momentum 0.9) over fold-stacked parameters, with a per-fold ``active`` mask.

    Reproduces torch's CPU float32 default path, ``_single_tensor_adam`` / ``_single_tensor_sgd`` (on CPU
    neither foreach nor fused is the default), op for op: scalar hyper-parameters go to the same kernels
    for the whole stack; only Adam's bias corrections differ per fold, computed in Python doubles from each
    fold's own step count exactly as torch does, rounded to float32 as torch rounds a scalar argument, and
    applied as [F, 1, ...] tensors. ``addcdiv_(m, d, value=-s)`` is spelled ``+ (-s * m) / d`` (its CPU
    kernel's order). Inactive folds are excluded by working on views of the runs of consecutive active
    folds (no copies); every op is one ``torch._foreach_*`` call over all (parameter, run) views.
    State per parameter: ``step`` [F] float32 (steps taken by each fold; for SGD a zero marks a momentum
    buffer torch has not created yet), ``exp_avg`` and ``exp_avg_sq`` or ``momentum_buffer`` like the parameter.
    """

    def __init__(self, stacked_params: Sequence[Tensor], config: TrainConfig, num_folds: int) -> None:
        params = list(stacked_params)
        for p in params:
            if p.dim() < 1 or p.shape[0] != num_folds:
                raise ValueError(
                    f"FoldOptimizer: parameter of shape {tuple(p.shape)} is not stacked over {num_folds} folds"
                )
        defaults = {
            "lr": config.lr,
            "weight_decay": config.weight_decay,
            "betas": ADAM_BETAS,
            "eps": ADAM_EPS,
            "momentum": SGD_MOMENTUM,
        }
        super().__init__(params, defaults)
        self.kind = config.optimizer
        self.num_folds = num_folds
        self._work: dict[Tensor, tuple[Tensor, Tensor]] = {}  # reusable temporaries (not optimizer state)

    @torch.no_grad()
    def step(self, closure: Callable[[], float] | None = None, active: Tensor | None = None) -> float | None:  # type: ignore[override]
        """One update of the folds where ``active`` [F] (bool) is True (None: all); other folds stay bitwise untouched."""
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        if active is None:
            runs = [(0, self.num_folds)]
        else:
            if active.shape != (self.num_folds,) or active.dtype != torch.bool:
                raise ValueError(
                    f"FoldOptimizer.step: active must be a bool tensor of shape ({self.num_folds},)"
                )
            runs = _fold_runs(active)
        if not runs:
            return loss
        for group in self.param_groups:
            params = [p for p in group["params"] if p.grad is not None]
            if not params:
                continue
            states = [self._state_of(p) for p in params]
            if self.kind == "sgd":
                self._sgd(group, params, states, runs, active)
            else:
                self._adam(group, params, states, runs)
            torch._foreach_add_(self._views([s["step"] for s in states], runs), 1.0)
        return loss

    def _state_of(self, p: Tensor) -> dict[str, Tensor]:
        """The state of ``p``, created (zeros) on its first step; also makes its two work buffers."""
        state = self.state[p]
        if len(state) == 0:
            state["step"] = torch.zeros(self.num_folds, dtype=torch.float32)
            for name in ("momentum_buffer",) if self.kind == "sgd" else ("exp_avg", "exp_avg_sq"):
                state[name] = torch.zeros_like(p, memory_format=torch.preserve_format)
        if p not in self._work:
            self._work[p] = (torch.empty_like(p), torch.empty_like(p))
        return state

    def _views(self, tensors: list[Tensor], runs: list[tuple[int, int]]) -> list[Tensor]:
        """The active-fold views ``t[a:b]`` of stacked tensors, parameter-major, run-minor."""
        if runs == [(0, self.num_folds)]:
            return tensors
        return [t[a:b] for t in tensors for a, b in runs]

    def _adam(
        self, group: dict, params: list[Tensor], states: list[dict[str, Tensor]], runs: list[tuple[int, int]]
    ) -> None:
        """Adam / AdamW on the active folds of ``params`` (in place)."""
        lr, weight_decay, eps = group["lr"], group["weight_decay"], group["eps"]
        beta1, beta2 = group["betas"]
        views = self._views
        param = views(params, runs)
        grad = views([p.grad for p in params], runs)
        exp_avg = views([s["exp_avg"] for s in states], runs)
        exp_avg_sq = views([s["exp_avg_sq"] for s in states], runs)
        denom = views([self._work[p][0] for p in params], runs)
        update = views([self._work[p][1] for p in params], runs)
        if weight_decay != 0:
            if self.kind == "adamw":
                torch._foreach_mul_(param, 1 - lr * weight_decay)
            else:  # grad + weight_decay * param, into a temporary
                torch._foreach_copy_(update, grad)
                torch._foreach_add_(update, param, alpha=weight_decay)
                grad = update
        torch._foreach_lerp_(exp_avg, grad, 1 - beta1)
        torch._foreach_mul_(exp_avg_sq, beta2)
        torch._foreach_addcmul_(exp_avg_sq, grad, grad, value=1 - beta2)
        neg_step_size, bias_correction2_sqrt = self._bias_factors(group, params, states, runs)
        torch._foreach_copy_(denom, exp_avg_sq)
        torch._foreach_sqrt_(denom)
        torch._foreach_div_(denom, bias_correction2_sqrt)
        torch._foreach_add_(denom, eps)
        # param.addcdiv_(exp_avg, denom, value=-step_size) == param + (-step_size * exp_avg) / denom
        torch._foreach_copy_(update, exp_avg)
        torch._foreach_mul_(update, neg_step_size)
        torch._foreach_div_(update, denom)
        torch._foreach_add_(param, update)

    @staticmethod
    def _bias_factors(
        group: dict, params: list[Tensor], states: list[dict[str, Tensor]], runs: list[tuple[int, int]]
    ) -> tuple[list[Tensor], list[Tensor]]:
        """Per (parameter, run): ``-step_size`` and ``bias_correction2_sqrt`` as float32 [n, 1, ...] views.

        From each fold's step count t = step + 1, in Python doubles as torch computes them:
        step_size = lr / (1 - beta1 ** t), bias_correction2_sqrt = (1 - beta2 ** t) ** 0.5.
        """
        lr = group["lr"]
        beta1, beta2 = group["betas"]
        rows = torch.stack([s["step"] for s in states]).tolist()  # [P][F]; usually all rows equal
        tables: dict[tuple[float, ...], tuple[Tensor, Tensor]] = {}
        shaped: dict[tuple[tuple[float, ...], int], tuple[list[Tensor], list[Tensor]]] = {}
        neg_step_size: list[Tensor] = []
        bias_correction2_sqrt: list[Tensor] = []
        for p, row in zip(params, rows, strict=True):
            steps, key = tuple(row), (tuple(row), p.dim())
            if key not in shaped:
                if steps not in tables:
                    counts = [s + 1.0 for s in steps]
                    tables[steps] = (
                        torch.tensor(
                            [-(lr / (1 - beta1**t)) for t in counts], dtype=p.dtype, device=p.device
                        ),
                        torch.tensor([(1 - beta2**t) ** 0.5 for t in counts], dtype=p.dtype, device=p.device),
                    )
                fold_shape = (-1, *([1] * (p.dim() - 1)))
                shaped[key] = tuple([t[a:b].view(fold_shape) for a, b in runs] for t in tables[steps])  # type: ignore[assignment]
            neg_step_size.extend(shaped[key][0])
            bias_correction2_sqrt.extend(shaped[key][1])
        return neg_step_size, bias_correction2_sqrt

    def _sgd(
        self,
        group: dict,
        params: list[Tensor],
        states: list[dict[str, Tensor]],
        runs: list[tuple[int, int]],
        active: Tensor | None,
    ) -> None:
        """SGD with momentum (no dampening, no Nesterov) on the active folds of ``params`` (in place)."""
        views = self._views
        param = views(params, runs)
        full_grads = [p.grad for p in params]
        grad = views(full_grads, runs)
        buf = views([s["momentum_buffer"] for s in states], runs)
        if group["weight_decay"] != 0:  # grad + weight_decay * param, into a temporary
            full_grads = [self._work[p][0] for p in params]
            torch._foreach_copy_(views(full_grads, runs), grad)
            grad = views(full_grads, runs)
            torch._foreach_add_(grad, param, alpha=group["weight_decay"])
        torch._foreach_mul_(buf, group["momentum"])
        torch._foreach_add_(buf, grad, alpha=1)
        # Torch's first step of a fold sets the buffer to a copy of the gradient instead.
        fresh = torch.stack([s["step"] for s in states]) == 0  # [P, F]
        if active is not None:
            fresh &= active.to(fresh.device)
        if bool(fresh.any()):
            for i in fresh.any(dim=1).nonzero().flatten().tolist():
                mask = fresh[i].view(-1, *([1] * (params[i].dim() - 1)))
                buffer = states[i]["momentum_buffer"]
                buffer.copy_(torch.where(mask, full_grads[i], buffer))
        torch._foreach_add_(param, buf, alpha=-group["lr"])


@torch.no_grad()
def clip_grad_norm_per_fold_(stacked_params: Sequence[Tensor], max_norm: float, num_folds: int) -> Tensor:
    """Per-fold ``clip_grad_norm_``: returns the [F] total gradient norms and scales each fold's gradients.

    Bitwise equal, for every fold f, to ``torch.nn.utils.clip_grad_norm_([p[f] for p in params], max_norm)``
    on CPU float32 (``_foreach_norm`` per gradient, 2-norm of those norms, ``max_norm / (norm + 1e-6)``
    clamped at 1, ``_foreach_mul_``). Vectorized over folds: one row-wise ``vector_norm`` per stacked
    gradient and one over the [F, P] norms (a contiguous last-dim reduction runs the same kernel as torch's
    whole-tensor one), one multiply per gradient. Measured exact, and ~5x faster than ``_foreach_norm``
    over the P*F per-fold slices or a Python loop over folds.
    """
    grads = [p.grad for p in stacked_params if p.grad is not None]
    if not grads:
        return torch.zeros(num_folds)
    norms = torch.stack([torch.linalg.vector_norm(g.reshape(num_folds, -1), dim=1) for g in grads], dim=1)
    total = torch.linalg.vector_norm(norms, dim=1)  # [F]
    # float / tensor is reciprocal-then-multiply in torch; the same expression keeps the same rounding
    coef = (float(max_norm) / (total + 1e-6)).clamp(max=1.0)
    shaped = {d: coef.view(-1, *([1] * (d - 1))) for d in {g.dim() for g in grads}}
    torch._foreach_mul_(grads, [shaped[g.dim()] for g in grads])
    return total
