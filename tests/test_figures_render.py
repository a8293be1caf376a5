"""Figures from a fabricated run folder: provenance, labelling of synthetic/oracle results, file checks."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
from figures_fake_run import make_fake_run

from emhnet_lite import cli
from emhnet_lite.figures import (
    comparison_figure,
    comparison_per_dataset_figure,
    confusion_composite_figure,
    confusion_per_dataset_figure,
    load_published,
    render_all,
    render_figure,
    sources_table,
)
from emhnet_lite.metrics import scores
from emhnet_lite.runs import RunFolderError, load_run

EXPECTED_NAMES = ["07_confusion_composite", "07_confusion_per_dataset", "07_published_comparison",
                  "07_published_comparison_per_dataset", "07_region_gates", "07_per_subject_accuracy",
                  "07_training_curves"]


def _texts(fig) -> str:
    """Every piece of text drawn in a figure (titles, tick labels, annotations, legends)."""
    return "\n".join(t.get_text() for t in fig.findobj(lambda a: hasattr(a, "get_text")))


@pytest.fixture()
def synthetic_run(tmp_path: Path) -> Path:
    return make_fake_run(tmp_path / "runs" / "fake")


def test_render_all_writes_every_figure_with_sources(synthetic_run: Path, tmp_path: Path):
    out = tmp_path / "figures"
    records = render_all(synthetic_run, out)
    assert [r.name for r in records] == EXPECTED_NAMES
    for name in EXPECTED_NAMES:
        assert (out / f"{name}.png").stat().st_size > 1000
        assert (out / f"{name}.pdf").stat().st_size > 1000
    sources = pd.read_csv(out / "07_figure_sources.csv")
    assert list(sources["figure"]) == EXPECTED_NAMES
    by_name = dict(zip(sources["figure"], sources["numbers_from"], strict=True))
    assert by_name["07_region_gates"] == "gates_last.csv"
    assert by_name["07_training_curves"] == "history.csv"
    assert "predictions_oracle.csv" in by_name["07_confusion_composite"]
    assert "published_results.csv" in by_name["07_published_comparison"]


def test_rendering_is_byte_stable(synthetic_run: Path, tmp_path: Path):
    run = load_run(synthetic_run)
    for key in ("confusion_composite", "published_comparison"):
        first, _ = render_figure(run, key, tmp_path / "a")
        second, _ = render_figure(load_run(synthetic_run), key, tmp_path / "b")
        for path_a, path_b in zip(first.files, second.files, strict=True):
            assert path_a.read_bytes() == path_b.read_bytes(), path_a.name


def test_numbers_in_figures_come_from_the_saved_files(synthetic_run: Path):
    run = load_run(synthetic_run)
    last = run.predictions["last"]
    expected = scores(last["true"], last["predicted"])
    text = _texts(confusion_composite_figure(run))
    assert f"UF1 {expected.uf1:.3f} · UAR {expected.uar:.3f} · n=24" in text
    metrics = pd.read_csv(synthetic_run / "metrics.csv")
    oracle_uf1 = metrics.query("selection == 'oracle' and subset == 'composite'")["uf1"].item()
    comparison = _texts(comparison_figure(run, load_published()))
    assert f"{oracle_uf1:.3f}" in comparison
    assert "0.860" in comparison and "0.648–0.655" in comparison  # published HTNet and the user re-run range


def test_synthetic_and_oracle_results_are_labelled(synthetic_run: Path, tmp_path: Path):
    run = load_run(synthetic_run)
    comparison = _texts(comparison_figure(run, load_published()))
    assert "emhnet_tiny on SynthME (synthetic) — last — not comparable" in comparison
    assert "emhnet_tiny on SynthME (synthetic) — oracle (test-set-selected) — not comparable" in comparison
    per_dataset_comparison = _texts(comparison_per_dataset_figure(run, load_published()))
    assert "emhnet_tiny on SynthME · CASME II layout — last — not comparable" in per_dataset_comparison
    assert "0.953" in per_dataset_comparison  # HTNet's published CASME II UF1, from the shipped table
    per_dataset = _texts(confusion_per_dataset_figure(run))
    assert "SynthME · SMIC-HS layout" in per_dataset and "\nSMIC-HS\n" not in f"\n{per_dataset}\n"
    assert "oracle (test-set-selected)" in _texts(confusion_composite_figure(run))

    real = load_run(make_fake_run(tmp_path / "real", source="casme2+samm+smic (licensed)"))
    real_text = _texts(comparison_figure(real, load_published()))
    assert "not comparable" not in real_text and "SynthME" not in real_text
    assert "SMIC-HS" in _texts(confusion_per_dataset_figure(real))


def test_missing_gates_are_skipped_with_a_reason(tmp_path: Path):
    run = load_run(make_fake_run(tmp_path / "baseline", gates=False))
    record, fig = render_figure(run, "region_gates", tmp_path / "out")
    assert fig is None and record.files == [] and "gates_last.csv" in record.skipped
    assert not (tmp_path / "out" / "07_region_gates.png").exists()
    table = sources_table([record])
    assert table["written"].item() == "skipped" and table["description"].item().startswith("SKIPPED:")


def test_inconsistent_or_malformed_run_folders_are_rejected(synthetic_run: Path):
    metrics = pd.read_csv(synthetic_run / "metrics.csv")
    metrics.loc[0, "uf1"] += 0.01
    metrics.to_csv(synthetic_run / "metrics.csv", index=False)
    with pytest.raises(RunFolderError, match=r"metrics.csv: last/composite uf1=.* predictions_last.csv gives"):
        load_run(synthetic_run)

    fresh = make_fake_run(synthetic_run.parent / "bad_label")
    predictions = pd.read_csv(fresh / "predictions_oracle.csv")
    predictions.loc[5, "predicted"] = 7
    predictions.to_csv(fresh / "predictions_oracle.csv", index=False)
    with pytest.raises(RunFolderError, match=r"predictions_oracle.csv: row 7 column 'predicted': '7'"):
        load_run(fresh)

    other = make_fake_run(synthetic_run.parent / "no_column")
    pd.read_csv(other / "history.csv").drop(columns="test_acc").to_csv(other / "history.csv", index=False)
    with pytest.raises(RunFolderError, match=r"history.csv: missing column\(s\) \['test_acc'\]"):
        load_run(other)
    with pytest.raises(RunFolderError, match="run folder not found"):
        load_run(synthetic_run.parent / "nope")


def test_cli_writes_the_same_set(synthetic_run: Path, tmp_path: Path, capsys):
    assert cli.main(["figures", str(synthetic_run), "--out", str(tmp_path / "cli")]) == 0
    assert sorted(p.stem for p in (tmp_path / "cli").glob("*.png")) == sorted(EXPECTED_NAMES)
    assert "7 figure(s) written" in capsys.readouterr().out


def test_unlabelled_data_is_not_comparable(tmp_path: Path):
    run = load_run(make_fake_run(tmp_path / "anon", source=""))
    text = _texts(comparison_figure(run, load_published()))
    assert "emhnet_tiny on unlabelled data — last — not comparable" in text


def test_cli_reports_bad_run_folder(tmp_path: Path, capsys):
    assert cli.main(["figures", str(tmp_path / "missing"), "--out", str(tmp_path / "out")]) == 2
    assert "run folder not found" in capsys.readouterr().err
    run_dir = make_fake_run(tmp_path / "run")
    assert cli.main(["figures", str(run_dir), "--out", str(tmp_path / "out"), "--overlays", "2"]) == 2
    assert "--overlays needs --overlay-data" in capsys.readouterr().err
