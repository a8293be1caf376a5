"""nbgrader compatibility: the chapters' cell metadata is stamped from the exercise markers, and nbgrader itself
generates and autogrades a chapter in a temporary course folder (test-only dependency nbgrader==0.9.6)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import nbformat
from nbgrader.api import Gradebook

from emhnet_lite import classroom
from emhnet_lite.classroom.exercises import BEGIN_MARKER, END_MARKER, cell_source
from emhnet_lite.classroom.nbgrader_meta import NBGRADER_KEY, grade_id
from emhnet_lite.notebook_tools import NOTEBOOK_DIR, REPO_ROOT

#: The chapter nbgrader runs on: its exercises come before any training, so autograding it is quick.
CHAPTER = "05_training.ipynb"
MARKER_LINE = re.compile(r"^[ \t]*(" + re.escape(BEGIN_MARKER) + "|" + re.escape(END_MARKER) + r")[ \t]*\n?",
                         re.MULTILINE)


def fake_chapter() -> nbformat.NotebookNode:
    """Two exercises (the second with two solution cells) and a plain cell."""
    nb = nbformat.v4.new_notebook()
    sources = [("x = 1", []), ("def f():\n    ### BEGIN SOLUTION\n    return 1\n    ### END SOLUTION", []),
               ("# CHECK: f returns one\nassert f() == 1", ["check"]),
               ("### BEGIN SOLUTION\na = 2\n### END SOLUTION", []), ("### BEGIN SOLUTION\nb = 3\n### END SOLUTION", []),
               ("# CHECK: a and b!\nassert (a, b) == (2, 3)", ["check"])]
    nb.cells = [nbformat.v4.new_code_cell(s, metadata={"tags": t} if t else {}) for s, t in sources]
    for i, cell in enumerate(nb.cells):
        cell["id"] = f"c{i}"
    return nb


def test_stamp_marks_solutions_and_checks_and_is_idempotent():
    stamped = classroom.stamp_nbgrader(fake_chapter(), "fake")
    meta = [c.metadata.get(NBGRADER_KEY) for c in stamped.cells]
    assert meta[0] is None
    assert meta[1] == {"grade": False, "grade_id": "solution-f-returns-one", "locked": False,
                       "schema_version": 3, "solution": True, "task": False}
    assert meta[2] == {"grade": True, "grade_id": "check-f-returns-one", "locked": True, "points": 1,
                       "schema_version": 3, "solution": False, "task": False}
    assert [m["grade_id"] for m in meta[3:]] == ["solution-a-and-b", "solution-a-and-b-2", "check-a-and-b"]
    stamped.cells[5].metadata[NBGRADER_KEY]["points"] = 3  # a teacher's points survive re-stamping
    again = classroom.stamp_nbgrader(stamped, "fake")
    assert again == classroom.stamp_nbgrader(again, "fake") and again.cells[5].metadata[NBGRADER_KEY]["points"] == 3
    again.cells[1].source = "def f():\n    return 1"  # the first exercise is dropped from the chapter
    again.cells.pop(2)
    assert [NBGRADER_KEY in c.metadata for c in classroom.stamp_nbgrader(again).cells] == [
        False, False, True, True, True]
    assert grade_id("check", "UF1 & UAR (pooled)") == "check-uf1-uar-pooled"


def test_stamp_chapters_rewrites_only_what_changes(tmp_path: Path):
    nbformat.write(fake_chapter(), tmp_path / "01_fake.ipynb")
    assert classroom.unstamped_chapters(tmp_path)
    assert classroom.stamp_chapters(tmp_path) == [tmp_path / "01_fake.ipynb"]
    assert classroom.stamp_chapters(tmp_path) == [] and classroom.unstamped_chapters(tmp_path) == []


def test_committed_chapters_are_stamped():
    assert classroom.unstamped_chapters(NOTEBOOK_DIR) == [], "run `emhnet student` to stamp the chapters"
    nb = nbformat.read(NOTEBOOK_DIR / CHAPTER, as_version=4)
    assert any(NBGRADER_KEY in c.metadata for c in nb.cells)


def _course_chapter(tmp_path: Path) -> nbformat.NotebookNode:
    """The chapter up to its last check, with papermill-style injected parameters for the course folder."""
    nb = nbformat.read(NOTEBOOK_DIR / CHAPTER, as_version=4)
    last = max(i for i, c in enumerate(nb.cells) if classroom.is_check_cell(c))
    nb.cells = nb.cells[: last + 1]
    at = next(i for i, c in enumerate(nb.cells) if "parameters" in c.metadata.get("tags", []))
    injected = nbformat.v4.new_code_cell(f"data_root = {str(REPO_ROOT / 'data')!r}\n"
                                         f"figures_dir = {str(tmp_path / 'figures')!r}",
                                         metadata={"tags": ["injected-parameters"]})
    injected["id"] = "injected-parameters"
    nb.cells.insert(at + 1, injected)
    return nb


def _nbgrader(course: Path, *args: str) -> None:
    env = dict(os.environ, PATH=f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
               EMHNET_PROGRESS="0")  # nbgrader runs alembic from the environment's bin folder
    done = subprocess.run([str(Path(sys.executable).parent / "nbgrader"), *args], cwd=course, env=env,
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stdout + done.stderr


def test_nbgrader_generates_and_autogrades_a_chapter(tmp_path: Path):
    course = tmp_path / "course"
    source = _course_chapter(tmp_path)
    (course / "source" / "ps1").mkdir(parents=True)
    nbformat.write(source, course / "source" / "ps1" / CHAPTER)
    (course / "nbgrader_config.py").write_text(
        f"c = get_config()\nc.CourseDirectory.root = {str(course)!r}\nc.CourseDirectory.course_id = 'emhnet'\n"
        "c.ExecutePreprocessor.timeout = 600\n")
    _nbgrader(course, "generate_assignment", "ps1")

    release = nbformat.read(course / "release" / "ps1" / CHAPTER, as_version=4)
    answers = {c.metadata[NBGRADER_KEY]["grade_id"]: MARKER_LINE.sub("", cell_source(c))
               for c in source.cells if c.metadata.get(NBGRADER_KEY, {}).get("solution")}
    checks = [c.metadata[NBGRADER_KEY]["grade_id"] for c in source.cells
              if c.metadata.get(NBGRADER_KEY, {}).get("grade")]
    blank = checks[-1].replace("check-", "solution-", 1)  # the last exercise is handed in blank
    for cell in release.cells:
        grade_cell = cell.metadata.get(NBGRADER_KEY, {})
        if grade_cell.get("solution"):
            assert "raise NotImplementedError()" in cell.source and BEGIN_MARKER not in cell.source
            if not grade_cell["grade_id"].startswith(blank):
                cell.source = answers[grade_cell["grade_id"]]
    (course / "submitted" / "alice" / "ps1").mkdir(parents=True)
    nbformat.write(release, course / "submitted" / "alice" / "ps1" / CHAPTER)
    _nbgrader(course, "autograde", "ps1", "--create")

    with Gradebook(f"sqlite:///{course / 'gradebook.db'}") as gradebook:
        scores = {gid: gradebook.find_grade(gid, Path(CHAPTER).stem, "ps1", "alice").auto_score for gid in checks}
    assert len(checks) >= 2
    assert scores == {gid: (0.0 if gid == checks[-1] else 1.0) for gid in checks}
