"""The committed chapter notebooks follow the harness rules, and nbval really compares their outputs."""

from __future__ import annotations

import copy
import os
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

from emhnet_lite.notebook_tools import chapter_notebooks, strip_volatile_metadata

REPO = Path(__file__).resolve().parents[1]
CHAPTERS = chapter_notebooks(REPO / "notebooks")


def test_there_is_at_least_the_overview_chapter():
    assert any(p.name.startswith("00_") for p in CHAPTERS)


@pytest.mark.parametrize("path", CHAPTERS, ids=lambda p: p.name)
def test_chapter_follows_the_harness_rules(path: Path):
    nb = nbformat.read(path, as_version=4)
    assert nb.metadata.get("kernelspec", {}).get("name") == "python3", "kernel must be python3"
    tagged = [c for c in nb.cells if "parameters" in c.get("metadata", {}).get("tags", [])]
    assert len(tagged) == 1, f"exactly one cell tagged 'parameters', found {len(tagged)}"
    assert tagged[0].cell_type == "code"
    assert "papermill" not in nb.metadata, "strip papermill metadata (emhnet notebooks refresh does)"
    code_cells = [c for c in nb.cells if c.cell_type == "code"]
    for index, cell in enumerate(code_cells):
        assert "papermill" not in cell.metadata and "execution" not in cell.metadata, f"code cell {index}"
        assert cell.get("execution_count") is not None, f"code cell {index} has no stored run"
    assert sum(len(c.get("outputs", [])) for c in code_cells) > 0, "no stored outputs: nbval would compare nothing"
    for cell in code_cells:
        for output in cell.get("outputs", []):
            assert output.get("output_type") != "error", "a stored output is an error"


@pytest.mark.parametrize("path", CHAPTERS, ids=lambda p: p.name)
def test_parameters_cell_parses_for_papermill(path: Path, caplog):
    """papermill reads every parameter with its default and help (a ``=`` in a comment made it warn
    "Unable to parse line" and drop the parameter from ``papermill --help-notebook``)."""
    import ast
    import logging

    from papermill.translators import PythonTranslator

    nb = nbformat.read(path, as_version=4)
    cell = next(c for c in nb.cells if "parameters" in c.get("metadata", {}).get("tags", []))
    assigned = [target.id for node in ast.parse(cell.source).body if isinstance(node, ast.Assign)
                for target in node.targets]
    with caplog.at_level(logging.WARNING, logger="papermill"):
        parsed = PythonTranslator.inspect(cell)
    assert not caplog.records, [record.getMessage() for record in caplog.records]
    assert [parameter.name for parameter in parsed] == assigned


def _tiny_notebook(stored_text: str) -> nbformat.NotebookNode:
    nb = nbformat.v4.new_notebook()
    params = nbformat.v4.new_code_cell("answer = 6 * 7")
    params.metadata["tags"] = ["parameters"]
    shown = nbformat.v4.new_code_cell("print(answer)")
    shown.outputs = [nbformat.v4.new_output("stream", name="stdout", text=stored_text)]
    params.execution_count, shown.execution_count = 1, 2
    nb.cells = [params, shown]
    return strip_volatile_metadata(nb)


def _run_nbval(path: Path) -> int:
    env = dict(os.environ, EMHNET_BATCH="1")
    cmd = [sys.executable, "-m", "pytest", "-q", "--nbval", "--nbval-current-env",
           "--nbval-sanitize-with", str(REPO / ".ci" / "nbval_sanitize.cfg"), str(path)]
    return subprocess.run(cmd, cwd=path.parent, env=env, capture_output=True, text=True).returncode


def test_nbval_fails_on_a_broken_stored_output_and_passes_when_restored(tmp_path):
    good = tmp_path / "good.ipynb"
    nbformat.write(_tiny_notebook("42\n"), good)
    broken = tmp_path / "broken.ipynb"
    nbformat.write(_tiny_notebook("41\n"), broken)
    assert _run_nbval(good) == 0
    assert _run_nbval(broken) != 0


def test_strip_volatile_metadata_removes_papermill_timing():
    nb = _tiny_notebook("42\n")
    dirty = copy.deepcopy(nb)
    dirty.metadata["papermill"] = {"duration": 1.0}
    dirty.cells[1].metadata["papermill"] = {"start_time": "2026-01-01"}
    dirty.cells[1].metadata["execution"] = {"iopub.status.busy": "2026-01-01"}
    assert strip_volatile_metadata(dirty) == nb
