"""The repository's own chapters: exercise structure, current student copies, checks pass / fail.

Skips with a reason while no chapter has exercises yet. Executing the blank student copies is the
expensive part; it runs the copies only up to their last check cell.
"""

from __future__ import annotations

import nbformat
import pytest

from emhnet_lite import classroom
from emhnet_lite.notebook_tools import NOTEBOOK_DIR, chapter_notebooks


def _chapters_with_exercises():
    found = []
    for path in chapter_notebooks(NOTEBOOK_DIR):
        nb = nbformat.read(path, as_version=4)
        if classroom.has_exercises(nb):
            found.append((path, nb))
    return found


CHAPTERS = _chapters_with_exercises()
needs_exercises = pytest.mark.skipif(not CHAPTERS, reason="no chapter in notebooks/ has exercises yet")


@needs_exercises
def test_every_exercise_is_well_formed():
    for path, nb in CHAPTERS:
        assert classroom.find_exercises(nb, path.name), f"{path.name}: markers but no exercise"


@needs_exercises
def test_student_copies_are_current():
    assert classroom.stale_student_copies(NOTEBOOK_DIR) == []


@needs_exercises
def test_solution_checks_passed_in_committed_outputs():
    failures = [f"{path.name}: {r.title!r} {r.status} {r.error}"
                for path, nb in CHAPTERS for r in classroom.check_results(nb, path.name) if r.status != "passed"]
    assert failures == []


@needs_exercises
@pytest.mark.slow
@pytest.mark.parametrize("name", [path.name for path, _ in CHAPTERS])
def test_every_check_fails_on_blank_student_copy(name):
    student_path = NOTEBOOK_DIR / classroom.STUDENT_DIRNAME / name
    if not student_path.exists():
        pytest.fail(f"{student_path} missing: run `emhnet student`")
    student = nbformat.read(student_path, as_version=4)
    executed = classroom.execute_notebook_checks(student, NOTEBOOK_DIR, name, timeout=600)
    assert executed.checks, f"{name}: student copy has no check cells"
    assert executed.first_error_is_exercise, (
        f"{name}: cell {executed.first_error_cell} raised {executed.first_error} before any exercise stub")
    assert [r.title for r in executed.checks if r.status != "failed"] == []
