"""The GPU check's inputs and yardstick: its full-scale SynthME cache and the CPU reference predictions.

    python benchmarks/gpu_reference.py prepare                 # data/gpu_check/cache (carried to the GPU)
    python benchmarks/gpu_reference.py write --device cpu --jobs 2   # benchmarks/gpu_reference/torch-X.Y/
    python benchmarks/gpu_reference.py verify                  # is the cache the references' cache?

``write`` runs CPU LOSO of exactly the settings ``benchmarks/gpu_check.py`` uses (``loso_argv``; fold by
fold, resumable under ``--work``) and keeps, per model, the ``last`` and ``oracle`` predictions as small CSVs
plus the run's ``config.json`` (model, initial-weight hash, schedule, data fingerprint) in ``reference.json``.
One folder per torch release (``torch_tag``): the seeded initial weights differ between releases, so the GPU
machine's torch needs a reference made on a CPU with the same release (docs/researchers.md says how).
``agreement`` compares a run folder with them. Run folders are read as docs/run_folder.md states.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import pandas as pd

REPO = Path(__file__).resolve().parents[1]
DATA_ROOT = Path("data/gpu_check")  # SynthME (full scale, seed 0) is generated here; only cache/ travels
DEFAULT_DATA = DATA_ROOT / "cache" / "synthme_scale1_seed0"  # holds exactly one prepared cache folder
DEFAULT_REFERENCE = Path("benchmarks/gpu_reference")
SMALL_MODELS = ("ststnet", "emhnet_tiny")
KEYS = ["dataset", "subject", "clip"]
SELECTIONS = ("last", "oracle")
#: config.json entries that must match for a comparison to be like with like (reported when they differ)
COMPARED = ("model", "model_overrides", "model_fingerprint", "train", "selection", "seed", "data.fingerprint")


def torch_tag(version: str | None = None) -> str:
    """``torch-2.11`` for torch 2.11.x: initial weights (``trunc_normal_``) differ between torch releases, so
    a reference is like-for-like only for the torch release that made it."""
    if version is None:
        import torch

        version = torch.__version__
    return "torch-" + ".".join(version.split("+")[0].split(".")[:2])


def reference_folder(model: str, root: Path = DEFAULT_REFERENCE) -> Path | None:
    """Where ``model``'s reference is: ``root`` itself when it holds one, else ``root/torch-X.Y`` of this
    process's torch release, else the newest release that has it (the initial weights then differ, and the
    comparison says so)."""
    if (root / "reference.json").exists():
        return root if model in read_json(root / "reference.json").get("runs", {}) else None
    releases = sorted(
        root.glob("torch-*/reference.json"), key=lambda p: _release(p.parent.name), reverse=True
    )
    for folder in [root / torch_tag(), *(p.parent for p in releases)]:
        if model in read_json(folder / "reference.json").get("runs", {}):
            return folder
    return None


def _release(tag: str) -> tuple[int, ...]:
    return tuple(int(x) for x in tag.removeprefix("torch-").split("."))


def emhnet(argv: list[str], **kwargs) -> subprocess.CompletedProcess:
    """``python -m emhnet_lite <argv>`` with this checkout's package first on the path."""
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")]))
    return subprocess.run([sys.executable, "-m", "emhnet_lite", *argv], env=env, check=False, **kwargs)


def read_json(path: Path) -> dict:
    return json.loads(path.read_text()) if path.exists() else {}


def add_run_arguments(parser: argparse.ArgumentParser, device: str) -> None:
    """The LOSO settings shared by the check and its reference."""
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA, help="cache folder (or its parent)")
    parser.add_argument("--device", default=device)
    parser.add_argument("--models", nargs="+", default=list(SMALL_MODELS))
    parser.add_argument(
        "--epochs", type=int, default=None, help="small models' epochs (default: their preset)"
    )
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads per process")


