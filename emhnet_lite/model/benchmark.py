"""Side-by-side cost table of the models: parameters, FLOPs per sample, train-step time, inference latency.

Timings interleave the models round by round, so a load change on a shared machine hits all of them alike;
ratios against HTNet are taken from the same run.
"""

from __future__ import annotations

import statistics
import time
from dataclasses import asdict, dataclass

import torch
import torch.nn.functional as F

from emhnet_lite.model.flops import count_flops, count_parameters


@dataclass
class ModelCost:
    """One row of the cost table (times in seconds, medians over rounds)."""

    name: str
    parameters: int
    flops_per_sample: int
    train_step_s: float | None = None
    latency_s: float | None = None
    train_speedup_vs_htnet: float | None = None
    flops_ratio_vs_htnet: float | None = None


def train_step(model: torch.nn.Module, optimizer: torch.optim.Optimizer, flow: torch.Tensor,
               labels: torch.Tensor) -> float:
    """One Adam step on cross-entropy + the model's aux loss; returns its wall time in seconds."""
    start = time.perf_counter()
    optimizer.zero_grad(set_to_none=True)
    logits, aux = model(flow, return_aux=True)
    loss = F.cross_entropy(logits, labels) + aux["aux_loss"]
    loss.backward()
    optimizer.step()
    if flow.is_cuda:
        torch.cuda.synchronize(flow.device)
    return time.perf_counter() - start


@torch.no_grad()
def inference_latency(model: torch.nn.Module, flow: torch.Tensor) -> float:
    """Wall time of one eval-mode forward pass of ``flow`` in seconds."""
    start = time.perf_counter()
    model(flow)
    if flow.is_cuda:
        torch.cuda.synchronize(flow.device)
    return time.perf_counter() - start


def cost_table(names: list[str], image_size: int = 28, batch: int = 256, rounds: int = 3, seed: int = 0,
               device: str | torch.device = "cpu", timing: bool = True, builder=None) -> list[ModelCost]:
    """Build every named model (``model:ablation`` for an EMHNet ablation), count parameters and FLOPs, and
    (``timing``) time ``rounds`` interleaved training steps at ``batch`` plus batch-1 latencies after one
    warm-up each."""
    from emhnet_lite.model import build_model

    builder = builder or build_model
    device = torch.device(device)
    generator = torch.Generator().manual_seed(seed)
    flow = torch.randn(batch, 3, image_size, image_size, generator=generator).to(device)
    labels = torch.randint(0, 3, (batch,), generator=generator).to(device)
    models, optimizers, rows = {}, {}, {}
    for name in names:
        torch.manual_seed(seed)
        model_name, _, ablation = name.partition(":")  # "emhnet_tiny:no_router" = a named ablation
        overrides = {} if model_name.startswith("emhnet") or image_size == 28 else {"image_size": image_size}
        if ablation:
            overrides["ablation"] = ablation
        model = builder(model_name, **overrides).to(device)
        models[name] = model
        optimizers[name] = torch.optim.Adam(model.parameters(), lr=1e-4)
        rows[name] = ModelCost(name, count_parameters(model), count_flops(model, (3, image_size, image_size)))
    if timing:
        steps: dict[str, list[float]] = {name: [] for name in names}
        latencies: dict[str, list[float]] = {name: [] for name in names}
        for round_index in range(rounds + 1):  # round 0 is the warm-up
            for name in names:
                models[name].train()
                step = train_step(models[name], optimizers[name], flow, labels)
                models[name].eval()
                latency = min(inference_latency(models[name], flow[:1]) for _ in range(5))
                if round_index > 0:
                    steps[name].append(step)
                    latencies[name].append(latency)
        for name in names:
            rows[name].train_step_s = statistics.median(steps[name])
            rows[name].latency_s = statistics.median(latencies[name])
    if "htnet" in rows:
        reference = rows["htnet"]
        for row in rows.values():
            row.flops_ratio_vs_htnet = row.flops_per_sample / reference.flops_per_sample
            if timing:
                row.train_speedup_vs_htnet = reference.train_step_s / row.train_step_s
    return [rows[name] for name in names]


def format_table(rows: list[ModelCost]) -> str:
    """The cost table as GitHub markdown."""
    def fmt(value, pattern):
        return "—" if value is None else pattern.format(value)

    lines = ["| model | parameters | MFLOP / sample | train step (s) | speed-up vs HTNet | latency b=1 (ms) |",
             "|---|---:|---:|---:|---:|---:|"]
    for row in rows:
        lines.append(f"| {row.name} | {row.parameters:,} | {row.flops_per_sample / 1e6:.2f} | "
                     f"{fmt(row.train_step_s, '{:.3f}')} | {fmt(row.train_speedup_vs_htnet, '{:.1f}x')} | "
                     f"{fmt(None if row.latency_s is None else row.latency_s * 1e3, '{:.2f}')} |")
    return "\n".join(lines)


def rows_as_dicts(rows: list[ModelCost]) -> list[dict]:
    """Rows as plain dicts (for JSON / pandas)."""
    return [asdict(row) for row in rows]


def ablation_names(model: str = "emhnet_tiny") -> list[str]:
    """``model:ablation`` row names of every named ablation except ``full`` (the model's own row)."""
    from emhnet_lite.model import ABLATIONS

    return [f"{model}:{ablation}" for ablation in ABLATIONS if ablation != "full"]
