"""Teaching figures of chapters 03–06: gate weights, partition choices, cross-scale attention, block grids,
epoch selection on noise, confusion pairs. One region palette (``preprocess.view.REGION_COLORS``), fonts ≥ 9 pt.

Every function draws into a given ``Axes`` or returns a ``matplotlib.figure.Figure`` (no pyplot state), so the
same drawing serves a chapter's static figure, an explorer panel (``figures.explore``) and a test.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import torch
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from emhnet_lite.constants import CLASS_NAMES, REGION_NAMES
from emhnet_lite.figures.plots import _draw_confusion
from emhnet_lite.model.partition import grid_shape, padding_for
from emhnet_lite.preprocess.view import flow_colour, region_rgb

CLASS_COLOURS = ("#4d4d4d", "#1b9e77", "#d95f02")  # negative, positive, surprise
STARVED = 0.05  # chapter 03's collapse criterion: an expert with under 5 % mean weight


def pretty(name: str) -> str:
    """``left_eye`` → ``left eye``."""
    return name.replace("_", " ")


def starved_regions(weights: torch.Tensor | np.ndarray, threshold: float = STARVED) -> list[str]:
    """Regions whose mean level-2 weight over the samples ``[N, R]`` is under ``threshold`` (a collapse)."""
    usage = np.asarray(weights, dtype=float).mean(axis=0)
    return [name for name, share in zip(REGION_NAMES, usage, strict=True) if share < threshold]


def region_weight_bars(ax: Axes, weights: torch.Tensor | np.ndarray, labels: torch.Tensor | np.ndarray,
                       title: str = "") -> None:
    """Mean level-2 weight of each region per true class ``[N, R]`` (bars in the region palette, 1/R dashed)."""
    weights, labels = np.asarray(weights, dtype=float), np.asarray(labels)
    regions = weights.shape[1]
    width = 0.8 / regions
    for r in range(regions):
        means = [weights[labels == c, r].mean() if (labels == c).any() else np.nan for c in range(len(CLASS_NAMES))]
        ax.bar(np.arange(len(CLASS_NAMES)) + (r - (regions - 1) / 2) * width, means, width, color=region_rgb(r),
               label=f"{pretty(REGION_NAMES[r])} ({weights[:, r].mean():.0%})")
    ax.axhline(1 / regions, color="black", lw=0.8, ls="--")
    ax.set_xticks(range(len(CLASS_NAMES)), CLASS_NAMES, fontsize=10)
    ax.set_ylim(0, 1.3)
    ax.set_yticks(np.linspace(0, 1, 6))
    ax.set_ylabel("mean region weight", fontsize=10)
    starved = starved_regions(weights)
    note = f"collapsed: {', '.join(map(pretty, starved))} under 5 %" if starved else "no region under 5 %"
    ax.set_title(f"{title}\n{note}" if title else note, fontsize=10)
    ax.legend(fontsize=9, loc="upper center", ncols=2, title="region (mean use over all samples)",
              title_fontsize=9, handlelength=1.2, columnspacing=0.8)


def partition_share_figure(scale_weights: torch.Tensor, labels: torch.Tensor, scales: tuple[int, ...],
                           title: str) -> Figure:
    """Per region, the share of each class's samples for which the router kept each block side ``[N, R, S]``."""
    chosen = scale_weights.argmax(-1)  # [N, R]
    fig = Figure(figsize=(13, 3.4), layout="constrained")
    axes = fig.subplots(1, chosen.shape[1], sharey=True)
    for r, ax in enumerate(axes):
        for c, name in enumerate(CLASS_NAMES):
            rows = labels == c
            share = [(chosen[rows, r] == s).float().mean().item() for s in range(len(scales))]
            ax.bar(np.arange(len(scales)) + 0.27 * (c - 1), share, 0.27, color=CLASS_COLOURS[c], label=name)
        ax.set_xticks(range(len(scales)), [f"{s} px" for s in scales], fontsize=10)
        ax.set_title(pretty(REGION_NAMES[r]), fontsize=11, color=region_rgb(r))
    axes[0].set_ylabel("share of the class's samples", fontsize=10)
    axes[-1].legend(fontsize=9, title="true class", title_fontsize=9)
    fig.suptitle(title, fontsize=12)
    return fig


