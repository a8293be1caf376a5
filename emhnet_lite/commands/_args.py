"""Shared argparse value types of the ``emhnet`` subcommands (argparse prints their message and exits 2)."""

from __future__ import annotations

import argparse


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
