"""Wall of the two evidence grids, each in one `emhnet compare` run, against a fold-by-fold baseline measured in
the same run (issue targets on this 2-core machine: comparison ≤ 30 min, ablation ≤ 60 min).

    .venv/bin/python benchmarks/bench_grids.py --grid comparison [--data-root data/bench] [--jobs 2] [--sample 4]
    .venv/bin/python benchmarks/bench_grids.py --grid ablation ...
    .venv/bin/python benchmarks/bench_grids.py --report-only          # rewrite the markdown from the JSON

Grids (the shipped tables' grids: SynthME `real`, scale 1.0, SynthME seed 0, each model's default schedule,
leak-free `last`): ``comparison`` = STSTNet, HTNet-reduced, EMHNet-tiny × training seeds 0-4; ``ablation`` =
EMHNet-tiny × full + 6 ablations × seeds 0-2. The grid runs with ``--vectorize-folds auto`` ((fold, seed) members
batched per model).

Baseline, measured first in the same run: training seed 0 of every variant, fold by fold (``--vectorize-folds 1``),
on every ``sample``-th pair of folds (``jobs`` shard processes side by side, each ``--shard k/(sample·jobs)``,
so the baseline uses the cores as the grid does). Its full-grid wall is extrapolated as
``(wall - startup) · 68 / folds_run · seeds + startup``, with ``startup`` (imports + loading the prepared data in
one process) measured in the same run; folds differ a little in size, so this is an estimate, labelled so.
Predictions of the grid's cells are compared with an earlier grid (``--against``) when given: same code and seed
→ identical predictions, except where the ensemble size changed (float rounding).

Writes ``results/grid_walls.{json,md}`` (one key per grid). Timings move with other load: run it on an idle
machine and read the ratios, each measured within one run.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
GRIDS = {
    "comparison": {"models": "ststnet,htnet_reduced,emhnet_tiny", "ablations": "full", "seeds": 5,
                   "target_min": 30},
    "ablation": {"models": "emhnet_tiny",
                 "ablations": "full,no_router,no_cross_scale,no_region_gate,no_global,single_scale,no_regions",
                 "seeds": 3, "target_min": 60},
}


def _env() -> dict[str, str]:
    return dict(os.environ, EMHNET_PROGRESS="0", OMP_NUM_THREADS="1")


def _compare(args: argparse.Namespace, grid: dict, out: Path, *extra: str) -> list[str]:
    budget = ["--epochs", str(args.epochs)] if args.epochs else []
    return [sys.executable, "-m", "emhnet_lite", "compare", "--data", str(args.data_root), "--synthme-scale",
            str(args.scale), "--synthme-seeds", "0", "--difficulty", "real", "--models", grid["models"],
            "--ablations", grid["ablations"], "--device", "cpu", "--threads", "1", "--out", str(out), *budget, *extra]


def startup_s(args: argparse.Namespace) -> float:
    """Seconds one process spends importing the kit and loading the prepared SynthME (no training)."""
    code = ("from emhnet_lite.teaching import load_teaching_set; "
            f"load_teaching_set({str(args.data_root)!r}, scale={args.scale}, seed=0, difficulty='real')")
    started = time.perf_counter()
    subprocess.run([sys.executable, "-c", code], cwd=REPO, check=True, env=_env(), stdout=subprocess.DEVNULL)
    return time.perf_counter() - started


def baseline(args: argparse.Namespace, grid: dict, out: Path) -> dict:
    """Seed 0 of every variant fold by fold on a fold sample, ``jobs`` shard processes side by side."""
    shards = args.sample * args.jobs
    commands = [_compare(args, grid, out, "--seeds", "0", "--vectorize-folds", "1", "--no-merge",
                         "--shard", f"{k}/{shards}") for k in range(1, args.jobs + 1)]
    started = time.perf_counter()
    children = [subprocess.Popen(c, cwd=REPO, env=_env(), stdout=subprocess.DEVNULL) for c in commands]
    if any(child.wait() for child in children):
        raise SystemExit("baseline shard failed")
    wall = time.perf_counter() - started
    return {"wall_s": round(wall, 1), "folds_run": folds_per_cell(out), "shards": shards}


def folds_per_cell(grid_dir: Path) -> int:
    """Folds one cell of a grid folder ran (every cell runs the same folds)."""
    return len(list(next(grid_dir.glob("*/*/folds")).iterdir()))


def grid_run(args: argparse.Namespace, grid: dict, out: Path) -> float:
    """The whole grid in one `emhnet compare` (vectorized, ``jobs`` processes, merge and summary included)."""
    started = time.perf_counter()
    subprocess.run(_compare(args, grid, out, "--seeds", f"0-{grid['seeds'] - 1}", "--jobs", str(args.jobs),
                            "--vectorize-folds", "auto"), cwd=REPO, check=True, env=_env(),
                   stdout=subprocess.DEVNULL)
    return time.perf_counter() - started


def agreement(out: Path, against: Path) -> list[dict]:
    """Per cell: predictions that differ from the same cell of an earlier grid, and the largest |Δprob|."""
    import pandas as pd

    rows = []
    for path in sorted(out.glob("*/*/predictions_last.csv")):
        cell = path.parent.relative_to(out)
        other = against / cell / "predictions_last.csv"
        if not other.exists():
            continue
        keys = ["dataset", "subject", "clip"]
        a, b = (pd.read_csv(p).set_index(keys).sort_index() for p in (path, other))
        if not a.index.equals(b.index):
            raise SystemExit(f"--against {against}: cell {cell} holds other samples (another data set?)")
        probs = [c for c in a.columns if c.startswith("prob_")]
        rows.append({"cell": cell.as_posix(), "predictions_differing": int((a["predicted"] != b["predicted"]).sum()),
                     "n": len(a), "max_abs_prob_diff": float((a[probs] - b[probs]).abs().to_numpy().max())})
    return rows


def variant_walls(grid_dir: Path) -> list[tuple[str, float]]:
    """Seconds each variant took inside the grid (variants run one after another): from the grid's start
    (``grid.json`` written) to the last ``finished_utc`` stamp of its folds' ``fold.json``, minus the previous;
    (variant, seconds) in the order the grid ran them (a list: JSON keeps its order)."""
    import datetime as dt

    spec = json.loads((grid_dir / "grid.json").read_text())
    previous = (grid_dir / "grid.json").stat().st_mtime
    walls = []
    for variant in dict.fromkeys(cell["variant"] for cell in spec["cells"]):
        run_dirs = [grid_dir / c["run_dir"] for c in spec["cells"] if c["variant"] == variant]
        stamps = [dt.datetime.strptime(json.loads(f.read_text())["finished_utc"], "%Y-%m-%dT%H:%M:%SZ")
                  .replace(tzinfo=dt.UTC).timestamp()
                  for d in run_dirs for f in (d / "folds").glob("*/fold.json")]
        walls.append((variant, round(max(stamps) - previous, 1)))
        previous = max(stamps)
    return walls


def measure(args: argparse.Namespace) -> dict:
    """Startup, baseline and grid of ``args.grid``, back to back; UF1 of the grid's variants from its summary."""
    import pandas as pd

    grid = GRIDS[args.grid]
    root = Path(args.runs_dir) / args.grid
    base_dir, grid_dir = root / "baseline_fold_by_fold", root / "grid"
    for folder in (base_dir, grid_dir):
        shutil.rmtree(folder, ignore_errors=True)
    started_utc, load_before = time.strftime("%Y-%m-%d %H:%M", time.gmtime()), os.getloadavg()[0]
    startup_s(args)  # generates / prepares the data if needed, warms the file cache
    start_s = startup_s(args)
    base = baseline(args, grid, base_dir)
    grid_wall = grid_run(args, grid, grid_dir)
    scale = folds_per_cell(grid_dir) / base["folds_run"]
    one_seed = (base["wall_s"] - start_s) * scale + start_s
    full = (base["wall_s"] - start_s) * scale * grid["seeds"] + start_s
    summary = pd.read_csv(grid_dir / "summary.csv")
    report = {
        "grid": args.grid, "models": grid["models"], "ablations": grid["ablations"], "seeds": grid["seeds"],
        "scale": args.scale, "epochs": args.epochs, "jobs": args.jobs, "cpu_count": os.cpu_count(), "load_before": round(load_before, 2),
        "started_utc": started_utc, "finished_utc": time.strftime("%Y-%m-%d %H:%M", time.gmtime()),
        "startup_s": round(start_s, 1), "baseline": base,
        "baseline_one_seed_estimate_s": round(one_seed, 1), "baseline_grid_estimate_s": round(full, 1),
        "grid_wall_s": round(grid_wall, 1), "target_s": grid["target_min"] * 60,
        "speedup_vs_fold_by_fold": round(full / grid_wall, 2),
        "variant_walls_s": variant_walls(grid_dir),
        "uf1": {row["variant"]: round(float(row["uf1_mean"]), 4) for _, row in summary.iterrows()},
    }
    if args.against:
        report["agreement_with"] = str(args.against)
        report["agreement"] = agreement(grid_dir, Path(args.against))
    return report


