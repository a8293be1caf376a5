"""Trainer: seeded and deterministic on CPU, learns a learnable signal, schedules and class weights."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch

from emhnet_lite.dataset import PreparedSet
from emhnet_lite.model import build_model
from emhnet_lite.train import TrainConfig, evaluate, get_preset, train_model
from emhnet_lite.train.trainer import class_weights, lr_factor, state_dict_cpu

CPU = torch.device("cpu")


pytestmark = pytest.mark.usefixtures("one_torch_thread")


def random_set(n_subjects: int = 3, per_subject: int = 6, size: int = 28, seed: int = 0) -> PreparedSet:
    """Random flows whose class shifts the mean of u in the left half: learnable but noisy."""
    generator = torch.Generator().manual_seed(seed)
    n = n_subjects * per_subject
    labels = torch.arange(n) % 3  # [N]
    flows = torch.randn(n, 3, size, size, generator=generator)  # [N, 3, H, W]
    flows[:, 0, :, : size // 2] += (labels.float() - 1.0)[:, None, None]
    flows[:, 2] = flows[:, 2].abs()
    half = size / 2
    boxes = (
        torch.tensor(
            [[0, 0, half, half], [half, 0, size, half], [0, half, half, size], [half, half, size, size]],
            dtype=torch.float32,
        )
        .expand(n, 4, 4)
        .clone()
    )
    table = pd.DataFrame(
        {
            "dataset": ["casme2"] * n,
            "subject": [f"sub{i // per_subject:02d}" for i in range(n)],
            "clip": [f"clip{i:03d}" for i in range(n)],
            "label": labels.numpy(),
        }
    )
    return PreparedSet(table=table, flows=flows, boxes=boxes, labels=labels)


def _train(seed: int, config: TrainConfig) -> tuple[dict, list]:
    data = random_set()
    torch.manual_seed(seed)
    model = build_model("emhnet_tiny")
    records = train_model(model, data, config, seed=seed, device=CPU, eval_sets={"train": data})
    return state_dict_cpu(model), records


def test_same_seed_same_weights_and_different_seed_differs() -> None:
    config = get_preset("teaching", epochs=1, batch_size=8)
    weights_a, records_a = _train(1, config)
    weights_b, records_b = _train(1, config)
    weights_c, _ = _train(2, config)
    assert all(torch.equal(weights_a[k], weights_b[k]) for k in weights_a)
    assert [r.train_loss for r in records_a] == [r.train_loss for r in records_b]
    assert torch.equal(records_a[-1].evals["train"].probs, records_b[-1].evals["train"].probs)
    assert any(not torch.equal(weights_a[k], weights_c[k]) for k in weights_a)


def test_learns_a_learnable_signal_and_returns_gates() -> None:
    data = random_set(n_subjects=4, per_subject=12)
    torch.manual_seed(0)
    model = build_model("ststnet")
    config = TrainConfig(epochs=15, batch_size=16, lr=1e-2, warmup_epochs=0, hflip_prob=0.0)
    records = train_model(model, data, config, seed=0, device=CPU, eval_sets={"train": data})
    assert records[-1].train_loss < records[0].train_loss
    assert (records[-1].evals["train"].predicted == data.labels).float().mean() > 0.6
    torch.manual_seed(0)
    output = evaluate(build_model("emhnet_tiny"), data, CPU, config)
    assert output.probs.shape == (len(data), 3)
    assert output.region_weights.shape == (len(data), 4)
    torch.testing.assert_close(output.region_weights.sum(1), torch.ones(len(data)))


def test_class_weights_and_schedule() -> None:
    weights = class_weights(torch.tensor([0, 0, 0, 1]), "balanced")
    assert weights.tolist() == pytest.approx([4 / 9, 4 / 3, 0.0])
    assert class_weights(torch.tensor([0, 1]), "none") is None
    config = TrainConfig(epochs=10, warmup_epochs=2)
    factors = [lr_factor(config, e) for e in range(10)]
    assert factors[0] < factors[1] < factors[2] == 1.0
    assert np.all(np.diff(factors[2:]) < 0)
    assert lr_factor(TrainConfig(schedule="constant", warmup_epochs=0), 5) == 1.0


def test_config_validation_names_the_field() -> None:
    with pytest.raises(ValueError, match="optimizer"):
        TrainConfig(optimizer="lion")
    with pytest.raises(KeyError, match="bogus"):
        TrainConfig.from_dict({"bogus": 1})
    assert TrainConfig.from_dict(get_preset("paper").as_dict()) == get_preset("paper")
