"""Render the whole figure set of a run folder with stable names, and record where each number came from."""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd
from matplotlib.figure import Figure

from emhnet_lite.errors import UnknownNameError
from emhnet_lite.figures import plots
from emhnet_lite.figures.published import load_published, published_results_path
from emhnet_lite.runs import RunTables, load_run
from emhnet_lite.utils import atomic_path

DEFAULT_PREFIX = "07_"
SOURCES_NAME = "figure_sources.csv"


@dataclass
class FigureRecord:
    """One figure of the set: its stable name, the files written, the saved files its numbers come from."""

    name: str
    description: str
    sources: list[str]
    files: list[Path] = field(default_factory=list)
    skipped: str = ""


def _figure_specs(run: RunTables, selection: str) -> list[tuple[str, str, list[str], Callable]]:
    """(name, description, source files, builder) for every figure of the set, in a fixed order."""
    preds = run.source(f"predictions_{selection}")
    oracle = [run.source("predictions_oracle")] if "oracle" in run.predictions and selection != "oracle" else []
    published = load_published()
    return [
        ("confusion_composite", "pooled composite confusion matrix (+ oracle, labelled test-set-selected)",
         [preds, *oracle], lambda: plots.confusion_composite_figure(run, selection)),
        ("confusion_per_dataset", "confusion matrix per dataset (pooled predictions restricted to it)",
         [preds], lambda: plots.confusion_per_dataset_figure(run, selection)),
        ("published_comparison", "composite UF1/UAR: published table vs this run",
         [run.source("metrics"), "emhnet_lite/resources/published_results.csv"],
         lambda: plots.comparison_figure(run, published)),
        ("published_comparison_per_dataset", "per-dataset UF1/UAR: published table vs this run",
         [run.source("metrics"), "emhnet_lite/resources/published_results.csv"],
         lambda: plots.comparison_per_dataset_figure(run, published)),
        ("region_gates", "mean HMoE region-gate weight per LOSO fold (collapsed regions marked)",
         [run.source(f"gates_{selection}")], lambda: plots.region_gate_figure(run, selection)),
        ("per_subject_accuracy", "accuracy per held-out subject (LOSO fold)",
         [preds, *oracle], lambda: plots.per_subject_figure(run, selection)),
        ("training_curves", "loss / accuracy per epoch: median and inter-quartile band over folds", [run.source("history")],
         lambda: plots.training_curves_figure(run)),
    ]


FIGURE_KEYS: tuple[str, ...] = ("confusion_composite", "confusion_per_dataset", "published_comparison",
                                 "published_comparison_per_dataset", "region_gates", "per_subject_accuracy",
                                 "training_curves")


def render_figure(run: RunTables, key: str, out_dir: str | os.PathLike, prefix: str = DEFAULT_PREFIX,
                  selection: str | None = None) -> tuple[FigureRecord, Figure | None]:
    """Build and save one figure of the set (``key`` in ``FIGURE_KEYS``) → (record, figure or None if skipped)."""
    selection = selection or run.primary_selection
    specs = {name: (description, sources, build)
             for name, description, sources, build in _figure_specs(run, selection)}
    if key not in specs:
        raise UnknownNameError(f"unknown figure {key!r}; known: {list(specs)}")
    description, sources, build = specs[key]
    record = FigureRecord(prefix + key, description, sources)
    try:
        fig = build()
    except plots.FigureUnavailable as reason:
        record.skipped = str(reason)
        return record, None
    record.files = plots.save_figure(fig, out_dir, record.name)
    return record, fig


def render_all(run_dir: str | os.PathLike, out_dir: str | os.PathLike, prefix: str = DEFAULT_PREFIX,
               selection: str | None = None, extra: list[FigureRecord] | None = None,
               show: Callable | None = None) -> list[FigureRecord]:
    """Write every figure of ``run_dir`` into ``out_dir`` as ``<prefix><name>.png/.pdf``.

    A figure whose inputs are absent (e.g. gates for a baseline) is skipped with the reason recorded, never
    silently. ``show`` (e.g. IPython's ``display``) receives each figure in notebooks. The provenance table
    ``<prefix>figure_sources.csv`` is written beside the figures.
    """
    run = load_run(run_dir)
    records = []
    for key in FIGURE_KEYS:
        record, fig = render_figure(run, key, out_dir, prefix, selection)
        if fig is not None and show is not None:
            show(fig)
        records.append(record)
    records += extra or []
    write_sources(records, Path(out_dir) / f"{prefix}{SOURCES_NAME}", Path(run_dir))
    return records


def sources_table(records: list[FigureRecord], run_dir: Path | None = None) -> pd.DataFrame:
    """One row per figure: name, files written (or the reason it was skipped), and its source files."""
    rows = []
    for record in records:
        rows.append({"figure": record.name,
                     "written": " ".join(sorted(p.suffix.lstrip(".") for p in record.files)) or "skipped",
                     "numbers_from": "; ".join(record.sources),
                     "description": record.description if not record.skipped else f"SKIPPED: {record.skipped}"})
    table = pd.DataFrame(rows)
    if run_dir is not None:
        table.insert(2, "run", run_dir.name)
    return table


def write_sources(records: list[FigureRecord], path: Path, run_dir: Path) -> Path:
    """Write the provenance table atomically (relative file names only: stable across machines)."""
    with atomic_path(path) as tmp:
        sources_table(records, run_dir).to_csv(tmp, index=False)
    return path


__all__ = ["FIGURE_KEYS", "FigureRecord", "render_all", "render_figure", "sources_table", "write_sources",
           "published_results_path"]