def markdown(reports: dict) -> str:
    lines = ["# Evidence grids: wall of one `emhnet compare` run against a fold-by-fold baseline", "",
             f"Generated by `benchmarks/bench_grids.py` on {os.cpu_count()} CPU cores; each grid's baseline and grid "
             "ran back to back in one invocation. Data: SynthME `real` (synthetic), SynthME seed 0, the composite "
             "LOSO (68 folds at scale 1.0), each model's default (tuned) schedule, leak-free `last`; grid: `emhnet "
             "compare ... --jobs 2 --vectorize-folds auto` (the shipped tables' grids). The fold-by-fold "
             "baseline is **estimated** from training seed 0 of every variant on a sample of folds (see the "
             "script's docstring), not run in full.", "",
             "| grid (UTC) | cells | load (1 min) | startup (s) | baseline: folds run, wall (s) | baseline, one seed (est., min) "
             "| baseline, whole grid (est., min) | grid wall (min) | target | speed-up |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    for name, r in reports.items():
        cells = len(r["uf1"]) * r["seeds"]
        met = "met" if r["grid_wall_s"] <= r["target_s"] else "**missed**"
        if r.get("scale", 1.0) != 1.0 or r.get("epochs"):
            met = f"n/a (reduced: scale {r.get('scale')}, epochs {r.get('epochs') or 'default'})"
        when = (f"{r['started_utc']}–{r['finished_utc'][-5:]}" if "finished_utc" in r
                else f"finished {r['finished_at']}")
        load = f"{r['load_before']} before" if "load_before" in r else f"{r['load_at_end']} at the end"
        lines.append(f"| {name} ({when}) | {cells} | {load} | {r['startup_s']} | "
                     f"{r['baseline']['folds_run']} of 68, {r['baseline']['wall_s']} | "
                     f"{r['baseline_one_seed_estimate_s'] / 60:.1f} | {r['baseline_grid_estimate_s'] / 60:.1f} | "
                     f"{r['grid_wall_s'] / 60:.1f} | ≤ {r['target_s'] // 60} min: {met} | "
                     f"{r['speedup_vs_fold_by_fold']}× |")
    for name, r in reports.items():
        lines += ["", f"**{name}** — UF1 (mean over seeds) from the grid's summary: "
                  + ", ".join(f"{v} {u}" for v, u in r["uf1"].items()) + "."]
        if r.get("variant_walls_s"):
            lines.append("Minutes per variant inside the grid (from the grid's start to each variant's last fold "
                         "finish stamp; merging and the summary take the rest of the wall): " + ", ".join(f"{v} {w / 60:.1f}" for v, w in r["variant_walls_s"])
                         + ".")
        if r.get("agreement"):
            rows = r["agreement"]
            differing = sum(a["predictions_differing"] for a in rows)
            worst = max(a["max_abs_prob_diff"] for a in rows)
            by_model: Counter[str] = Counter()
            for a in rows:
                by_model[a["cell"].split("/")[0]] += a["predictions_differing"]
            lines.append(f"Against `{r['agreement_with']}` ({len(rows)} cells): {differing} of "
                         f"{sum(a['n'] for a in rows)} predictions differ (per variant: "
                         + ", ".join(f"{k} {v}" for k, v in by_model.items()) + f"), max |Δprob| {worst:.2g}.")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--grid", choices=sorted(GRIDS))
    parser.add_argument("--data-root", default=str(REPO / "data" / "bench"))
    parser.add_argument("--runs-dir", default=str(REPO / "runs" / "bench_grids"))
    parser.add_argument("--results-dir", default=str(REPO / "results"))
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--scale", type=float, default=1.0, help="SynthME scale (smaller: a smoke test, labelled)")
    parser.add_argument("--epochs", type=int, default=None, help="override every schedule's epochs (labelled)")
    parser.add_argument("--sample", type=int, default=4, help="baseline runs every SAMPLE-th pair of folds")
    parser.add_argument("--against", default=None, help="an earlier grid folder of the same grid to compare with")
    parser.add_argument("--report-only", action="store_true")
    args = parser.parse_args(argv)
    from emhnet_lite.utils import write_json_atomic, write_text_atomic

    path = Path(args.results_dir) / "grid_walls.json"
    reports = json.loads(path.read_text()) if path.exists() else {}
    if not args.report_only:
        if args.grid is None:
            parser.error("--grid is required (or --report-only)")
        reports[args.grid] = measure(args)
    write_json_atomic(path, reports)
    text = markdown(reports)
    write_text_atomic(Path(args.results_dir) / "grid_walls.md", text)
    print(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
