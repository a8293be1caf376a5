"""Region-expert attention for chapter 02: stripe statistics (does a weight depend on the query at all?) and
the untrained-vs-trained figure that shows where, on the crop, the attention goes."""

from __future__ import annotations

import numpy as np
import pandas as pd
import torch
from matplotlib.figure import Figure


def stripe_statistics(attention: torch.Tensor, scale_index: torch.Tensor, names: list[str]) -> pd.DataFrame:
    """Per expert: how much the weights depend on the query, and how concentrated they are on few keys.

    ``attention`` [E, N, N] (expert, query, key; rows sum to 1 within a scale); ``scale_index`` [N].
    ``query_dependence``: mean over queries of the total-variation distance between a query's weights and the
    mean weights of its scale (0 = every query attends identically: a vertical stripe; 1 = disjoint).
    ``top_key_share``: weight of the single most-attended key of each scale (mean over queries), as a multiple
    of the uniform 1/n (1 = uniform, n = one key takes everything).
    """
    rows = []
    for name, weights in zip(names, attention, strict=True):  # weights [N, N]
        distance, concentration = [], []
        for scale in scale_index.unique(sorted=True).tolist():
            keep = scale_index == scale
            block = weights[keep][:, keep]  # [n, n] queries and keys of one scale
            mean_row = block.mean(0, keepdim=True)  # [1, n]
            distance.append(0.5 * (block - mean_row).abs().sum(-1).mean())
            concentration.append(mean_row.max() * block.shape[-1])
        rows.append({"expert": name, "query_dependence": float(torch.stack(distance).mean()),
                     "top_key_share_x_uniform": float(torch.stack(concentration).mean())})
    return pd.DataFrame(rows).set_index("expert")


def expert_attention_figure(maps: dict[str, torch.Tensor], scale_index: torch.Tensor,
                            grids: list[tuple[int, int]], scales: list[int], title: str) -> Figure:
    """Rows = models (e.g. untrained, trained); columns = the [query, key] matrix, then per scale the weight each
    key receives (mean over the scale's queries) drawn on the key's position in the crop's block grid."""
    fig = Figure(figsize=(3.0 * (len(scales) + 1), 3.0 * len(maps)), layout="constrained")
    axes = fig.subplots(len(maps), len(scales) + 1, squeeze=False)
    counts = torch.bincount(scale_index).tolist()
    starts = np.cumsum([0] + counts)
    for row_axes, (label, weights) in zip(axes, maps.items(), strict=True):  # weights [N, N]
        weights = torch.as_tensor(weights, dtype=torch.float32).cpu()
        top = float(weights.max())
        image = row_axes[0].imshow(weights.numpy(), cmap="magma", vmin=0, vmax=top)
        for edge in starts[1:-1] - 0.5:
            row_axes[0].axhline(edge, color="white", lw=0.8)
            row_axes[0].axvline(edge, color="white", lw=0.8)
        row_axes[0].set_title(f"{label}\nweights [query, key]", fontsize=10)
        row_axes[0].set_xlabel("key token", fontsize=9)
        row_axes[0].set_ylabel("query token", fontsize=9)
        fig.colorbar(image, ax=row_axes[0], fraction=0.046)
        for ax, (i, block), grid in zip(row_axes[1:], enumerate(scales), grids, strict=True):
            received = weights[starts[i]:starts[i + 1], starts[i]:starts[i + 1]].mean(0)  # [n] per key
            uniform = 1 / counts[i]
            image = ax.imshow((received.reshape(grid) / uniform).numpy(), cmap="viridis", vmin=0,
                              vmax=max(2.0, float(received.max() / uniform)))
            for (r, c), value in np.ndenumerate((received.reshape(grid) / uniform).numpy()):
                ax.text(c, r, f"{value:.1f}", ha="center", va="center", fontsize=9,
                        color="white" if value < 1.5 else "black")
            ax.set_title(f"{block} px blocks: weight per key\n(× uniform 1/{counts[i]})", fontsize=10)
            ax.set_xticks([])
            ax.set_yticks([])
    fig.suptitle(title, fontsize=11)
    return fig
