"""Paper figures drawn from a loaded run folder (:class:`RunTables`) and the published-results table.

Each function returns a ``matplotlib.figure.Figure`` (no pyplot state, so nothing is shown twice and
batch runs leak no windows); :func:`save_figure` writes it as PNG and PDF with a stable name.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from emhnet_lite.constants import CLASS_NAMES, DATASET_TITLES, DATASETS, REGION_NAMES
from emhnet_lite.figures.published import selection_tag
from emhnet_lite.metrics import scores
from emhnet_lite.preprocess.view import region_rgb
from emhnet_lite.runs import GATE_COLUMNS, RunTables
from emhnet_lite.utils import atomic_path

SELECTION_COLOURS = {"yes": "#d95f02", "no": "#1b9e77", "unknown": "#9e9e9e"}
KIT_COLOUR = "#7570b3"
DATASET_COLOURS = {"smic": "#1f77b4", "casme2": "#ff7f0e", "samm": "#2ca02c"}
PNG_DPI = 150


class FigureUnavailable(RuntimeError):
    """The run folder lacks what a figure needs (e.g. no gate weights for a baseline model)."""


def save_figure(fig: Figure, out_dir: str | os.PathLike, name: str, dpi: int = PNG_DPI) -> list[Path]:
    """Write ``name.png`` and ``name.pdf`` atomically, without timestamps in the files (stable bytes)."""
    out_dir = Path(out_dir)
    written = []
    for ext, metadata in (("png", {"Software": None}), ("pdf", {"CreationDate": None, "Producer": None})):
        target = out_dir / f"{name}.{ext}"
        with atomic_path(target) as tmp:
            fig.savefig(tmp, format=ext, dpi=dpi, bbox_inches="tight", metadata=metadata)
        written.append(target)
    return written


def _selection(run: RunTables, selection: str | None) -> str:
    selection = selection or run.primary_selection
    if selection not in run.predictions:
        raise FigureUnavailable(f"{run.root}: no predictions for selection {selection!r} "
                                f"(has {sorted(run.predictions)})")
    return selection


def _run_title(run: RunTables) -> str:
    suffix = "" if run.comparable else " — not comparable to real-dataset results"
    return f"{run.model_name} on {run.data_label}{suffix}"


def _draw_confusion(ax, table: pd.DataFrame, title: str) -> None:
    """Counts with row shares; colour = row share so that rare classes stay readable."""
    result = scores(table["true"].to_numpy(), table["predicted"].to_numpy())
    counts = np.asarray(result.confusion, dtype=float)  # [true, predicted]
    totals = counts.sum(axis=1, keepdims=True)
    shares = np.divide(counts, totals, out=np.zeros_like(counts), where=totals > 0)
    ax.imshow(shares, cmap="Blues", vmin=0, vmax=1)
    for row in range(len(CLASS_NAMES)):
        for col in range(len(CLASS_NAMES)):
            colour = "white" if shares[row, col] > 0.6 else "black"
            ax.text(col, row, f"{int(counts[row, col])}\n{shares[row, col]:.0%}", ha="center", va="center",
                    color=colour, fontsize=8)
    ax.set_xticks(range(len(CLASS_NAMES)), CLASS_NAMES, rotation=30)
    ax.set_yticks(range(len(CLASS_NAMES)), CLASS_NAMES)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    ax.set_title(f"{title}\nUF1 {result.uf1:.3f} · UAR {result.uar:.3f} · n={result.n_samples}", fontsize=9)


def confusion_composite_figure(run: RunTables, selection: str | None = None) -> Figure:
    """Pooled composite confusion matrix at the primary selection, plus the oracle one labelled as leaky."""
    selection = _selection(run, selection)
    shown = [selection] + [s for s in ("oracle",) if s in run.predictions and s != selection]
    fig = Figure(figsize=(3.6 * len(shown), 3.8), layout="constrained")
    axes = fig.subplots(1, len(shown), squeeze=False)[0]
    for ax, sel in zip(axes, shown, strict=True):
        _draw_confusion(ax, run.predictions[sel], f"composite · {run.selection_label(sel)}")
    fig.suptitle(_run_title(run), fontsize=10)
    return fig


def confusion_per_dataset_figure(run: RunTables, selection: str | None = None) -> Figure:
    """One confusion matrix per dataset: the pooled predictions restricted to that dataset's subjects."""
    selection = _selection(run, selection)
    table = run.predictions[selection]
    present = [d for d in DATASETS if d in set(table["dataset"])]
    present += sorted(set(table["dataset"]) - set(present))
    fig = Figure(figsize=(3.5 * len(present), 3.8), layout="constrained")
    axes = fig.subplots(1, len(present), squeeze=False)[0]
    for ax, dataset in zip(axes, present, strict=True):
        _draw_confusion(ax, table[table["dataset"] == dataset], run.dataset_label(dataset))
    fig.suptitle(f"{_run_title(run)} · {run.selection_label(selection)}", fontsize=10)
    return fig


