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


def block_panel(ax: Axes, crop_uv: torch.Tensor, block: int, title: str = "", max_norm: float | None = None) -> None:
    """A region crop ``[2, r, r]`` (flow colour, ``max_norm`` as in ``flow_colour``) cut into ``block`` px
    blocks; white = zero padding."""
    side = crop_uv.shape[-1]
    before, after = padding_for(side, block)
    padded = side + before + after
    canvas = np.full((padded, padded, 3), 255, dtype=np.uint8)
    canvas[before:before + side, before:before + side] = flow_colour(crop_uv, max_norm=max_norm)
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


def collapse_figure(intact_weights: torch.Tensor, collapsed_weights: torch.Tensor, intact_grads: torch.Tensor,
                    collapsed_grads: torch.Tensor) -> Figure:
    """Mean region weight ``[N, R]`` and each expert's gradient norm ``[R]``, intact gate against collapsed."""
    fig = Figure(figsize=(11, 3.6), layout="constrained")
    axes = fig.subplots(1, 2)
    x = np.arange(len(REGION_NAMES))
    for ax, (intact, collapsed) in zip(axes, ((intact_weights.mean(0), collapsed_weights.mean(0)),
                                              (intact_grads, collapsed_grads)), strict=True):
        ax.bar(x - 0.2, np.asarray(intact), 0.4, color=[region_rgb(r) for r in x], label="intact gate")
        ax.bar(x + 0.2, np.asarray(collapsed), 0.4, color=[region_rgb(r) for r in x], hatch="//",
               edgecolor="black", alpha=0.6, label="collapsed gate (hatched)")
        ax.set_xticks(x, [pretty(n) for n in REGION_NAMES], fontsize=10)
    axes[0].set_ylabel("mean region weight", fontsize=10)
    axes[1].set_yscale("log")
    axes[1].set_ylabel("gradient norm of the expert (log)", fontsize=10)
    axes[0].legend(fontsize=9)
    fig.suptitle("a collapsed level-2 gate: one expert takes all the weight, the others get almost no gradient",
                 fontsize=12)
    return fig


def switch_off_figure(changed: list[int], n_samples: int) -> Figure:
    """Predictions changed when each region's level-2 weight is set to 0 (bars in the region palette)."""
    fig = Figure(figsize=(6.5, 3.0), layout="constrained")
    ax = fig.subplots()
    ax.bar([pretty(n) for n in REGION_NAMES], changed, color=[region_rgb(r) for r in range(len(REGION_NAMES))])
    ax.set_ylabel("predictions changed", fontsize=10)
    ax.set_title(f"switching one region off (weight 0) on {n_samples} teaching samples", fontsize=11)
    return fig


def partition_router_figure(crops: torch.Tensor, partitions: torch.Tensor, scales: tuple[int, ...],
                            row_titles: list[str]) -> Figure:
    """Region crops ``[S, R, 2, r, r]`` of S samples with the block grid each region's router chose ``[S, R]``."""
    samples, regions, _, side, _ = crops.shape
    fig = Figure(figsize=(3.2 * regions, 3.2 * samples), layout="constrained")
    axes = fig.subplots(samples, regions, squeeze=False)
    for row in range(samples):
        limit = float(crops[row].norm(dim=1).max())
        for r, ax in enumerate(axes[row]):
            block = scales[int(partitions[row, r])]
            before, after = padding_for(side, block)
            ax.imshow(flow_colour(crops[row, r], max_norm=limit), extent=(-0.5, side - 0.5, side - 0.5, -0.5))
            for line in np.arange(-before, side + after + 1, block) - 0.5:
                ax.axhline(line, color="black", lw=0.8, alpha=0.7)
                ax.axvline(line, color="black", lw=0.8, alpha=0.7)
            ax.set_xlim(-before - 0.5, side + after - 0.5)
            ax.set_ylim(side + after - 0.5, -before - 0.5)
            ax.set_title(f"{row_titles[row]} · {pretty(REGION_NAMES[r])}: {block} px", fontsize=10)
            ax.set_xticks([])
            ax.set_yticks([])
    fig.suptitle("per-sample partitions chosen by the trained toy model's router (grid = the chosen blocks)",
                 fontsize=12)
    return fig


MODEL_COLOURS = {"emhnet_tiny": "tab:blue", "emhnet": "tab:cyan", "htnet": "tab:red", "htnet_reduced": "tab:orange",
                 "ststnet": "tab:grey"}


def model_cost_figure(names: list[str], parameters: list[int], mflops: list[float]) -> Figure:
    """Parameters and forward MFLOP per sample of each model, log scale, values written on the bars."""
    fig = Figure(figsize=(11, 3.8), layout="constrained")
    axes = fig.subplots(1, 2)
    colours = [MODEL_COLOURS.get(name, "tab:purple") for name in names]
    for ax, values, title, fmt in ((axes[0], parameters, "parameters", "{:,}"),
                                   (axes[1], mflops, "forward MFLOP per sample (28 × 28)", "{:.2f}")):
        ax.bar(names, values, color=colours)
        ax.set_yscale("log")
        ax.set_title(title, fontsize=11)
        ax.tick_params(axis="x", labelsize=9, rotation=15)
        for x, value in enumerate(values):
            ax.text(x, value, fmt.format(value), ha="center", va="bottom", fontsize=9)
    fig.suptitle("model cost (log scale), computed from the models", fontsize=12)
    return fig


