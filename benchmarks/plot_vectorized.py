"""Draw results/vectorized_loso.png from results/vectorized_loso.json (written by bench_vectorized.py).

    .venv/bin/python benchmarks/plot_vectorized.py [--json results/vectorized_loso.json] [--out results/vectorized_loso.png]

Left: wall time of the full 68-fold LOSO fold by fold and vectorized, per model, with the speed-up; right: the
speed-up per fold-epoch against the ensemble size F. The numbers are the saved measurement; nothing is re-timed.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from emhnet_lite.figures.explore import save_png

REPO = Path(__file__).resolve().parents[1]


def vectorized_figure(benchmark: dict) -> Figure:
    """Wall times of both modes per model (speed-up written on the bars) and the ensemble-size sweep."""
    fig = Figure(figsize=(11, 4.2), layout="constrained")
    ax_wall, ax_size = fig.subplots(1, 2, gridspec_kw={"width_ratios": [1, 1.2]})
    names = sorted(benchmark["runs"], key=lambda name: name != "ststnet")  # the smallest model first
    for offset, (mode, colour) in zip((-0.2, 0.2), [("fold-by-fold", "tab:gray"), ("vectorized", "tab:green")],
                                      strict=True):
        walls = [benchmark["runs"][name][mode]["wall_time_s"] for name in names]
        label = mode if mode == "fold-by-fold" else f"{benchmark['runs'][names[0]][mode]['folds_at_once']} folds at once"
        bars = ax_wall.bar(np.arange(len(names)) + offset, walls, 0.4, color=colour, label=label)
        ax_wall.bar_label(bars, fmt="%.0f s", fontsize=9)
    for i, name in enumerate(names):
        runs = benchmark["runs"][name]
        speedup = runs["fold-by-fold"]["wall_time_s"] / runs["vectorized"]["wall_time_s"]
        ax_wall.text(i, 0, f"{speedup:.1f}x", ha="center", va="bottom", fontsize=11, color="white", weight="bold")
    ax_wall.set_xticks(range(len(names)), names)
    ax_wall.set_ylabel("full 68-fold LOSO, wall time (s)")
    ax_wall.set_title(f"emhnet loso --jobs {benchmark['jobs']}, preset {benchmark['preset']}", fontsize=11)
    ax_wall.legend(fontsize=9)
    sweep = pd.DataFrame(benchmark["sweep"])
    for name, rows in sweep.groupby("model", sort=False):
        base = rows.loc[rows["folds_at_once"] == 1, "per_fold_epoch_s"].iat[0]
        ax_size.plot(rows["folds_at_once"], base / rows["per_fold_epoch_s"], marker="o", label=name)
    ax_size.axhline(1, color="black", lw=0.8)
    ax_size.set_xscale("log", base=2)
    ax_size.set_xlabel("folds trained at once (F)")
    ax_size.set_ylabel("speed-up per fold-epoch vs fold by fold")
    ax_size.set_title("one process, one thread, second epoch", fontsize=11)
    ax_size.legend(fontsize=9)
    fig.suptitle("Fold-vectorized LOSO on full-scale SynthME (measured, results/vectorized_loso.json)", fontsize=12)
    return fig


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--json", type=Path, default=REPO / "results" / "vectorized_loso.json")
    parser.add_argument("--out", type=Path, default=REPO / "results" / "vectorized_loso.png")
    args = parser.parse_args(argv)
    print(save_png(vectorized_figure(json.loads(args.json.read_text())), args.out))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
