"""Classroom tooling: student copies of the solution notebooks, exercise checks and grading.

Convention (nbgrader's): a solution notebook marks the code students write between the lines
``### BEGIN SOLUTION`` and ``### END SOLUTION``; each exercise is followed by a code cell tagged ``check``
whose first line is ``# CHECK: <exercise title>``. The student copy replaces every solution region with
``raise NotImplementedError()`` at the BEGIN marker's indentation and clears all outputs, so on a blank
copy every check must fail, and on the solution notebook every check must pass.
"""

from __future__ import annotations

import copy
import os
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

import nbformat

from emhnet_lite.notebook_tools import KERNEL_NAME, NOTEBOOK_DIR, chapter_notebooks
from emhnet_lite.utils import write_text_atomic

BEGIN_MARKER = "### BEGIN SOLUTION"
END_MARKER = "### END SOLUTION"
STUB_LINE = "raise NotImplementedError()"
CHECK_TAG = "check"
CHECK_PREFIX = "# CHECK:"
STUDENT_DIRNAME = "student"
SETUP_TAG = "student-setup"
EXERCISE_TAG = "exercise"  # student copies: cells whose solution was replaced by the stub

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

_BEGIN_RE = re.compile(r"^(?P<indent>[ \t]*)" + re.escape(BEGIN_MARKER) + r"\s*$")
_END_RE = re.compile(r"^[ \t]*" + re.escape(END_MARKER) + r"\s*$")


class ExerciseFormatError(ValueError):
    """A solution notebook whose exercise markers or check cells break the convention."""


@dataclass(frozen=True)
class Exercise:
    """One exercise: its title, the cells holding its solution regions and its check cell (indices)."""

    title: str
    solution_cells: tuple[int, ...]
    check_cell: int


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


def _source(cell: nbformat.NotebookNode) -> str:
    """A cell's source as one string (nbformat allows a list of lines on disk)."""
    src = cell.get("source", "")
    return "".join(src) if isinstance(src, list) else src


def _tags(cell: nbformat.NotebookNode) -> list[str]:
    return list(cell.get("metadata", {}).get("tags", []))


def is_check_cell(cell: nbformat.NotebookNode) -> bool:
    """True for a code cell tagged ``check``."""
    return cell.get("cell_type") == "code" and CHECK_TAG in _tags(cell)


def check_title(cell: nbformat.NotebookNode, where: str = "") -> str:
    """The exercise title from a check cell's first line ``# CHECK: <title>`` (error if malformed)."""
    first_line = _source(cell).lstrip("\n").split("\n", 1)[0].strip()
    if not first_line.startswith(CHECK_PREFIX) or not first_line[len(CHECK_PREFIX):].strip():
        raise ExerciseFormatError(f"{where}: check cell must start with '{CHECK_PREFIX} <title>', "
                                  f"got {first_line!r}")
    return first_line[len(CHECK_PREFIX):].strip()


def strip_solutions(source: str, where: str = "") -> tuple[str, int]:
    """Replace each BEGIN/END SOLUTION region (markers included) by the stub; return (text, regions).

    The stub is indented like the BEGIN marker. Unbalanced or nested markers raise with ``where`` in the
    message, so a broken exercise is found when copies are generated, not in class.
    """
    out_lines: list[str] = []
    regions = 0
    inside_since: int | None = None
    for line_no, line in enumerate(source.split("\n"), start=1):
        begin = _BEGIN_RE.match(line)
        if begin:
            if inside_since is not None:
                raise ExerciseFormatError(f"{where} line {line_no}: nested '{BEGIN_MARKER}' "
                                          f"(previous one on line {inside_since} has no '{END_MARKER}')")
            inside_since = line_no
            out_lines.append(begin.group("indent") + STUB_LINE)
            regions += 1
            continue
        if _END_RE.match(line):
            if inside_since is None:
                raise ExerciseFormatError(f"{where} line {line_no}: '{END_MARKER}' without '{BEGIN_MARKER}'")
            inside_since = None
            continue
        if inside_since is None:
            out_lines.append(line)
    if inside_since is not None:
        raise ExerciseFormatError(f"{where} line {inside_since}: '{BEGIN_MARKER}' without '{END_MARKER}'")
    return "\n".join(out_lines), regions


def find_exercises(nb: nbformat.NotebookNode, name: str = "notebook") -> list[Exercise]:
    """The exercises of a solution notebook; every solution region must be followed by a check cell.

    Several solution cells before one check cell form one exercise; a check cell with no solution region
    before it (since the previous check) or a solution with no check after it is an error.
    """
    exercises: list[Exercise] = []
    pending: list[int] = []
    titles: set[str] = set()
    for index, cell in enumerate(nb.cells):
        where = f"{name} cell {index}"
        if cell.get("cell_type") != "code":
            if BEGIN_MARKER in _source(cell):
                raise ExerciseFormatError(f"{where}: solution markers are only supported in code cells")
            continue
        if is_check_cell(cell):
            title = check_title(cell, where)
            if BEGIN_MARKER in _source(cell):
                raise ExerciseFormatError(f"{where}: a check cell must not contain a solution region")
            if not pending:
                raise ExerciseFormatError(f"{where}: check {title!r} has no solution region before it")
            if title in titles:
                raise ExerciseFormatError(f"{where}: duplicate check title {title!r}")
            titles.add(title)
            exercises.append(Exercise(title, tuple(pending), index))
            pending = []
            continue
        _, regions = strip_solutions(_source(cell), where)
        if regions:
            pending.append(index)
    if pending:
        raise ExerciseFormatError(f"{name} cell {pending[-1]}: solution region with no check cell after it")
    return exercises


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
        cell.source, regions = strip_solutions(_source(cell), f"{name} cell {index}")
        if regions and EXERCISE_TAG not in _tags(cell):
            cell.metadata["tags"] = _tags(cell) + [EXERCISE_TAG]
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


def notebook_text(nb: nbformat.NotebookNode) -> str:
    """Canonical on-disk text of a notebook (nbformat's writer, trailing newline)."""
    text = nbformat.writes(nb)
    return text if text.endswith("\n") else text + "\n"


def has_exercises(nb: nbformat.NotebookNode) -> bool:
    """True when any code cell holds a solution region."""
    return any(c.get("cell_type") == "code" and BEGIN_MARKER in _source(c) for c in nb.cells)


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
            report.first_error_is_exercise = is_check_cell(cell) or EXERCISE_TAG in _tags(cell) \
                or STUB_LINE in _source(cell)
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
        official_checks = {check_title(c, f"{solution}"): _source(c) for c in official.cells if is_check_cell(c)}
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


def verify_classroom(source_dir: str | os.PathLike = NOTEBOOK_DIR, execute_students: bool = True,
                     timeout: int = 600) -> VerificationReport:
    """CI's classroom check: copies current, solution checks passed, student checks all fail.

    Solution notebooks are judged from their committed outputs (nbval re-executes them anyway); student
    copies are executed up to their last check cell with errors allowed.
    """
    source_dir = Path(source_dir)
    report = VerificationReport()
    report.problems += stale_student_copies(source_dir)
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
