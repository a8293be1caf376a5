"""The one reader of LOSO run folders (format in ``runs/layout.py``, ``docs/run_folder.md``), with checks.

Every number a chapter, figure or command shows comes from these tables; nothing is typed in. The reader
re-computes the pooled scores from the prediction files and refuses a run whose ``metrics.csv`` disagrees
with them; every problem is a ``RunFolderError`` naming the file (and row and column where there is one).
"""

from __future__ import annotations

import json
import math
import os
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from emhnet_lite.constants import DATASET_TITLES, NUM_CLASSES
from emhnet_lite.errors import KitError
from emhnet_lite.metrics import scores
from emhnet_lite.runs.layout import (
    GATE_COLUMNS,
    HISTORY_COLUMNS,
    METRIC_COLUMNS,
    PREDICTION_COLUMNS,
    SELECTION_LABELS,
    SELECTIONS,
)

#: Scores recomputed from predictions must match metrics.csv to this tolerance (CSV float round-trip).
SCORE_TOLERANCE = 1e-6


class RunFolderError(KitError, ValueError):
    """A run folder that is missing a file or column, or whose files disagree."""


@dataclass
class RunTables:
    """The files of one merged run folder as Python objects, plus the ``files`` each table was read from."""

    root: Path
    config: dict
    predictions: dict[str, pd.DataFrame]  # selection → pooled predictions (last, oracle, val if present)
    primary_selection: str
    metrics: pd.DataFrame
    history: pd.DataFrame | None
    gates: dict[str, pd.DataFrame]
    manifest: dict = field(default_factory=dict)  # {} when the folder has no manifest.json
    metrics_json: dict = field(default_factory=dict)  # {} when the folder has no metrics.json
    files: dict[str, Path] = field(default_factory=dict)

    @property
    def model_name(self) -> str:
        return str(self.config.get("model", "model"))

    @property
    def synthetic(self) -> bool:
        """True when the run's data is SynthME (never to be shown as a real-dataset result)."""
        return is_synthetic_source(str(self.config.get("data", {}).get("source", "")))

    @property
    def comparable(self) -> bool:
        """Only a run whose data source is named and is not SynthME may sit beside published numbers."""
        source = str(self.config.get("data", {}).get("source", "")).strip()
        return not self.synthetic and bool(source) and "provenance unknown" not in source

    @property
    def data_label(self) -> str:
        """How the run's data is named in every figure: ``SynthME (synthetic)`` or the source's name."""
        source = str(self.config.get("data", {}).get("source", "")).strip() or "unlabelled data"
        return "SynthME (synthetic)" if self.synthetic else source

    def dataset_label(self, dataset: str) -> str:
        """A dataset key as shown in figures; synthetic subsets are labelled as SynthME, never as the real one."""
        title = DATASET_TITLES.get(dataset, dataset)
        return f"SynthME · {title} layout" if self.synthetic else title

    def selection_label(self, selection: str) -> str:
        """The run's own label for a selection (oracle reads ``oracle (test-set-selected)``)."""
        table = self.predictions.get(selection)
        if table is not None and "selection_label" in table.columns and len(table):
            return str(table["selection_label"].iloc[0])
        return SELECTION_LABELS["oracle"] if selection == "oracle" else selection

    def source(self, key: str) -> str:
        """The file name (relative to the run folder) a table was read from, for figure provenance."""
        return str(self.files[key].relative_to(self.root)) if key in self.files else "(absent)"


def is_synthetic_source(source: str) -> bool:
    """SynthME runs are recognised by their data source naming SynthME / synth (case-insensitive)."""
    return "synth" in source.lower()


def _read_csv(path: Path, required: tuple[str, ...]) -> pd.DataFrame:
    """A CSV with its required columns, or an error naming the file and the missing columns."""
    if not path.exists():
        raise RunFolderError(f"{path}: missing (see docs/run_folder.md)")
    try:
        table = pd.read_csv(path, dtype={"subject": str, "clip": str, "dataset": str})
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as err:
        raise RunFolderError(f"{path}: not a readable CSV ({err})") from err
    missing = [c for c in required if c not in table.columns]
    if missing:
        raise RunFolderError(f"{path}: missing column(s) {missing}; has {list(table.columns)}")
    return table


