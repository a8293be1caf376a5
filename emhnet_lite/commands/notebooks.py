"""``emhnet notebooks run|refresh``: the main job over all chapters, or refreshing stored outputs."""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from emhnet_lite.errors import PathError

NAME = "notebooks"
HELP = "run all chapter notebooks with papermill (main job) or refresh their stored outputs in place"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="action", required=True)
    run = sub.add_parser("run", help="execute every chapter at defaults into runs/<timestamp>/notebooks/")
    run.add_argument("--out", type=Path, default=None, help="output folder (default runs/<timestamp>)")
    run.add_argument("notebooks", nargs="*", help="only these notebooks (default: all chapters)")
    refresh = sub.add_parser("refresh", help="re-execute notebooks in place at their default parameters")
    refresh.add_argument("notebooks", nargs="*", help="notebooks to refresh (default: all chapters)")


def run(args: argparse.Namespace) -> int:
    from emhnet_lite import notebook_tools

    for path in args.notebooks:
        if not Path(path).is_file():
            raise PathError(f"{path}: no such notebook")
    if args.action == "refresh":
        notebook_tools.refresh(args.notebooks)
        return 0
    out = args.out or notebook_tools.REPO_ROOT / "runs" / time.strftime("%Y%m%d-%H%M%S")
    written = notebook_tools.run_all(out / "notebooks", notebooks=args.notebooks or None)
    print(f"{len(written)} notebooks executed into {out / 'notebooks'}")
    return 0
