"""Checks and grading: run a notebook with errors allowed, read each check cell's outcome, grade a
submission with the teacher's check cells, and CI's verification that solutions pass and blank copies fail.
"""

from __future__ import annotations

import copy
import os
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

import nbformat

from emhnet_lite.classroom.exercises import (
    EXERCISE_TAG,
    STUB_LINE,
    ExerciseFormatError,
    cell_source,
    cell_tags,
    check_title,
    find_exercises,
    has_exercises,
    is_check_cell,
)
from emhnet_lite.classroom.nbgrader_meta import unstamped_chapters
from emhnet_lite.classroom.sealing import INDEPENDENT_TAG, SEAL_NAME
from emhnet_lite.classroom.student import STUDENT_DIRNAME, stale_student_copies
from emhnet_lite.notebook_tools import KERNEL_NAME, NOTEBOOK_DIR, chapter_notebooks


@dataclass
class CheckResult:
    """Outcome of one check cell: ``passed`` / ``failed`` / ``not run``, with the error name if any."""

    title: str
    cell_index: int
    status: str
    error: str = ""


@dataclass
class VerificationReport:
    """Problems found by :func:`verify_classroom`, one readable line each (empty = all good)."""

    problems: list[str] = field(default_factory=list)
    checked: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems


def check_results(nb: nbformat.NotebookNode, name: str = "notebook") -> list[CheckResult]:
    """Per check cell of an executed notebook: passed (ran, no error), failed (error output), not run."""
    results = []
    for index, cell in enumerate(nb.cells):
        if not is_check_cell(cell):
            continue
        title = check_title(cell, f"{name} cell {index}")
        errors = [o for o in cell.get("outputs", []) if o.get("output_type") == "error"]
        if errors:
            results.append(CheckResult(title, index, "failed", errors[0].get("ename", "error")))
        elif cell.get("execution_count") is None:
            results.append(CheckResult(title, index, "not run"))
        else:
            results.append(CheckResult(title, index, "passed"))
    return results


def _truncate_after_last_check(nb: nbformat.NotebookNode) -> nbformat.NotebookNode:
    """Drop the cells after the last check cell: they cannot change any check's outcome."""
    last = max((i for i, c in enumerate(nb.cells) if is_check_cell(c)), default=-1)
    short = copy.deepcopy(nb)
    short.cells = short.cells[: last + 1]
    return short


@dataclass
class ExecutionReport:
    """Per-check outcomes of one execution, plus the first cell that raised (index, error name)."""

    checks: list[CheckResult]
    first_error_cell: int | None = None
    first_error: str = ""
    first_error_is_exercise: bool = True


def execute_notebook_checks(nb: nbformat.NotebookNode, cwd: str | os.PathLike, name: str = "notebook",
                            timeout: int = 600, truncate: bool = True) -> ExecutionReport:
    """Execute a notebook (errors allowed, so every check cell runs); report checks and the first error.

    With ``truncate`` the cells after the last check are skipped (they cannot affect a check), which is
    what keeps verifying the student copies cheap enough for CI.
    """
    from nbclient import NotebookClient

    work = _truncate_after_last_check(nb) if truncate else copy.deepcopy(nb)
    env_before = os.environ.get("EMHNET_PROGRESS")
    os.environ["EMHNET_PROGRESS"] = "0"
    try:
        client = NotebookClient(work, timeout=timeout, kernel_name=KERNEL_NAME, allow_errors=True,
                                resources={"metadata": {"path": str(cwd)}})
        client.execute()
    finally:
        if env_before is None:
            os.environ.pop("EMHNET_PROGRESS", None)
        else:
            os.environ["EMHNET_PROGRESS"] = env_before
    report = ExecutionReport(check_results(work, name))
    for index, cell in enumerate(work.cells):
        errors = [o for o in cell.get("outputs", []) if o.get("output_type") == "error"]
        if errors:
            report.first_error_cell, report.first_error = index, errors[0].get("ename", "error")
            report.first_error_is_exercise = is_check_cell(cell) or EXERCISE_TAG in cell_tags(cell) \
                or STUB_LINE in cell_source(cell)
            break
    return report


def execute_checks(nb: nbformat.NotebookNode, cwd: str | os.PathLike, name: str = "notebook",
                   timeout: int = 600, truncate: bool = True) -> list[CheckResult]:
    """Execute a notebook with errors allowed and return the per-check outcomes only."""
    return execute_notebook_checks(nb, cwd, name, timeout, truncate).checks


