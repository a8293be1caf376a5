"""Interactive explorers for the chapters: sliders in JupyterLab, a static grid of fixed settings in batch runs.

A chapter passes a ``draw(ax, **setting)`` function, the controls (name → options) and a few fallback settings.
In a live kernel (JupyterLab) :func:`explorer` returns an ipywidgets panel that redraws on every change; in a
batch run (papermill, nbval, ``make`` and ``emhnet notebooks`` set ``EMHNET_BATCH=1``) or outside a kernel it
draws the fallback settings side by side, saves that picture under ``figures/`` and returns it, so stored
outputs and CI never depend on a widget.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from matplotlib.axes import Axes
from matplotlib.figure import Figure

from emhnet_lite.progress import in_kernel
from emhnet_lite.utils import atomic_path

Draw = Callable[..., None]


def interactive_session() -> bool:
    """True in a live Jupyter kernel outside batch runs (``EMHNET_BATCH`` and ``CI`` unset)."""
    return not (os.environ.get("EMHNET_BATCH") or os.environ.get("CI")) and in_kernel()


def setting_label(setting: dict[str, Any]) -> str:
    """``name=value`` pairs of one setting, for panel titles and captions."""
    return ", ".join(f"{name} = {value}" for name, value in setting.items())


def static_grid(draw: Draw, settings: Sequence[dict[str, Any]], *, columns: int | None = None,
                panel: tuple[float, float] = (4.0, 3.0), title: str = "") -> Figure:
    """One panel per setting, ``draw(ax, **setting)`` in each (the batch-run picture of an explorer)."""
    columns = columns or min(len(settings), 4)
    rows = math.ceil(len(settings) / columns)
    fig = Figure(figsize=(panel[0] * columns, panel[1] * rows), layout="constrained")
    axes = fig.subplots(rows, columns, squeeze=False).ravel()
    for ax, setting in zip(axes, settings, strict=False):
        draw(ax, **setting)
    for ax in axes[len(settings):]:
        ax.set_visible(False)
    if title:
        fig.suptitle(title, fontsize=12)
    return fig


def save_png(fig: Figure, path: str | os.PathLike, dpi: int = 110) -> Path:
    """Write ``fig`` as PNG atomically, without a timestamp (stable bytes for the same picture)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=dpi, bbox_inches="tight", metadata={"Software": None})
    return path


def explorer(draw: Draw, controls: dict[str, Sequence[Any]], fallback: Sequence[dict[str, Any]],
             path: str | os.PathLike, *, title: str = "", columns: int | None = None,
             panel: tuple[float, float] = (4.0, 3.0)):
    """Sliders over ``controls`` (JupyterLab), else the ``fallback`` settings drawn and saved to ``path``.

    ``controls`` maps each keyword of ``draw`` to its options (the first fallback setting is the start value).
    """
    if not interactive_session():
        fig = static_grid(draw, fallback, columns=columns, panel=panel, title=title)
        save_png(fig, path)
        return fig
    return _widget_panel(draw, controls, dict(fallback[0]), title, panel)


def _widget_panel(draw: Draw, controls: dict[str, Sequence[Any]], start: dict[str, Any], title: str,
                  panel: tuple[float, float]):
    """The live panel: one selection slider per control and an output area redrawn on every change."""
    import ipywidgets as widgets
    import matplotlib.pyplot as plt
    from IPython.display import display

    sliders = {name: widgets.SelectionSlider(options=list(options), value=start.get(name, options[0]),
                                             description=name, continuous_update=False,
                                             style={"description_width": "initial"},
                                             layout=widgets.Layout(width="420px"))
               for name, options in controls.items()}
    output = widgets.Output()

    def redraw(change=None) -> None:
        with output:
            output.clear_output(wait=True)
            fig, ax = plt.subplots(figsize=(panel[0] * 1.5, panel[1] * 1.5), layout="constrained")
            draw(ax, **{name: slider.value for name, slider in sliders.items()})
            if title:
                fig.suptitle(title, fontsize=12)
            display(fig)
            plt.close(fig)

    for slider in sliders.values():
        slider.observe(redraw, names="value")
    redraw()
    return widgets.VBox([*sliders.values(), output])


def no_axes(ax: Axes) -> None:
    """Hide ticks of an image panel."""
    ax.set_xticks([])
    ax.set_yticks([])
