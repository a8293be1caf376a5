"""GPU check (issue 17): what the kit's GPU paths cost on one GPU and whether they give the CPU's answers.

    python benchmarks/gpu_check.py [--device cuda] [--out OUT] [--budget-s 300]    # run by gpu_check.sh

Its data and yardstick come from benchmarks/gpu_reference.py (``prepare``: the full-scale SynthME cache;
``write``: the committed CPU reference predictions of the same settings).

It runs, in this order and inside ``--budget-s`` seconds: EMHNet-tiny and STSTNet full LOSO with
``--vectorize-folds F`` at the largest F that fits (F halves after an out-of-memory error); the paper-preset
EMHNet and full-size HTNet on fold 0, two short probes (steady seconds per epoch from their difference) and
then the whole schedule when it fits (one full fold, projected 68-fold LOSO); then both small models fold by
fold (cut at the budget, then merged partially and projected from the folds that finished). Every run's
predictions are compared with the CPU reference (``--reference``, ``gpu_reference.agreement``). Results:
``OUT/gpu_check.json`` (written after every step, so a run stopped by its time limit keeps what it
measured) and ``OUT/runs.tar.gz`` (each run's tables, no checkpoints); ``benchmarks/gpu_report.py``
renders the JSON as ``results/gpu.md``.

Only public entry points are used: every run is ``python -m emhnet_lite loso`` / ``merge`` (the command line
in a child process that also records its peak memory), and run folders are read as docs/run_folder.md states.
"""

from __future__ import annotations

import argparse
import os
import platform
import resource
import shutil
import signal
import subprocess
import sys
import tarfile
import threading
import time
from pathlib import Path

import pandas as pd
from gpu_reference import DEFAULT_REFERENCE, add_run_arguments, agreement, loso_argv, read_json

REPO = Path(__file__).resolve().parents[1]
PAPER_MODELS = ("emhnet", "htnet")
OOM_EXIT = 3
MERGE_RESERVE_S = 15  # `emhnet merge --partial` of a run cut at its limit


def log(message: str) -> None:
    """One progress line on stdout (gpu_check.sh tees it into OUT/gpu_check.log)."""
    print(f"[gpu_check {time.strftime('%H:%M:%S')}] {message}", flush=True)


def cache_folder(data: Path) -> Path:
    """The prepared cache folder under ``data`` (itself, or its one child holding manifest.csv)."""
    if (data / "manifest.csv").exists():
        return data
    found = sorted(p.parent for p in data.glob("*/manifest.csv"))
    if len(found) != 1:
        raise SystemExit(
            f"error: --data {data}: expected one prepared cache folder, found {len(found)}; "
            "run `python benchmarks/gpu_reference.py prepare` first"
        )
    return found[0]


def n_folds(data: Path) -> int:
    """LOSO folds = subjects with prepared samples (manifest.csv, docs/architecture.md)."""
    manifest = pd.read_csv(cache_folder(data) / "manifest.csv", dtype={"subject": str})
    return int(manifest.loc[manifest["status"] == "ok", ["dataset", "subject"]].drop_duplicates().shape[0])


def default_epochs(model: str) -> int:
    """Epochs of the model's default schedule (``paper`` for emhnet and htnet: 800)."""
    from emhnet_lite.train.config import default_for_model

    return default_for_model(model).epochs


def fold_infos(run_dir: Path) -> list[dict]:
    """Every finished fold's ``fold.json`` (docs/run_folder.md), in fold order."""
    return sorted((read_json(p) for p in run_dir.glob("folds/*/fold.json")), key=lambda info: info["fold"])


# --- one run in a child process -------------------------------------------------------------------------