def loso_argv(args: argparse.Namespace, model: str, out: Path, *extra: str) -> list[str]:
    """``emhnet loso`` on the check's data and settings (the reference and the check share them)."""
    argv = [
        "loso",
        "--data",
        str(args.data),
        "--model",
        model,
        "--out",
        str(out),
        "--device",
        args.device,
        "--seed",
        str(args.seed),
        "--threads",
        str(args.threads),
        *extra,
    ]
    if args.epochs is not None and model in SMALL_MODELS:
        argv += ["--epochs", str(args.epochs)]
    return argv


def agreement(run_dir: Path, reference: Path, model: str) -> dict:
    """Predictions of ``run_dir`` against the reference's (same samples; a partial run on its folds only)."""
    from emhnet_lite.metrics import uf1_uar

    folder = reference_folder(model, reference)
    meta = None if folder is None else read_json(folder / "reference.json")["runs"][model]
    if meta is None or not (run_dir / "predictions_last.csv").exists():
        return {
            "compared": False,
            "reason": f"no reference for {model} in {reference}"
            if meta is None
            else "the run wrote no predictions",
        }
    config = read_json(run_dir / "config.json")
    report: dict = {
        "compared": True,
        "reference": str(folder),
        "reference_device": meta.get("device"),
        "reference_torch": meta.get("torch"),
        "settings_differing": [key for key in COMPARED if _get(config, key) != _get(meta["config"], key)],
    }
    for selection in SELECTIONS:
        ours = pd.read_csv(run_dir / f"predictions_{selection}.csv", dtype={"subject": str, "clip": str})
        ref = pd.read_csv(folder / f"{model}_{selection}.csv", dtype={"subject": str, "clip": str})
        both = ours.merge(ref, on=KEYS, suffixes=("", "_ref"), validate="one_to_one")
        probs = [c for c in ours.columns if c.startswith("prob_")]
        uf1, uar = uf1_uar(both["true"], both["predicted"])
        ref_uf1, ref_uar = uf1_uar(both["true_ref"], both["predicted_ref"])
        report[selection] = {
            "n_compared": len(both),
            "n_reference": len(ref),
            "predictions_differing": int((both["predicted"] != both["predicted_ref"]).sum()),
            "max_abs_prob_diff": float(
                abs(both[probs].to_numpy() - both[[f"{c}_ref" for c in probs]].to_numpy()).max()
            ),
            "uf1": round(uf1, 4),
            "uf1_reference": round(ref_uf1, 4),
            "uf1_diff": round(uf1 - ref_uf1, 4),
            "uar": round(uar, 4),
            "uar_reference": round(ref_uar, 4),
            "uar_diff": round(uar - ref_uar, 4),
        }
    return report


def _get(config: dict, dotted: str):
    for part in dotted.split("."):
        config = config.get(part, {}) if isinstance(config, dict) else {}
    return config


def prepare(args: argparse.Namespace) -> int:
    """Generate full-scale SynthME (seed 0) and its cache (needs the pinned opencv-contrib: run it here)."""
    from emhnet_lite.teaching import load_teaching_set

    data = load_teaching_set(args.root, scale=1.0, seed=0, workers=args.workers)
    print(f"{len(data)} samples, {len(data.subjects)} subjects; carry: {args.root / 'cache'}")
    return 0


