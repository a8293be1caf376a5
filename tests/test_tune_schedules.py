"""benchmarks/tune_schedules.py: the choice rule, and the refusal to tune on evaluation seeds."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pandas as pd

ROOT = Path(__file__).resolve().parents[1]


def load_script():
    spec = importlib.util.spec_from_file_location("tune_schedules", ROOT / "benchmarks" / "tune_schedules.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_choice_is_the_best_mean_calibration_uf1_with_ties_to_the_cheaper_schedule() -> None:
    script = load_script()
    runs = pd.DataFrame([
        ("ststnet", 8, 1e-3, 1000, 0.80), ("ststnet", 8, 1e-3, 1001, 0.90),  # mean 0.85
        ("ststnet", 12, 1e-3, 1000, 0.86), ("ststnet", 12, 1e-3, 1001, 0.86),  # mean 0.86: best
        ("ststnet", 20, 2e-3, 1000, 0.84), ("ststnet", 20, 2e-3, 1001, 0.84),
        ("emhnet_tiny", 12, 2e-3, 1000, 0.9), ("emhnet_tiny", 8, 4e-3, 1000, 0.9),  # tie → 8 epochs
        ("emhnet_tiny", 8, 2e-3, 1000, 0.9),  # tie at 8 epochs → smaller lr
    ], columns=["model", "epochs", "lr", "synthme_seed", "uf1"]).assign(uar=0.5)
    chosen = script.choose(runs).set_index("model")
    assert (chosen.loc["ststnet", "epochs"], chosen.loc["ststnet", "lr"]) == (12, 1e-3)
    assert (chosen.loc["emhnet_tiny", "epochs"], chosen.loc["emhnet_tiny", "lr"]) == (8, 2e-3)


def test_evaluation_seeds_are_refused(capsys) -> None:
    assert load_script().main(["--synthme-seeds", "1000,3"]) == 2
    assert "calibration seeds" in capsys.readouterr().out


def test_model_defaults_are_the_committed_tuning_choice() -> None:
    """Each small model's default schedule is what results/schedule_tuning.csv chose (rerun the script to change it)."""
    from emhnet_lite.train import default_for_model

    script = load_script()
    chosen = script.choose(pd.read_csv(ROOT / "results" / "schedule_tuning.csv")).set_index("model")
    assert set(chosen.index) == {"ststnet", "htnet_reduced", "emhnet_tiny"}
    assert (pd.read_csv(ROOT / "results" / "schedule_tuning.csv")["synthme_seed"] >= 1000).all()
    for model, row in chosen.iterrows():
        schedule = default_for_model(model)
        assert (schedule.epochs, schedule.lr) == (int(row["epochs"]), float(row["lr"])), model