def child_main(stats_path: Path, argv: list[str]) -> int:
    """Run the ``emhnet`` command line in this process and keep its peak memory in ``stats_path``."""
    import torch

    from emhnet_lite import cli
    from emhnet_lite.utils import write_json_atomic

    started = time.perf_counter()

    def stats(**extra) -> dict:
        cuda = torch.cuda.is_available() and torch.cuda.is_initialized()
        return {
            "elapsed_s": round(time.perf_counter() - started, 2),
            "max_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
            "gpu_peak_allocated_mb": round(torch.cuda.max_memory_allocated() / 2**20, 1) if cuda else None,
            "gpu_peak_reserved_mb": round(torch.cuda.max_memory_reserved() / 2**20, 1) if cuda else None,
            "gpu_name": torch.cuda.get_device_name() if cuda else None,
            **extra,
        }

    done = threading.Event()

    def keep_writing() -> None:  # a run cut at its time limit still leaves its peak so far
        while not done.wait(2.0):
            write_json_atomic(stats_path, stats(finished=False))

    writer = threading.Thread(target=keep_writing, daemon=True)
    writer.start()
    try:
        code, final = cli.main(argv), {"finished": True}
    except torch.cuda.OutOfMemoryError as error:
        code, final = OOM_EXIT, {"finished": False, "out_of_memory": True}
        print(f"out of memory: {str(error).splitlines()[0]}", file=sys.stderr)
    done.set()
    writer.join()  # its last write must not land after the final one
    write_json_atomic(stats_path, stats(**final))
    return code


def run_child(args: argparse.Namespace, argv: list[str], log_name: str, timeout: float) -> dict:
    """Run ``emhnet <argv>`` through ``child_main``; wall time, exit code, whether it was cut, peak memory."""
    work = Path(args.work)
    stats_path, log_path = work / f"{log_name}.stats.json", work / f"{log_name}.log"
    stats_path.unlink(missing_ok=True)
    command = [sys.executable, str(Path(__file__).resolve()), "_child", str(stats_path), *argv]
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")]))
    log(f"{' '.join(argv)}  (limit {timeout:.0f} s)")
    started = time.perf_counter()
    with open(log_path, "w") as handle:
        child = subprocess.Popen(
            command, stdout=handle, stderr=subprocess.STDOUT, start_new_session=True, env=env
        )
        try:
            code, cut = child.wait(timeout=max(timeout, 1.0)), False
        except subprocess.TimeoutExpired:
            os.killpg(child.pid, signal.SIGKILL)
            code, cut = child.wait(), True
    wall = round(time.perf_counter() - started, 2)
    record = {
        "argv": ["emhnet", *argv],
        "exit_code": code,
        "wall_s": wall,
        "cut_at_time_limit": cut,
        **read_json(stats_path),
    }
    if code not in (0, OOM_EXIT) and not cut:
        record["log_tail"] = log_path.read_text()[-2000:]
        log(f"failed (exit {code}); log: {log_path}\n{record['log_tail']}")
    log(
        f"-> exit {code}{' (cut)' if cut else ''}, {wall} s, GPU peak {record.get('gpu_peak_reserved_mb')} MB"
    )
    return record


# --- the check's steps ----------------------------------------------------------------------------------


