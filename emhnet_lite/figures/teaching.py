"""Load-if-present teaching LOSO run for chapter 07: read the run chapter 06 wrote, or create it the same way.

The defaults mirror chapter 06's parameters cell (model, preset, selection, validation subjects, seed, one
CPU thread, data-source string) so that a run created here is file-for-file the run chapter 06 makes.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

#: Data-source string chapter 06 records in config.json for the SynthME teaching set.
TEACHING_SOURCE = "synthme-teaching"


def ensure_teaching_run(run_dir: str | os.PathLike, data_root: str | os.PathLike = "../data",
                        model: str = "emhnet_tiny", preset: str = "teaching", epochs: int | None = None,
                        selection: str = "last", val_subjects: int = 3, seed: int = 0, device: str = "auto",
                        threads: int = 1) -> Path:
    """Return ``run_dir`` holding the finished teaching run, training (or completing) it if needed.

    A finished run of other data (``data.source`` is not the teaching set) is returned untouched. Otherwise
    the LOSO runner is called with ``resume=True``: finished folds are skipped, and a folder whose
    settings, data or model no longer match (the kit changed since) is archived by the runner and retrained,
    so the files are the same whichever chapter created them.
    """
    run_dir = Path(run_dir)
    config_path = run_dir / "config.json"
    if (run_dir / "metrics.csv").exists() and config_path.exists():
        if json.loads(config_path.read_text()).get("data", {}).get("source") != TEACHING_SOURCE:
            return run_dir
    from emhnet_lite.preprocess import load_teaching_set
    from emhnet_lite.train import LosoConfig, run_loso
    from emhnet_lite.train.config import get_preset

    data = load_teaching_set(data_root)
    train = get_preset(preset, **({} if epochs is None else {"epochs": epochs}))
    config = LosoConfig(model=model, train=train, selection=selection, seed=seed, val_subjects=val_subjects)
    run_loso(data, config, run_dir, resume=True, device=device, data_source=TEACHING_SOURCE, threads=threads,
             on_config_mismatch="archive")
    if not (run_dir / "metrics.csv").exists():
        raise RuntimeError(f"{run_dir}: LOSO finished but no metrics.csv was merged")
    return run_dir
