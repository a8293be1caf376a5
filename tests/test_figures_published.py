"""The shipped published-results table: DESIGN.md §8 numbers, sources, selection flags, validation."""

from __future__ import annotations

from pathlib import Path

import pytest

from emhnet_lite.figures import load_published


def _row(table, method: str, subset: str = "composite"):
    match = table[(table["method"] == method) & (table["subset"] == subset)]
    assert len(match) == 1, (method, subset)
    return match.iloc[0]


@pytest.mark.parametrize("method, subset, uf1, uar", [
    ("STSTNet", "composite", 0.7353, 0.7605), ("RCN", "composite", 0.7432, 0.7190),
    ("FeatRef", "composite", 0.7838, 0.7832), ("HTNet", "composite", 0.8603, 0.8475),
    ("HTNet", "smic", 0.8049, 0.7905), ("HTNet", "casme2", 0.9532, 0.9516), ("HTNet", "samm", 0.8131, 0.8124),
    ("CausalNet", "composite", 0.8976, 0.9020),
    ("STSTNet (PyTorch re-run, last epoch)", "composite", 0.7209, 0.725),
])
def test_design_table_numbers(method, subset, uf1, uar):
    row = _row(load_published(), method, subset)
    assert row["uf1"] == pytest.approx(uf1, abs=5e-5) and row["uar"] == pytest.approx(uar, abs=5e-5)


def test_selection_flags_and_sources():
    table = load_published()
    assert _row(table, "HTNet")["test_set_selected"] == "yes"
    assert _row(table, "STSTNet (PyTorch re-run, last epoch)")["test_set_selected"] == "no"
    users = _row(table, "HTNet (users running the released code)")
    assert (users["uf1"], users["uf1_max"]) == (0.648, 0.655) and users["kind"] == "re-run"
    assert table["source"].str.len().min() > 10
    assert set(table.loc[table["default_figure"], "subset"]) == {"composite"}
    assert (table["kind"] == "re-run").sum() >= 5


def test_malformed_table_names_row_and_field(tmp_path: Path):
    from emhnet_lite.figures.published import published_results_path

    lines = published_results_path().read_text().splitlines()
    lines[3] = lines[3].replace(",unknown,", ",maybe,", 1)
    bad = tmp_path / "bad.csv"
    bad.write_text("\n".join(lines) + "\n")
    with pytest.raises(ValueError, match=r"bad.csv: row 4 field 'test_set_selected': 'maybe'"):
        load_published(bad)
