"""``emhnet student``: write the student copies of the chapters, verify them in CI, or grade a submission."""

from __future__ import annotations

import argparse
from pathlib import Path

from emhnet_lite.errors import ConfigError, PathError

NAME = "student"
HELP = ("stamp the chapters' nbgrader metadata and write notebooks/student/ from them (solutions stubbed); "
        "--check / --verify for CI, --grade to mark a student's notebook (EXECUTES the submission's code: "
        "grade in a sandbox), --export to write a hand-out folder")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from emhnet_lite.notebook_tools import NOTEBOOK_DIR

    parser.add_argument("--source", type=Path, default=NOTEBOOK_DIR,
                        help="folder of the solution notebooks (default: the repository's notebooks/)")
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument("--check", action="store_true",
                      help="only check that the committed student copies and the chapters' nbgrader metadata are "
                           "current (exit 1 if not)")
    mode.add_argument("--verify", action="store_true",
                      help="CI check: copies current, solution checks passed in the committed outputs, and "
                           "every check failing on the executed blank student copies")
    mode.add_argument("--grade", type=Path, metavar="NOTEBOOK",
                      help="EXECUTE a student's filled notebook (it runs the submission's own code with your "
                           "permissions: grade in a sandbox) and report pass/fail per exercise, judged by the "
                           "teacher's check cells")
    mode.add_argument("--export", type=Path, metavar="DIR",
                      help="write a hand-out folder: student notebooks, the data they need and the kit as a "
                           "wheel, without the solution chapters (DIR must be new or empty)")
    parser.add_argument("--data", type=Path, default=None, metavar="ROOT",
                        help="with --export: data root whose SynthME teaching set (and cache) is copied "
                             "(default: the repository's data/ when present; 'none' ships no data)")
    parser.add_argument("--solution", type=Path, default=None,
                        help="with --grade: the teacher's notebook whose check cells replace the submission's "
                             "(default: the chapter of the same file name in --source; a submission whose "
                             "name matches no chapter is refused)")
    parser.add_argument("--timeout", type=int, default=600, help="per-cell timeout in seconds when executing")


def _solution_for(args: argparse.Namespace) -> Path:
    """The teacher's notebook that grades ``--grade``: ``--solution`` or the chapter of the same file name.

    Never the submission's own check cells (a student could edit them), so an unmatched name is refused.
    """
    import nbformat

    if not args.grade.is_file():
        raise PathError(f"--grade {args.grade}: no such notebook file")
    solution = args.solution if args.solution is not None else args.source / args.grade.name
    if args.solution is None and not solution.is_file():
        names = sorted(p.name for p in args.source.glob("*.ipynb"))
        raise PathError(f"--grade {args.grade}: no solution notebook named {args.grade.name!r} in {args.source} "
                        f"(solutions: {', '.join(names) or 'none'}); rename the submission or pass --solution")
    if not solution.is_file():
        raise PathError(f"--solution {solution}: no such notebook file")
    for flag, path in (("--grade", args.grade), ("--solution", solution)):
        try:
            nbformat.read(path, as_version=4)
        except (ValueError, KeyError, TypeError, nbformat.ValidationError) as error:  # NotJSONError is a ValueError
            raise ConfigError(f"{flag} {path}: not a readable notebook ({type(error).__name__})") from None
    return solution


def run(args: argparse.Namespace) -> int:
    from emhnet_lite import classroom

    if not args.source.is_dir():
        raise PathError(f"--source {args.source} is not a folder of solution notebooks")
    if args.grade is not None:
        results = classroom.grade(args.grade, _solution_for(args), timeout=args.timeout)
        print(classroom.format_results(results))
        return 0 if results and all(r.status == "passed" for r in results) else 1
    if args.export is not None:
        return _export(args)
    if args.check or args.verify:
        if args.check:
            problems = classroom.stale_student_copies(args.source) + classroom.unstamped_chapters(args.source)
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
    for path in classroom.stamp_chapters(args.source):
        print(f"stamped nbgrader metadata in {path}")
    written = classroom.write_student_notebooks(args.source)
    for path in written:
        print(f"wrote {path}")
    print(f"{len(written)} student notebook(s) in {args.source / classroom.STUDENT_DIRNAME}")
    return 0


def _export(args: argparse.Namespace) -> int:
    """``--export DIR``: the hand-out folder, with a summary of what went in."""
    from emhnet_lite.classroom.export import export_handout
    from emhnet_lite.notebook_tools import REPO_ROOT

    if args.data is None:  # default: the repository's data root, when there is one
        data = REPO_ROOT / "data" if (REPO_ROOT / "data").is_dir() else None
    elif str(args.data) == "none":
        data = None
    elif not args.data.is_dir():
        raise PathError(f"--data {args.data}: not a folder (give a data root, or 'none' to ship no data)")
    else:
        data = args.data
    report = export_handout(args.export, args.source, data_root=data)
    print(f"student copies: {', '.join(report.student_copies) or 'none'}")
    print(f"chapters without exercises: {', '.join(report.chapters) or 'none'}")
    print(f"copied: {', '.join(report.copied) or 'nothing'}")
    print(f"wheel: {report.wheel}")
    print(f"hand-out written to {report.root} (no solution chapters; see its README.md)")
    return 0
