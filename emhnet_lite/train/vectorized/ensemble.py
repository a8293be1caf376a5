"""Fold ensembles: F copies of one model (one per LOSO fold) with stacked weights, run as one batched model.

Every parameter and buffer of the single model becomes one tensor with a leading fold axis ``[F, ...]`` under
the same name, so fold ``f``'s ``state_dict`` is ``{name: tensor[f]}`` and checkpoints keep their format.
``forward`` takes one batch per fold — ``flows [G, B, 3, H, W]`` for the ``G`` folds listed in ``folds`` — and
returns ``logits [G, B, C]``: each fold sees only its own weights and its own samples.

Two implementations: ``VmapEnsemble`` works for any model (``torch.func.vmap`` over ``functional_call``);
``STSTNetEnsemble`` is hand-batched because vmap turns STSTNet's convolutions into slow grouped NCHW
convolutions and its pools into per-fold loops (measured: slower than training the folds one by one).
"""

from __future__ import annotations

import copy
from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn
from torch.func import functional_call, stack_module_state, vmap

from emhnet_lite.model.ststnet import STSTNet
from emhnet_lite.train.vectorized import roi_align  # noqa: F401  (registers roi_align's vmap rule)
from emhnet_lite.train.vectorized.batchnorm import batch_norm_channels_last

#: aux outputs a fold ensemble returns per fold (the rest — attention maps etc. — is for single models).
ENSEMBLE_AUX_KEYS = ("aux_loss", "region_weights", "scale_weights")


class FoldEnsemble(nn.Module):
    """Base class: stacked tensors in ``self.stacked`` (name → [F, ...]); parameters require grad."""

    def __init__(self, num_folds: int) -> None:
        super().__init__()
        self.num_folds = num_folds
        self.param_names: list[str] = []
        self.buffer_names: list[str] = []
        self.stacked: dict[str, torch.Tensor] = {}
        self.state_names: list[str] = []  # the single model's state_dict order

    def stacked_parameters(self) -> list[torch.Tensor]:
        """The trainable stacked tensors [F, ...], in the single model's parameter order."""
        return [self.stacked[name] for name in self.param_names]

    def fold_state_dict(self, fold: int) -> dict[str, torch.Tensor]:
        """Fold ``fold``'s weights as the single model's ``state_dict`` (detached CPU copies)."""
        return {name: self.stacked[name][fold].detach().cpu().clone() for name in self.state_names}

    def _gather(self, folds: torch.Tensor) -> tuple[dict[str, torch.Tensor], dict[str, torch.Tensor]]:
        """Parameters (differentiable) and buffers of ``folds`` [G]; all folds in order → no copy."""
        every = folds.numel() == self.num_folds and bool((folds == torch.arange(self.num_folds, device=folds.device)).all())
        if every:
            return ({n: self.stacked[n] for n in self.param_names}, {n: self.stacked[n] for n in self.buffer_names})
        return ({n: self.stacked[n][folds] for n in self.param_names},
                {n: self.stacked[n][folds] for n in self.buffer_names})

    def _scatter_buffers(self, folds: torch.Tensor, buffers: dict[str, torch.Tensor]) -> None:
        """Write updated buffers (BatchNorm running statistics) of ``folds`` back into the stack."""
        with torch.no_grad():
            for name, value in buffers.items():
                if value.data_ptr() != self.stacked[name].data_ptr():
                    self.stacked[name][folds] = value

    def forward(self, flows: torch.Tensor, boxes: torch.Tensor | None,
                folds: torch.Tensor) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """flows [G, B, 3, H, W], boxes [G, B, 4, 4] | None, folds [G] → logits [G, B, C], aux (per fold)."""
        raise NotImplementedError


def _stack_from(ensemble: FoldEnsemble, models: Sequence[nn.Module]) -> None:
    """Fill ``ensemble.stacked`` from ``models`` (same architecture, same device)."""
    params, buffers = stack_module_state(list(models))  # name → [F, ...]; params are fresh leaves
    ensemble.param_names, ensemble.buffer_names = list(params), list(buffers)
    ensemble.state_names = list(models[0].state_dict())
    ensemble.stacked = {**params, **{name: value.clone() for name, value in buffers.items()}}


class VmapEnsemble(FoldEnsemble):
    """Any model: ``vmap`` over the fold axis of ``functional_call(model, stacked weights of one fold)``.

    The model must not branch on tensor values inside ``forward`` (validate inputs beforehand) and must not
    draw random numbers (vmap is called with ``randomness="error"``, so dropout fails loudly).
    """

    def __init__(self, models: Sequence[nn.Module]) -> None:
        super().__init__(len(models))
        _stack_from(self, models)
        self.template = copy.deepcopy(models[0]).to("meta")  # structure only, no storage

    def train(self, mode: bool = True) -> VmapEnsemble:
        super().train(mode)
        self.template.train(mode)
        return self

    def forward(self, flows: torch.Tensor, boxes: torch.Tensor | None,
                folds: torch.Tensor) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        params, buffers = self._gather(folds)
        template = self.template

        def one_fold(fold_params: dict, fold_buffers: dict, flow: torch.Tensor, box: torch.Tensor | None):
            output = functional_call(template, (fold_params, fold_buffers), (flow, box), {"return_aux": True})
            logits, aux = output if isinstance(output, tuple) else (output, {})  # as trainer.forward_with_aux
            return logits, {key: aux[key] for key in ENSEMBLE_AUX_KEYS if aux.get(key) is not None}

        in_dims = (0, 0, 0, None if boxes is None else 0)
        logits, aux = vmap(one_fold, in_dims=in_dims, randomness="error")(params, buffers, flows, boxes)
        if self.training:
            self._scatter_buffers(folds, buffers)
        return logits, aux


