"""The EMHNet architecture diagram, drawn from a model config so that it cannot drift from the code.

Every number on it (regions, crop side, block sides and token counts, widths, depths, face tokens, classes)
is read from an ``EMHNetConfig`` and the model built from it: regions → experts (partitioning, cross-scale
gates, transformer blocks) → HMoE gate → global transformer → head. Chapter 00 embeds it.
"""

from __future__ import annotations

from dataclasses import dataclass
from itertools import pairwise

import matplotlib.pyplot as plt
from matplotlib.figure import Figure
from matplotlib.patches import FancyArrowPatch, FancyBboxPatch

from emhnet_lite.constants import CLASS_NAMES, FLOW_CHANNELS, REGION_NAMES
from emhnet_lite.model import EMHNet, EMHNetConfig
from emhnet_lite.preprocess.view import region_rgb

GREY = (0.93, 0.93, 0.93)


@dataclass(frozen=True)
class ArchitectureLabels:
    """The diagram's text, stage by stage (what the tests compare): one entry per region where it varies."""

    input: str
    regions: tuple[str, ...]
    partitioning: str
    cross_scale: str
    experts: tuple[str, ...]
    hmoe: str
    global_transformer: str
    head: str


def architecture_labels(config: EMHNetConfig, image_size: int = 28) -> ArchitectureLabels:
    """The diagram's labels for ``config`` at an ``image_size`` square input, read from the built model."""
    model = EMHNet(config)
    side = model.region_size(image_size, image_size)
    counts = model.tokenizer.token_counts(side, side)
    face_tokens = model.face_tokenizer.token_counts(image_size, image_size)[0]
    blocks = " + ".join(f"{n}" for n in counts)
    sides = ", ".join(str(s) for s in config.scales)
    regions = tuple(name.replace("_", " ") for name in REGION_NAMES[: config.num_regions])
    depth = f"{config.expert_depth} block" + ("s" if config.expert_depth != 1 else "")
    return ArchitectureLabels(
        input=f"flow [{len(FLOW_CHANNELS)}, {image_size}, {image_size}]\n({', '.join(FLOW_CHANNELS)})\n+ region boxes",
        regions=tuple(f"{name}\ncrop {side}×{side}" for name in regions),
        partitioning=f"blocks of {sides} px\n{blocks} = {sum(counts)} tokens",
        cross_scale=f"cross-scale gate\n({len(config.scales)} scales)",
        experts=tuple(f"expert {i + 1}: {depth}\nwidth {config.dim}, {config.heads} heads"
                      for i in range(config.num_regions)),
        hmoe=(f"HMoE gate\nlevel 1: weights over\n{len(config.scales)} scales per region\n"
              f"level 2: weights over\n{config.num_regions} regions\nT = {config.gate_temperature:g}, "
              f"balance loss × {config.balance_weight:g}"),
        global_transformer=(f"global transformer\n{config.global_depth} block"
                            + ("s" if config.global_depth != 1 else "")
                            + f"\n{face_tokens} face tokens ({config.global_patch} px)\n"
                            f"+ {config.num_regions} region tokens"),
        head=f"head\nlinear {config.dim} → {config.num_classes}\n" + "\n".join(CLASS_NAMES[: config.num_classes]),
    )


def _box(ax, x: float, y: float, w: float, h: float, text: str, colour=GREY, size: float = 8.5) -> None:
    """A rounded box centred at (x, y) with its label."""
    ax.add_patch(FancyBboxPatch((x - w / 2, y - h / 2), w, h, boxstyle="round,pad=0.003,rounding_size=0.012",
                                facecolor=colour, edgecolor="0.3", linewidth=1))
    ax.text(x, y, text, ha="center", va="center", fontsize=size)


def _arrow(ax, start: tuple[float, float], end: tuple[float, float]) -> None:
    ax.add_patch(FancyArrowPatch(start, end, arrowstyle="-|>", mutation_scale=10, color="0.35", linewidth=1,
                                 shrinkA=0, shrinkB=1))


#: Column centre and width of each stage, in axes fractions.
COLUMNS = {"input": (0.055, 0.095), "crop": (0.165, 0.085), "partition": (0.29, 0.13), "cross": (0.41, 0.08),
           "blocks": (0.525, 0.11), "hmoe": (0.665, 0.115), "global": (0.80, 0.12), "head": (0.935, 0.085)}


def _left(name: str) -> float:
    return COLUMNS[name][0] - COLUMNS[name][1] / 2


def _right(name: str) -> float:
    return COLUMNS[name][0] + COLUMNS[name][1] / 2


def architecture_figure(config: EMHNetConfig, image_size: int = 28, title: str | None = None) -> Figure:
    """The diagram: input → one row per region (crop → expert: partitioning, cross-scale gate, blocks) →
    HMoE gate → global transformer → head; the whole-face tokens run below the regions."""
    labels = architecture_labels(config, image_size)
    rows = max(1, config.num_regions)
    fig, ax = plt.subplots(figsize=(15, 1.6 + 1.05 * rows))
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1)
    ax.axis("off")
    top, bottom = 0.9, 0.16
    ys = [top - (top - bottom) * (i + 0.5) / rows for i in range(rows)]
    row_h = 0.78 * (top - bottom) / rows
    centre = (top + bottom) / 2
    x = {name: spec[0] for name, spec in COLUMNS.items()}
    _box(ax, x["input"], centre, COLUMNS["input"][1], 0.3, labels.input)
    stages = ("crop", "partition", "cross", "blocks")
    for i, y in enumerate(ys[: config.num_regions]):
        colour = (*region_rgb(i), 0.35)
        texts = (labels.regions[i], labels.partitioning, labels.cross_scale, labels.experts[i])
        for stage, text in zip(stages, texts, strict=True):
            _box(ax, x[stage], y, COLUMNS[stage][1], row_h, text, colour if stage in ("crop", "blocks") else GREY)
        _arrow(ax, (_right("input"), centre), (_left("crop"), y))
        for before, after in pairwise(stages):
            _arrow(ax, (_right(before), y), (_left(after), y))
        _arrow(ax, (_right("blocks"), y), (_left("hmoe"), centre))
    frame_left, frame_right = _left("partition") - 0.008, _right("blocks") + 0.008
    ax.add_patch(FancyBboxPatch((frame_left, bottom - 0.005), frame_right - frame_left, top - bottom + 0.01,
                                boxstyle="round,pad=0.004", fill=False, linestyle="--", edgecolor="0.55"))
    ax.text((frame_left + frame_right) / 2, top + 0.03, "one expert per region", ha="center", fontsize=9,
            color="0.35")
    _box(ax, x["hmoe"], centre, COLUMNS["hmoe"][1], min(0.66, top - bottom), labels.hmoe)
    _box(ax, x["global"], centre, COLUMNS["global"][1], 0.4, labels.global_transformer)
    _box(ax, x["head"], centre, COLUMNS["head"][1], 0.4, labels.head)
    _arrow(ax, (_right("hmoe"), centre), (_left("global"), centre))
    _arrow(ax, (_right("global"), centre), (_left("head"), centre))
    lane = bottom - 0.07  # the whole-face tokens bypass the regions
    ax.plot([x["input"], x["input"], x["global"]], [centre - 0.15, lane, lane], color="0.35", linewidth=1)
    _arrow(ax, (x["global"], lane), (x["global"], centre - 0.2))
    ax.text((x["input"] + x["global"]) / 2, lane - 0.045, f"whole-face tokens ({config.global_patch} px blocks)",
            ha="center", fontsize=8.5, color="0.35")
    if title:
        ax.set_title(title, fontsize=11)
    return fig
