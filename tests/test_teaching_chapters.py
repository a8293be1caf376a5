"""Chapters as teaching material: header (goals, prerequisites, measured run time, links), questions with an
answer key that only the teachers' guide holds, and chapter 00's architecture diagram."""

from __future__ import annotations

import os
import re
from pathlib import Path

import nbformat
import pytest

from emhnet_lite.notebook_tools import NOTEBOOK_DIR, REPO_ROOT, RUN_TIME_PREFIX, run_time_line, stamp_run_time

#: Chapters that carry the full header and a Questions section (the others follow as they are rewritten).
HEADED = ("00_overview.ipynb", "01_data_preparation.ipynb", "02_region_experts.ipynb", "03_hmoe_gate.ipynb",
          "04_multiscale_partitioning.ipynb", "05_training.ipynb", "06_loso_evaluation.ipynb", "07_paper_figures.ipynb")


def questions(nb: nbformat.NotebookNode) -> list[str]:
    """The numbered items of the chapter's ``## Questions`` cell."""
    cells = [c.source for c in nb.cells if c.cell_type == "markdown" and c.source.startswith("## Questions")]
    assert len(cells) == 1, "exactly one '## Questions' cell"
    return re.findall(r"^\d+\. (.+)$", cells[0], flags=re.MULTILINE)


@pytest.mark.parametrize("name", HEADED)
def test_header_has_goals_prerequisites_run_time_and_links(name: str):
    nb = nbformat.read(NOTEBOOK_DIR / name, as_version=4)
    header = nb.cells[0].source
    assert nb.cells[0].cell_type == "markdown" and header.startswith(f"# {name[:2]} · ")
    assert "You will learn" in header or "You will:" in header
    assert "**Prerequisites:**" in header
    run_time = [line for line in header.split("\n") if line.startswith(RUN_TIME_PREFIX)]
    assert len(run_time) == 1 and re.search(r"about [1-9]\d*(\.\d)? (s|min)", run_time[0]), run_time
    for target in re.findall(r"\]\(([0-9]{2}_[a-z_]+\.ipynb)\)", header):
        assert (NOTEBOOK_DIR / target).exists(), f"{name} links to a missing chapter {target}"
    assert re.search(r"\*\*Next:\*\*|\*\*Previous:\*\*", header)


@pytest.mark.parametrize("name", HEADED)
def test_questions_have_answers_only_in_the_teachers_guide(name: str):
    nb = nbformat.read(NOTEBOOK_DIR / name, as_version=4)
    asked = questions(nb)
    assert len(asked) >= 5
    guide = (REPO_ROOT / "docs" / "teachers.md").read_text()
    section = guide.split(f"### {name[:2]} · ", 1)
    assert len(section) == 2, f"docs/teachers.md has no answer key for chapter {name[:2]}"
    answers = re.findall(r"^\d+\. ", section[1].split("\n### ", 1)[0], flags=re.MULTILINE)
    assert len(answers) == len(asked), f"{name}: {len(asked)} questions, {len(answers)} answers"
    chapter_text = "\n".join(c.source for c in nb.cells)
    assert "Answer" not in chapter_text.split("## Questions", 1)[1]


def test_run_time_line_is_stamped_into_the_header_only():
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_markdown_cell("# 09 · X\n\n**Run time:** unknown\n"),
                                         nbformat.v4.new_markdown_cell("**Run time:** not this one")])
    assert stamp_run_time(nb, 42.4, cores=2)
    assert nb.cells[0].source.split("\n")[2] == run_time_line(42.4, 2)
    assert "about 40 s on a 2-core CPU" in nb.cells[0].source and nb.cells[1].source.endswith("not this one")
    assert "about 3.5 min" in run_time_line(210, 2)
    assert not stamp_run_time(nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("x = 1")]), 1.0)


def test_chapter_00_embeds_the_architecture_diagram_drawn_by_the_chapter():
    nb = nbformat.read(NOTEBOOK_DIR / "00_overview.ipynb", as_version=4)
    markdown = "\n".join(c.source for c in nb.cells if c.cell_type == "markdown")
    code = "\n".join(c.source for c in nb.cells if c.cell_type == "code")
    assert "](../figures/00_emhnet_architecture.png)" in markdown
    assert "architecture_figure(" in code and "00_emhnet_architecture.png" in code
    assert Path(REPO_ROOT / "figures" / "00_emhnet_architecture.png").stat().st_size > 10_000


def test_refresh_runs_without_progress_bars_and_stamps_the_run_time(tmp_path: Path, monkeypatch):
    from emhnet_lite import notebook_tools

    path = tmp_path / "09_x.ipynb"
    nbformat.write(nbformat.v4.new_notebook(cells=[nbformat.v4.new_markdown_cell("# 09 · X\n\n**Run time:** ?")]),
                   path)
    seen = {}
    monkeypatch.setattr(notebook_tools, "execute_notebook",
                        lambda source, output: seen.setdefault("progress", os.environ.get("EMHNET_PROGRESS")))
    monkeypatch.delenv("EMHNET_PROGRESS", raising=False)
    assert notebook_tools.refresh([path]) == [path]
    assert seen["progress"] == "0" and "EMHNET_PROGRESS" not in os.environ
    assert "about 5 s on a" in nbformat.read(path, as_version=4).cells[0].source
