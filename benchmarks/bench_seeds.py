"""Seeds are folds too: S training seeds × 68 folds of STSTNet trained as batched (fold, seed) ensembles, against
ONE seed trained fold by fold, measured back to back in one run (target: S = 5 seeds in ≤ 2× the one-seed wall).

    .venv/bin/python benchmarks/bench_seeds.py [--data-root data/full] [--seeds 5] [--jobs 2] [--gather] [--compile [static|dynamic]]

Baseline: ``emhnet loso --model ststnet --jobs J --vectorize-folds 1`` (seed 0). Candidate: ``emhnet compare
--models ststnet --seeds 0-(S-1) --jobs J --vectorize-folds F``, whose seed-0 cell must equal the baseline's
predictions (compared). ``--gather`` times, in-process, one ensemble's training with batches gathered from the
shared data tensor against per-fold subsets (interleaved rounds); ``--compile`` times the ensemble with
``torch.compile`` (inductor, CPU) on its forward against eager (``static`` shapes; on the loaded 2-core
machine the ``dynamic``-shape compilation did not finish within 20 min, so ``make bench`` leaves it out). Writes ``results/seeds_as_folds.{md,json}``.
Timings on a shared machine move with other load: read the ratios, each measured within one run.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch

REPO = Path(__file__).resolve().parents[1]


def _timed(command: list[str]) -> float:
    env = dict(os.environ, EMHNET_PROGRESS="0")
    started = time.perf_counter()
    subprocess.run(command, cwd=REPO, check=True, env=env, stdout=subprocess.DEVNULL)
    return time.perf_counter() - started


def loso_runs(args: argparse.Namespace) -> dict:
    """Wall of one seed fold by fold, then of S seeds as (fold, seed) ensembles; agreement of seed 0."""
    import pandas as pd

    runs = Path(args.runs_dir)
    baseline, grid = runs / "one_seed_fold_by_fold", runs / f"{args.seeds}_seeds"
    for folder in (baseline, grid):
        shutil.rmtree(folder, ignore_errors=True)
    common = ["--data", str(args.data_root), "--synthme-scale", str(args.scale), "--preset", args.preset,
              "--jobs", str(args.jobs), "--threads", "1", "--device", "cpu"]
    if args.epochs is not None:
        common += ["--epochs", str(args.epochs)]
    base_wall = _timed([sys.executable, "-m", "emhnet_lite", "loso", "--model", "ststnet", "--out", str(baseline),
                        "--vectorize-folds", "1", *common])
    grid_wall = _timed([sys.executable, "-m", "emhnet_lite", "compare", "--models", "ststnet", "--seeds",
                        f"0-{args.seeds - 1}", "--out", str(grid), "--vectorize-folds", str(args.members), *common])
    seed0 = grid / "ststnet" / "synthme0_seed0"
    a, b = pd.read_csv(baseline / "predictions_last.csv"), pd.read_csv(seed0 / "predictions_last.csv")
    probs = [c for c in a.columns if c.startswith("prob_")]
    return {
        "one_seed_fold_by_fold_wall_s": round(base_wall, 1),
        "seeds": args.seeds,
        "epochs": args.epochs,  # None: the preset's
        "members_per_ensemble": args.members,
        "seeds_as_folds_wall_s": round(grid_wall, 1),
        "ratio_vs_one_seed": round(grid_wall / base_wall, 2),
        "per_seed_speedup": round(args.seeds * base_wall / grid_wall, 2),
        "seed0_predictions_differing": int((a["predicted"] != b["predicted"]).sum()),
        "seed0_max_abs_prob_diff": float((a[probs] - b[probs]).abs().to_numpy().max()),
        "n_samples": len(a),
    }


def _member_epoch_ms(args: argparse.Namespace, shared: bool, rounds: int = 1) -> float:
    """Milliseconds per (member × epoch) of ``args.members`` STSTNet members (5 seeds' first folds mixed)."""
    from emhnet_lite.teaching import load_teaching_set
    from emhnet_lite.train import LosoConfig, get_preset
    from emhnet_lite.train.plan import default_model_factory, plan_fold
    from emhnet_lite.train.vectorized.trainer import FoldJob, train_folds
    from emhnet_lite.utils import seed_everything

    data = load_teaching_set(args.data_root, scale=args.scale, difficulty=args.difficulty)
    train = get_preset(args.preset, epochs=2)
    plans = [plan_fold(data, m // 5, LosoConfig(model="ststnet", train=train, seed=(m % 5) * 1000))
             for m in range(args.members)]
    best = float("inf")
    for _ in range(rounds):
        models = []
        for plan in plans:
            seed_everything(plan.seed)
            models.append(default_model_factory("ststnet"))
        jobs = [FoldJob(seed=p.seed, train=p.train, eval_sets={"test": p.test},
                        source=data if shared else None, rows=torch.from_numpy(p.train_rows) if shared else None)
                for p in plans]
        started = time.perf_counter()
        train_folds(models, jobs, train, device=torch.device("cpu"))
        best = min(best, time.perf_counter() - started)
    return 1000 * best / (args.members * train.epochs)


def gather_ab(args: argparse.Namespace) -> dict:
    """Shared-tensor gather against per-fold subsets, interleaved, best of each."""
    times = {"per_fold_subsets": [], "shared_tensor": []}
    _member_epoch_ms(args, shared=True)  # warm-up
    for _ in range(args.rounds):
        times["per_fold_subsets"].append(_member_epoch_ms(args, shared=False))
        times["shared_tensor"].append(_member_epoch_ms(args, shared=True))
    best = {k: round(min(v), 1) for k, v in times.items()}
    return {"member_epoch_ms": best, "speedup": round(best["per_fold_subsets"] / best["shared_tensor"], 3),
            "rounds": args.rounds, "members": args.members}


def compile_ab(args: argparse.Namespace) -> dict:
    """Eager against ``torch.compile`` of the STSTNet ensemble's forward (inductor on CPU), after warm-up;
    ``--compile static`` compiles per input shape (a ragged last batch adds a few shapes), ``dynamic`` once."""
    from emhnet_lite.train.vectorized import ensemble

    eager = _member_epoch_ms(args, shared=True, rounds=2)
    forward = ensemble.STSTNetEnsemble.forward
    os.environ["TORCHINDUCTOR_CACHE_DIR"] = tempfile.mkdtemp(prefix="inductor_")  # a cold compile, timed
    started = time.perf_counter()
    try:
        ensemble.STSTNetEnsemble.forward = torch.compile(forward, dynamic=args.compile == "dynamic")
        _member_epoch_ms(args, shared=True)  # compilation
        warm_s = time.perf_counter() - started
        compiled = _member_epoch_ms(args, shared=True, rounds=2)
    finally:
        ensemble.STSTNetEnsemble.forward = forward
    return {"member_epoch_ms": {"eager": round(eager, 1), "compiled": round(compiled, 1)}, "members": args.members,
            "speedup": round(eager / compiled, 3), "first_run_with_compilation_s": round(warm_s, 1),
            "compiler": shutil.which("g++") or "none", "mode": args.compile,
            "difficulty": args.difficulty}


def markdown(report: dict) -> str:
    lines = ["# Seeds are folds too: STSTNet, S training seeds as batched (fold, seed) ensembles",
             "", f"Generated by `benchmarks/bench_seeds.py` on {os.cpu_count()} CPU cores (shared with other "
             f"jobs), torch {torch.__version__}, SynthME full scale (synthetic), preset `{report['preset']}`, "
             f"`--jobs {report['jobs']}` processes × 1 thread. Baseline and candidate ran back to back."
             + (f" **Reduced budget: {report['loso']['epochs']} epochs per fold instead of the preset's.**"
                if report.get("loso", {}).get("epochs") else ""), ""]
    if "loso" in report:
        r = report["loso"]
        lines += ["| run | wall (s) |", "|---|---|",
                  f"| 1 seed, fold by fold (`emhnet loso --vectorize-folds 1`) | {r['one_seed_fold_by_fold_wall_s']} |",
                  f"| {r['seeds']} seeds, {r['members_per_ensemble']} (fold, seed) members per ensemble "
                  f"(`emhnet compare`) | {r['seeds_as_folds_wall_s']} |", "",
                  f"Ratio: {r['ratio_vs_one_seed']}× the one-seed wall for {r['seeds']} seeds (target ≤ 2×); "
                  f"{r['per_seed_speedup']}× per seed. Seed 0 of the grid against the fold-by-fold run: "
                  f"{r['seed0_predictions_differing']} of {r['n_samples']} predictions differ, max |Δprob| "
                  f"{r['seed0_max_abs_prob_diff']:.2g}.", ""]
    if "gather" in report:
        g = report["gather"]
        lines += [f"Batch gathering ({g['members']} members, in-process, best of {g['rounds']}): per-fold "
                  f"subsets {g['member_epoch_ms']['per_fold_subsets']} ms vs one shared tensor "
                  f"{g['member_epoch_ms']['shared_tensor']} ms per member-epoch ({g['speedup']}×).", ""]
    for key in ("compile_static", "compile_dynamic"):
        if key not in report:
            continue
        c = report[key]
        lines += [f"`torch.compile` ({c['mode']} shapes, inductor, C++ compiler {c['compiler']}) of "
                  f"the ensemble forward ({c['members']} members, best of 2, SynthME `{c['difficulty']}`): eager "
                  f"{c['member_epoch_ms']['eager']} ms vs compiled {c['member_epoch_ms']['compiled']} ms per "
                  f"member-epoch ({c['speedup']}×); the first run with compilation took "
                  f"{c['first_run_with_compilation_s']} s (empty inductor cache).", ""]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data-root", default=str(REPO / "data" / "full"))
    parser.add_argument("--scale", type=float, default=1.0)
    parser.add_argument("--runs-dir", default=str(REPO / "runs" / "bench_seeds"))
    parser.add_argument("--results-dir", default=str(REPO / "results"))
    parser.add_argument("--preset", default="tiny")
    parser.add_argument("--epochs", type=int, default=None, help="override the preset's epochs (a reduced budget)")
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--members", type=int, default=8, help="(fold, seed) members per ensemble")
    parser.add_argument("--rounds", type=int, default=2, help="interleaved rounds of the in-process A/B timings")
    parser.add_argument("--skip-loso", action="store_true")
    parser.add_argument("--gather", action="store_true", help="A/B: shared-tensor gather vs per-fold subsets")
    parser.add_argument("--compile", nargs="?", const="static", choices=["static", "dynamic"], default=None,
                        help="A/B: torch.compile of the ensemble forward (static or dynamic shapes)")
    parser.add_argument("--difficulty", default="easy", help="SynthME level of the data (easy: the stored table)")
    args = parser.parse_args(argv)
    from emhnet_lite.teaching import load_teaching_set
    from emhnet_lite.utils import keep_freed_memory, write_json_atomic, write_text_atomic

    torch.set_num_threads(1)
    keep_freed_memory()
    load_teaching_set(args.data_root, scale=args.scale, difficulty=args.difficulty)  # once, outside the timings
    path = Path(args.results_dir) / "seeds_as_folds.json"
    report = json.loads(path.read_text()) if path.exists() else {}
    report.update(preset=args.preset, jobs=args.jobs)
    if not args.skip_loso:
        report["loso"] = loso_runs(args)
        write_json_atomic(path, report)
    if args.gather:
        report["gather"] = gather_ab(args)
        write_json_atomic(path, report)
    if args.compile:
        report[f"compile_{args.compile}"] = compile_ab(args)
        write_json_atomic(path, report)
    text = markdown(report)
    write_text_atomic(Path(args.results_dir) / "seeds_as_folds.md", text)
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
