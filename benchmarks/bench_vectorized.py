"""Fold-by-fold vs fold-vectorized LOSO on the full 68-fold SynthME composite, both in one run.

    .venv/bin/python benchmarks/bench_vectorized.py [--models ststnet emhnet_tiny] [--folds-at-once 8]
        [--jobs 2] [--sweep] [--profile]

For every model: `emhnet loso` fold by fold and with `--vectorize-folds F` (same seeds, `--jobs` processes
of one torch thread each, cached data), then how far the two runs' predictions are apart and their
metrics. ``--sweep`` times one training epoch per fold for several ensemble sizes F in-process;
``--profile`` attributes a vectorized chunk's time to kernel families with torch.profiler and reports the
achieved GFLOP/s. Writes ``results/vectorized_loso.{md,json}``. Timings on a shared machine move with other
load: read the ratios, which come from one run.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import torch

REPO = Path(__file__).resolve().parents[1]


def loso_command(args: argparse.Namespace, model: str, out: Path, folds_at_once: int) -> list[str]:
    """The `emhnet loso` command line of one timed run."""
    return [sys.executable, "-m", "emhnet_lite", "loso", "--data", str(args.data_root), "--synthme-scale",
            str(args.scale), "--model", model, "--preset", args.preset, "--out", str(out), "--jobs",
            str(args.jobs), "--threads", "1", "--device", "cpu", "--vectorize-folds", str(folds_at_once)]


def timed_run(args: argparse.Namespace, model: str, folds_at_once: int) -> dict:
    """Run one full LOSO into a fresh folder; wall time of the command and of the training itself."""
    out = Path(args.runs_dir) / f"{model}_F{folds_at_once}"
    shutil.rmtree(out, ignore_errors=True)
    env = dict(os.environ, EMHNET_PROGRESS="0")
    started = time.perf_counter()
    subprocess.run(loso_command(args, model, out, folds_at_once), cwd=REPO, check=True, env=env)
    wall = time.perf_counter() - started
    manifest = json.loads((out / "manifest.json").read_text())
    training = sum(manifest["fold_wall_time_s"]) / args.jobs  # per process: the folds' own time
    return {"run_dir": os.path.relpath(out, REPO), "folds_at_once": folds_at_once, "wall_time_s": round(wall, 2),
            "training_time_s": round(training, 2), "n_folds": manifest["n_folds"]}


def compare_runs(first: Path, second: Path) -> dict:
    """How far two runs' predictions are apart, and their metrics side by side."""
    report = {}
    for selection in ("last", "oracle"):
        a = pd.read_csv(first / f"predictions_{selection}.csv")
        b = pd.read_csv(second / f"predictions_{selection}.csv")
        probs = [c for c in a.columns if c.startswith("prob")]
        report[selection] = {
            "n_samples": len(a),
            "predictions_differing": int((a["predicted"] != b["predicted"]).sum()),
            "max_abs_prob_diff": float((a[probs] - b[probs]).abs().to_numpy().max()),
        }
    metrics = []
    for run, name in ((first, "fold-by-fold"), (second, "vectorized")):
        table = pd.read_csv(run / "metrics.csv")
        metrics.append(table[table["subset"] == "composite"][["selection", "uf1", "uar"]].assign(run=name))
    report["metrics"] = pd.concat(metrics).to_dict(orient="records")
    return report


def sweep(args: argparse.Namespace, model: str, sizes: list[int]) -> list[dict]:
    """Seconds per fold per training epoch for ensembles of F folds (1 thread, in-process, 2nd epoch);
    F = 1 is the fold-by-fold trainer itself (``train_model``), not an ensemble of one."""
    from emhnet_lite.teaching import load_teaching_set
    from emhnet_lite.train import LosoConfig, get_preset
    from emhnet_lite.train.plan import default_model_factory, plan_fold
    from emhnet_lite.train.trainer import train_model
    from emhnet_lite.train.vectorized.trainer import FoldJob, train_folds
    from emhnet_lite.utils import keep_freed_memory, seed_everything

    torch.set_num_threads(1)
    keep_freed_memory()  # as `emhnet loso` does for both modes
    data = load_teaching_set(args.data_root, scale=args.scale)
    config = LosoConfig(model=model, train=get_preset(args.preset, epochs=2))
    rows = []
    for size in sizes:
        plans = [plan_fold(data, fold, config) for fold in range(size)]
        models = []
        for plan in plans:
            seed_everything(plan.seed)
            models.append(default_model_factory(model))
        stamps: list[float] = []
        started = time.perf_counter()
        if size == 1:
            train_model(models[0], plans[0].train, config.train, seed=plans[0].seed, device=torch.device("cpu"),
                        eval_sets={"test": plans[0].test},
                        on_epoch=lambda record, model, stamps=stamps: stamps.append(time.perf_counter()))
        else:
            jobs = [FoldJob(seed=p.seed, train=p.train, eval_sets={"test": p.test}) for p in plans]
            jobs[0].on_epoch = lambda record, weights, stamps=stamps: stamps.append(time.perf_counter())
            train_folds(models, jobs, config.train, device=torch.device("cpu"))
        epoch_s = stamps[1] - stamps[0]  # the second epoch: no first-call costs
        rows.append({"model": model, "folds_at_once": size, "epoch_s": round(epoch_s, 3),
                     "per_fold_epoch_s": round(epoch_s / size, 4), "total_s": round(time.perf_counter() - started, 2)})
        print(json.dumps(rows[-1]), flush=True)
    return rows


