"""Progress bars that render as widgets in JupyterLab and print plainly in batch runs.

Three modes, chosen automatically:

* ``widget`` — a live JupyterLab session: ``tqdm.auto`` draws an ipywidgets bar;
* ``plain``  — papermill, nbval, CI logs, pipes (``EMHNET_BATCH=1`` is set by ``make`` and by
  :mod:`emhnet_lite.notebook_tools`): ASCII bars on **stderr**, redrawn at most every few seconds. nbval
  does not compare stderr (see ``conftest.py``), so bars never break output comparisons;
* ``off``    — ``EMHNET_PROGRESS=0``.

A terminal gets the ordinary tqdm bar. ``EMHNET_PROGRESS=1`` forces bars on even under pytest.
tqdm is imported on first use; without it (a bare GPU machine's Python, benchmarks/gpu_check.sh) every bar
is ``off`` — a silent pass-through — so training never depends on it.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from typing import Any


class _Silent:
    """What ``progress`` returns without tqdm: iterates ``iterable``; ``update``/``close`` do nothing."""

    def __init__(self, iterable: Iterable | None = None, **_: Any) -> None:
        self.iterable = iterable

    def __iter__(self) -> Iterator:
        return iter(self.iterable if self.iterable is not None else ())

    def __enter__(self) -> _Silent:
        return self

    def __exit__(self, *exc: object) -> None:
        return None

    def update(self, n: int = 1) -> None:
        return None

    def close(self) -> None:
        return None


def _tqdm(auto: bool = False):
    """tqdm's std (or auto) class, or ``None`` where tqdm is not installed."""
    try:
        if auto:
            from tqdm.auto import tqdm
        else:
            from tqdm.std import tqdm
    except ImportError:
        return None
    return tqdm


def in_kernel() -> bool:
    """True inside a live IPython kernel (JupyterLab, papermill, nbval): where widgets can render."""
    try:
        from IPython import get_ipython
    except ImportError:
        return False
    shell = get_ipython()
    return shell is not None and "IPKernelApp" in shell.config


def progress_mode() -> str:
    """``off``, ``plain``, ``terminal`` or ``widget`` for the current process (see module docstring)."""
    forced = os.environ.get("EMHNET_PROGRESS")
    if forced is not None and forced.lower() in ("0", "false", "no", "off", ""):
        return "off"
    if forced is None and ("PYTEST_CURRENT_TEST" in os.environ or "pytest" in sys.modules):
        return "off"  # unit tests: keep their output clean
    if os.environ.get("EMHNET_BATCH") or os.environ.get("CI"):
        return "plain"
    if in_kernel():
        return "widget"
    return "terminal" if sys.stderr.isatty() else "plain"


def progress(iterable: Iterable | None = None, **kwargs: Any):
    """A tqdm bar in the mode that suits where the code runs; accepts every tqdm keyword."""
    mode = progress_mode()
    bar = _tqdm(auto=mode == "widget")
    if bar is None:
        return _Silent(iterable, **kwargs)
    if mode == "off":
        kwargs.setdefault("disable", True)
        return bar(iterable, **kwargs)
    if mode == "widget":
        return bar(iterable, **kwargs)
    if mode == "plain":
        kwargs.setdefault("file", sys.stderr)
        kwargs.setdefault("ascii", True)
        kwargs.setdefault("ncols", 80)
        kwargs.setdefault("mininterval", 5.0)
    return bar(iterable, **kwargs)


@contextmanager
def progress_off() -> Iterator[None]:
    """No progress bars inside the ``with`` block (e.g. for repeated timing runs in a chapter)."""
    previous = os.environ.get("EMHNET_PROGRESS")
    os.environ["EMHNET_PROGRESS"] = "0"
    try:
        yield
    finally:
        if previous is None:
            os.environ.pop("EMHNET_PROGRESS", None)
        else:
            os.environ["EMHNET_PROGRESS"] = previous
