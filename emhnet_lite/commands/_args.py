"""Shared argparse value types of the ``emhnet`` subcommands (argparse prints their message and exits 2), and the
command line of a ``--jobs`` shard process."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable


def positive_int(text: str) -> int:
    """An integer ≥ 1 (``--jobs``, ``--workers``, ``--threads``...)."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r}: expected a positive integer") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"{text!r}: must be ≥ 1")
    return value


def positive_float(text: str) -> float:
    """A number > 0 (``--synthme-scale``, ``--scale``)."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r}: expected a positive number") from None
    if not value > 0:
        raise argparse.ArgumentTypeError(f"{text!r}: must be > 0")
    return value


def non_negative_int(text: str) -> int:
    """An integer ≥ 0 (``--overlays``: 0 = none)."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r}: expected an integer ≥ 0") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"{text!r}: must be ≥ 0")
    return value


def shard_argv(command: str, add_arguments: Callable[[argparse.ArgumentParser], None], args: argparse.Namespace,
               shard: str) -> list[str]:
    """Command line of one local shard process of ``emhnet COMMAND``: every option of ``add_arguments`` as parsed,
    replayed from the namespace (so a new option reaches the shards without an edit), with ``--shard`` set,
    ``--no-merge`` added and ``--jobs`` dropped."""
    parser = argparse.ArgumentParser(add_help=False)
    add_arguments(parser)
    argv = [sys.executable, "-m", "emhnet_lite", command]
    for action in parser._actions:
        flag, value = action.option_strings[-1], getattr(args, action.dest)
        if action.dest in ("jobs", "shard", "no_merge") or value is None:
            continue
        if isinstance(action, argparse._StoreConstAction):  # store_true / store_false
            argv += [flag] if value == action.const else []
        elif isinstance(action, argparse._AppendAction):
            for item in value:
                argv += [flag, str(item)]
        else:
            argv += [flag, str(value)]
    return argv + ["--shard", shard, "--no-merge"] + (["--debug"] if getattr(args, "debug", False) else [])
