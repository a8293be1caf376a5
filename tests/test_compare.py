"""`emhnet compare`: seeds trained as folds of one ensemble equal separate runs; a tiny grid writes ordinary run
folders, resumes, and summarises with intervals and paired tests; bad grids exit 2."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pandas as pd
import pytest
from fake_cache import write_cache
from test_vectorized import PROB_TOLERANCE, PROB_TOLERANCE_HTNET, assert_same_results, uneven_composite

from emhnet_lite import cli
from emhnet_lite.runs import load_run
from emhnet_lite.train import LosoConfig, TrainConfig, run_loso
from emhnet_lite.train.grid import SEED_STRIDE, parse_seeds, read_cells

pytestmark = pytest.mark.usefixtures("one_torch_thread")

ROOT = Path(__file__).resolve().parents[1]

TRAIN = TrainConfig(epochs=3, batch_size=8, lr=5e-3, warmup_epochs=0)


@pytest.mark.parametrize("name", ["ststnet", "emhnet_tiny", "htnet_reduced"])
def test_seeds_as_folds_equal_separate_runs(tmp_path: Path, name: str) -> None:
    """Two training seeds' 5 folds each trained as ensembles of 4 (members mix seeds) equal two ordinary
    fold-by-fold runs: per-member seeds, data order and augmentation draws are unchanged."""
    data = uneven_composite()
    configs = [LosoConfig(model=name, train=TRAIN, seed=s * SEED_STRIDE) for s in (0, 1)]
    for config, label in zip(configs, ("a", "b"), strict=True):
        run_loso(data, config, tmp_path / f"single_{label}", device="cpu", data_source="random")
    outs = [tmp_path / "many_a", tmp_path / "many_b"]
    summaries = run_loso(data, configs, outs, device="cpu", data_source="random", vectorize_folds=4)
    assert isinstance(summaries, list) and len(summaries) == 2 and all(summaries)
    for out, label in zip(outs, ("a", "b"), strict=True):
        assert_same_results(out, tmp_path / f"single_{label}",
                            PROB_TOLERANCE_HTNET if name == "htnet_reduced" else PROB_TOLERANCE)
    infos = [json.loads((d / "fold.json").read_text()) for d in sorted((outs[1] / "folds").iterdir())]
    assert [i["seed"] for i in infos] == [SEED_STRIDE + k for k in range(5)]
    assert {i["vectorized_folds"] for i in infos} == {4, 3}  # 10 members → ensembles of 4, 3, 3


def test_many_runs_need_distinct_folders(tmp_path: Path) -> None:
    config = LosoConfig(model="ststnet", train=TRAIN)
    with pytest.raises(ValueError, match="distinct"):
        run_loso(uneven_composite(), [config, config], [tmp_path, tmp_path], device="cpu")


def test_parse_seeds() -> None:
    assert parse_seeds("0-4") == [0, 1, 2, 3, 4] and parse_seeds("0,3") == [0, 3] and parse_seeds("0-1,7") == [0, 1, 7]
    for bad in ("", "a", "1,1", "-2", "3-x"):
        with pytest.raises(ValueError, match="seeds"):
            parse_seeds(bad)


@pytest.fixture(scope="module")
def cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("cache") / "abc123"
    folder.mkdir()
    write_cache(folder)
    return folder


def grid_args(cache: Path, out: Path, *extra: str) -> list[str]:
    return ["compare", "--data", str(cache), "--models", "ststnet,emhnet_tiny", "--seeds", "0-1", "--epochs", "2",
            "--bootstrap", "200", "--vectorize-folds", "2", "--out", str(out), *extra]


@pytest.fixture(scope="module")
def tiny_grid(tmp_path_factory: pytest.TempPathFactory, cache: Path) -> Path:
    out = tmp_path_factory.mktemp("grids") / "grid"
    assert cli.main(grid_args(cache, out)) == 0
    return out


def test_tiny_grid(tiny_grid: Path, cache: Path, capsys: pytest.CaptureFixture) -> None:
    out = tiny_grid
    cells = read_cells(out)
    assert len(cells) == 4 and set(cells["variant"]) == {"ststnet", "emhnet_tiny"}
    for _, cell in cells.iterrows():  # every cell an ordinary, merged run folder
        run = load_run(cell["run_dir"])
        assert run.config["seed"] == cell["seed"] * SEED_STRIDE and run.config["model"] == cell["model"]
        assert run.config["train"]["epochs"] == 2
    summary = pd.read_csv(out / "summary.csv")
    needed = ["variant", "n_seeds", "uf1_mean", "uf1_sd", "uf1_ci_low", "uf1_ci_high", "uar_mean", "uar_sd",
              "uar_ci_low", "uar_ci_high", "uf1_casme2", "p_vs_emhnet_tiny", "uf1_sampling_sd", "selection"]
    assert all(column in summary.columns for column in needed)
    assert summary["n_seeds"].tolist() == [2, 2] and summary["selection"].eq("last epoch").all()
    ststnet = summary.set_index("variant").loc["ststnet"]
    per_seed = [load_run(d).metrics.query("selection == 'last' and subset == 'composite'")["uf1"].item()
                for d in cells[cells["variant"] == "ststnet"].sort_values("seed")["run_dir"]]
    assert ststnet["uf1_mean"] == pytest.approx(sum(per_seed) / 2)
    assert ststnet["uf1_ci_low"] <= ststnet["uf1_mean"] <= ststnet["uf1_ci_high"]
    assert 0 < ststnet["p_vs_emhnet_tiny"] <= 1
    comparisons = pd.read_csv(out / "comparisons.csv")
    assert comparisons["variant"].tolist() == ["ststnet"] and "mcnemar_p_exact" in comparisons.columns
    assert "paired bootstrap" in (out / "summary.md").read_text()
    # a second run without --resume is refused; with --resume it trains nothing and summarises the same
    assert cli.main(grid_args(cache, out)) == 2
    assert "already finished" in capsys.readouterr().err
    before = {p: p.stat().st_mtime_ns for p in out.rglob("checkpoint.pt")}
    assert cli.main(grid_args(cache, out, "--resume")) == 0
    assert before == {p: p.stat().st_mtime_ns for p in out.rglob("checkpoint.pt")}
    pd.testing.assert_frame_equal(pd.read_csv(out / "summary.csv"), summary)


def test_sharded_grid_equals_one_process(tmp_path: Path, cache: Path) -> None:
    one, sharded = tmp_path / "one", tmp_path / "sharded"
    args = ["--models", "ststnet", "--seeds", "0-1", "--vectorize-folds", "3"]
    base = ["compare", "--data", str(cache), "--epochs", "2", "--bootstrap", "200", *args]
    assert cli.main([*base, "--out", str(one)]) == 0
    assert cli.main([*base, "--out", str(sharded), "--shard", "1/2", "--no-merge"]) == 0
    assert not (sharded / "summary.csv").exists()
    assert cli.main([*base, "--out", str(sharded), "--shard", "2/2", "--no-merge"]) == 0
    assert cli.main([*base, "--out", str(sharded), "--resume"]) == 0  # merges and summarises
    pd.testing.assert_frame_equal(pd.read_csv(sharded / "summary.csv"), pd.read_csv(one / "summary.csv"))


@pytest.mark.parametrize("extra, message", [
    (["--models", "nope"], "unknown model"),
    (["--models", "ststnet", "--seeds", "1,1"], "distinct"),
    (["--models", "ststnet", "--reference", "emhnet_tiny"], "not a variant"),
    (["--models", "ststnet", "--difficulty", "real"], "needs --synthme-scale"),
    (["--models", "ststnet", "--vectorize-folds", "0"], "vectorize-folds"),
])
def test_bad_grids_exit_2(tmp_path: Path, cache: Path, capsys: pytest.CaptureFixture, extra: list[str],
                          message: str) -> None:
    assert cli.main(["compare", "--data", str(cache), "--out", str(tmp_path / "g"), *extra]) == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("emhnet compare: error:") and message in lines[0]
    assert not (tmp_path / "g").exists()  # refused before anything is written


def test_ablation_grid_cells_record_their_ablation(tmp_path: Path, cache: Path) -> None:
    """--ablations reaches each EMHNet cell's config.json (and so its model); other models run full once."""
    out = tmp_path / "g"
    args = ["compare", "--data", str(cache), "--models", "ststnet,emhnet_tiny", "--ablations", "full,no_router",
            "--seeds", "0", "--epochs", "1", "--bootstrap", "50", "--vectorize-folds", "2", "--out", str(out)]
    assert cli.main(args) == 0
    cells = read_cells(out)
    assert sorted(cells["variant"]) == ["emhnet_tiny", "emhnet_tiny:no_router", "ststnet"]
    for _, cell in cells.iterrows():
        assert load_run(cell["run_dir"]).config["ablation"] == cell["ablation"]
    full, no_router = (load_run(cells.set_index("variant").loc[v, "run_dir"]) for v in ("emhnet_tiny", "emhnet_tiny:no_router"))
    assert full.config["model_fingerprint"] != no_router.config["model_fingerprint"]
    assert set(pd.read_csv(out / "summary.csv")["variant"]) == set(cells["variant"])