class Check:
    """The check's state: the results dict (saved after every step) and the time budget."""

    def __init__(self, args: argparse.Namespace) -> None:
        self.args, self.started = args, time.perf_counter()
        self.out = Path(args.out)
        self.n_folds = n_folds(args.data)
        self.fold0 = ["--shard", f"1/{self.n_folds}", "--no-merge"]  # fold i runs in shard (i mod N) + 1
        self.results: dict = {
            "settings": {k: str(v) for k, v in vars(args).items()},
            "environment": environment(args.device),
            "n_folds": self.n_folds,
            "label": "SynthME: synthetic data, not comparable with real-data results",
            "vectorized": {},
            "paper": {},
            "fold_by_fold": {},
            "skipped": [],
        }
        self.save()

    def left(self) -> float:
        return self.args.budget_s - (time.perf_counter() - self.started)

    def save(self) -> None:
        from emhnet_lite.utils import write_json_atomic

        self.results["elapsed_s"] = round(time.perf_counter() - self.started, 1)
        write_json_atomic(self.out / "gpu_check.json", self.results)

    def skip(self, what: str, why: str) -> None:
        log(f"skipped {what}: {why}")
        self.results["skipped"].append({"step": what, "reason": why})
        self.save()

    def loso(self, name: str, model: str, timeout: float, *extra: str) -> tuple[dict, Path]:
        """One LOSO run into a fresh folder; merged partially when it was cut before its last fold."""
        run_dir = Path(self.args.work) / name
        shutil.rmtree(run_dir, ignore_errors=True)
        record = run_child(self.args, loso_argv(self.args, model, run_dir, *extra), name, timeout)
        folds = fold_infos(run_dir)
        walls = [f["wall_time_s"] for f in folds]  # an ensemble's time is split evenly over its F folds
        record.update(
            folds_finished=len(folds),
            fold_wall_s=walls,
            training_s=round(sum(walls), 2),
            folds_at_once=max((f.get("vectorized_folds", 1) for f in folds), default=None),
        )
        if folds and "--no-merge" not in extra:
            record["projected_training_s"] = round(sum(walls) / len(folds) * self.n_folds, 1)
        if folds and "--no-merge" not in extra and not (run_dir / "metrics.csv").exists():
            run_child(self.args, ["merge", str(run_dir), "--partial"], f"{name}_merge", 120)
        return record, run_dir

    def vectorized(self, model: str) -> None:
        """Full LOSO with F folds at once, F = all folds, halved after each out-of-memory error."""
        size, attempts = min(self.args.folds_at_once, self.n_folds), []
        while size >= 1 and self.left() > 10:  # keep 2 minutes for the paper probes if the budget allows
            limit = max(self.left() - 120, self.left() / 2)
            record, run_dir = self.loso(f"{model}_vectorized", model, limit, "--vectorize-folds", str(size))
            attempts.append(
                {
                    "folds_at_once": size,
                    "exit_code": record["exit_code"],
                    "out_of_memory": bool(record.get("out_of_memory")),
                }
            )
            if not record.get("out_of_memory"):
                record.update(attempts=attempts, agreement=self.agreement(run_dir, model))
                self.results["vectorized"][model] = record
                return self.save()
            size //= 2
        self.results["vectorized"][model] = {"attempts": attempts, "exit_code": None}
        self.skip(f"{model} vectorized", f"{self.left():.0f} s of budget left")

    def paper_probes(self, model: str) -> None:
        """Fold 0 at the paper preset for two short epoch counts: steady seconds per epoch (their difference
        over the extra epochs) and the one-off part (model build, first-call costs, checkpoint)."""
        entry = self.results["paper"].setdefault(
            model, {"epochs": self.args.paper_epochs or default_epochs(model)}
        )
        walls = {}
        for epochs in sorted(self.args.probe_epochs):
            if self.left() < 10:
                return self.skip(
                    f"{model} paper probe ({epochs} epochs)", f"{self.left():.0f} s of budget left"
                )
            record, _ = self.loso(
                f"{model}_paper_{epochs}ep", model, self.left(), *self.fold0, "--epochs", str(epochs)
            )
            entry.setdefault("probes", []).append({"epochs": epochs, **record})
            self.save()
            if not record["folds_finished"]:
                return
            walls[epochs] = record["fold_wall_s"][0]
        (a, wall_a), (b, wall_b) = sorted(walls.items())
        steady = (wall_b - wall_a) / (b - a)
        entry.update(
            epoch_s=round(steady, 4),
            one_off_s=round(wall_a - a * steady, 2),
            projected_fold_s=round(wall_a + (entry["epochs"] - a) * steady, 1),
        )
        self.save()

    def paper_fold(self, model: str) -> None:
        """Fold 0 at the paper preset's whole schedule, when the probes say it fits the budget."""
        entry = self.results["paper"].get(model, {})
        if "projected_fold_s" not in entry:
            return self.skip(f"{model} full fold", "its probes did not finish")
        allowed = self.left() - self.args.reserve_fold_by_fold_s
        if 1.1 * entry["projected_fold_s"] + 15 > allowed:
            return self.skip(
                f"{model} full fold",
                f"projected {entry['projected_fold_s']} s from the probes > {allowed:.0f} s left for it",
            )
        epochs = ["--epochs", str(self.args.paper_epochs)] if self.args.paper_epochs else []
        record, _ = self.loso(f"{model}_paper_fold0", model, allowed, *self.fold0, *epochs)
        entry["full_fold"] = record
        if record["folds_finished"]:
            entry.update(
                fold_s=record["fold_wall_s"][0],
                projected_loso_s=round(record["fold_wall_s"][0] * self.n_folds, 1),
            )
        self.save()

    def fold_by_fold(self, model: str, share: float) -> None:
        """Full LOSO fold by fold (one process), cut at ``share`` of the time left and then projected."""
        timeout = self.left() * share - MERGE_RESERVE_S  # a cut run is merged afterwards
        if timeout < 10:
            return self.skip(f"{model} fold by fold", f"{self.left():.0f} s of budget left")
        record, run_dir = self.loso(f"{model}_fold_by_fold", model, timeout, "--vectorize-folds", "1")
        if record["folds_finished"]:
            record["agreement"] = self.agreement(run_dir, model)
        self.results["fold_by_fold"][model] = record
        self.save()

    def agreement(self, run_dir: Path, model: str) -> dict:
        return agreement(run_dir, Path(self.args.reference), model)