class STSTNetEnsemble(FoldEnsemble):
    """STSTNet for F folds at once: the three streams of every fold as ONE grouped convolution over the
    folds (channels-last), one BatchNorm/max-pool/avg-pool over all folds' channels, a batched linear head.

    A fold's three streams (3, 5, 8 channels) see the same input, so they are one 16-channel convolution;
    BatchNorm and the pools act per channel, so putting the folds side by side in the channel axis gives each
    fold exactly its own statistics. Channels-last makes the pools and BatchNorm vectorise over F·16
    channels, which is where the speed-up over one fold at a time comes from (see benchmarks/bench_vectorized.py).
    """

    def __init__(self, models: Sequence[STSTNet]) -> None:
        super().__init__(len(models))
        _stack_from(self, models)
        self.config = models[0].config
        self.widths = list(self.config.stream_channels)
        bn = models[0].streams[0][2]
        self.momentum, self.eps = bn.momentum, bn.eps

    def _cat_streams(self, params: dict, suffix: str) -> torch.Tensor:
        """Concatenate the streams' ``suffix`` tensors along their channel axis: [G, 16, ...]."""
        return torch.cat([params[f"streams.{i}.{suffix}"] for i in range(len(self.widths))], dim=1)

    def forward(self, flows: torch.Tensor, boxes: torch.Tensor | None,
                folds: torch.Tensor) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        folds_n, batch, channels, height, width = flows.shape
        size = self.config.image_size
        if (channels, height, width) != (self.config.channels, size, size):
            raise ValueError(f"STSTNet built for [.., 3, {size}, {size}] input, got {tuple(flows.shape)}")
        params, buffers = self._gather(folds)
        out_channels = sum(self.widths)
        # [G, B, 3, H, W] → [B, G*3, H, W] channels-last: the folds side by side as conv groups
        x = flows.permute(1, 0, 2, 3, 4).reshape(batch, folds_n * channels, height, width)
        x = x.contiguous(memory_format=torch.channels_last)
        weight = self._cat_streams(params, "0.weight").flatten(0, 1)  # [G*16, 3, 3, 3]
        bias = self._cat_streams(params, "0.bias").flatten()  # [G*16]
        maps = F.conv2d(x, weight.contiguous(memory_format=torch.channels_last), bias, padding=1,
                        groups=folds_n)  # [B, G*16, H, W]
        running_mean = self._cat_streams(buffers, "2.running_mean").flatten()  # [G*16] (a copy)
        running_var = self._cat_streams(buffers, "2.running_var").flatten()
        maps = F.relu(maps, inplace=True)  # the convolution's backward does not need its output
        maps = batch_norm_channels_last(maps, self._cat_streams(params, "2.weight").flatten(),
                                        self._cat_streams(params, "2.bias").flatten(), running_mean, running_var,
                                        training=self.training, momentum=self.momentum, eps=self.eps)
        maps = F.max_pool2d(maps, 3, stride=3, padding=1)
        maps = F.avg_pool2d(maps, 2)  # [B, G*16, s, s]
        features = maps.unflatten(1, (folds_n, out_channels)).transpose(0, 1).flatten(2)  # [G, B, 16*s*s]
        head_weight, head_bias = params["head.weight"], params["head.bias"]  # [G, C, D], [G, C]
        logits = torch.baddbmm(head_bias[:, None, :], features, head_weight.transpose(1, 2))  # [G, B, C]
        if self.training:
            self._store_running_stats(folds, running_mean.view(folds_n, out_channels),
                                      running_var.view(folds_n, out_channels))
        return logits, {"aux_loss": logits.new_zeros(folds_n)}

    @torch.no_grad()
    def _store_running_stats(self, folds: torch.Tensor, mean: torch.Tensor, var: torch.Tensor) -> None:
        """Split the updated [G, 16] running statistics back into the streams' stacked buffers."""
        start = 0
        for i, stream_width in enumerate(self.widths):
            self.stacked[f"streams.{i}.2.running_mean"][folds] = mean[:, start:start + stream_width]
            self.stacked[f"streams.{i}.2.running_var"][folds] = var[:, start:start + stream_width]
            self.stacked[f"streams.{i}.2.num_batches_tracked"][folds] += 1
            start += stream_width


def build_fold_ensemble(models: Sequence[nn.Module]) -> FoldEnsemble:
    """The fastest ensemble for these (same-architecture) models: hand-batched STSTNet, else vmap."""
    if not models:
        raise ValueError("build_fold_ensemble: no models")
    kinds = {type(model) for model in models}
    if len(kinds) != 1:
        raise ValueError(f"build_fold_ensemble: models of different classes {sorted(k.__name__ for k in kinds)}")
    if isinstance(models[0], STSTNet):
        return STSTNetEnsemble(models)  # type: ignore[arg-type]
    return VmapEnsemble(models)
