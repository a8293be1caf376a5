"""The ``emhnet`` command line: one subcommand per module in :mod:`emhnet_lite.commands`.

Each command module defines ``NAME``, ``HELP``, ``add_arguments(parser)`` and ``run(args) -> int``;
modules are discovered, so a new subcommand is a new file and never an edit here. ``main`` is the one
place user errors are reported: a :class:`~emhnet_lite.errors.KitError` from any command prints one line and
exits 2 (``--debug`` re-raises it with its traceback); every other exception is a bug and propagates.
"""

from __future__ import annotations

import argparse
import importlib
import pkgutil
import sys
from collections.abc import Sequence
from typing import NoReturn

from emhnet_lite import __version__, commands
from emhnet_lite.errors import USER_ERROR_EXIT, KitError

DEBUG_HELP = "show the full traceback of a user error (bad data, path or value) instead of one line"


def _command_modules() -> list:
    """Import every command module in sorted order (stable ``--help`` output)."""
    found = sorted(m.name for m in pkgutil.iter_modules(commands.__path__) if not m.name.startswith("_"))
    return [importlib.import_module(f"{commands.__name__}.{name}") for name in found]


class KitArgumentParser(argparse.ArgumentParser):
    """argparse with the kit's error contract: a bad option is one line (no usage block) and exit 2."""

    def error(self, message: str) -> NoReturn:
        """Print ``PROG: error: MESSAGE (see PROG --help)`` on stderr and exit 2."""
        self.exit(USER_ERROR_EXIT, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def build_parser() -> argparse.ArgumentParser:
    """The ``emhnet`` parser: one subparser per command module, each with ``--debug``."""
    parser = KitArgumentParser(
        prog="emhnet",
        description="EMHNet micro-expression recognition kit: data, preprocessing, LOSO, figures.",
    )
    parser.add_argument("--version", action="version", version=f"emhnet-lite {__version__}")
    parser.add_argument("--debug", action="store_true", help=DEBUG_HELP)
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for module in _command_modules():
        cmd = sub.add_parser(module.NAME, help=module.HELP, description=module.HELP)
        module.add_arguments(cmd)
        cmd.add_argument("--debug", action="store_true", default=argparse.SUPPRESS, help=DEBUG_HELP)
        cmd.set_defaults(_run=module.run)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run one subcommand; a ``KitError`` becomes one line on stderr and exit status 2."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if getattr(args, "_run", None) is None:
        parser.print_help()
        return 0
    try:
        return int(args._run(args) or 0)
    except KitError as error:
        if args.debug:
            raise
        print(f"emhnet {args.command}: error: {one_line(error)}", file=sys.stderr)
        return USER_ERROR_EXIT


def one_line(error: BaseException) -> str:
    """The error's message on one line (multi-line messages joined with ' | ')."""
    return " | ".join(line.strip() for line in str(error).splitlines() if line.strip())


if __name__ == "__main__":
    sys.exit(main())