def profile_chunk(args: argparse.Namespace, model: str, size: int) -> dict:
    """torch.profiler over 2 epochs of F folds (F = 1: ``train_model``): share of each phase of a step, the
    kernels with the most own time, achieved GFLOP/s, activation size."""
    from torch.profiler import ProfilerActivity, profile

    from emhnet_lite.model.flops import count_flops
    from emhnet_lite.teaching import load_teaching_set
    from emhnet_lite.train import LosoConfig, get_preset
    from emhnet_lite.train.plan import default_model_factory, plan_fold
    from emhnet_lite.train.trainer import train_model
    from emhnet_lite.train.vectorized.trainer import FoldJob, train_folds
    from emhnet_lite.utils import keep_freed_memory, seed_everything

    torch.set_num_threads(1)
    keep_freed_memory()
    data = load_teaching_set(args.data_root, scale=args.scale)
    config = LosoConfig(model=model, train=get_preset(args.preset, epochs=2))
    plans = [plan_fold(data, fold, config) for fold in range(size)]

    def run() -> float:
        models = []
        for plan in plans:
            seed_everything(plan.seed)
            models.append(default_model_factory(model))
        started = time.perf_counter()
        if size == 1:  # the fold-by-fold trainer itself
            train_model(models[0], plans[0].train, config.train, seed=plans[0].seed, device=torch.device("cpu"),
                        eval_sets={"test": plans[0].test})
        else:
            jobs = [FoldJob(seed=p.seed, train=p.train, eval_sets={"test": p.test}) for p in plans]
            train_folds(models, jobs, config.train, device=torch.device("cpu"))
        return time.perf_counter() - started

    run()  # warm-up
    with profile(activities=[ProfilerActivity.CPU]) as prof:
        wall = run()
    events = prof.key_averages()
    # phases of a training step: record_function scopes in train_folds (total time, children included)
    phases = {e.key.removeprefix("folds: "): e.cpu_time_total / 1e6 for e in events if e.key.startswith("folds: ")}
    phases["rest (epoch bookkeeping, callbacks, setup)"] = max(wall - sum(phases.values()), 0.0)
    # kernels by own time, autograd nodes included (their backward kernels are their children)
    kernels = sorted(((e.key, e.self_cpu_time_total / 1e6) for e in events
                      if e.key.startswith(("aten::", "torchvision::")) or "Backward" in e.key),
                     key=lambda kv: -kv[1])[:10]
    flops_per_sample = count_flops(default_model_factory(model))
    samples = sum(len(p.train) for p in plans) * config.train.epochs
    batch = config.train.batch_size
    activation_mb = size * batch * 16 * data.flows.shape[-1] ** 2 * 4 / 1e6 if model == "ststnet" else None
    if size == 1:
        phases = {}
    return {
        "model": model, "folds_at_once": size, "epochs": config.train.epochs, "wall_s": round(wall, 3),
        "phases": {k: round(v / wall, 3) for k, v in sorted(phases.items(), key=lambda kv: -kv[1])},
        "top_kernels": {k: round(v / wall, 3) for k, v in kernels},
        # forward + backward ≈ 3 × forward FLOPs (matmuls and convs only, as model/flops.py counts them)
        "achieved_gflops": round(3 * flops_per_sample * samples / wall / 1e9, 2),
        "largest_activation_mb": None if activation_mb is None else round(activation_mb, 1),
    }


