"""Classroom tooling: student copies of the solution notebooks, exercise checks and grading.

Convention (nbgrader's): a solution notebook marks the code students write between the lines
``### BEGIN SOLUTION`` and ``### END SOLUTION``; each exercise is followed by a code cell tagged ``check``
whose first line is ``# CHECK: <exercise title>``. The student copy replaces every solution region with
``raise NotImplementedError()`` at the BEGIN marker's indentation and clears all outputs, so on a blank
copy every check must fail, and on the solution notebook every check must pass.

Parts: ``exercises`` (markers, check cells, parsing), ``student`` (writing and checking the student
copies), ``grading`` (running checks, grading a submission, CI's verification), ``sealing`` (checks run the
answer with the package's reference implementation unavailable), ``export`` (the hand-out folder),
``nbgrader_meta`` (nbgrader cell metadata stamped from the markers).
"""

from emhnet_lite.classroom.exercises import (
    BEGIN_MARKER,
    CHECK_PREFIX,
    CHECK_TAG,
    END_MARKER,
    EXERCISE_TAG,
    STUB_LINE,
    Exercise,
    ExerciseFormatError,
    check_title,
    find_exercises,
    has_exercises,
    is_check_cell,
    notebook_text,
    strip_solutions,
)
from emhnet_lite.classroom.grading import (
    CheckResult,
    ExecutionReport,
    VerificationReport,
    check_results,
    execute_checks,
    execute_notebook_checks,
    format_results,
    grade,
    unsealed_checks,
    verify_classroom,
)
from emhnet_lite.classroom.nbgrader_meta import stamp_chapters, stamp_nbgrader, unstamped_chapters
from emhnet_lite.classroom.sealing import (
    ReferenceUnavailableError,
    call_without_reference,
    without_reference,
)
from emhnet_lite.classroom.student import (
    SETUP_TAG,
    STUDENT_DIRNAME,
    STUDENT_SETUP_SOURCE,
    make_student_notebook,
    stale_student_copies,
    student_copies,
    write_student_notebooks,
)

__all__ = [
    "BEGIN_MARKER", "CHECK_PREFIX", "CHECK_TAG", "END_MARKER", "EXERCISE_TAG", "SETUP_TAG", "STUB_LINE",
    "STUDENT_DIRNAME", "STUDENT_SETUP_SOURCE", "CheckResult", "Exercise", "ExerciseFormatError",
    "ExecutionReport", "VerificationReport", "check_results", "check_title", "execute_checks",
    "execute_notebook_checks", "find_exercises", "format_results", "grade", "has_exercises", "is_check_cell",
    "make_student_notebook", "notebook_text", "stale_student_copies", "strip_solutions", "student_copies",
    "verify_classroom", "write_student_notebooks", "ReferenceUnavailableError", "call_without_reference",
    "without_reference", "unsealed_checks", "stamp_chapters", "stamp_nbgrader", "unstamped_chapters",
]
