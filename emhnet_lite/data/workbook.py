"""Read annotation workbooks (.xlsx) row by row, keeping the sheet row numbers a user sees in Excel."""

from __future__ import annotations

import difflib
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from emhnet_lite.data.common import DataFormatError


@dataclass
class SheetRow:
    """One data row: its 1-based sheet row number and its cells keyed by header name."""

    number: int
    cells: dict[str, object]


def _clean(value: object) -> object:
    """Strip strings; empty strings become ``None`` (blank cell)."""
    if isinstance(value, str):
        value = value.strip()
        return value or None
    return value


def read_sheet(path: str | os.PathLike, required: Sequence[str], header_row: int | None = None,
               search_rows: int = 40) -> list[SheetRow]:
    """The rows under the header of the first sheet; every ``required`` column must be present by name.

    ``header_row`` is the expected 1-based header row (CASME II: 1, SAMM: 14); when the required names are
    not on it, the first ``search_rows`` rows are searched (a documented tolerance for re-saved files).
    """
    from openpyxl import load_workbook

    path = Path(path)
    if not path.is_file():
        raise DataFormatError(path, "annotation workbook not found")
    try:
        workbook = load_workbook(path, read_only=True, data_only=True)
    except Exception as error:  # openpyxl raises several types for damaged files
        raise DataFormatError(path, f"cannot open workbook ({type(error).__name__}: {error})") from error
    try:
        sheet = workbook.worksheets[0]
        rows = [tuple(_clean(v) for v in row) for row in sheet.iter_rows(values_only=True)]
    finally:
        workbook.close()

    def names(row: tuple) -> list[str]:
        return [str(v) if v is not None else "" for v in row]

    candidates = ([header_row] if header_row else []) + list(range(1, min(search_rows, len(rows)) + 1))
    found = None
    for number in candidates:
        if number <= len(rows) and all(c in names(rows[number - 1]) for c in required):
            found = number
            break
    if found is None:
        expected = header_row or 1
        header = names(rows[expected - 1]) if expected <= len(rows) else []
        missing = [c for c in required if c not in header]
        hints = []
        for column in missing:
            close = difflib.get_close_matches(column, [h for h in header if h], n=1, cutoff=0.5)
            hints.append(f"{column!r}" + (f" (found {close[0]!r})" if close else ""))
        raise DataFormatError(path, f"required column(s) missing from the header: {', '.join(hints)}",
                              expected, missing[0] if missing else None)
    header = names(rows[found - 1])
    index = {name: header.index(name) for name in header if name}
    result = []
    for offset, row in enumerate(rows[found:], start=found + 1):
        if all(v is None for v in row):
            continue  # blank separator rows carry no clip
        cells = {name: (row[i] if i < len(row) else None) for name, i in index.items()}
        result.append(SheetRow(offset, cells))
    return result
