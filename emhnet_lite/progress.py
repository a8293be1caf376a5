"""Progress bars that render as widgets in JupyterLab and as plain, comparison-safe text elsewhere.

Under papermill, nbval, pytest or CI (no interactive frontend) bars are disabled: a bar's redraws are
volatile text that would break nbval's output comparison. Set ``EMHNET_PROGRESS=1`` to force them on,
``EMHNET_PROGRESS=0`` to force them off.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterable
from typing import Any

from tqdm.auto import tqdm as _tqdm_auto
from tqdm.std import tqdm as _tqdm_std


def _interactive() -> bool:
    """True when a human is likely watching: a terminal or a live JupyterLab session."""
    forced = os.environ.get("EMHNET_PROGRESS")
    if forced is not None:
        return forced not in ("0", "false", "no", "")
    if os.environ.get("CI") or os.environ.get("PYTEST_CURRENT_TEST") or "pytest" in sys.modules:
        return False
    if "papermill" in sys.modules or os.environ.get("PAPERMILL_EXECUTION"):
        return False
    try:  # inside IPython: interactive only with a live frontend (JupyterLab), not a batch kernel
        from IPython import get_ipython

        shell = get_ipython()
    except ImportError:
        shell = None
    if shell is not None:
        return os.environ.get("EMHNET_BATCH") is None
    return sys.stderr.isatty()


def progress(iterable: Iterable | None = None, **kwargs: Any):
    """A tqdm bar (``tqdm.auto`` in notebooks, plain ``tqdm`` in terminals), disabled in batch runs."""
    kwargs.setdefault("disable", not _interactive())
    kwargs.setdefault("dynamic_ncols", True)
    try:
        from IPython import get_ipython

        in_kernel = get_ipython() is not None and "IPKernelApp" in get_ipython().config
    except ImportError:
        in_kernel = False
    bar_class = _tqdm_auto if in_kernel else _tqdm_std
    return bar_class(iterable, **kwargs)
