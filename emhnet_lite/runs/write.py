"""Writing LOSO run folders (format in ``runs/layout.py``, ``docs/run_folder.md``); every write is atomic.

``merge_run`` builds the run's top-level tables from its finished fold folders, scoring each selection once.
"""

from __future__ import annotations

import json
import os
import platform
import subprocess
import time
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch

from emhnet_lite import __version__, metrics
from emhnet_lite.errors import ConfigError, PathError
from emhnet_lite.runs.layout import (
    FOLD_DONE,
    PROB_COLUMNS,
    finished_folds,
    fold_dir_name,
    read_csv,
    selection_label,
    write_csv_atomic,
)
from emhnet_lite.runs.read import _read_json
from emhnet_lite.utils import write_json_atomic


def write_or_check_config(
    run_dir: str | os.PathLike, config: dict[str, Any], on_mismatch: str = "error"
) -> None:
    """Write ``config.json``, or verify that an existing one (resume, other shards) is identical.

    On a mismatch, ``on_mismatch="error"`` raises naming the differing keys; ``"archive"`` renames the stale
    folder to ``<name>.stale-<UTC time>`` (kept, never deleted), warns, and starts a fresh folder.
    """
    path = Path(run_dir) / "config.json"
    normalised = json.loads(json.dumps(config, sort_keys=True, default=str))
    if path.exists():
        existing = _read_json(path)
        if existing == normalised:
            return
        diff = sorted(k for k in set(existing) | set(normalised) if existing.get(k) != normalised.get(k))
        if on_mismatch != "archive":
            raise ConfigError(
                f"{path}: run folder holds a different config (differs in {diff}); "
                "use a new --out folder or the same settings and data"
            )
        stale = Path(run_dir).with_name(
            f"{Path(run_dir).name}.stale-{time.strftime('%Y%m%d-%H%M%S', time.gmtime())}"
        )
        os.replace(run_dir, stale)
        warnings.warn(
            f"{run_dir} held a run with other settings or data (differs in {diff}); "
            f"moved it to {stale} and starting a fresh run",
            stacklevel=2,
        )
    write_json_atomic(path, normalised)


def git_revision(repo: str | os.PathLike | None = None) -> tuple[str, bool | None]:
    """(commit hash, dirty?) of the package's git work tree, or ("unknown", None) outside git."""
    cwd = Path(repo) if repo else Path(__file__).resolve().parents[2]
    try:
        rev = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=cwd, capture_output=True, text=True, check=True, timeout=10
        ).stdout.strip()
        status = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=cwd,
            capture_output=True,
            text=True,
            check=True,
            timeout=10,
        ).stdout
        return rev, bool(status.strip())
    except (OSError, subprocess.SubprocessError):
        return "unknown", None


def environment_info(device: torch.device) -> dict[str, Any]:
    """Versions and hardware for the manifest."""
    cuda_name = torch.cuda.get_device_name(device) if device.type == "cuda" else None
    return {
        "package_version": __version__,
        "python": platform.python_version(),
        "torch": torch.__version__,
        "numpy": np.__version__,
        "pandas": pd.__version__,
        "platform": platform.platform(),
        "host": platform.node(),
        "device": str(device),
        "cuda_device": cuda_name,
        "torch_threads": torch.get_num_threads(),
    }


def _selection_rows(fold_dirs: list[Path], selection: str) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Test outputs of every fold at that selection's epoch: (predictions, per-epoch rows with gates)."""
    parts = []
    for fold_dir in fold_dirs:
        info = _read_json(fold_dir / FOLD_DONE)
        epoch = info["selected_epoch"].get(selection)
        if epoch is None:
            raise KeyError(f"{fold_dir / FOLD_DONE}: no selected epoch for selection {selection!r}")
        epochs = read_csv(fold_dir / "test_epochs.csv")
        chosen = epochs[epochs["epoch"] == epoch].drop(columns="epoch")
        if chosen.empty:
            raise ValueError(f"{fold_dir / 'test_epochs.csv'}: no rows for epoch {epoch} ({selection})")
        parts.append(chosen.assign(fold=info["fold"], selected_epoch=epoch))
    rows = pd.concat(parts, ignore_index=True)
    rows = rows.assign(
        selection=selection,
        selection_label=selection_label(selection),
        test_set_selected=selection == "oracle",
    )
    id_columns = ["dataset", "subject", "clip", "fold", "true", "predicted"]
    tail = ["selected_epoch", "selection", "selection_label", "test_set_selected"]
    predictions = rows[id_columns + PROB_COLUMNS + tail]
    extra = [c for c in rows.columns if c.startswith(("gate_", "scale_"))]
    gates = (
        rows[id_columns + ["selected_epoch", "selection", "selection_label", "test_set_selected"] + extra]
        if extra
        else pd.DataFrame()
    )
    return predictions, gates


