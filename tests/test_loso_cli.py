"""`emhnet loso --jobs 2` (two shard processes + merge) equals an in-process run; `emhnet merge` re-merges."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
import torch
from fake_cache import write_cache

from emhnet_lite import cli
from emhnet_lite.preprocess import load_prepared
from emhnet_lite.train import LosoConfig, get_preset, run_loso

ROOT = Path(__file__).resolve().parents[1]


def test_cli_jobs_equal_in_process_run(tmp_path: Path) -> None:
    cache = tmp_path / "cache" / "abc123"
    cache.mkdir(parents=True)
    write_cache(cache)
    out = tmp_path / "cli_run"
    command = [
        sys.executable,
        "-m",
        "emhnet_lite",
        "loso",
        "--data",
        str(tmp_path / "cache"),
        "--model",
        "ststnet",
        "--out",
        str(out),
        "--preset",
        "teaching",
        "--epochs",
        "2",
        "--jobs",
        "2",
        "--threads",
        "1",
        "--device",
        "cpu",
    ]
    result = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    assert "oracle (test-set-selected)" in result.stdout
    shards = {json.loads(p.read_text())["shard"] for p in (out / "folds").glob("*/fold.json")}
    assert shards == {"1/2", "2/2"}

    data = load_prepared(cache)
    config = LosoConfig(model="ststnet", train=get_preset("teaching", epochs=2))
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        run_loso(data, config, tmp_path / "in_process", device="cpu", data_source="cache:abc123")
    finally:
        torch.set_num_threads(threads)
    for name in ("predictions_last.csv", "predictions_oracle.csv", "metrics.csv", "history.csv"):
        assert pd.read_csv(out / name).equals(pd.read_csv(tmp_path / "in_process" / name)), name

    (out / "metrics.csv").unlink()
    assert cli.main(["merge", str(out)]) == 0 and (out / "metrics.csv").exists()
    assert cli.main(["merge", str(tmp_path / "nothing")]) == 2


def test_cli_vectorize_folds(tmp_path: Path) -> None:
    """`--vectorize-folds 2` trains the shard's folds two at a time (recorded per fold) with the same
    predictions as a fold-by-fold run; a bad value is a one-line error."""
    cache = tmp_path / "cache" / "abc123"
    cache.mkdir(parents=True)
    write_cache(cache)
    common = ["loso", "--data", str(cache), "--model", "ststnet", "--preset", "teaching", "--epochs", "2",
              "--threads", "1", "--device", "cpu"]
    assert cli.main([*common, "--out", str(tmp_path / "one"), "--vectorize-folds", "1"]) == 0
    assert cli.main([*common, "--out", str(tmp_path / "two"), "--vectorize-folds", "2"]) == 0
    infos = [json.loads(p.read_text()) for p in sorted((tmp_path / "two" / "folds").glob("*/fold.json"))]
    assert [i["vectorized_folds"] for i in infos] == [2, 2, 2, 2]
    one = pd.read_csv(tmp_path / "one" / "predictions_last.csv")
    two = pd.read_csv(tmp_path / "two" / "predictions_last.csv")
    assert (one["predicted"] == two["predicted"]).all()
    assert pd.read_csv(tmp_path / "one" / "metrics.csv").equals(pd.read_csv(tmp_path / "two" / "metrics.csv"))
    for bad in ("lots", "0"):
        with pytest.raises(SystemExit) as stop:  # argparse: usage line + "expected a positive integer or 'auto'"
            cli.main([*common, "--out", str(tmp_path / "bad"), "--vectorize-folds", bad])
        assert stop.value.code == 2


def test_cli_ablation_is_recorded_and_checked(tmp_path: Path) -> None:
    """`--ablation NAME` builds that ablation, records it in config.json (so runs of different ablations are
    distinct); an unknown name or a baseline with an ablation is a one-line error with exit code 2."""
    cache = tmp_path / "cache" / "abc123"
    cache.mkdir(parents=True)
    write_cache(cache)
    common = ["loso", "--data", str(cache), "--model", "emhnet_tiny", "--preset", "teaching", "--epochs", "1",
              "--threads", "1", "--device", "cpu"]
    assert cli.main([*common, "--out", str(tmp_path / "no_global"), "--ablation", "no_global"]) == 0
    recorded = json.loads((tmp_path / "no_global" / "config.json").read_text())
    assert recorded["ablation"] == "no_global"
    from emhnet_lite.model import build_model, count_parameters

    expected = count_parameters(build_model("emhnet_tiny", ablation="no_global"))
    assert recorded["model_fingerprint"]["parameters"] == expected
    from emhnet_lite.train.predict import load_fold_models

    _, folds = load_fold_models(tmp_path / "no_global", torch.device("cpu"))  # the checkpoints reload as that ablation
    assert folds and all(len(f.model.global_blocks) == 0 for f in folds)
    with pytest.raises(SystemExit) as stop:
        cli.main([*common, "--out", str(tmp_path / "bad"), "--ablation", "no_such_part"])
    assert stop.value.code == 2
    assert cli.main(["loso", "--data", str(cache), "--model", "ststnet", "--out", str(tmp_path / "b"),
                     "--ablation", "no_router"]) == 2
