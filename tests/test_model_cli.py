"""``emhnet models`` and the cost-table code behind benchmarks/bench_models.py."""

from __future__ import annotations

import json

import pytest

from emhnet_lite.cli import main
from emhnet_lite.model.benchmark import cost_table, format_table

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def test_models_command_prints_table_and_json(tmp_path, capsys):
    out = tmp_path / "models.json"
    assert main(["models", "--models", "emhnet_tiny", "ststnet", "--json", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "| emhnet_tiny | 86,423 |" in printed and "| ststnet | 1,683 |" in printed
    rows = json.loads(out.read_text())["rows"]
    assert [r["name"] for r in rows] == ["emhnet_tiny", "ststnet"]
    assert rows[0]["flops_per_sample"] <= 10_000_000 and rows[0]["train_step_s"] is None


def test_models_command_rejects_unknown_name(capsys):
    assert main(["models", "--models", "vgg"]) == 2
    assert "unknown model" in capsys.readouterr().err
    assert main(["models", "--models", "emhnet_tiny:no_such_part"]) == 2
    assert main(["models", "--models", "htnet:no_router"]) == 2


def test_models_command_lists_every_ablation_by_default(tmp_path, monkeypatch):
    from emhnet_lite.model import ABLATIONS, MODEL_NAMES

    seen = []

    def fake_table(names, **kwargs):  # the real table builds HTNet (slow); only the row list is tested here
        seen.extend(names)
        return []

    monkeypatch.setattr("emhnet_lite.model.benchmark.cost_table", fake_table)
    assert main(["models"]) == 0
    assert seen == list(MODEL_NAMES) + [f"emhnet_tiny:{a}" for a in ABLATIONS if a != "full"]


def test_cost_table_timing_path_small_batch():
    rows = cost_table(["emhnet_tiny", "ststnet"], batch=4, rounds=1)
    for row in rows:
        assert row.train_step_s > 0 and row.latency_s > 0
        assert row.train_speedup_vs_htnet is None  # no HTNet in this run, so no ratio
    assert "emhnet_tiny" in format_table(rows)


def test_ratios_against_htnet_come_from_the_same_run():
    from emhnet_lite.model import build_model

    def small_builder(name, **overrides):
        if name == "htnet":  # a narrow HTNet keeps the test fast; the ratio logic is what is tested
            overrides.update(dim=16, heads=1, block_repeats=(1, 1, 1))
        return build_model(name, **overrides)

    rows = {row.name: row for row in cost_table(["emhnet_tiny", "htnet"], batch=4, rounds=1, builder=small_builder)}
    tiny, htnet = rows["emhnet_tiny"], rows["htnet"]
    assert htnet.train_speedup_vs_htnet == 1.0 and htnet.flops_ratio_vs_htnet == 1.0
    assert tiny.train_speedup_vs_htnet == htnet.train_step_s / tiny.train_step_s
    assert tiny.flops_ratio_vs_htnet == tiny.flops_per_sample / htnet.flops_per_sample