def merge_run(
    run_dir: str | os.PathLike, allow_partial: bool = False, process_wall_time_s: float | None = None
) -> dict[str, Any]:
    """Build the top-level tables (predictions, metrics, history, gates, manifest) from ``folds/``.

    A pure function of the fold folders, so merged shards equal a single-process run. Missing folds are
    an error naming them unless ``allow_partial``. Returns ``metrics.json``'s content.
    """
    run_dir = Path(run_dir)
    config = _read_json(run_dir / "config.json")
    fold_dirs = finished_folds(run_dir)
    expected = [fold_dir_name(i, key) for i, key in enumerate(config["data"]["subjects"])]
    missing = sorted(set(expected) - {p.name for p in fold_dirs})
    if missing and not allow_partial:
        raise PathError(
            f"{run_dir}: {len(missing)} of {len(expected)} folds not finished "
            f"(e.g. {missing[:3]}); run the missing shards or resume first"
        )
    if not fold_dirs:
        raise PathError(f"{run_dir}: no finished folds to merge")
    primary = config["selection"]
    selections = ["last", "oracle"] + (["val"] if primary == "val" else [])
    summary: dict[str, Any] = {"primary_selection": primary, "partial": bool(missing), "selections": {}}
    metric_rows = []
    for selection in selections:
        predictions, gates = _selection_rows(fold_dirs, selection)
        write_csv_atomic(run_dir / f"predictions_{selection}.csv", predictions)
        if selection == primary:
            write_csv_atomic(run_dir / "predictions.csv", predictions)
        if not gates.empty:
            write_csv_atomic(run_dir / f"gates_{selection}.csv", gates)
        scored = metrics.subset_scores(predictions)  # scored once: metrics.csv and metrics.json share it
        table = metrics.breakdown_frame(scored)
        subsets = {name: {**result.as_dict(), "n_subjects": int(n_subjects)} for name, result, n_subjects in scored}
        summary["selections"][selection] = {
            "selection_label": selection_label(selection),
            "test_set_selected": selection == "oracle",
            "subsets": subsets,
        }
        metric_rows.append(
            table.assign(
                selection=selection,
                selection_label=selection_label(selection),
                test_set_selected=selection == "oracle",
            )
        )
    metric_table = pd.concat(metric_rows, ignore_index=True)
    lead = ["selection", "selection_label", "test_set_selected", "subset"]
    metric_table = metric_table[lead + [c for c in metric_table.columns if c not in lead]]
    write_csv_atomic(run_dir / "metrics.csv", metric_table)
    write_json_atomic(run_dir / "metrics.json", summary)
    history = pd.concat([read_csv(p / "history.csv") for p in fold_dirs], ignore_index=True)
    write_csv_atomic(run_dir / "history.csv", history)
    _write_manifest(run_dir, config, fold_dirs, process_wall_time_s)
    return summary


def _write_manifest(
    run_dir: Path, config: dict[str, Any], fold_dirs: list[Path], process_wall_time_s: float | None
) -> None:
    """``manifest.json``: versions, device, seed, git revision, fold and process wall times."""
    infos = [_read_json(p / FOLD_DONE) for p in fold_dirs]
    previous = (
        _read_json(run_dir / "manifest.json") if (run_dir / "manifest.json").exists() else {}
    )
    processes: dict[str, dict[str, Any]] = {}
    for info in infos:
        key = f"{info['shard']}@{info['host']}"
        entry = processes.setdefault(
            key,
            {
                "shard": info["shard"],
                "host": info["host"],
                "device": info["device"],
                "torch_threads": info["torch_threads"],
                "folds": 0,
                "folds_wall_time_s": 0.0,
            },
        )
        entry["folds"] += 1
        entry["folds_wall_time_s"] = round(entry["folds_wall_time_s"] + info["wall_time_s"], 3)
    rev, dirty = git_revision()
    manifest = {
        **environment_info(torch.device(infos[0]["device"])),
        "seed": config["seed"],
        "git_revision": rev,
        "git_dirty": dirty,
        "model": config["model"],
        "created_utc": previous.get("created_utc", infos[0].get("finished_utc")),
        "merged_utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "n_folds": len(infos),
        "folds_wall_time_s": round(sum(i["wall_time_s"] for i in infos), 3),
        "fold_wall_time_s": [round(i["wall_time_s"], 3) for i in infos],
        "processes": sorted(processes.values(), key=lambda e: str(e["shard"])),
    }
    manifest["device"] = infos[0]["device"]
    if process_wall_time_s is not None:
        manifest["run_wall_time_s"] = round(process_wall_time_s, 3)
    elif "run_wall_time_s" in previous:  # a re-merge without training keeps the original run's time
        manifest["run_wall_time_s"] = previous["run_wall_time_s"]
    write_json_atomic(run_dir / "manifest.json", manifest)
