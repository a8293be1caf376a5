"""The published composite UF1/UAR table (``resources/published_results.csv``) with its sources.

One row per method × subset (``composite``, ``smic``, ``casme2``, ``samm``). ``test_set_selected`` is
``yes`` / ``no`` / ``unknown``; ``kind`` separates paper tables from re-runs and recomputations.
"""

from __future__ import annotations

import os
from importlib import resources
from pathlib import Path

import pandas as pd

COLUMNS = ("method", "year", "kind", "subset", "uf1", "uar", "uf1_max", "uar_max", "test_set_selected",
           "evidence", "default_figure", "source", "note")
SUBSETS = ("composite", "smic", "casme2", "samm")
KINDS = ("published", "re-run", "stored predictions")
SELECTED_VALUES = ("yes", "no", "unknown")
EVIDENCE = ("code", "repo-doc", "2nd")


def published_results_path() -> Path:
    """Location of the shipped table inside the installed package."""
    return Path(str(resources.files("emhnet_lite") / "resources" / "published_results.csv"))


def load_published(path: str | os.PathLike | None = None) -> pd.DataFrame:
    """The published-results table, validated: bad rows raise naming the file, row and field."""
    path = Path(path) if path is not None else published_results_path()
    text_columns = ("method", "kind", "subset", "test_set_selected", "evidence", "default_figure", "source", "note")
    table = pd.read_csv(path, dtype={c: str for c in text_columns},
                        keep_default_na=False, na_values={c: [""] for c in ("uf1", "uar", "uf1_max", "uar_max")})
    missing = [c for c in COLUMNS if c not in table.columns]
    if missing:
        raise ValueError(f"{path}: missing column(s) {missing}")
    allowed = {"kind": KINDS, "subset": SUBSETS, "test_set_selected": SELECTED_VALUES, "evidence": EVIDENCE,
               "default_figure": ("true", "false")}
    for index, row in table.iterrows():
        where = f"{path}: row {index + 2}"
        for column, values in allowed.items():
            if str(row[column]) not in values:
                raise ValueError(f"{where} field {column!r}: {row[column]!r} not one of {values}")
        if not str(row["source"]).strip():
            raise ValueError(f"{where} field 'source': empty (every number needs a source)")
        for column in ("uf1", "uar", "uf1_max", "uar_max"):
            value = row[column]
            if pd.notna(value) and not 0.0 <= float(value) <= 1.0:
                raise ValueError(f"{where} field {column!r}: {value} outside [0, 1]")
        if pd.isna(row["uf1"]) and pd.isna(row["uar"]):
            raise ValueError(f"{where}: neither uf1 nor uar given")
    duplicated = table.duplicated(["method", "subset"])
    if duplicated.any():
        row = int(duplicated.to_numpy().nonzero()[0][0])
        raise ValueError(f"{path}: row {row + 2}: duplicate method/subset {table.iloc[row]['method']!r}")
    table["default_figure"] = table["default_figure"] == "true"
    return table


def selection_tag(value: str) -> str:
    """Short legend text for a row's ``test_set_selected`` value."""
    return {"yes": "test-set-selected", "no": "no test-set selection", "unknown": "selection not stated"}[value]
