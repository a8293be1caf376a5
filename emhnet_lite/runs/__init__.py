"""LOSO run folders: the format (``layout``), writing and merging (``write``), the one validating reader (``read``).

See ``docs/run_folder.md``. The LOSO runner writes fold folders through this package; figures, chapters and
commands read a finished run only through ``load_run``.
"""

from emhnet_lite.runs.layout import (
    GATE_COLUMNS,
    PROB_COLUMNS,
    SELECTION_LABELS,
    SELECTIONS,
    fold_dir_name,
    load_checkpoint,
    selection_label,
)
from emhnet_lite.runs.read import RunFolderError, RunTables, is_synthetic_source, load_run, print_metrics
from emhnet_lite.runs.write import merge_run

__all__ = [
    "GATE_COLUMNS", "PROB_COLUMNS", "SELECTIONS", "SELECTION_LABELS", "RunFolderError", "RunTables",
    "fold_dir_name", "is_synthetic_source", "load_checkpoint", "load_run", "merge_run", "print_metrics",
    "selection_label",
]
