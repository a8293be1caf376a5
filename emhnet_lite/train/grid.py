"""Comparison grids: models × ablations × training seeds (× SynthME seeds), each cell an ordinary LOSO run
folder, and the evidence table (seed spread, subject-bootstrap intervals, paired tests) built from them.

Layout under the grid folder (``emhnet compare --out runs/NAME``)::

    grid.json                                the grid's settings (written by every invocation)
    <variant>/synthme<D>_seed<S>/            one LOSO run folder per cell (docs/run_folder.md)
    summary.csv, summary.md                  one row per variant (``summary_table``)
    comparisons.csv                          every variant against the reference, in full

A variant is a model (``ststnet``) or a model with a named ablation (``emhnet_tiny:no_router``; folder
``emhnet_tiny-no_router``). Training seed S is run with ``LosoConfig.seed = S · SEED_STRIDE`` (fold k then
uses S · 1000 + k), so no two cells share a fold seed; seed 0 is the ordinary ``emhnet loso --seed 0`` run.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from emhnet_lite import stats
from emhnet_lite.runs import load_run, selection_label

#: Base seed of training seed S: S · SEED_STRIDE (more than any LOSO's fold count, so fold seeds never repeat).
SEED_STRIDE = 1000
GRID_FILE = "grid.json"


def variant_name(model: str, ablation: str = "full") -> str:
    """``ststnet``, ``emhnet_tiny:no_router``."""
    return model if ablation == "full" else f"{model}:{ablation}"


def variant_dir(variant: str) -> str:
    """Folder name of a variant (``:`` is not portable in paths)."""
    return variant.replace(":", "-")


def parse_seeds(text: str) -> list[int]:
    """``"0-4"`` → [0, 1, 2, 3, 4]; ``"0,2,5"`` → [0, 2, 5]; ranges and lists combine (``"0-2,7"``)."""
    seeds: list[int] = []
    try:
        for part in text.split(","):
            low, sep, high = part.strip().partition("-")
            seeds += list(range(int(low), int(high) + 1)) if sep else [int(low)]
    except ValueError:
        raise ValueError(f"seeds {text!r}: expected e.g. 0-4 or 0,2,5") from None
    if not seeds or len(set(seeds)) != len(seeds) or min(seeds) < 0:
        raise ValueError(f"seeds {text!r}: need distinct non-negative seeds")
    return seeds


@dataclass(frozen=True)
class Cell:
    """One grid cell: a variant trained with one training seed on one data set."""

    model: str
    ablation: str
    seed: int  # training seed (LosoConfig.seed = seed · SEED_STRIDE)
    data_seed: int | None  # SynthME seed; None for a prepared cache
    run_dir: Path

    @property
    def variant(self) -> str:
        return variant_name(self.model, self.ablation)


@dataclass(frozen=True)
class GridSpec:
    """What ``emhnet compare`` runs: variants × training seeds × data seeds, one run folder per cell."""

    out: Path
    models: tuple[str, ...]
    ablations: tuple[str, ...] = ("full",)
    seeds: tuple[int, ...] = (0,)
    data_seeds: tuple[int | None, ...] = (None,)
    reference: str | None = None
    settings: dict[str, Any] = field(default_factory=dict)  # data, schedule, selection: recorded in grid.json

    def variants(self, ablation_models: set[str]) -> list[tuple[str, str]]:
        """(model, ablation) pairs: ablations apply to the models in ``ablation_models``, the rest run full."""
        pairs = []
        for model in self.models:
            for ablation in self.ablations if model in ablation_models else ("full",):
                if (model, ablation) not in pairs:
                    pairs.append((model, ablation))
        return pairs

    def cells(self, ablation_models: set[str]) -> list[Cell]:
        """Every cell, variant by variant, data set by data set, seed by seed."""
        return [
            Cell(model, ablation, seed, data_seed, self.cell_dir(variant_name(model, ablation), seed, data_seed))
            for model, ablation in self.variants(ablation_models)
            for data_seed in self.data_seeds
            for seed in self.seeds
        ]

    def cell_dir(self, variant: str, seed: int, data_seed: int | None) -> Path:
        data = "" if data_seed is None else f"synthme{data_seed}_"
        return self.out / variant_dir(variant) / f"{data}seed{seed}"

    def as_dict(self, ablation_models: set[str]) -> dict[str, Any]:
        """``grid.json``: settings plus the cell table (variant, seeds, run folder relative to the grid)."""
        return {
            "models": list(self.models),
            "ablations": list(self.ablations),
            "seeds": list(self.seeds),
            "data_seeds": list(self.data_seeds),
            "reference": self.reference,
            "seed_stride": SEED_STRIDE,
            "settings": self.settings,
            "cells": [
                {"variant": c.variant, "model": c.model, "ablation": c.ablation, "seed": c.seed,
                 "data_seed": c.data_seed, "run_dir": c.run_dir.relative_to(self.out).as_posix()}
                for c in self.cells(ablation_models)
            ],
        }


def read_cells(grid_dir: str | Path) -> pd.DataFrame:
    """The cell table of a grid folder's ``grid.json`` (run_dir made absolute), a clear error if absent."""
    grid_dir = Path(grid_dir)
    path = grid_dir / GRID_FILE
    if not path.exists():
        raise FileNotFoundError(f"{grid_dir}: not a comparison grid (no {GRID_FILE}); run `emhnet compare` first")
    grid = json.loads(path.read_text())
    cells = pd.DataFrame(grid["cells"])
    cells["run_dir"] = [grid_dir / p for p in cells["run_dir"]]
    return cells


