"""Student copies, exercise structure, check execution and grading on small fake notebooks (tmp dirs)."""

from __future__ import annotations

import os
from pathlib import Path

import nbformat
import pytest

from emhnet_lite import classroom

FUNCTION_SOLUTION = '''def double(values):
    """Each value times ``scale``."""
    ### BEGIN SOLUTION
    doubled = [v * scale for v in values]
    return doubled
    ### END SOLUTION'''

TOP_LEVEL_SOLUTION = """### BEGIN SOLUTION
answer = 42
### END SOLUTION
print("answer set")"""


def _code(source: str, tags: list[str] | None = None) -> nbformat.NotebookNode:
    cell = nbformat.v4.new_code_cell(source, metadata={"tags": tags} if tags else {})
    return cell


def fake_solution_notebook() -> nbformat.NotebookNode:
    """Two exercises: a function body and a top-level assignment, plus a cell after the last check."""
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"display_name": "Python 3", "language": "python", "name": "python3"}
    nb.cells = [
        nbformat.v4.new_markdown_cell("# Fake chapter"),
        _code("scale = 2", ["parameters"]),
        _code(FUNCTION_SOLUTION),
        _code("# CHECK: double a list\nassert double([1, 2]) == [2, 4]", ["check", "independent"]),
        _code(TOP_LEVEL_SOLUTION),
        _code("# CHECK: the answer\nassert answer == 42", ["check", "independent"]),
        _code("print('after the last check')"),
    ]
    for i, cell in enumerate(nb.cells):
        cell["id"] = f"c{i}"
    return nb


def test_strip_solutions_keeps_indent_and_counts_regions():
    text, regions = classroom.strip_solutions(FUNCTION_SOLUTION + "\n\n" + TOP_LEVEL_SOLUTION)
    assert regions == 2
    assert "    raise NotImplementedError()" in text.split("\n")
    assert "raise NotImplementedError()" in text.split("\n")
    assert "doubled" not in text and "42" not in text and "SOLUTION" not in text
    assert 'print("answer set")' in text  # code outside the region survives


@pytest.mark.parametrize("source, message", [
    ("### BEGIN SOLUTION\nx = 1", "without '### END SOLUTION'"),
    ("x = 1\n### END SOLUTION", "without '### BEGIN SOLUTION'"),
    ("### BEGIN SOLUTION\n### BEGIN SOLUTION\n### END SOLUTION", "nested"),
])
def test_strip_solutions_rejects_unbalanced_markers(source, message):
    with pytest.raises(classroom.ExerciseFormatError, match=message):
        classroom.strip_solutions(source, "nb cell 3")


def test_find_exercises_pairs_solutions_with_checks():
    exercises = classroom.find_exercises(fake_solution_notebook(), "fake.ipynb")
    assert [(e.title, e.solution_cells, e.check_cell) for e in exercises] == [
        ("double a list", (2,), 3), ("the answer", (4,), 5)]
    merged = fake_solution_notebook()
    merged.cells.pop(3)  # two solution cells before one check form one exercise
    assert [e.solution_cells for e in classroom.find_exercises(merged)] == [(2, 3)]


@pytest.mark.parametrize("mutate, message", [
    (lambda nb: nb.cells.pop(2), "has no solution region before it"),
    (lambda nb: setattr(nb.cells[3], "source", "assert True"), "must start with '# CHECK:"),
    (lambda nb: nb.cells.pop(5), "no check cell after it"),
])
def test_find_exercises_rejects_broken_structure(mutate, message):
    nb = fake_solution_notebook()
    mutate(nb)
    with pytest.raises(classroom.ExerciseFormatError, match=message):
        classroom.find_exercises(nb, "fake.ipynb")


def test_student_copy_is_stubbed_cleared_and_deterministic():
    nb = fake_solution_notebook()
    nb.cells[2].outputs = [nbformat.v4.new_output("stream", text="noise")]
    nb.cells[2].execution_count = 7
    student = classroom.make_student_notebook(nb, "fake.ipynb")
    assert student.cells[0].metadata["tags"] == [classroom.SETUP_TAG]
    code = [c for c in student.cells if c.cell_type == "code"]
    assert all(c.outputs == [] and c.execution_count is None for c in code)
    assert "raise NotImplementedError()" in student.cells[3].source
    assert [i for i, c in enumerate(student.cells) if "exercise" in c.metadata.get("tags", [])] == [3, 5]
    assert "doubled" not in classroom.notebook_text(student)
    assert classroom.notebook_text(student) == classroom.notebook_text(
        classroom.make_student_notebook(fake_solution_notebook(), "fake.ipynb"))
    assert nb.cells[2].execution_count == 7  # the solution notebook itself is not modified
    nbformat.validate(student)