def markdown(report: dict) -> str:
    """The report as a markdown page."""
    lines = ["# Fold-by-fold vs fold-vectorized LOSO (SynthME full scale, 68 folds, synthetic data)", "",
             f"Generated by `benchmarks/bench_vectorized.py` on {os.cpu_count()} CPU cores, torch "
             f"{torch.__version__}, `--jobs {report['jobs']}` processes × 1 torch thread, preset "
             f"`{report['preset']}`, data cached before timing. Wall = the whole `emhnet loso` command "
             "(process start, data loading, training, writing, merge); training = the folds' own time per "
             "process. Both modes of a model ran back to back in one run.", "",
             "| model | mode | folds at once | wall (s) | training (s) | wall speed-up | training speed-up |",
             "|---|---|---|---|---|---|---|"]
    ordered = sorted(report["runs"].items(), key=lambda item: item[0] != "ststnet")  # ststnet first
    for model, runs in ordered:
        base = runs["fold-by-fold"]
        for mode, run in runs.items():
            if mode == "comparison":
                continue
            lines.append(f"| {model} | {mode} | {run['folds_at_once']} | {run['wall_time_s']} | "
                         f"{run['training_time_s']} | {base['wall_time_s'] / run['wall_time_s']:.2f}× | "
                         f"{base['training_time_s'] / run['training_time_s']:.2f}× |")
    lines += ["", "Agreement of the two runs (same seeds):", "",
              "| model | selection | predictions differing | max abs prob diff | UF1 fold-by-fold | UF1 vectorized "
              "| UAR fold-by-fold | UAR vectorized |", "|---|---|---|---|---|---|---|---|"]
    for model, runs in ordered:
        comparison = runs["comparison"]
        metrics = pd.DataFrame(comparison["metrics"])
        for selection in ("last", "oracle"):
            rows = metrics[metrics["selection"] == selection].set_index("run")
            lines.append(
                f"| {model} | {selection} | {comparison[selection]['predictions_differing']} / "
                f"{comparison[selection]['n_samples']} | {comparison[selection]['max_abs_prob_diff']:.2g} | "
                f"{rows.loc['fold-by-fold', 'uf1']:.4f} | {rows.loc['vectorized', 'uf1']:.4f} | "
                f"{rows.loc['fold-by-fold', 'uar']:.4f} | {rows.loc['vectorized', 'uar']:.4f} |")
    if report.get("sweep"):
        lines += ["", "Ensemble size (in-process, 1 thread, second training epoch, first F folds):", "",
                  "| model | folds at once | epoch (s) | per fold-epoch (s) |", "|---|---|---|---|"]
        for row in report["sweep"]:
            lines.append(f"| {row['model']} | {row['folds_at_once']} | {row['epoch_s']} | {row['per_fold_epoch_s']} |")
    for prof in report.get("profiles", []):
        mode = "fold by fold" if prof["folds_at_once"] == 1 else f"{prof['folds_at_once']} folds at once"
        lines += ["", f"Profile (torch.profiler): {prof['model']}, {mode}, "
                  f"{prof['epochs']} epochs, {prof['wall_s']} s under the profiler; achieved "
                  f"{prof['achieved_gflops']} GFLOP/s (matmul/conv FLOPs × 3)"
                  + (f"; one 16-channel activation of the ensemble = {prof['largest_activation_mb']} MB"
                     if prof["largest_activation_mb"] else ""), "",
                  ]
        if prof["folds_at_once"] > 1:  # train_folds marks its phases; train_model does not
            lines += ["| phase of a step | share of wall |", "|---|---|"]
            lines += [f"| {phase} | {share:.1%} |" for phase, share in prof["phases"].items()] + [""]
        lines += ["| kernel or autograd node (own time) | share of wall |", "|---|---|"]
        lines += [f"| `{kernel}` | {share:.1%} |" for kernel, share in prof["top_kernels"].items()]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data-root", default=str(REPO / "data" / "full"))
    parser.add_argument("--scale", type=float, default=1.0)
    parser.add_argument("--runs-dir", default=str(REPO / "runs" / "bench_vectorized"))
    parser.add_argument("--results-dir", default=str(REPO / "results"))
    parser.add_argument("--preset", default="tiny")
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--models", nargs="+", default=["ststnet", "emhnet_tiny"])
    parser.add_argument("--folds-at-once", type=int, default=8, help="F for the vectorized runs")
    parser.add_argument("--sweep", nargs="*", type=int, default=None, metavar="F",
                        help="time these ensemble sizes (default 1 2 4 8 16 34; 1 = fold by fold)")
    parser.add_argument("--profile", action="store_true", help="profile one vectorized chunk per model")
    parser.add_argument("--skip-loso", action="store_true", help="only --sweep / --profile")
    args = parser.parse_args(argv)
    from emhnet_lite.teaching import load_teaching_set
    from emhnet_lite.utils import write_json_atomic, write_text_atomic

    load_teaching_set(args.data_root, scale=args.scale)  # generate/prepare once, outside the timings
    results = Path(args.results_dir)
    path = results / "vectorized_loso.json"
    report = json.loads(path.read_text()) if path.exists() else {}
    report.update(jobs=args.jobs, preset=args.preset)
    report.setdefault("runs", {})
    if not args.skip_loso:
        for model in args.models:
            runs = {"fold-by-fold": timed_run(args, model, 1), "vectorized": timed_run(args, model, args.folds_at_once)}
            runs["comparison"] = compare_runs(REPO / runs["fold-by-fold"]["run_dir"], REPO / runs["vectorized"]["run_dir"])
            report["runs"][model] = runs
            print(json.dumps(runs, indent=1), flush=True)
            write_json_atomic(path, report)
    if args.sweep is not None:
        sizes = args.sweep or [1, 2, 4, 8, 16, 34]
        report["sweep"] = [row for model in args.models for row in sweep(args, model, sizes)]
        write_json_atomic(path, report)
    if args.profile:
        report["profiles"] = [profile_chunk(args, model, size) for model in args.models
                              for size in (1, args.folds_at_once)]
        write_json_atomic(path, report)
    text = markdown(report)
    write_text_atomic(results / "vectorized_loso.md", text)
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