def test_difficulty_is_validated_and_bound() -> None:
    from emhnet_lite.commands.compare import UsageError, synthme_loader

    with pytest.raises(UsageError, match="unknown level"):
        synthme_loader("no-such-level")
    assert synthme_loader("real").keywords == {"difficulty": "real"}


def test_evidence_tables_from_grid_folders(tmp_path: Path, tiny_grid: Path) -> None:
    """benchmarks/evidence_tables.py: labelled CSV/markdown tables and a forest plot drawn from the CSVs."""
    spec = importlib.util.spec_from_file_location("evidence_tables", ROOT / "benchmarks" / "evidence_tables.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    results, figures = tmp_path / "results", tmp_path / "figures"
    argv = ["--comparison", str(tiny_grid), "--ablation", str(tiny_grid), "--results-dir", str(results),
            "--figures-dir", str(figures), "--bootstrap", "200", "--note", "tiny test grid, 2 epochs"]
    assert module.main(argv) == 0
    table = pd.read_csv(results / "comparison.csv")
    pd.testing.assert_frame_equal(table, pd.read_csv(tiny_grid / "summary.csv"), check_exact=False)
    text = (results / "comparison.md").read_text()
    assert "tiny test grid, 2 epochs" in text and "Training seeds: [0, 1]" in text and "Selection: `last`" in text
    assert (results / "ablation.md").exists() and (results / "comparison_paired.csv").exists()
    assert (figures / "evidence_forest.png").stat().st_size > 0 and (figures / "evidence_forest.pdf").exists()
    assert module.main(["--comparison", str(tmp_path)]) == 2


def _bench_grids():
    spec = importlib.util.spec_from_file_location("bench_grids", ROOT / "benchmarks" / "bench_grids.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_bench_grids_report_and_agreement(tiny_grid: Path, tmp_path: Path) -> None:
    """benchmarks/bench_grids.py: a grid agrees with itself; a copy with one changed prediction is caught;
    the report says met / missed against the target and labels a reduced budget."""
    module = _bench_grids()
    same = module.agreement(tiny_grid, tiny_grid)
    assert len(same) == 4 and all(r["predictions_differing"] == 0 and r["max_abs_prob_diff"] == 0 for r in same)
    other = tmp_path / "other"
    cell = next(p.parent.relative_to(tiny_grid) for p in tiny_grid.glob("ststnet/*/predictions_last.csv"))
    (other / cell).mkdir(parents=True)
    table = pd.read_csv(tiny_grid / cell / "predictions_last.csv")
    table.loc[0, "predicted"] = (table.loc[0, "predicted"] + 1) % 3
    table.to_csv(other / cell / "predictions_last.csv", index=False)
    assert [r["predictions_differing"] for r in module.agreement(tiny_grid, other)] == [1]
    report = {"seeds": 5, "uf1": {"a": 0.7, "b": 0.6}, "started_utc": "2026-01-01 10:00",
              "finished_utc": "2026-01-01 10:40", "load_before": 0.1, "startup_s": 3.0,
              "baseline": {"folds_run": 18, "wall_s": 100.0}, "baseline_one_seed_estimate_s": 370.0,
              "baseline_grid_estimate_s": 1800.0, "grid_wall_s": 2000.0, "target_s": 1800,
              "speedup_vs_fold_by_fold": 0.9, "scale": 1.0, "epochs": None}
    assert "**missed**" in module.markdown({"comparison": report})
    assert "met |" in module.markdown({"comparison": {**report, "grid_wall_s": 1700.0}})
    assert "n/a (reduced" in module.markdown({"comparison": {**report, "scale": 0.1, "grid_wall_s": 10.0}})


def test_summary_markdown_labels_test_set_selected_rows() -> None:
    from emhnet_lite.stats import BootstrapConfig
    from emhnet_lite.train.grid import summary_markdown

    row = {"variant": "ststnet", "n_seeds": 2, "n_data": 1, "n_subjects": 4, "uf1_mean": 0.5, "uf1_ci_low": 0.4,
           "uf1_ci_high": 0.6, "uf1_sd": 0.01, "uf1_sampling_sd": 0.05, "uar_mean": 0.5, "uar_ci_low": 0.4,
           "uar_ci_high": 0.6, "uf1_casme2": 0.5, "data": "cache:x", "selection": "oracle (test-set-selected)",
           "test_set_selected": True, "epochs": 2}
    text = summary_markdown(pd.DataFrame([row]), pd.DataFrame(), None, "t", BootstrapConfig(n_resamples=10))
    assert "Test-set-selected" in text and "leaky" in text and "0.5000 [0.4000, 0.6000]" in text


def test_shard_processes_replay_every_option() -> None:
    """`--jobs` shard processes of `emhnet compare` get exactly the parent's options (derived from the parser)."""
    import argparse
    import sys

    from emhnet_lite.commands import compare

    parser = argparse.ArgumentParser()
    compare.add_arguments(parser)
    argv = ["--data", "d", "--synthme-scale", "0.5", "--synthme-seeds", "0-1", "--difficulty", "real", "--models",
            "ststnet,emhnet_tiny", "--ablations", "full,no_router", "--seeds", "0-4", "--preset", "tiny", "--epochs",
            "3", "--lr", "0.001", "--select", "val", "--reference", "ststnet", "--out", "o", "--jobs", "3",
            "--threads", "2", "--vectorize-folds", "4", "--resume", "--device", "cpu", "--bootstrap", "500"]
    parent = parser.parse_args(argv)
    child_argv = compare._child_argv(parent, "2/3")
    assert child_argv[:4] == [sys.executable, "-m", "emhnet_lite", "compare"]
    child = parser.parse_args(child_argv[4:])
    assert (child.shard, child.no_merge, child.jobs) == ("2/3", True, 1)
    assert {k for k in vars(parent) if getattr(parent, k) != getattr(child, k)} == {"shard", "no_merge", "jobs"}
