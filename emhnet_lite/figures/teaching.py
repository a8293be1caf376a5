"""Load-if-present teaching LOSO run for chapter 07: read the run chapter 06 wrote, or create it the same way.

The defaults mirror chapter 06's parameters cell (model, preset, selection, validation subjects, seed, one
CPU thread, data-source string) so that a run created here is file-for-file the run chapter 06 makes.
"""

from __future__ import annotations

import json
import os
import shutil
import warnings
from pathlib import Path

#: Data-source string chapter 06 records in config.json for the SynthME teaching set.
TEACHING_SOURCE = "synthme-teaching"


def ensure_teaching_run(run_dir: str | os.PathLike, data_root: str | os.PathLike = "../data",
                        model: str = "emhnet_tiny", preset: str = "teaching", epochs: int | None = None,
                        selection: str = "last", val_subjects: int = 3, seed: int = 0, device: str = "auto",
                        threads: int = 1) -> Path:
    """Return ``run_dir`` if it holds a finished run; otherwise train the teaching run there (LOSO runner).

    A finished run of other data (``data.source`` not the teaching set) is returned untouched. A finished
    *teaching* run whose data fingerprint no longer matches the current teaching set (the generator or the
    preprocessing changed since) is stale: it is removed and retrained, with a warning on stderr. An
    unfinished one is resumed, so the files are the same whichever chapter created them.
    """
    run_dir = Path(run_dir)
    config_path = run_dir / "config.json"
    recorded = json.loads(config_path.read_text()) if config_path.exists() else {}
    finished = (run_dir / "metrics.csv").exists()
    if finished and recorded.get("data", {}).get("source") != TEACHING_SOURCE:
        return run_dir
    from emhnet_lite.preprocess import load_teaching_set
    from emhnet_lite.train import LosoConfig, run_loso
    from emhnet_lite.train.config import get_preset
    from emhnet_lite.train.loso import data_fingerprint

    data = load_teaching_set(data_root)
    if recorded and recorded.get("data", {}).get("fingerprint") != data_fingerprint(data):
        warnings.warn(f"{run_dir}: teaching run made from older data (fingerprint differs); removing and "
                      "retraining it", stacklevel=2)
        shutil.rmtree(run_dir)
    elif finished:
        return run_dir
    train = get_preset(preset, **({} if epochs is None else {"epochs": epochs}))
    config = LosoConfig(model=model, train=train, selection=selection, seed=seed, val_subjects=val_subjects)
    run_loso(data, config, run_dir, resume=True, device=device, data_source=TEACHING_SOURCE, threads=threads)
    if not (run_dir / "metrics.csv").exists():
        raise RuntimeError(f"{run_dir}: LOSO finished but no metrics.csv was merged")
    return run_dir