def _kit_rows(run: RunTables, subset: str = "composite") -> pd.DataFrame:
    """The run's own UF1/UAR rows (from metrics.csv), labelled with model, data and selection."""
    rows = run.metrics[(run.metrics["subset"] == subset) & run.metrics["selection"].isin(run.predictions)]
    data = run.data_label if subset == "composite" else run.dataset_label(subset)
    labels = []
    for _, row in rows.iterrows():
        label = f"{run.model_name} on {data} — {run.selection_label(str(row['selection']))}"
        labels.append(label + ("" if run.comparable else " — not comparable"))
    out = pd.DataFrame({"label": labels, "uf1": rows["uf1"].to_numpy(dtype=float),
                        "uar": rows["uar"].to_numpy(dtype=float),
                        "test_set_selected": ["yes" if s == "oracle" else "no" for s in rows["selection"]]})
    return out


def _published_rows(published: pd.DataFrame, subset: str, methods: list[str] | None) -> pd.DataFrame:
    """Published rows of one subset: the named methods, or the default figure set (+ re-runs) if None."""
    part = published[published["subset"] == subset]
    if methods is None:
        default = set(published.loc[published["default_figure"], "method"])
        chosen = part[part["method"].isin(default) | (part["kind"] != "published")] if subset != "composite" \
            else part[part["default_figure"]]
    else:
        chosen = part[part["method"].isin(methods)]
        unknown = sorted(set(methods) - set(chosen["method"]))
        if unknown:
            raise KeyError(f"comparison_figure: no published {subset} row for {unknown}")
    return chosen.sort_values("uf1", na_position="first")


def _draw_comparison(axes, kit: pd.DataFrame, chosen: pd.DataFrame, subset_title: str) -> None:
    """Horizontal UF1 / UAR bars on a pair of axes: the run's rows above a divider, published below."""
    labels = list(kit["label"]) + [f"{m} ({y})" for m, y in zip(chosen["method"], chosen["year"], strict=True)]
    n_kit = len(kit)
    for ax, metric in zip(axes, ("uf1", "uar"), strict=True):
        values = list(kit[metric]) + list(chosen[metric])
        highs = [np.nan] * n_kit + list(chosen[f"{metric}_max"])
        flags = list(kit["test_set_selected"]) + list(chosen["test_set_selected"])
        for i, (value, high, flag) in enumerate(zip(values, highs, flags, strict=True)):
            if pd.isna(value):
                ax.text(0.01, i, "not reported", va="center", fontsize=7, color="#666666")
                continue
            colour = KIT_COLOUR if i < n_kit else SELECTION_COLOURS[flag]
            ax.barh(i, value, color=colour, hatch="//" if flag == "yes" else None, edgecolor="white")
            text = f"{value:.3f}" if pd.isna(high) else f"{value:.3f}–{high:.3f}"
            if not pd.isna(high):
                ax.plot([value, high], [i, i], color="black", linewidth=2)
            ax.text(max(value, 0 if pd.isna(high) else high) + 0.01, i, text, va="center", fontsize=7)
        ax.axhline(n_kit - 0.5, color="black", linewidth=0.8)
        ax.set_xlim(0, 1.12)
        ax.set_xlabel(f"{subset_title} {metric.upper()}")
        ax.grid(axis="x", alpha=0.3)
    axes[0].set_yticks(np.arange(len(labels)), labels, fontsize=8)
    axes[0].invert_yaxis()


def _comparison_legend(fig: Figure, run: RunTables, title: str) -> None:
    handles = [_legend_patch(SELECTION_COLOURS[k], selection_tag(k), k == "yes") for k in ("yes", "no", "unknown")]
    handles.append(_legend_patch(KIT_COLOUR, f"this run ({run.data_label})", False))
    fig.legend(handles=handles, loc="outside lower center", ncols=4, fontsize=8)
    note = "published numbers: emhnet_lite/resources/published_results.csv (sources per row)"
    if not run.comparable:
        note += f"; this run is on {run.data_label} and is not comparable to the published rows"
    fig.suptitle(f"{title}\n{note}", fontsize=9)


def comparison_figure(run: RunTables, published: pd.DataFrame, subset: str = "composite",
                      methods: list[str] | None = None) -> Figure:
    """Published UF1/UAR (coloured by epoch-selection rule) beside the run's own, clearly separated.

    ``methods``: published methods to show (default: the rows flagged ``default_figure``). The run's rows
    sit above a divider; on SynthME they are labelled as synthetic and not comparable.
    """
    chosen = _published_rows(published, subset, methods)
    kit = _kit_rows(run, subset)
    fig = Figure(figsize=(11, 0.42 * (len(kit) + len(chosen)) + 1.6), layout="constrained")
    axes = fig.subplots(1, 2, sharey=True)
    _draw_comparison(axes, kit, chosen, subset)
    _comparison_legend(fig, run, f"MEGC2019 {subset}: published results vs this run")
    return fig