def _check_labels(table: pd.DataFrame, path: Path, columns: tuple[str, ...] = ("true", "predicted")) -> None:
    """Labels must be integers 0..2; the first bad one is reported by file, row and column."""
    for column in columns:
        values = pd.to_numeric(table[column], errors="coerce")
        bad = values.isna() | ~values.isin(range(NUM_CLASSES))
        if bad.any():
            row = int(bad.to_numpy().nonzero()[0][0])
            raise RunFolderError(f"{path}: row {row + 2} column {column!r}: {str(table[column].iloc[row])!r} is not "
                                 f"a class index 0..{NUM_CLASSES - 1}")
        table[column] = values.astype(int)


def _check_against_metrics(selection: str, predictions: pd.DataFrame, metrics: pd.DataFrame,
                           pred_path: Path, metrics_path: Path) -> None:
    """Recompute composite and per-dataset UF1/UAR from predictions; they must equal metrics.csv."""
    rows = metrics[metrics["selection"] == selection]
    for _, row in rows.iterrows():
        subset = str(row["subset"])
        part = predictions if subset == "composite" else predictions[predictions["dataset"] == subset]
        result = scores(part["true"].to_numpy(), part["predicted"].to_numpy())
        for name in ("uf1", "uar"):
            stored, recomputed = float(row[name]), getattr(result, name)
            both_nan = math.isnan(stored) and math.isnan(recomputed)
            if not both_nan and not abs(stored - recomputed) <= SCORE_TOLERANCE:
                raise RunFolderError(f"{metrics_path}: {selection}/{subset} {name}={stored} but {pred_path.name} "
                                     f"gives {recomputed:.6f}")


def _read_json(path: Path) -> dict:
    """A JSON file of the run folder, or an error naming it."""
    try:
        return json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise RunFolderError(f"{path}: not readable JSON ({err})") from err


def load_run(run_dir: str | os.PathLike) -> RunTables:
    """Load and cross-check a merged run folder: config, predictions, metrics, history, gates, manifest."""
    root = Path(run_dir)
    if not root.is_dir():
        raise RunFolderError(f"{root}: run folder not found")
    files: dict[str, Path] = {}
    config_path = root / "config.json"
    if not config_path.exists():
        raise RunFolderError(f"{config_path}: missing (see docs/run_folder.md)")
    config = _read_json(config_path)
    files["config"] = config_path
    metrics_path = root / "metrics.csv"
    if not metrics_path.exists():
        raise RunFolderError(f"{root}: not a merged run folder (no metrics.csv); "
                             f"run `emhnet merge {root}` after all shards finished")
    metrics = _read_csv(metrics_path, METRIC_COLUMNS)
    files["metrics"] = metrics_path

    predictions: dict[str, pd.DataFrame] = {}
    for selection in SELECTIONS:
        path = root / f"predictions_{selection}.csv"
        if path.exists():
            table = _read_csv(path, PREDICTION_COLUMNS)
            _check_labels(table, path)
            _check_against_metrics(selection, table, metrics, path, metrics_path)
            predictions[selection] = table
            files[f"predictions_{selection}"] = path
    primary_path = root / "predictions.csv"
    primary = _read_csv(primary_path, PREDICTION_COLUMNS)
    primary_selection = str(primary["selection"].iloc[0]) if "selection" in primary.columns and len(primary) \
        else str(config.get("selection", "last"))
    if primary_selection not in predictions:
        _check_labels(primary, primary_path)
        predictions[primary_selection] = primary
        files[f"predictions_{primary_selection}"] = primary_path

    history = None
    history_path = root / "history.csv"
    if history_path.exists():
        history = _read_csv(history_path, HISTORY_COLUMNS)
        files["history"] = history_path
    gates: dict[str, pd.DataFrame] = {}
    for selection in SELECTIONS:
        path = root / f"gates_{selection}.csv"
        if path.exists():
            table = _read_csv(path, ("dataset", "subject", "clip", "true") + GATE_COLUMNS)
            _check_labels(table, path, ("true",))
            gates[selection] = table
            files[f"gates_{selection}"] = path
    extra = {}
    for key in ("manifest", "metrics_json"):
        path = root / (key.replace("_json", "") + ".json")
        if path.exists():
            extra[key] = _read_json(path)
            files[key] = path
    return RunTables(root=root, config=config, predictions=predictions, primary_selection=primary_selection,
                     metrics=metrics, history=history, gates=gates, files=files, **extra)


def print_metrics(run_dir: str | os.PathLike) -> None:
    """Print the run's metrics table (oracle rows carry their test-set-selected label)."""
    table = pd.read_csv(Path(run_dir) / "metrics.csv")
    shown = table[["selection_label", "subset", "n_samples", "uf1", "uar", "accuracy"]]
    print(shown.to_string(index=False, float_format=lambda v: f"{v:.4f}"))
