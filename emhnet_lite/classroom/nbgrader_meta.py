"""nbgrader cell metadata, stamped from the exercise markers, so a course can run nbgrader on the chapters.

Solution cells get ``{"solution": true, "grade": false}``, check cells are nbgrader's "autograder tests"
(``{"grade": true, "solution": false, "locked": true, "points": 1}``), every one with a ``grade_id`` derived
from the check's title and ``schema_version`` 3. Stamping is idempotent (a teacher's ``points`` survive) and
removes the metadata from cells that are no longer part of an exercise, so it can be re-applied whenever a
chapter is edited; ``emhnet student`` does it before writing the student copies.
"""

from __future__ import annotations

import copy
import os
import re
from pathlib import Path

import nbformat

from emhnet_lite.classroom.exercises import find_exercises, has_exercises, notebook_text
from emhnet_lite.notebook_tools import NOTEBOOK_DIR, chapter_notebooks
from emhnet_lite.utils import write_text_atomic

NBGRADER_KEY = "nbgrader"
SCHEMA_VERSION = 3  # nbgrader 0.9's cell-metadata schema
DEFAULT_POINTS = 1


def grade_id(kind: str, title: str, part: int = 0) -> str:
    """nbgrader's ``grade_id`` (letters, digits, ``-``, ``_``): ``<kind>-<title slug>[-<part>]``."""
    slug = re.sub(r"[^a-z0-9]+", "-", title.lower()).strip("-")
    return f"{kind}-{slug}" + (f"-{part + 1}" if part else "")


def _points(cell: nbformat.NotebookNode) -> int | float:
    """The points a teacher gave a check cell (kept when re-stamping), else the default."""
    points = cell.get("metadata", {}).get(NBGRADER_KEY, {}).get("points")
    return points if isinstance(points, int | float) and points > 0 else DEFAULT_POINTS


def stamp_nbgrader(nb: nbformat.NotebookNode, name: str = "notebook") -> nbformat.NotebookNode:
    """A copy of a solution notebook whose exercise cells carry nbgrader metadata (and no other cell does)."""
    stamped = copy.deepcopy(nb)
    wanted: dict[int, dict] = {}
    for exercise in find_exercises(stamped, name):
        for part, index in enumerate(exercise.solution_cells):
            wanted[index] = {"grade": False, "grade_id": grade_id("solution", exercise.title, part),
                             "locked": False, "schema_version": SCHEMA_VERSION, "solution": True, "task": False}
        check = stamped.cells[exercise.check_cell]
        wanted[exercise.check_cell] = {"grade": True, "grade_id": grade_id("check", exercise.title),
                                       "locked": True, "points": _points(check),
                                       "schema_version": SCHEMA_VERSION, "solution": False, "task": False}
    for index, cell in enumerate(stamped.cells):
        if index in wanted:
            cell.metadata[NBGRADER_KEY] = wanted[index]
        else:
            cell.metadata.pop(NBGRADER_KEY, None)
    return stamped


def unstamped_chapters(source_dir: str | os.PathLike = NOTEBOOK_DIR) -> list[str]:
    """Chapters whose nbgrader metadata differs from a fresh stamp (run ``emhnet student``)."""
    problems = []
    for path in chapter_notebooks(source_dir):
        nb = nbformat.read(path, as_version=4)
        if has_exercises(nb) or any(NBGRADER_KEY in c.get("metadata", {}) for c in nb.cells):
            if notebook_text(stamp_nbgrader(nb, path.name)) != notebook_text(nb):
                problems.append(f"{path}: nbgrader metadata out of date (run `emhnet student`)")
    return problems


def stamp_chapters(source_dir: str | os.PathLike = NOTEBOOK_DIR) -> list[Path]:
    """Stamp every chapter in place; only files whose metadata changes are rewritten. Returns those."""
    changed = []
    for path in chapter_notebooks(source_dir):
        nb = nbformat.read(path, as_version=4)
        new = notebook_text(stamp_nbgrader(nb, path.name))
        if new != notebook_text(nb):
            write_text_atomic(path, new)
            changed.append(path)
    return changed
