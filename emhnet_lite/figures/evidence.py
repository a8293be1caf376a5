"""Forest plot of comparison / ablation summaries: each variant's mean pooled UF1 with its 95% subject-bootstrap
interval and the individual seeds, drawn only from the summary CSVs that ``emhnet compare`` writes."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.figure import Figure


def forest_plot(panels: dict[str, pd.DataFrame], reference: dict[str, str | None] | None = None,
                metric: str = "uf1") -> Figure:
    """One panel per summary table (title → table): a row per variant, the mean as a dot, the 95% interval
    as a line, the seeds as small marks; the reference variant's mean as a dashed vertical line."""
    reference = reference or {}
    heights = [max(len(table), 1) for table in panels.values()]
    fig, axes = plt.subplots(len(panels), 1, figsize=(7.5, 1.5 + 0.45 * sum(heights)), squeeze=False,
                             gridspec_kw={"height_ratios": heights})
    for ax, (title, table) in zip(axes[:, 0], panels.items(), strict=True):
        rows = np.arange(len(table))[::-1]  # first variant on top
        ax.hlines(rows, table[f"{metric}_ci_low"], table[f"{metric}_ci_high"], color="tab:blue", lw=2,
                  label="95% interval (subjects resampled)")
        ax.plot(table[f"{metric}_mean"], rows, "o", color="tab:blue", label="mean over seeds")
        if f"{metric}_per_seed" in table.columns:
            for row, seeds in zip(rows, table[f"{metric}_per_seed"], strict=True):
                values = [float(v) for v in str(seeds).split()]
                ax.plot(values, [row] * len(values), "|", color="0.35", ms=9)
            ax.plot([], [], "|", color="0.35", ms=9, label="single seeds")
        ref = reference.get(title)
        if ref is not None and ref in set(table["variant"]):
            ax.axvline(table.loc[table["variant"] == ref, f"{metric}_mean"].item(), color="0.5", ls="--", lw=1)
        labels = [f"{v}  (n={int(n)})" for v, n in zip(table["variant"], table["n_seeds"], strict=True)]
        ax.set_yticks(rows, labels)
        ax.set_title(title, fontsize=10, loc="left")
        ax.set_xlabel(f"pooled {metric.upper()}")
        ax.grid(axis="x", alpha=0.3)
    handles, labels = axes[0, 0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="lower center", ncol=len(labels), fontsize=9, frameon=False)
    fig.tight_layout(rect=(0, 0.4 / fig.get_figheight(), 1, 1))  # room for the legend under the panels
    return fig


__all__ = ["forest_plot"]