def cross_scale_figure(cross: torch.Tensor, gate: torch.Tensor, scale_index: torch.Tensor,
                       scales: tuple[int, ...], crop_uv: torch.Tensor, region: int, title: str) -> Figure:
    """The region's crop ``[2, r, r]`` on the finest grid, one expert's cross-scale attention ``[H, N, N]`` (heads
    averaged), where the coarsest tokens look in the finest grid, and the gate values ``[R, N]`` per scale."""
    weights = cross.float().mean(0).numpy()  # [N, N]
    counts = torch.bincount(scale_index).tolist()
    starts = np.cumsum([0] + counts)
    region_size = crop_uv.shape[-1]
    fig = Figure(figsize=(16, 3.9), layout="constrained")
    ax_crop, *axes = fig.subplots(1, 4, gridspec_kw={"width_ratios": [0.8, 1, 1, 1]})
    block_panel(ax_crop, crop_uv, scales[0], "the crop · ")
    image = axes[0].imshow(weights, cmap="magma")
    for edge in starts[1:-1] - 0.5:
        axes[0].axhline(edge, color="white", lw=0.8)
        axes[0].axvline(edge, color="white", lw=0.8)
    axes[0].set_title(f"{pretty(REGION_NAMES[region])} expert: attention weights\n(black diagonal blocks = same "
                      "scale, masked)", fontsize=10)
    axes[0].set_xlabel("key token (4 px | 5 px | 7 px)" if tuple(scales) == (4, 5, 7) else "key token")
    axes[0].set_ylabel("query token")
    fig.colorbar(image, ax=axes[0], shrink=0.8)
    fine_grid = grid_shape(region_size, region_size, scales[0])
    reading = weights[starts[-2]:, :counts[0]].mean(0).reshape(fine_grid)  # [g, g] averaged over coarse queries
    shown = axes[1].imshow(reading, cmap="magma", vmin=0)
    fig.colorbar(shown, ax=axes[1], shrink=0.8)
    axes[1].set_title(f"where the {scales[-1]} px tokens look in the\n{scales[0]} px grid (mean over them)",
                      fontsize=10)
    axes[1].set_xticks([])
    axes[1].set_yticks([])
    for i, s in enumerate(scales):
        axes[2].hist(gate[:, scale_index == i].flatten().numpy(), bins=np.linspace(0, 1, 21), alpha=0.6,
                     label=f"{s} px tokens")
    axes[2].set_xlabel("gate value σ(·): share of the context added", fontsize=10)
    axes[2].set_ylabel("tokens (all four experts)", fontsize=10)
    axes[2].legend(fontsize=9)
    fig.suptitle(title, fontsize=12)
    return fig


def block_panel(ax: Axes, crop_uv: torch.Tensor, block: int, title: str = "") -> None:
    """A region crop ``[2, r, r]`` (flow colour) cut into ``block`` px blocks; white = zero padding."""
    side = crop_uv.shape[-1]
    before, after = padding_for(side, block)
    padded = side + before + after
    canvas = np.full((padded, padded, 3), 255, dtype=np.uint8)
    canvas[before:before + side, before:before + side] = flow_colour(crop_uv)
    ax.imshow(canvas)
    if before + after:
        ax.add_patch(_rectangle(before, side))
    for line in np.arange(0, padded + 1, block) - 0.5:
        ax.axhline(line, color="grey", lw=0.8)
        ax.axvline(line, color="grey", lw=0.8)
    tokens = int(np.prod(grid_shape(side, side, block)))
    ax.set_title(f"{title}{block} px: pad ({before}, {after}), {tokens} tokens,\n{tokens ** 2:,} attention "
                 "pairs within the scale", fontsize=10)
    ax.set_xticks([])
    ax.set_yticks([])


def _rectangle(start: int, side: int):
    from matplotlib.patches import Rectangle

    return Rectangle((start - 0.5, start - 0.5), side, side, fill=False, ec="black", lw=1.5, ls="--")


def noise_selection_panel(ax: Axes, last: np.ndarray, chosen: np.ndarray, rule: str, epochs: int,
                          model_uf1: dict[str, float] | None = None) -> None:
    """UF1 of random-guess "models" ``[repeats, 2]`` with the last epoch and with ``rule``, same draws."""
    bins = np.linspace(0, 1, 41)
    ax.hist(last[:, 0], bins=bins, color="tab:blue", alpha=0.6, label=f"last epoch: mean {last[:, 0].mean():.2f}")
    if rule != "last":
        ax.hist(chosen[:, 0], bins=bins, color="tab:red", alpha=0.6,
                label=f"{rule}{' (test-set-selected)' if rule == 'oracle' else ''}: mean {chosen[:, 0].mean():.2f}")
    for name, value in (model_uf1 or {}).items():
        ax.axvline(value, color="black", ls="--" if "oracle" in name else "-", lw=1.2)
        ax.text(value, ax.get_ylim()[1] * 0.95, f" {name}", rotation=90, va="top", fontsize=9)
    ax.set_xlim(0, 1)
    ax.set_xlabel("pooled UF1 of a random guesser", fontsize=10)
    ax.set_ylabel("random 'models'", fontsize=10)
    ax.set_title(f"{epochs} epoch{'s' if epochs > 1 else ''} to choose from, rule: {rule}", fontsize=10)
    ax.legend(fontsize=9, loc="upper left")


def confusion_pair_figure(pairs: dict[str, tuple[np.ndarray, np.ndarray]], title: str) -> Figure:
    """One confusion matrix (counts and row shares, UF1/UAR) per ``title → (true, predicted)``."""
    fig = Figure(figsize=(3.8 * len(pairs), 3.9), layout="constrained")
    axes = fig.subplots(1, len(pairs), squeeze=False)[0]
    for ax, (name, (true, predicted)) in zip(axes, pairs.items(), strict=True):
        _draw_confusion(ax, pd.DataFrame({"true": np.asarray(true), "predicted": np.asarray(predicted)}), name)
    fig.suptitle(title, fontsize=11)
    return fig