def test_write_and_detect_stale_copies(tmp_path: Path):
    nbformat.write(fake_solution_notebook(), tmp_path / "02_fake.ipynb")
    nbformat.write(nbformat.v4.new_notebook(), tmp_path / "03_no_exercises.ipynb")
    written = classroom.write_student_notebooks(tmp_path)
    assert [p.name for p in written] == ["02_fake.ipynb"]
    assert classroom.stale_student_copies(tmp_path) == []
    copy_path = tmp_path / "student" / "02_fake.ipynb"
    stamp = copy_path.stat().st_mtime_ns
    os.utime(copy_path, ns=(stamp - 10**9, stamp - 10**9))
    classroom.write_student_notebooks(tmp_path)  # regenerating current copies rewrites nothing
    assert copy_path.stat().st_mtime_ns == stamp - 10**9

    changed = fake_solution_notebook()
    changed.cells[3].source += "\nassert double([]) == []"
    nbformat.write(changed, tmp_path / "02_fake.ipynb")
    (tmp_path / "student" / "05_orphan.ipynb").write_text(copy_path.read_text())
    problems = classroom.stale_student_copies(tmp_path)
    assert any("02_fake.ipynb: out of date" in p for p in problems)
    assert any("05_orphan.ipynb: no solution notebook" in p for p in problems)
    copy_path.unlink()
    assert any("missing student copy" in p for p in classroom.stale_student_copies(tmp_path))


def test_solution_checks_pass_when_executed(tmp_path: Path):
    results = classroom.execute_checks(fake_solution_notebook(), tmp_path, "fake.ipynb", timeout=120)
    assert [(r.title, r.status) for r in results] == [("double a list", "passed"), ("the answer", "passed")]


def test_verify_classroom_executes_student_copies(tmp_path: Path):
    solution = fake_solution_notebook()
    for cell in solution.cells:  # stand-in for committed outputs: every cell ran, no errors
        if cell.cell_type == "code":
            cell.execution_count = 1
    nbformat.write(solution, tmp_path / "02_fake.ipynb")
    classroom.stamp_chapters(tmp_path)  # what `emhnet student` does first: nbgrader metadata
    classroom.write_student_notebooks(tmp_path)
    report = classroom.verify_classroom(tmp_path, timeout=120)
    assert report.ok, report.problems
    assert report.checked == ["02_fake.ipynb: 2 exercises"]

    # a committed solution whose check errored, and a student copy whose check passes, are both caught
    solution.cells[5].outputs = [nbformat.v4.new_output("error", ename="AssertionError", evalue="",
                                                        traceback=[])]
    nbformat.write(solution, tmp_path / "02_fake.ipynb")
    classroom.write_student_notebooks(tmp_path)
    student_path = tmp_path / "student" / "02_fake.ipynb"
    student = nbformat.read(student_path, as_version=4)
    student.cells[5].source = "answer = 42"  # the student copy no longer blanks exercise 2
    nbformat.write(student, student_path)
    student.cells[2].source = "scale = undefined_name"  # breaks the copy before any exercise
    nbformat.write(student, student_path)
    problems = classroom.verify_classroom(tmp_path, timeout=120).problems
    assert any("'the answer' failed in the committed solution outputs" in p for p in problems)
    assert any("'the answer' passed on the blank student copy" in p for p in problems)
    assert any("out of date" in p for p in problems)
    assert any("cell 2 raised NameError before any exercise stub" in p for p in problems)


def test_grade_uses_official_checks(tmp_path: Path):
    solution_path = tmp_path / "02_fake.ipynb"
    nbformat.write(fake_solution_notebook(), solution_path)
    classroom.write_student_notebooks(tmp_path)
    submission = nbformat.read(tmp_path / "student" / "02_fake.ipynb", as_version=4)
    submission.cells[3].source = submission.cells[3].source.replace(
        "raise NotImplementedError()", "return [2 * v for v in values]")  # correct
    submission.cells[5].source = "answer = 41"  # wrong ...
    submission.cells[6].source = "# CHECK: the answer\nassert True"  # ... and the check tampered with
    submission_path = tmp_path / "submissions" / "alice.ipynb"
    submission_path.parent.mkdir()
    nbformat.write(submission, submission_path)
    results = classroom.grade(submission_path, solution_path, timeout=120)
    assert [(r.title, r.status) for r in results] == [("double a list", "passed"), ("the answer", "failed")]
    assert results[1].error == "AssertionError"
    assert classroom.format_results(results).endswith("1/2 checks passed")


def test_student_command_writes_and_checks(tmp_path: Path, capsys):
    from emhnet_lite import cli

    nbformat.write(fake_solution_notebook(), tmp_path / "02_fake.ipynb")
    assert cli.main(["student", "--source", str(tmp_path), "--check"]) == 1  # copies missing
    assert "missing student copy" in capsys.readouterr().out
    assert cli.main(["student", "--source", str(tmp_path)]) == 0
    assert (tmp_path / "student" / "02_fake.ipynb").exists()
    assert cli.main(["student", "--source", str(tmp_path), "--check"]) == 0
    assert cli.main(["student", "--source", str(tmp_path / "nope")]) == 2
