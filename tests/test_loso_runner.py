"""LOSO runner: run-folder contents, safe checkpoints, shards = single run, resumed crash = uninterrupted."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
import torch

from emhnet_lite.dataset import PreparedSet
from emhnet_lite.model import build_model
from emhnet_lite.runs import load_checkpoint, load_run, merge_run
from emhnet_lite.train import LosoConfig, TrainConfig, run_loso
from emhnet_lite.train.trainer import evaluate

CONFIG = LosoConfig(
    model="ststnet", train=TrainConfig(epochs=3, batch_size=8, lr=5e-3, warmup_epochs=0), seed=5
)


pytestmark = pytest.mark.usefixtures("one_torch_thread")


def composite_like(size: int = 28) -> PreparedSet:
    """5 random subjects over two datasets, 4 samples each, class signal in the mean of u."""
    generator = torch.Generator().manual_seed(11)
    subjects = [("casme2", "sub01"), ("casme2", "sub02"), ("samm", "006"), ("samm", "007"), ("smic", "s1")]
    rows = [(d, s, f"{s}_{k}", k % 3) for d, s in subjects for k in range(4)]
    table = pd.DataFrame(rows, columns=["dataset", "subject", "clip", "label"])
    labels = torch.tensor(table["label"].to_numpy())  # [N]
    flows = torch.randn(len(rows), 3, size, size, generator=generator)  # [N, 3, H, W]
    flows[:, 0] += (labels.float() - 1.0)[:, None, None]
    flows[:, 2] = flows[:, 2].abs()
    half = size / 2
    boxes = (
        torch.tensor(
            [[0, 0, half, half], [half, 0, size, half], [0, half, half, size], [half, half, size, size]],
            dtype=torch.float32,
        )
        .expand(len(rows), 4, 4)
        .clone()
    )
    return PreparedSet(table=table, flows=flows, boxes=boxes, labels=labels)


@pytest.fixture(scope="module")
def data() -> PreparedSet:
    return composite_like()


@pytest.fixture(scope="module")
def single_run(tmp_path_factory: pytest.TempPathFactory, data: PreparedSet) -> Path:
    out = tmp_path_factory.mktemp("runs") / "single"
    run_loso(data, CONFIG, out, device="cpu", data_source="random")
    return out


def test_run_folder_contents(single_run: Path, data: PreparedSet) -> None:
    run = load_run(single_run)
    assert sorted(run.predictions) == ["last", "oracle"]
    last = run.predictions["last"]
    assert len(last) == len(data) and last["fold"].nunique() == 5
    assert (last["selected_epoch"] == 3).all() and not last["test_set_selected"].any()
    oracle = run.predictions["oracle"]
    assert (oracle["selection_label"] == "oracle (test-set-selected)").all() and oracle[
        "test_set_selected"
    ].all()
    assert pd.read_csv(single_run / "predictions.csv").equals(
        pd.read_csv(single_run / "predictions_last.csv")
    )
    assert run.metrics["subset"].tolist() == ["composite", "casme2", "samm", "smic"] * 2
    oracle_rows = run.metrics[run.metrics["selection"] == "oracle"]
    assert oracle_rows["selection_label"].str.contains("test-set-selected").all()
    # the oracle picks the best test-subject epoch, so its pooled accuracy can only be ≥ last's
    assert oracle_rows["accuracy"].iloc[0] >= run.metrics["accuracy"].iloc[0]
    assert run.metrics_json["selections"]["oracle"]["test_set_selected"] is True
    assert len(run.history) == 5 * 3 and {"train_loss", "train_acc", "test_acc"} <= set(run.history.columns)
    assert run.manifest["n_folds"] == 5 and run.manifest["seed"] == 5 and "git_revision" in run.manifest
    assert run.config["data"]["subjects"][0] == "casme2/sub01"
    folds = sorted((single_run / "folds").iterdir())
    assert [p.name for p in folds] == [
        "00_casme2_sub01",
        "01_casme2_sub02",
        "02_samm_006",
        "03_samm_007",
        "04_smic_s1",
    ]
    assert json.loads((folds[3] / "fold.json").read_text())["seed"] == 5 + 3


def test_checkpoint_is_weights_only_and_reproduces_predictions(single_run: Path, data: PreparedSet) -> None:
    checkpoint = load_checkpoint(single_run / "folds" / "02_samm_006" / "checkpoint.pt")
    assert checkpoint["epoch"] == 3 and checkpoint["selection"] == "last"
    model = build_model("ststnet")
    model.load_state_dict(checkpoint["state_dict"])
    test = data.subset((data.table["dataset"] == "samm") & (data.table["subject"] == "006"))
    probs = evaluate(model, test, torch.device("cpu"), CONFIG.train).probs
    stored = load_run(single_run).predictions["last"].query("fold == 2")
    torch.testing.assert_close(
        probs,
        torch.tensor(
            stored[["prob_negative", "prob_positive", "prob_surprise"]].to_numpy(), dtype=torch.float32
        ),
    )


def test_shards_merge_to_the_single_run(tmp_path: Path, single_run: Path, data: PreparedSet) -> None:
    out = tmp_path / "sharded"
    assert run_loso(data, CONFIG, out, shard=(2, 2), device="cpu", data_source="random") is None
    assert not (out / "metrics.csv").exists()
    with pytest.raises(FileNotFoundError, match="not finished"):
        merge_run(out)
    partial = merge_run(out, allow_partial=True)
    assert partial["partial"] is True
    assert partial["selections"]["last"]["subsets"]["composite"]["n_samples"] == 8  # folds 1 and 3 only
    run_loso(data, CONFIG, out, shard=(1, 2), device="cpu", data_source="random", merge=False)
    merge_run(out)
    for name in ("predictions_last.csv", "predictions_oracle.csv", "metrics.csv", "history.csv"):
        assert pd.read_csv(out / name).equals(pd.read_csv(single_run / name)), name


def test_crash_mid_fold_then_resume_equals_uninterrupted(
    tmp_path: Path, single_run: Path, data: PreparedSet
) -> None:
    out = tmp_path / "crashed"

    def crash(fold: int, record) -> None:
        if fold == 2 and record.epoch == 2:
            raise KeyboardInterrupt("simulated kill in fold 2, epoch 2")

    with pytest.raises(KeyboardInterrupt):
        run_loso(data, CONFIG, out, device="cpu", data_source="random", on_epoch=crash)
    finished = sorted(p.name for p in (out / "folds").iterdir() if (p / "fold.json").exists())
    assert finished == ["00_casme2_sub01", "01_casme2_sub02"]
    with pytest.raises(FileExistsError, match="--resume"):
        run_loso(data, CONFIG, out, device="cpu", data_source="random")
    seen: list[int] = []
    run_loso(
        data,
        CONFIG,
        out,
        device="cpu",
        data_source="random",
        resume=True,
        on_epoch=lambda fold, record: seen.append(fold),
    )
    assert sorted(set(seen)) == [2, 3, 4]  # finished folds skipped
    for name in ("predictions_last.csv", "predictions_oracle.csv", "metrics.csv"):
        assert pd.read_csv(out / name).equals(pd.read_csv(single_run / name)), name


def test_resume_with_other_settings_is_refused(tmp_path: Path, single_run: Path, data: PreparedSet) -> None:
    other = LosoConfig(model="ststnet", train=TrainConfig(epochs=4), seed=5)
    with pytest.raises(ValueError, match="differs in \\['train'\\]"):
        run_loso(data, other, single_run, device="cpu", resume=True, data_source="random")
    out = tmp_path / "stale"
    run_loso(data, LosoConfig(model="ststnet", train=TrainConfig(epochs=1), seed=5), out, device="cpu")
    with pytest.warns(UserWarning, match="moved it to"):
        run_loso(data, other, out, device="cpu", resume=True, on_config_mismatch="archive")
    assert len(list(tmp_path.glob("stale.stale-*"))) == 1
    assert load_run(out).config["train"]["epochs"] == 4


def test_val_selection_uses_training_subjects_only(tmp_path: Path, data: PreparedSet) -> None:
    config = LosoConfig(
        model="emhnet_tiny",
        train=TrainConfig(epochs=2, batch_size=8),
        selection="val",
        val_subjects=2,
        seed=0,
    )
    run_loso(data, config, tmp_path / "val", device="cpu", data_source="random")
    run = load_run(tmp_path / "val")
    assert sorted(run.predictions) == ["last", "oracle", "val"]
    for fold_dir in sorted((tmp_path / "val" / "folds").iterdir()):
        info = json.loads((fold_dir / "fold.json").read_text())
        test_key = f"{info['dataset']}/{info['subject']}"
        assert len(info["val_subjects"]) == 2 and test_key not in info["val_subjects"]
        assert info["n_train"] + info["n_val"] + info["n_test"] == len(data)
    gates = run.gates["val"]
    assert len(gates) == len(data)
    region_sum = gates[["gate_left_eye", "gate_right_eye", "gate_left_lip", "gate_right_lip"]].sum(axis=1)
    assert region_sum.sub(1).abs().max() < 1e-5
    assert run.history["val_uf1"].notna().all()
