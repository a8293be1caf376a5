"""``emhnet student``: write the student copies of the chapters, verify them in CI, or grade a submission."""

from __future__ import annotations

import argparse
from pathlib import Path

NAME = "student"
HELP = ("write notebooks/student/ from the solution notebooks (exercise regions stubbed, outputs cleared); "
        "--check / --verify for CI, --grade to mark a student's notebook")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from emhnet_lite.notebook_tools import NOTEBOOK_DIR

    parser.add_argument("--source", type=Path, default=NOTEBOOK_DIR,
                        help="folder of the solution notebooks (default: the repository's notebooks/)")
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument("--check", action="store_true",
                      help="only check that the committed student copies are current (exit 1 if not)")
    mode.add_argument("--verify", action="store_true",
                      help="CI check: copies current, solution checks passed in the committed outputs, and "
                           "every check failing on the executed blank student copies")
    mode.add_argument("--grade", type=Path, metavar="NOTEBOOK",
                      help="execute a student's filled notebook and report pass/fail per exercise")
    parser.add_argument("--solution", type=Path, default=None,
                        help="with --grade: the teacher's notebook whose check cells replace the submission's "
                             "(default: the chapter of the same name in --source, if present)")
    parser.add_argument("--timeout", type=int, default=600, help="per-cell timeout in seconds when executing")


def run(args: argparse.Namespace) -> int:
    from emhnet_lite import classroom

    if not args.source.is_dir():
        print(f"error: --source {args.source} is not a folder of solution notebooks")
        return 2
    if args.grade is not None:
        solution = args.solution
        if solution is None and (args.source / args.grade.name).exists():
            solution = args.source / args.grade.name
        results = classroom.grade(args.grade, solution, timeout=args.timeout)
        print(classroom.format_results(results))
        return 0 if results and all(r.status == "passed" for r in results) else 1
    if args.check or args.verify:
        if args.check:
            problems = classroom.stale_student_copies(args.source)
            checked: list[str] = []
        else:
            report = classroom.verify_classroom(args.source, timeout=args.timeout)
            problems, checked = report.problems, report.checked
        for line in checked:
            print(f"ok       {line}")
        for line in problems:
            print(f"PROBLEM  {line}")
        print("student copies verified" if not problems else f"{len(problems)} problem(s)")
        return 0 if not problems else 1
    written = classroom.write_student_notebooks(args.source)
    for path in written:
        print(f"wrote {path}")
    print(f"{len(written)} student notebook(s) in {args.source / classroom.STUDENT_DIRNAME}")
    return 0