def grade(submission: str | os.PathLike, solution: str | os.PathLike | None = None,
          cwd: str | os.PathLike | None = None, timeout: int = 600) -> list[CheckResult]:
    """Run a student's filled notebook (in ``cwd``, default the chapters' folder) and report pass/fail per exercise.

    With ``solution`` (the teacher's notebook) the official check cells replace the submission's by title,
    so an edited or deleted check cannot pass; a missing exercise is reported as failed (``missing``).
    """
    submission = Path(submission)
    nb = nbformat.read(submission, as_version=4)
    missing: list[CheckResult] = []
    if solution is not None:
        official = nbformat.read(solution, as_version=4)
        official_checks = {check_title(c, f"{solution}"): cell_source(c) for c in official.cells if is_check_cell(c)}
        seen = set()
        for index, cell in enumerate(nb.cells):
            if is_check_cell(cell):
                title = check_title(cell, f"{submission} cell {index}")
                if title in official_checks:
                    cell.source = official_checks[title]
                    seen.add(title)
        missing = [CheckResult(t, -1, "failed", "missing") for t in official_checks if t not in seen]
    # the chapters' folder: relative defaults (../data, ../runs) resolve as in the solution notebooks
    workdir = Path(cwd) if cwd is not None else NOTEBOOK_DIR
    return execute_checks(nb, workdir, submission.name, timeout=timeout) + missing


def format_results(results: Iterable[CheckResult]) -> str:
    """A plain-text table of check outcomes with a pass count (for the terminal and grade sheets)."""
    results = list(results)
    lines = [f"{r.status:8s} {r.title}" + (f"  ({r.error})" if r.error else "") for r in results]
    passed = sum(r.status == "passed" for r in results)
    lines.append(f"{passed}/{len(results)} checks passed")
    return "\n".join(lines)


def unsealed_checks(nb: nbformat.NotebookNode, name: str = "notebook") -> list[str]:
    """Check cells that neither seal a reference (``without_reference``) nor are tagged ``independent``.

    A check that compares with the package without the seal passes an answer that calls the package; one
    that needs no reference (hand-worked cases only, or files a run wrote) says so with the tag.
    """
    problems = []
    for index, cell in enumerate(nb.cells):
        if is_check_cell(cell) and INDEPENDENT_TAG not in cell_tags(cell) \
                and f"{SEAL_NAME}(" not in cell_source(cell):
            problems.append(f"{name} cell {index}: check {check_title(cell)!r} runs the answer without "
                            f"`{SEAL_NAME}(...)` and is not tagged '{INDEPENDENT_TAG}' (docs/teachers.md)")
    return problems


def verify_classroom(source_dir: str | os.PathLike = NOTEBOOK_DIR, execute_students: bool = True,
                     timeout: int = 600) -> VerificationReport:
    """CI's classroom check: copies current, nbgrader metadata current, every check sealed (or independent),
    solution checks passed, student checks all fail.

    Solution notebooks are judged from their committed outputs (nbval re-executes them anyway); student
    copies are executed up to their last check cell with errors allowed.
    """
    source_dir = Path(source_dir)
    report = VerificationReport()
    report.problems += stale_student_copies(source_dir) + unstamped_chapters(source_dir)
    for path in chapter_notebooks(source_dir):
        nb = nbformat.read(path, as_version=4)
        if not has_exercises(nb):
            continue
        try:
            exercises = find_exercises(nb, path.name)
        except ExerciseFormatError as err:
            report.problems.append(str(err))
            continue
        for result in check_results(nb, path.name):
            if result.status != "passed":
                report.problems.append(f"{path.name}: check {result.title!r} {result.status} in the committed "
                                       f"solution outputs {result.error}".rstrip())
        report.problems += unsealed_checks(nb, path.name)
        report.checked.append(f"{path.name}: {len(exercises)} exercises")
        student_path = source_dir / STUDENT_DIRNAME / path.name
        if execute_students and student_path.exists():
            student = nbformat.read(student_path, as_version=4)
            executed = execute_notebook_checks(student, source_dir, student_path.name, timeout=timeout)
            if not executed.first_error_is_exercise:  # a check failing for an unrelated reason proves nothing
                report.problems.append(f"{student_path}: cell {executed.first_error_cell} raised "
                                       f"{executed.first_error} before any exercise stub was reached")
            for result in executed.checks:
                if result.status != "failed":
                    report.problems.append(f"{student_path}: check {result.title!r} {result.status} on the "
                                           "blank student copy (it must fail)")
    return report