def environment(device: str) -> dict:
    """Versions, the GPU and its driver (nvidia-smi when present); the check starts no CUDA context here."""
    import numpy
    import torch

    info = {
        "python": platform.python_version(),
        "torch": torch.__version__,
        "torch_cuda": torch.version.cuda,
        "numpy": numpy.__version__,
        "pandas": pd.__version__,
        "platform": platform.platform(),
        "cpu_count": os.cpu_count(),
        "device": device,
        "utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }
    if shutil.which("nvidia-smi"):
        query = subprocess.run(
            ["nvidia-smi", "--query-gpu=name,driver_version,memory.total", "--format=csv,noheader"],
            capture_output=True,
            text=True,
            check=False,
        )
        info["nvidia_smi"] = query.stdout.strip() or query.stderr.strip()
    return info


def archive_runs(work: Path, out: Path) -> None:
    """Each run's tables and fold.json files (no checkpoints, no per-epoch outputs) as OUT/runs.tar.gz."""
    with tarfile.open(out / "runs.tar.gz", "w:gz") as tar:
        for path in sorted(work.rglob("*")):
            if path.is_file() and path.suffix in (".csv", ".json", ".log") and path.name != "test_epochs.csv":
                tar.add(path, arcname=str(path.relative_to(work)))


def check(args: argparse.Namespace) -> int:
    import torch

    if args.device.startswith("cuda") and not torch.cuda.is_available():
        print(
            f"error: --device {args.device} but torch {torch.__version__} sees no CUDA device "
            "(on a CPU use --device cpu with a smaller setting, e.g. --epochs 1)",
            file=sys.stderr,
        )
        return 2
    Path(args.out).mkdir(parents=True, exist_ok=True)
    Path(args.work).mkdir(parents=True, exist_ok=True)
    state = Check(args)
    log(f"{state.n_folds} folds on {args.device}; budget {args.budget_s} s; results in {args.out}")
    for model in args.models:
        state.vectorized(model)
    for model in args.paper_models:
        state.paper_probes(model)
    for model in args.paper_models:
        state.paper_fold(model)
    for k, model in enumerate(args.models):
        state.fold_by_fold(model, share=1.0 / (len(args.models) - k))
    archive_runs(Path(args.work), Path(args.out))
    state.save()
    log(f"done in {state.results['elapsed_s']} s: {Path(args.out) / 'gpu_check.json'}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    add_run_arguments(parser, device="cuda")
    parser.add_argument("--out", default=os.environ.get("OUT", "runs/gpu_check_out"), help="results folder")
    parser.add_argument("--work", default="runs/gpu_check", help="run folders (checkpoints stay here)")
    parser.add_argument(
        "--reference",
        default=str(DEFAULT_REFERENCE),
        help="CPU references: a folder with reference.json, or a root of torch-X.Y folders (per model: this "
        "torch's release first, else the newest)",
    )
    parser.add_argument("--budget-s", type=float, default=300.0, help="the whole check's time budget")
    parser.add_argument("--folds-at-once", type=int, default=68, help="largest F tried (halved on OOM)")
    parser.add_argument("--paper-models", nargs="*", default=list(PAPER_MODELS))
    parser.add_argument(
        "--probe-epochs",
        type=int,
        nargs=2,
        default=[2, 12],
        metavar=("A", "B"),
        help="epochs of the two paper-preset probes (steady s/epoch = their difference)",
    )
    parser.add_argument("--paper-epochs", type=int, default=None, help="paper schedule override (CPU tests)")
    parser.add_argument(
        "--reserve-fold-by-fold-s",
        type=float,
        default=90.0,
        help="budget kept for the fold-by-fold runs when deciding on full paper folds",
    )
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["_child"]:
        return child_main(Path(argv[1]), argv[2:])
    return check(build_parser().parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