def comparison_per_dataset_figure(run: RunTables, published: pd.DataFrame,
                                  methods: list[str] | None = None) -> Figure:
    """Per-dataset UF1/UAR: each dataset's share of the pooled composite predictions, published vs this run."""
    datasets = [d for d in DATASETS if d in set(run.metrics["subset"])]
    if not datasets:
        raise FigureUnavailable(f"{run.source('metrics')}: no per-dataset rows")
    parts = [(d, _kit_rows(run, d), _published_rows(published, d, methods)) for d in datasets]
    heights = [len(kit) + len(chosen) for _, kit, chosen in parts]
    fig = Figure(figsize=(11, 0.36 * sum(heights) + 1.2 * len(parts) + 1.0), layout="constrained")
    grid = fig.subplots(len(parts), 2, gridspec_kw={"height_ratios": heights}, squeeze=False)
    for axes, (dataset, kit, chosen) in zip(grid, parts, strict=True):
        axes[1].sharey(axes[0])
        _draw_comparison(axes, kit, chosen, DATASET_TITLES.get(dataset, dataset))
        axes[1].tick_params(labelleft=False)
    _comparison_legend(fig, run, "MEGC2019 per dataset (each dataset's share of the composite LOSO predictions): "
                                 "published results vs this run")
    return fig


def _legend_patch(colour: str, label: str, hatched: bool):
    from matplotlib.patches import Patch

    return Patch(facecolor=colour, hatch="//" if hatched else None, edgecolor="white", label=label)


#: A region whose mean gate weight over a fold's held-out samples is below this share is called collapsed
#: (chapter 03's criterion: the gate has all but switched that expert off).
COLLAPSE_THRESHOLD = 0.05


def fold_gate_means(gates: pd.DataFrame) -> pd.DataFrame:
    """Mean region-gate weight per LOSO fold: rows = folds (index ``fold``), columns = ``REGION_NAMES``."""
    means = gates.groupby("fold", sort=True)[list(GATE_COLUMNS)].mean()  # [folds, 4]
    means.columns = list(REGION_NAMES)
    return means


def region_gate_figure(run: RunTables, selection: str | None = None) -> Figure:
    """Mean HMoE region-gate weight per LOSO fold (rows) and region (columns); collapsed cells marked.

    Per fold, not averaged over folds: each fold is its own model, and an average of models that collapsed
    onto different regions looks balanced while no single model is.
    """
    selection = selection or run.primary_selection
    if selection not in run.gates:
        raise FigureUnavailable(f"{run.root}: no gates_{selection}.csv (the model returns no region gates)")
    table = run.gates[selection]
    means = fold_gate_means(table)  # [folds, 4]
    names = table.groupby("fold", sort=True).agg(dataset=("dataset", "first"), subject=("subject", "first"),
                                                  n=("clip", "size"))
    values = means.to_numpy()
    collapsed = values < COLLAPSE_THRESHOLD
    fig = Figure(figsize=(6.6, 1.2 + 0.36 * len(means)), layout="constrained")
    ax = fig.subplots()
    image = ax.imshow(values, cmap="viridis", vmin=0, vmax=max(0.5, float(values.max())), aspect="auto")
    for row in range(values.shape[0]):
        for col in range(values.shape[1]):
            mark = " ×" if collapsed[row, col] else ""
            ax.text(col, row, f"{values[row, col]:.2f}{mark}", ha="center", va="center", fontsize=9,
                    color="black" if values[row, col] > 0.6 * image.norm.vmax else "white")
    ax.set_xticks(range(len(REGION_NAMES)), [n.replace("_", " ") + "\n(image)" for n in REGION_NAMES], fontsize=9)
    for label, index in zip(ax.get_xticklabels(), range(len(REGION_NAMES)), strict=True):
        label.set_color(region_rgb(index))
    ax.set_yticks(range(len(means)), [f"fold {fold}: {DATASET_TITLES.get(d, d)} {s} (n={n})"
                                      for fold, d, s, n in zip(means.index, names["dataset"], names["subject"],
                                                               names["n"], strict=True)], fontsize=9)
    fig.colorbar(image, ax=ax, label="mean gate weight (rows sum to 1)")
    ax.set_title(f"{_run_title(run)}\nHMoE region gate per LOSO fold · {run.selection_label(selection)} · "
                 f"× = collapsed (< {COLLAPSE_THRESHOLD:.0%}); {int(collapsed.any(axis=1).sum())} of {len(means)} "
                 f"folds", fontsize=9)
    return fig


