"""`emhnet predict`: a finished run's fold models on its own clips (= its LOSO predictions), on new subjects
(mean over every fold model, with spread), on a video, and the one-line errors."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from realfaces_video import write_tiny_video
from test_loso_cli import write_cache

from emhnet_lite import cli
from emhnet_lite.preprocess import load_prepared
from emhnet_lite.runs import PROB_COLUMNS, RunFolderError
from emhnet_lite.train import LosoConfig, get_preset, run_loso
from emhnet_lite.train.predict import fold_probabilities, load_fold_models, predict

pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """(run folder, cache folder): a 4-subject STSTNet LOSO, 2 epochs, on random inputs."""
    root = tmp_path_factory.mktemp("predict")
    cache = root / "cache" / "abc123"
    cache.mkdir(parents=True)
    write_cache(cache)
    config = LosoConfig(model="ststnet", train=get_preset("teaching", epochs=2))
    run_loso(load_prepared(cache), config, root / "run", device="cpu", data_source="cache:abc123")
    return root / "run", cache


def test_own_clips_reproduce_the_loso_predictions(tiny_run: tuple[Path, Path]) -> None:
    run, cache = tiny_run
    table = predict(run, load_prepared(cache))
    saved = pd.read_csv(run / "predictions.csv", dtype={"subject": str, "clip": str})
    merged = saved.merge(table, on=["dataset", "subject", "clip"], suffixes=("_run", ""))
    assert len(merged) == len(saved) == 12
    np.testing.assert_allclose(merged[[f"{c}_run" for c in PROB_COLUMNS]].to_numpy(),
                               merged[PROB_COLUMNS].to_numpy(), atol=1e-6)
    assert (merged["predicted_run"] == merged["predicted"]).all() and (table["n_models"] == 1).all()
    assert (table["models"].str.slice(3) == "casme2_" + table["subject"]).all()
    assert (table[["sd_negative", "sd_positive", "sd_surprise"]] == 0).all().all()


def test_new_subjects_get_the_mean_of_every_fold_model(tiny_run: tuple[Path, Path]) -> None:
    run, cache = tiny_run
    data = load_prepared(cache)
    data.table["subject"] = "sub77"  # a person no fold model was trained on
    table = predict(run, data)
    _, folds = load_fold_models(run, torch.device("cpu"))
    probs = fold_probabilities(folds, data, torch.device("cpu")).numpy()  # [4, 12, 3]
    np.testing.assert_allclose(table[PROB_COLUMNS].to_numpy(), probs.mean(axis=0), atol=1e-6)
    np.testing.assert_allclose(table[["sd_negative", "sd_positive", "sd_surprise"]].to_numpy(), probs.std(axis=0),
                               atol=1e-6)
    votes = probs.argmax(axis=2)  # [4, 12]
    np.testing.assert_allclose(table["agreement"], (votes == table["predicted"].to_numpy()).mean(axis=0))
    assert (table["n_models"] == 4).all() and (table["models"] == "all").all()


def test_cli_predicts_a_cache_and_a_video(tiny_run: tuple[Path, Path], tmp_path: Path,
                                          capsys: pytest.CaptureFixture) -> None:
    run, cache = tiny_run
    out = tmp_path / "preds.csv"
    assert cli.main(["predict", str(run), "--data", str(cache.parent), "--out", str(out), "--device", "cpu"]) == 0
    assert "accuracy:" in capsys.readouterr().out and len(pd.read_csv(out)) == 12
    video = write_tiny_video(tmp_path / "clip.avi", frames=12)
    code = cli.main(["predict", str(run), "--video", str(video), "--onset", "1", "--apex", "6", "--onset", "4",
                     "--apex", "10", "--out", str(out), "--device", "cpu"])
    table = pd.read_csv(out)
    assert code == 0 and table["clip"].tolist() == ["clip_1_6", "clip_4_10"] and "true" not in table.columns
    assert (table["n_models"] == 4).all()
    np.testing.assert_allclose(table[PROB_COLUMNS].sum(axis=1), 1.0, atol=1e-5)


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--video", "clip.avi", "--onset", "5", "--apex", "3"], "--apex must come after --onset"),
        (["--video", "clip.avi", "--onset", "1"], "as many --apex as --onset"),
        (["--video", "clip.avi", "--onset", "1", "--apex", "40"], "frame 40 requested"),
        (["--video", "missing.avi", "--onset", "1", "--apex", "2"], "video file not found"),
        (["--data", "nowhere"], "no such folder"),
        (["--data", "nowhere", "--onset", "3"], "--onset/--apex go with --video"),
    ],
)
def test_cli_errors_are_one_line_exit_2(tiny_run: tuple[Path, Path], tmp_path: Path, capsys: pytest.CaptureFixture,
                                        extra: list[str], message: str) -> None:
    run, _ = tiny_run
    write_tiny_video(tmp_path / "clip.avi", frames=12)
    extra = [str(tmp_path / e) if e.endswith(".avi") or e == "nowhere" else e for e in extra]
    code = cli.main(["predict", str(run), *extra, "--out", str(tmp_path / "p.csv"), "--device", "cpu"])
    captured = capsys.readouterr()
    lines = captured.err.strip().splitlines()
    assert code == 2 and len(lines) == 1 and message in lines[0] and not captured.out, lines
    assert lines[0].startswith("emhnet predict: error: ")
    assert not (tmp_path / "p.csv").exists()


def test_run_folder_problems(tiny_run: tuple[Path, Path], tmp_path: Path) -> None:
    run, cache = tiny_run
    with pytest.raises(RunFolderError, match="no config.json"):
        predict(tmp_path, load_prepared(cache))
    data = load_prepared(cache)
    small = type(data)(table=data.table, flows=data.flows[..., :14, :14], boxes=data.boxes, labels=data.labels)
    with pytest.raises(RunFolderError, match="28x28 inputs"):
        predict(run, small)
    partial = tmp_path / "partial"
    (partial / "folds").mkdir(parents=True)
    (partial / "config.json").write_text((run / "config.json").read_text())
    with pytest.raises(RunFolderError, match="no finished folds"):
        predict(partial, data)
    first = sorted((run / "folds").iterdir())[0]
    (partial / "folds" / first.name).mkdir()
    for name in ("fold.json", "checkpoint.pt"):
        (partial / "folds" / first.name / name).write_bytes((first / name).read_bytes())
    held_out = json.loads((first / "fold.json").read_text())["subject"]
    other = data.subset((data.table["subject"] != held_out).to_numpy())
    with pytest.raises(RunFolderError, match="trained on by every finished fold"):
        predict(partial, other)
