"""The kit's user-error types: problems with what a user gave the kit, never bugs in the kit.

Every ``emhnet`` subcommand prints a ``KitError`` as one line (``emhnet CMD: error: <message>``) and exits 2;
``--debug`` shows the traceback. Any other exception is a bug and keeps its traceback. Messages name the
file, row, field or option at fault. The subclasses also derive from the matching built-in type
(``ValueError``, ``FileNotFoundError``, ``KeyError``) so library callers can catch either.
"""

from __future__ import annotations

#: Exit status of a command stopped by a user error (argparse uses the same for bad options).
USER_ERROR_EXIT = 2


class KitError(Exception):
    """Bad data, a bad path, a config mismatch or a bad value: the message says which file/row/field."""


class ConfigError(KitError, ValueError):
    """A bad option, preset or config-field value (the message names the option or field)."""


class PathError(KitError, FileNotFoundError):
    """An input path that is missing or is not what the command needs (the message names it)."""


class OutputExistsError(KitError, FileExistsError):
    """An output folder that already holds other work (the message says how to continue or start anew)."""


class UnknownNameError(KitError, KeyError):
    """An unknown preset, model or figure name (the message lists the known ones)."""

    def __str__(self) -> str:
        """The message itself (``KeyError`` would print its repr, quotes and all)."""
        return str(self.args[0]) if self.args else ""