def write(args: argparse.Namespace) -> int:
    """CPU LOSO of the check's settings (fold by fold, resumable) → small CSVs, reference.json."""
    out = Path(args.out) if args.out else DEFAULT_REFERENCE / torch_tag()
    out.mkdir(parents=True, exist_ok=True)
    runs = {}
    for model in args.models:
        run_dir = Path(args.work) / model
        argv = loso_argv(args, model, run_dir, "--vectorize-folds", "1", "--jobs", str(args.jobs), "--resume")
        code = emhnet(argv).returncode
        if code:
            print(f"error: `emhnet {' '.join(argv)}` exited {code}", file=sys.stderr)
            return code
        columns = [*KEYS, "fold", "true", "predicted"]
        for selection in SELECTIONS:
            table = pd.read_csv(run_dir / f"predictions_{selection}.csv", dtype={"subject": str, "clip": str})
            probs = [c for c in table.columns if c.startswith("prob_")]
            table[columns + probs].round(6).to_csv(out / f"{model}_{selection}.csv", index=False)
        config, manifest = read_json(run_dir / "config.json"), read_json(run_dir / "manifest.json")
        config["data"].pop("subjects", None)
        runs[model] = {
            "command": "emhnet " + " ".join(argv),
            "config": config,
            "device": manifest.get("device"),
            "torch": manifest.get("torch"),
            "platform": manifest.get("platform"),
            "created_utc": manifest.get("created_utc"),
        }
    from emhnet_lite.utils import write_json_atomic

    previous = read_json(out / "reference.json").get("runs", {})  # other models' references stay
    write_json_atomic(
        out / "reference.json",
        {
            "generated_by": "python benchmarks/gpu_reference.py " + " ".join(sys.argv[1:]),
            "runs": {**previous, **runs},
        },
    )
    print(f"reference predictions of {', '.join(args.models)} in {out}")
    return 0


def verify(args: argparse.Namespace) -> int:
    """Is ``--data`` the cache every reference was made from? A 1-epoch fold 0 writes its data fingerprint."""
    with tempfile.TemporaryDirectory() as tmp:
        argv = [
            "loso",
            "--data",
            str(args.data),
            "--model",
            "ststnet",
            "--out",
            f"{tmp}/run",
            "--device",
            "cpu",
            "--epochs",
            "1",
            "--shard",
            "1/1000",
            "--no-merge",
        ]  # shard 1 of 1000: fold 0 alone
        result = emhnet(argv, capture_output=True, text=True)
        if result.returncode:
            print(
                f"error: `emhnet {' '.join(argv)}` failed:\n{result.stdout[-1000:]}{result.stderr[-1000:]}",
                file=sys.stderr,
            )
            return result.returncode
        fingerprint = read_json(Path(tmp) / "run" / "config.json")["data"]["fingerprint"]
    root = Path(args.reference)
    folders = [root] if (root / "reference.json").exists() else sorted(root.glob("torch-*"))
    stale = [
        f"{folder.name}/{model}"
        for folder in folders
        for model, meta in read_json(folder / "reference.json").get("runs", {}).items()
        if meta["config"]["data"]["fingerprint"] != fingerprint
    ]
    if stale or not folders:
        print(
            f"error: {args.data} is not the cache of the references ({', '.join(stale) or 'none found'}); "
            "rerun `gpu_reference.py write` for each torch release (docs/researchers.md)",
            file=sys.stderr,
        )
        return 1
    print(f"ok: {args.data} (data fingerprint {fingerprint[:16]}) is the cache of every reference in {root}")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    prep = sub.add_parser("prepare", help="generate full-scale SynthME and its cache")
    prep.set_defaults(func=prepare)
    prep.add_argument("--root", type=Path, default=DATA_ROOT)
    prep.add_argument("--workers", type=int, default=2)
    ref = sub.add_parser("write", help="CPU LOSO of the check's settings -> reference predictions")
    ref.set_defaults(func=write)
    add_run_arguments(ref, device="cpu")
    ref.add_argument("--out", default=None, help=f"default: {DEFAULT_REFERENCE}/torch-<this torch's X.Y>")
    ref.add_argument("--work", default="runs/gpu_reference", help="run folders (resumable)")
    ref.add_argument("--jobs", type=int, default=2)
    check = sub.add_parser("verify", help="is --data the cache the committed references were made from?")
    check.set_defaults(func=verify)
    check.add_argument("--data", type=Path, default=DEFAULT_DATA)
    check.add_argument("--reference", default=str(DEFAULT_REFERENCE))
    args = parser.parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
