"""Student copies: every solution region replaced by ``raise NotImplementedError()`` at the BEGIN marker's
indentation and all outputs cleared, so on a blank copy every check must fail; written and checked current.
"""

from __future__ import annotations

import copy
import os
from pathlib import Path

import nbformat

from emhnet_lite.classroom.exercises import (
    EXERCISE_TAG,
    cell_source,
    cell_tags,
    find_exercises,
    has_exercises,
    notebook_text,
    strip_solutions,
)
from emhnet_lite.notebook_tools import KERNEL_NAME, NOTEBOOK_DIR, chapter_notebooks
from emhnet_lite.utils import write_text_atomic

STUDENT_DIRNAME = "student"
SETUP_TAG = "student-setup"
#: First cell of every student copy: the copies live in ``notebooks/student/`` but their relative
#: defaults (``../data``, ``../figures``, ``../runs``) are written for ``notebooks/``; this moves the
#: kernel there, silently and idempotently, so the solution and student copies share data and runs.
STUDENT_SETUP_SOURCE = (
    "# Student copy: run from the chapters' folder so relative paths (../data, ../runs) match the solutions.\n"
    "import os as _os\n"
    "from pathlib import Path as _Path\n"
    "\n"
    f'if _Path.cwd().name == "{STUDENT_DIRNAME}":\n'
    "    _os.chdir(_Path.cwd().parent)"
)

def make_student_notebook(nb: nbformat.NotebookNode, name: str = "notebook") -> nbformat.NotebookNode:
    """The student copy of a solution notebook: solutions stubbed, outputs and counts cleared.

    Deterministic (same input → same bytes via :func:`notebook_text`), so CI can check copies are current.
    """
    find_exercises(nb, name)  # validate the structure first: a broken exercise must not be handed out
    student = copy.deepcopy(nb)
    for index, cell in enumerate(student.cells):
        for key in ("papermill", "execution", "ExecuteTime", "collapsed", "scrolled"):
            cell.metadata.pop(key, None)
        if "id" not in cell:  # nbformat < 4.5 sources: give stable ids instead of random ones
            cell["id"] = f"cell-{index}"
        if cell.cell_type != "code":
            continue
        cell.source, regions = strip_solutions(cell_source(cell), f"{name} cell {index}")
        if regions and EXERCISE_TAG not in cell_tags(cell):
            cell.metadata["tags"] = cell_tags(cell) + [EXERCISE_TAG]
        cell.outputs = []
        cell.execution_count = None
    setup = nbformat.v4.new_code_cell(STUDENT_SETUP_SOURCE, metadata={"tags": [SETUP_TAG]})
    setup["id"] = "student-setup"
    student.cells.insert(0, setup)
    student.nbformat, student.nbformat_minor = 4, max(5, int(student.get("nbformat_minor", 5)))
    student.metadata.pop("papermill", None)
    student.metadata.pop("widgets", None)
    student.metadata["kernelspec"] = {"display_name": "Python 3", "language": "python", "name": KERNEL_NAME}
    student.metadata["emhnet_student_copy"] = {"generated_from": name,
                                               "regenerate_with": "emhnet student"}
    return student


def student_copies(source_dir: str | os.PathLike = NOTEBOOK_DIR) -> dict[str, str]:
    """In memory: ``{file name: student-copy text}`` for every chapter with exercises in ``source_dir``."""
    copies = {}
    for path in chapter_notebooks(source_dir):
        nb = nbformat.read(path, as_version=4)
        if has_exercises(nb):
            copies[path.name] = notebook_text(make_student_notebook(nb, path.name))
    return copies


def write_student_notebooks(source_dir: str | os.PathLike = NOTEBOOK_DIR,
                            out_dir: str | os.PathLike | None = None) -> list[Path]:
    """Write ``<source_dir>/student/<name>.ipynb`` for each chapter with exercises; remove stale copies.

    Unchanged files are not rewritten (their mtime stays), so regenerating is a no-op on current copies.
    """
    out = Path(out_dir) if out_dir is not None else Path(source_dir) / STUDENT_DIRNAME
    copies = student_copies(source_dir)
    written = []
    for name, text in copies.items():
        target = out / name
        if not target.exists() or target.read_text() != text:
            write_text_atomic(target, text)
        written.append(target)
    if out.exists():
        for stale in sorted(out.glob("*.ipynb")):
            if stale.name not in copies:
                stale.unlink()
    return written


def stale_student_copies(source_dir: str | os.PathLike = NOTEBOOK_DIR,
                         student_dir: str | os.PathLike | None = None) -> list[str]:
    """Problems with the committed student copies: missing, out of date, or orphaned (no solution)."""
    student_dir = Path(student_dir) if student_dir is not None else Path(source_dir) / STUDENT_DIRNAME
    expected = student_copies(source_dir)
    problems = []
    for name, text in expected.items():
        path = student_dir / name
        if not path.exists():
            problems.append(f"{path}: missing student copy (run `emhnet student`)")
        elif path.read_text() != text:
            problems.append(f"{path}: out of date with ../{name} (run `emhnet student`)")
    if student_dir.exists():
        for path in sorted(student_dir.glob("*.ipynb")):
            if path.name not in expected:
                problems.append(f"{path}: no solution notebook with exercises named {path.name}")
    return problems