def flip_figure(flow: torch.Tensor, boxes: torch.Tensor, flipped: torch.Tensor, flipped_boxes: torch.Tensor) -> Figure:
    """The u channel ``[3, H, W]`` with the four region boxes ``[4, 4]``, before and after the flow-aware flip."""
    fig = Figure(figsize=(8, 4.0), layout="constrained")
    for ax, (image, regions, title) in zip(fig.subplots(1, 2), ((flow, boxes, "u (horizontal flow)"),
                                           (flipped, flipped_boxes, "after the flow-aware flip: mirrored, −u")),
                                           strict=True):
        limit = float(image[0].abs().max())
        ax.imshow(image[0].numpy(), cmap="RdBu_r", vmin=-limit, vmax=limit)
        for r, (x0, y0, x1, y1) in enumerate(regions.tolist()):
            ax.add_patch(_box(x0, y0, x1, y1, region_rgb(r)))
            ax.text(x0 + 0.3, y0 + 1.6, pretty(REGION_NAMES[r]), fontsize=9, color="black")
        ax.set_title(title, fontsize=11)
        ax.axis("off")
    return fig


def _box(x0: float, y0: float, x1: float, y1: float, colour):
    from matplotlib.patches import Rectangle

    return Rectangle((x0 - 0.5, y0 - 0.5), x1 - x0, y1 - y0, fill=False, lw=1.8, color=colour)


def training_curves_figure(records: list, test_labels: torch.Tensor, title: str) -> Figure:
    """Train and held-out loss, train and held-out accuracy per epoch of one fold (``train_model`` records)."""
    epochs = [r.epoch for r in records]
    test_acc = [float((r.evals["test"].predicted == test_labels).float().mean()) for r in records]
    fig = Figure(figsize=(10, 3.8), layout="constrained")
    ax_loss, ax_acc = fig.subplots(1, 2)
    ax_loss.plot(epochs, [r.train_loss for r in records], label="train loss")
    ax_loss.plot(epochs, [r.evals["test"].loss for r in records], label="held-out subject loss")
    ax_loss.set_ylabel("cross-entropy", fontsize=10)
    ax_acc.plot(epochs, [r.train_acc for r in records], label="train accuracy (augmented)")
    ax_acc.plot(epochs, test_acc, marker="o", label="held-out subject accuracy (monitoring only)")
    ax_acc.set_ylim(-0.05, 1.05)
    for ax in (ax_loss, ax_acc):
        ax.set_xlabel("epoch", fontsize=10)
        ax.legend(fontsize=9)
    fig.suptitle(title, fontsize=12)
    return fig


def last_vs_oracle_figure(metrics_table: pd.DataFrame, oracle_epochs: pd.Series, n_epochs: int) -> Figure:
    """Pooled UF1 per subset with the last and the oracle epoch (``metrics.csv``), and the oracle's epochs."""
    from emhnet_lite.constants import DATASET_TITLES

    fig = Figure(figsize=(11, 4.0), layout="constrained")
    ax_bar, ax_hist = fig.subplots(1, 2, gridspec_kw={"width_ratios": [1.4, 1]})
    subsets = ["composite"] + [d for d in metrics_table["subset"].unique() if d != "composite"]
    width = 0.38
    for offset, (sel, colour) in zip((-width / 2, width / 2), [("last", "tab:blue"), ("oracle", "tab:red")],
                                     strict=True):
        rows = metrics_table[metrics_table["selection"] == sel].set_index("subset").loc[subsets]
        ax_bar.bar(np.arange(len(subsets)) + offset, rows["uf1"], width, color=colour,
                   label=rows["selection_label"].iat[0])
    ax_bar.set_xticks(range(len(subsets)), [DATASET_TITLES.get(s, s) for s in subsets], fontsize=10)
    ax_bar.set_ylabel("pooled UF1", fontsize=10)
    ax_bar.set_ylim(0, 1)
    ax_bar.legend(fontsize=9, loc="upper left")
    ax_bar.set_title("same models, epoch chosen two ways", fontsize=11)
    ax_hist.hist(oracle_epochs, bins=np.arange(0.5, n_epochs + 1.5), color="tab:red", alpha=0.8)
    ax_hist.axvline(n_epochs, color="tab:blue", ls="--", label=f"last epoch ({n_epochs})")
    ax_hist.set_xlabel("epoch chosen by the oracle (test-set-selected)", fontsize=10)
    ax_hist.set_ylabel("folds", fontsize=10)
    ax_hist.legend(fontsize=9)
    return fig
