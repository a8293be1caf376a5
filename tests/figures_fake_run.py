"""A small fabricated run folder following docs/run_folder.md (tests only; real runs come from LOSO)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd

from emhnet_lite.constants import CLASS_NAMES, REGION_NAMES
from emhnet_lite.metrics import breakdown

SUBJECTS = [("casme2", "sub01"), ("casme2", "sub02"), ("samm", "006"), ("samm", "007"),
            ("smic", "s1"), ("smic", "s2")]
LABELS = {"last": "last", "oracle": "oracle (test-set-selected)"}


def _predictions(rng: np.random.Generator, selection: str, accuracy: float, epochs: int) -> pd.DataFrame:
    rows = []
    for fold, (dataset, subject) in enumerate(SUBJECTS):
        for clip_index, true in enumerate([0, 0, 1, 2]):
            predicted = true if rng.random() < accuracy else int((true + 1 + rng.integers(2)) % 3)
            probs = np.full(3, 0.1)
            probs[predicted] = 0.8
            rows.append({"dataset": dataset, "subject": subject, "clip": f"{subject}_c{clip_index}", "fold": fold,
                         "true": true, "predicted": predicted,
                         **{f"prob_{name}": float(p) for name, p in zip(CLASS_NAMES, probs, strict=True)},
                         "selected_epoch": epochs if selection == "last" else int(rng.integers(1, epochs + 1)),
                         "selection": selection, "selection_label": LABELS[selection],
                         "test_set_selected": selection == "oracle"})
    return pd.DataFrame(rows)


def make_fake_run(root: Path, source: str = "SynthME teaching", gates: bool = True, epochs: int = 4,
                  seed: int = 0) -> Path:
    """Write config, predictions (last + oracle), metrics, history and gates into ``root``."""
    rng = np.random.default_rng(seed)
    root.mkdir(parents=True, exist_ok=True)
    config = {"model": "emhnet_tiny", "model_overrides": {}, "train": {"epochs": epochs}, "selection": "last",
              "seed": seed, "val_subjects": 0,
              "data": {"source": source, "n_samples": 24, "n_subjects": 6, "input_size": [28, 28]}}
    (root / "config.json").write_text(json.dumps(config))
    tables = {"last": _predictions(rng, "last", 0.6, epochs), "oracle": _predictions(rng, "oracle", 0.8, epochs)}
    metric_rows = []
    for selection, table in tables.items():
        table.to_csv(root / f"predictions_{selection}.csv", index=False)
        part = breakdown(table)
        part.insert(0, "test_set_selected", selection == "oracle")
        part.insert(0, "selection_label", LABELS[selection])
        part.insert(0, "selection", selection)
        metric_rows.append(part)
    tables["last"].to_csv(root / "predictions.csv", index=False)
    pd.concat(metric_rows).to_csv(root / "metrics.csv", index=False)
    history = []
    for fold, (dataset, subject) in enumerate(SUBJECTS):
        for epoch in range(1, epochs + 1):
            history.append({"fold": fold, "dataset": dataset, "subject": subject, "epoch": epoch, "lr": 1e-3,
                            "train_loss": 1.1 / epoch + 0.05 * fold, "train_acc": 0.4 + 0.1 * epoch,
                            "aux_loss": 0.0, "val_loss": np.nan, "val_acc": np.nan, "val_uf1": np.nan,
                            "test_loss": 1.0 + 0.02 * epoch, "test_acc": float(rng.random())})
    pd.DataFrame(history).to_csv(root / "history.csv", index=False)
    if gates:
        table = tables["last"][["dataset", "subject", "clip", "fold", "true", "predicted", "selected_epoch",
                                "selection", "selection_label", "test_set_selected"]].copy()
        weights = rng.dirichlet(np.ones(len(REGION_NAMES)) * 2, size=len(table))
        weights[table["true"].to_numpy() == 1, 3] += 1.0  # positive class leans on the right lip corner
        weights /= weights.sum(axis=1, keepdims=True)
        for index, name in enumerate(REGION_NAMES):
            table[f"gate_{name}"] = weights[:, index]
        table.to_csv(root / "gates_last.csv", index=False)
    return root
