"""Paper figures from saved run folders: confusion matrices, published comparison, gates, subjects, curves;
and the EMHNet architecture diagram drawn from a model config (``architecture``); the teaching figures of
chapters 03–06 (``chapters``) and their slider explorers with static fallbacks for batch runs (``explore``).

Numbers come only from saved files read by ``emhnet_lite.runs.load_run`` (predictions, metrics, history, gate
tables) and the shipped published-results table; ``render_all`` writes the set and records each figure's sources.
"""

from emhnet_lite.figures.architecture import architecture_figure, architecture_labels
from emhnet_lite.figures.plots import (
    FigureUnavailable,
    comparison_figure,
    comparison_per_dataset_figure,
    confusion_composite_figure,
    confusion_per_dataset_figure,
    per_subject_figure,
    region_gate_figure,
    save_figure,
    training_curves_figure,
)
from emhnet_lite.figures.published import load_published, published_results_path
from emhnet_lite.figures.render import (
    FIGURE_KEYS,
    FigureRecord,
    render_all,
    render_figure,
    sources_table,
    write_sources,
)

__all__ = [
    "architecture_figure", "architecture_labels",
    "FIGURE_KEYS", "FigureRecord", "render_figure", "write_sources", "FigureUnavailable", "comparison_figure",
    "comparison_per_dataset_figure",
    "confusion_composite_figure", "confusion_per_dataset_figure", "load_published",
    "per_subject_figure", "published_results_path", "region_gate_figure", "render_all", "save_figure",
    "sources_table", "training_curves_figure",
]