def per_subject_figure(run: RunTables, selection: str | None = None) -> Figure:
    """Accuracy on each held-out subject (one LOSO fold each), grouped and coloured by dataset."""
    selection = _selection(run, selection)
    table = run.predictions[selection].copy()
    table["correct"] = table["true"] == table["predicted"]
    per_subject = (table.groupby(["dataset", "subject"], sort=True)
                   .agg(accuracy=("correct", "mean"), n=("correct", "size")).reset_index())
    order = {d: i for i, d in enumerate(DATASETS)}
    per_subject = per_subject.sort_values(["dataset", "subject"], key=lambda s: s.map(order) if s.name == "dataset"
                                          else s).reset_index(drop=True)
    oracle = None
    if "oracle" in run.predictions and selection != "oracle":
        other = run.predictions["oracle"]
        oracle = (other.assign(correct=other["true"] == other["predicted"])
                  .groupby(["dataset", "subject"])["correct"].mean())
    fig = Figure(figsize=(max(6.0, 0.22 * len(per_subject) + 2), 3.6), layout="constrained")
    ax = fig.subplots()
    x = np.arange(len(per_subject))
    colours = [DATASET_COLOURS.get(d, "#888888") for d in per_subject["dataset"]]
    ax.bar(x, per_subject["accuracy"], color=colours)
    if oracle is not None:
        values = [oracle.get((d, s), np.nan) for d, s in zip(per_subject["dataset"], per_subject["subject"],
                                                             strict=True)]
        ax.scatter(x, values, marker="_", s=60, color="black", zorder=3,
                   label=run.selection_label("oracle"))
    overall = float(table["correct"].mean())
    ax.axhline(overall, color="black", linestyle="--", linewidth=0.8,
               label=f"pooled accuracy {overall:.3f}")
    tick_labels = [f"{subject} (n={n})" for subject, n in zip(per_subject["subject"], per_subject["n"], strict=True)]
    ax.set_xticks(x, tick_labels, rotation=90, fontsize=6 if len(x) > 30 else 8)
    ax.set_ylim(0, 1.05)
    ax.set_ylabel(f"accuracy ({run.selection_label(selection)})")
    handles, _ = ax.get_legend_handles_labels()
    handles += [_legend_patch(DATASET_COLOURS.get(d, "#888888"), run.dataset_label(d), False)
                for d in dict.fromkeys(per_subject["dataset"])]
    fig.legend(handles=handles, fontsize=7, loc="outside lower center", ncols=len(handles))
    ax.set_title(f"{_run_title(run)}\nper-subject accuracy (LOSO folds; n samples per subject "
                 f"{per_subject['n'].min()}–{per_subject['n'].max()})", fontsize=9)
    return fig


def fold_quantiles(history: pd.DataFrame, column: str) -> pd.DataFrame:
    """Quartiles of ``column`` over LOSO folds at each epoch: columns ``q25``, ``median``, ``q75``."""
    grouped = history.groupby("epoch", sort=True)[column]
    return pd.DataFrame({"q25": grouped.quantile(0.25), "median": grouped.median(), "q75": grouped.quantile(0.75)})


def training_curves_figure(run: RunTables) -> Figure:
    """Loss and accuracy per epoch: median over folds with the inter-quartile band (test = monitoring only).

    With one subject per fold, a fold's held-out accuracy rests on a few clips, so the min–max range spans
    0–1 and says nothing; the middle half of the folds shows where a typical fold is.
    """
    if run.history is None:
        raise FigureUnavailable(f"{run.root}: no history.csv")
    history = run.history
    fig = Figure(figsize=(9, 3.4), layout="constrained")
    axes = fig.subplots(1, 2)
    series = [("train", "#1b9e77"), ("val", "#7570b3"), ("test", "#d95f02")]
    for ax, quantity in zip(axes, ("loss", "acc"), strict=True):
        for prefix, colour in series:
            column = f"{prefix}_{quantity}"
            if column not in history.columns or history[column].isna().all():
                continue
            stats = fold_quantiles(history, column)
            label = {"train": "training subjects", "val": "validation subjects (from training)",
                     "test": "held-out subject (monitoring only)"}[prefix]
            ax.plot(stats.index, stats["median"], color=colour, label=label)
            ax.fill_between(stats.index, stats["q25"], stats["q75"], color=colour, alpha=0.2)
        ax.set_xlabel("epoch")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.set_ylabel("cross-entropy" if quantity == "loss" else "accuracy")
        ax.grid(alpha=0.3)
    axes[1].legend(fontsize=8)
    n_folds = history["fold"].nunique()
    fig.suptitle(f"{_run_title(run)}\ntraining curves: median over {n_folds} LOSO folds, "
                 "band = inter-quartile range (middle half of the folds)", fontsize=9)
    return fig