def _seed_tables(cells: pd.DataFrame, variant: str) -> tuple[list[stats.SeedTables], dict[str, Any]]:
    """A variant's prediction tables grouped by data set, and the labels its runs share (selection, data)."""
    groups, labels = [], {}
    for data_seed, part in cells.groupby("data_seed", dropna=False, sort=True):
        tables = []
        for run_dir in part.sort_values("seed")["run_dir"]:
            results = load_run(run_dir)
            selection = results.primary_selection
            tables.append(results.predictions[selection])
            labels.setdefault("selection", selection_label(selection))
            labels.setdefault("test_set_selected", selection == "oracle")
            labels.setdefault("data", results.config["data"]["source"])
            labels.setdefault("epochs", results.config["train"]["epochs"])
        groups.append(stats.seed_tables(tables, name=f"{variant} (data seed {data_seed})"))
    return groups, labels


def summary_table(
    cells: pd.DataFrame, reference: str | None = None, config: stats.BootstrapConfig | None = None
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(summary: one row per variant, comparisons: each variant against ``reference`` in full).

    Every cell's run folder must be merged. Summary columns: variant, n_seeds, n_data, uf1/uar mean, seed sd,
    data sd, 95% subject-bootstrap interval and sampling sd, per-dataset UF1 means, and against the reference
    the UF1 difference with its paired-bootstrap p (``p_vs_<reference>``, the kit's test).
    """
    config = config or stats.BootstrapConfig()
    variants = list(dict.fromkeys(cells["variant"]))
    if reference is not None and reference not in variants:
        raise ValueError(f"reference {reference!r} is not a variant of the grid ({variants})")
    tables = {v: _seed_tables(cells[cells["variant"] == v], v) for v in variants}
    rows, comparisons = [], []
    for variant in variants:
        groups, labels = tables[variant]
        summary = stats.summarize(groups, config)
        first = cells[cells["variant"] == variant].iloc[0]
        row = {"variant": variant, "model": first["model"], "ablation": first["ablation"], "n_seeds": summary.n_seeds,
               "n_data": summary.n_data, "n_subjects": summary.n_subjects}
        for metric in ("uf1", "uar"):
            for part in ("mean", "sd", "ci_low", "ci_high", "sampling_sd", "data_sd"):
                row[f"{metric}_{part}"] = getattr(summary, f"{metric}_{part}")
        row.update({f"uf1_{dataset}": value for dataset, value in summary.per_dataset_uf1.items()})
        if reference is not None:
            if variant == reference:
                row[f"uf1_diff_vs_{reference}"], row[f"p_vs_{reference}"] = 0.0, np.nan
            else:
                paired = stats.paired_comparison(groups, tables[reference][0], config)
                row[f"uf1_diff_vs_{reference}"], row[f"p_vs_{reference}"] = paired.uf1_diff, paired.p_bootstrap
                mc = paired.mcnemar
                comparisons.append({
                    "variant": variant, "reference": reference,
                    **{k: v for k, v in paired.as_dict().items() if k != "mcnemar"},
                    "mcnemar_b": mc.b, "mcnemar_c": mc.c, "mcnemar_p_exact": mc.p_exact, "mcnemar_p_cc": mc.p_cc,
                })
        row.update({"uf1_per_seed": " ".join(f"{v:.4f}" for v in summary.uf1_per_seed), **labels})
        rows.append(row)
    return pd.DataFrame(rows), pd.DataFrame(comparisons)


def summary_markdown(summary: pd.DataFrame, comparisons: pd.DataFrame, reference: str | None,
                     title: str, config: stats.BootstrapConfig) -> str:
    """The summary as a markdown page: every number with its interval, the spreads side by side."""
    first = summary.iloc[0]
    lines = [f"# {title}", "",
             f"Data: {first['data']}; selection: {first['selection']}; epochs per fold: "
             + ", ".join(f"{v} {int(e)}" for v, e in zip(summary["variant"], summary["epochs"], strict=True)) + ". "
             f"Pooled UF1/UAR over the LOSO folds, mean over {int(first['n_seeds'])} training seed(s)"
             + (f" and {int(first['n_data'])} SynthME seeds" if first["n_data"] > 1 else "")
             + f"; 95% intervals by subject-level cluster bootstrap ({config.n_resamples} resamples of the "
             f"{int(first['n_subjects'])} subjects, seed {config.seed}). Seed sd = spread over training seeds; "
             "sampling sd = spread of one seed's score over subject resamples.", ""]
    if summary["test_set_selected"].any():
        lines += ["**Test-set-selected (oracle) epochs: these numbers are leaky upper bounds.**", ""]
    datasets = [c.removeprefix("uf1_") for c in summary.columns
                if c.startswith("uf1_") and c.removeprefix("uf1_") in ("casme2", "samm", "smic")]
    head = ["variant", "seeds", "UF1 mean [95% CI]", "UF1 seed sd", "UF1 sampling sd", "UAR mean [95% CI]"]
    head += [f"{d} UF1" for d in datasets]
    if reference is not None:
        head += [f"ΔUF1 vs {reference}", "p (paired bootstrap)"]
    lines += ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for _, row in summary.iterrows():
        cells = [row["variant"], str(int(row["n_seeds"])),
                 f"{row['uf1_mean']:.4f} [{row['uf1_ci_low']:.4f}, {row['uf1_ci_high']:.4f}]",
                 _fmt(row["uf1_sd"]), _fmt(row["uf1_sampling_sd"]),
                 f"{row['uar_mean']:.4f} [{row['uar_ci_low']:.4f}, {row['uar_ci_high']:.4f}]"]
        cells += [f"{row[f'uf1_{d}']:.4f}" for d in datasets]
        if reference is not None:
            p = row[f"p_vs_{reference}"]
            cells += ["—" if row["variant"] == reference else f"{row[f'uf1_diff_vs_{reference}']:+.4f}",
                      "—" if np.isnan(p) else f"{p:.4f}"]
        lines.append("| " + " | ".join(cells) + " |")
    if not comparisons.empty:
        lines += ["", f"Paired against `{reference}` (same subjects; A − reference):", "",
                  "| variant | ΔUF1 [95% CI] | p (paired bootstrap) | ΔUAR [95% CI] | McNemar b / c | McNemar exact p |",
                  "|---|---|---|---|---|---|"]
        for _, c in comparisons.iterrows():
            lines.append(f"| {c['variant']} | {c['uf1_diff']:+.4f} [{c['uf1_diff_ci_low']:+.4f}, "
                         f"{c['uf1_diff_ci_high']:+.4f}] | {c['p_bootstrap']:.4f} | {c['uar_diff']:+.4f} "
                         f"[{c['uar_diff_ci_low']:+.4f}, {c['uar_diff_ci_high']:+.4f}] | {c['mcnemar_b']} / "
                         f"{c['mcnemar_c']} | {c['mcnemar_p_exact']:.4f} |")
        lines += ["", "The kit reports the paired bootstrap p: it tests the UF1 difference itself, resamples "
                  "subjects (the unit of independence) and averages over seeds. McNemar tests per-clip accuracy "
                  "and treats clips and seeds as independent, so on clustered data it is a looser second view."]
    return "\n".join(lines) + "\n"


def _fmt(value: float) -> str:
    return "—" if value is None or np.isnan(value) else f"{value:.4f}"


__all__ = ["SEED_STRIDE", "Cell", "GridSpec", "parse_seeds", "read_cells", "summary_table", "summary_markdown",
           "variant_dir", "variant_name"]
