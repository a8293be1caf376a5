"""Chapter 07 creates the teaching run exactly as chapter 06 does (so the files are the same either way)."""

from __future__ import annotations

import inspect

import nbformat

from emhnet_lite import teaching
from emhnet_lite.notebook_tools import NOTEBOOK_DIR

CHAPTER_06 = NOTEBOOK_DIR / "06_loso_evaluation.ipynb"
CHAPTER_07 = NOTEBOOK_DIR / "07_paper_figures.ipynb"


def _parameters(path) -> dict:
    """Values of a notebook's parameters cell (the one code cell tagged ``parameters``)."""
    nb = nbformat.read(path, as_version=4)
    cells = [c for c in nb.cells if c.cell_type == "code" and "parameters" in c.metadata.get("tags", [])]
    assert len(cells) == 1, f"{path.name}: expected exactly one parameters cell, found {len(cells)}"
    values: dict = {}
    exec(cells[0].source, {}, values)  # the repository's own notebook: plain assignments
    return values


def test_teaching_run_settings_match_chapter_06():
    ch06, ch07 = _parameters(CHAPTER_06), _parameters(CHAPTER_07)
    defaults = {name: p.default for name, p in inspect.signature(teaching.ensure_teaching_run).parameters.items()}
    pairs = {"model_name": "model", "preset": "preset", "epochs": "epochs", "selection": "selection",
             "val_subjects": "val_subjects", "seed": "seed", "threads": "threads"}
    for ch06_name, ensure_name in pairs.items():
        assert ch06[ch06_name] == defaults[ensure_name], (ch06_name, ch06[ch06_name], defaults[ensure_name])
    for name in ("model_name", "preset", "epochs", "val_subjects", "seed", "threads", "run_dir", "data_root"):
        assert ch07[name] == ch06[name], (name, ch07[name], ch06[name])
    assert ch07["run_selection"] == ch06["selection"]
    source = "\n".join(c.source for c in nbformat.read(CHAPTER_06, as_version=4).cells if c.cell_type == "code")
    assert f'data_source="{teaching.TEACHING_SOURCE}"' in source
