"""Exercises in solution notebooks: the markers, the check cells, and parsing them.

Convention (nbgrader's): a solution notebook marks the code students write between the lines
``### BEGIN SOLUTION`` and ``### END SOLUTION``; each exercise is followed by a code cell tagged ``check``
whose first line is ``# CHECK: <exercise title>``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import nbformat

from emhnet_lite.errors import KitError

BEGIN_MARKER = "### BEGIN SOLUTION"
END_MARKER = "### END SOLUTION"
STUB_LINE = "raise NotImplementedError()"
CHECK_TAG = "check"
CHECK_PREFIX = "# CHECK:"
EXERCISE_TAG = "exercise"  # student copies: cells whose solution was replaced by the stub

_BEGIN_RE = re.compile(r"^(?P<indent>[ \t]*)" + re.escape(BEGIN_MARKER) + r"\s*$")
_END_RE = re.compile(r"^[ \t]*" + re.escape(END_MARKER) + r"\s*$")


class ExerciseFormatError(KitError, ValueError):
    """A solution notebook whose exercise markers or check cells break the convention."""


@dataclass(frozen=True)
class Exercise:
    """One exercise: its title, the cells holding its solution regions and its check cell (indices)."""

    title: str
    solution_cells: tuple[int, ...]
    check_cell: int


def cell_source(cell: nbformat.NotebookNode) -> str:
    """A cell's source as one string (nbformat allows a list of lines on disk)."""
    src = cell.get("source", "")
    return "".join(src) if isinstance(src, list) else src


def cell_tags(cell: nbformat.NotebookNode) -> list[str]:
    return list(cell.get("metadata", {}).get("tags", []))


def is_check_cell(cell: nbformat.NotebookNode) -> bool:
    """True for a code cell tagged ``check``."""
    return cell.get("cell_type") == "code" and CHECK_TAG in cell_tags(cell)


def check_title(cell: nbformat.NotebookNode, where: str = "") -> str:
    """The exercise title from a check cell's first line ``# CHECK: <title>`` (error if malformed)."""
    first_line = cell_source(cell).lstrip("\n").split("\n", 1)[0].strip()
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
            if BEGIN_MARKER in cell_source(cell):
                raise ExerciseFormatError(f"{where}: solution markers are only supported in code cells")
            continue
        if is_check_cell(cell):
            title = check_title(cell, where)
            if BEGIN_MARKER in cell_source(cell):
                raise ExerciseFormatError(f"{where}: a check cell must not contain a solution region")
            if not pending:
                raise ExerciseFormatError(f"{where}: check {title!r} has no solution region before it")
            if title in titles:
                raise ExerciseFormatError(f"{where}: duplicate check title {title!r}")
            titles.add(title)
            exercises.append(Exercise(title, tuple(pending), index))
            pending = []
            continue
        _, regions = strip_solutions(cell_source(cell), where)
        if regions:
            pending.append(index)
    if pending:
        raise ExerciseFormatError(f"{name} cell {pending[-1]}: solution region with no check cell after it")
    return exercises


def notebook_text(nb: nbformat.NotebookNode) -> str:
    """Canonical on-disk text of a notebook (nbformat's writer, trailing newline)."""
    text = nbformat.writes(nb)
    return text if text.endswith("\n") else text + "\n"


def has_exercises(nb: nbformat.NotebookNode) -> bool:
    """True when any code cell holds a solution region."""
    return any(c.get("cell_type") == "code" and BEGIN_MARKER in cell_source(c) for c in nb.cells)
