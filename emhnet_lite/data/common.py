"""Shared pieces of the dataset readers: the error type, the table schema, frame discovery and checks.

Every reader returns one row per clip in the schema of ``docs/architecture.md`` ("The composite table").
Problems are either a :class:`DataFormatError` that names the file, the sheet row (as Excel shows it) and
the column, or a documented fallback recorded per row in ``apex_source`` and counted by the composite report.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
from emhnet_lite.errors import KitError

from emhnet_lite.data.frames import FrameError, read_frame

#: Column order of every reader's table (the composite table contract).
TABLE_COLUMNS: tuple[str, ...] = (
    "dataset", "subject", "clip", "onset", "apex", "offset", "apex_source", "emotion", "label",
    "action_units", "fps", "frame_dir", "frame_template",
)

#: Source emotion (lower case) -> 3-class label index, per dataset (MEGC2019 CDE). ``None`` = dropped.
EMOTION_TO_LABEL: dict[str, dict[str, int | None]] = {
    "casme2": {"disgust": 0, "repression": 0, "happiness": 1, "surprise": 2,
               "fear": None, "sadness": None, "others": None},
    "samm": {"anger": 0, "contempt": 0, "disgust": 0, "fear": 0, "sadness": 0, "happiness": 1,
             "surprise": 2, "other": None},
    "smic": {"negative": 0, "positive": 1, "surprise": 2},
}

#: Frame rates of the releases (frames per second).
FPS = {"casme2": 200, "samm": 200, "smic": 100}

#: The readers' apex policy for clips without an annotated apex; spotting the apex from motion is a
#: preprocessing step (``PreprocessConfig(apex_policy="spot")``, ``preprocess/apex.py``).
APEX_POLICIES = ("middle",)

_FRAME_NAME = re.compile(r"^(?P<prefix>.*?)(?P<number>\d+)(?P<suffix>\.[A-Za-z0-9]+)$")
IMAGE_SUFFIXES = {".jpg", ".jpeg", ".bmp", ".png", ".tif", ".tiff"}


class DataFormatError(KitError, ValueError):
    """Malformed dataset input; the message names the file and, where there is one, the row and column."""

    def __init__(self, file: str | os.PathLike, message: str, row: int | None = None,
                 column: str | None = None) -> None:
        self.file, self.row, self.column = str(file), row, column
        where = [str(file)]
        if row is not None:
            where.append(f"sheet row {row}")
        if column is not None:
            where.append(f"column {column!r}")
        super().__init__(f"{', '.join(where)}: {message}")


def read_text_csv(path: str | os.PathLike, columns: Iterable[str], what: str) -> pd.DataFrame:
    """A small CSV the kit reads (sample list, annotation) as strings; a missing file or column is a DataFormatError."""
    path = Path(path)
    if not path.is_file():
        raise DataFormatError(path, f"{what} not found")
    frame = pd.read_csv(path, dtype=str, keep_default_na=False)
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise DataFormatError(path, f"missing column(s) {missing}; expected {list(columns)}, found {list(frame.columns)}",
                              1, missing[0])
    return frame


def label_for(dataset: str, emotion: str, file: str | os.PathLike, row: int | None,
              column: str) -> int | None:
    """3-class label of a source emotion (``None`` when the composite drops it); unknown labels raise."""
    mapping = EMOTION_TO_LABEL[dataset]
    key = str(emotion).strip().lower()
    if key not in mapping:
        raise DataFormatError(file, f"unknown emotion label {emotion!r}; expected one of {sorted(mapping)}",
                              row, column)
    return mapping[key]


@dataclass(frozen=True)
class FrameListing:
    """The frames found in one clip folder: their numbers and the ``str.format`` template of their names."""

    numbers: tuple[int, ...]
    template: str


def list_frames(frame_dir: Path) -> FrameListing:
    """Discover a clip folder's frame numbering (``img46.jpg`` -> ``img{frame}.jpg``); errors name the folder."""
    if not frame_dir.is_dir():
        raise DataFormatError(frame_dir, "clip folder not found")
    names = sorted(n for n in os.listdir(frame_dir) if Path(n).suffix.lower() in IMAGE_SUFFIXES)
    if not names:
        raise DataFormatError(frame_dir, "clip folder holds no image frames")
    groups: dict[tuple[str, str], list[str]] = {}
    for name in names:
        match = _FRAME_NAME.match(name)
        if match is None:
            raise DataFormatError(frame_dir / name, "frame file name has no frame number")
        groups.setdefault((match["prefix"], match["suffix"]), []).append(match["number"])
    if len(groups) > 1:
        raise DataFormatError(frame_dir, f"mixed frame name patterns {sorted(groups)}")
    (prefix, suffix), digit_strings = next(iter(groups.items()))
    lengths = {len(d) for d in digit_strings}
    padded = len(lengths) == 1 and any(d.startswith("0") and len(d) > 1 for d in digit_strings)
    field = f"{{frame:0{lengths.pop()}d}}" if padded else "{frame}"
    template = prefix.replace("{", "{{").replace("}", "}}") + field + suffix
    numbers = [int(d) for d in digit_strings]
    for digits, number in zip(digit_strings, numbers, strict=True):
        if template.format(frame=number) != f"{prefix}{digits}{suffix}":
            raise DataFormatError(frame_dir / f"{prefix}{digits}{suffix}",
                                  f"frame number padding differs from the other frames ({template})")
    return FrameListing(tuple(sorted(numbers)), template)


def check_frame_range(listing: FrameListing, frame_dir: Path, onset: int, offset: int,
                      file: str | os.PathLike, row: int | None) -> None:
    """Every frame of ``[onset, offset]`` must exist; the error names the annotation row and missing frames."""
    present = set(listing.numbers)
    missing = [n for n in range(onset, offset + 1) if n not in present]
    if missing:
        shown = ", ".join(listing.template.format(frame=n) for n in missing[:5])
        more = f" (+{len(missing) - 5} more)" if len(missing) > 5 else ""
        raise DataFormatError(file, f"{len(missing)} frame(s) of the annotated range [{onset}, {offset}] "
                              f"missing in {frame_dir}: {shown}{more}", row)


def verify_frames(frame_dir: Path, template: str, frames: Iterable[int]) -> None:
    """Decode the given frames (by default onset, apex, offset) so a corrupt file fails at read time."""
    for frame in frames:
        path = frame_dir / template.format(frame=frame)
        try:
            read_frame(path)
        except FrameError as error:
            raise DataFormatError(path, str(error).removeprefix(f"{path}: ")) from error


def middle_frame(onset: int, offset: int) -> int:
    """The ``middle`` apex policy: ``onset + (offset - onset) // 2`` (MEB's choice for SMIC)."""
    return int(onset + (offset - onset) // 2)


def make_table(rows: list[dict], dataset: str) -> pd.DataFrame:
    """Build the reader table with the contract's column order and dtypes; duplicate clips raise."""
    table = pd.DataFrame(rows, columns=list(TABLE_COLUMNS))
    for column in ("onset", "apex", "offset", "fps"):
        table[column] = table[column].astype("int64")
    table["label"] = table["label"].astype("Int64")
    for column in ("dataset", "subject", "clip", "apex_source", "emotion", "action_units", "frame_dir",
                   "frame_template"):
        table[column] = table[column].astype(str)
    table = table.sort_values(["subject", "clip"], kind="stable").reset_index(drop=True)
    table.attrs["dataset"] = dataset
    return table


def parse_int_cell(value: object, file: str | os.PathLike, row: int, column: str,
                   allow_missing: bool = False) -> int | None:
    """An integer frame cell; ``/``, blank or -1 give ``None`` when allowed, anything else raises."""
    if value is None or (isinstance(value, str) and value.strip() in ("", "/", "-")):
        if allow_missing:
            return None
        raise DataFormatError(file, f"missing value {value!r}", row, column)
    if isinstance(value, bool):
        raise DataFormatError(file, f"not a frame number: {value!r}", row, column)
    try:
        number = float(str(value).strip())
    except ValueError:
        raise DataFormatError(file, f"not a frame number: {value!r}", row, column) from None
    if not number.is_integer():
        raise DataFormatError(file, f"not an integer frame number: {value!r}", row, column)
    if number < 0:
        if allow_missing and number == -1:
            return None
        raise DataFormatError(file, f"negative frame number {value!r}", row, column)
    return int(number)


def check_apex_policy(policy: str) -> None:
    """The readers know ``middle`` only; ``spot`` is named as preprocessing's, anything else is an error."""
    if policy == "spot":
        raise ValueError("apex_policy='spot' is preprocessing's, not the readers': read with 'middle' and "
                         "prepare with PreprocessConfig(apex_policy='spot') (emhnet prepare --apex spot)")
    if policy not in APEX_POLICIES:
        raise ValueError(f"unknown apex policy {policy!r}; expected one of {APEX_POLICIES}")


def resolve_apex(apex: int | None, onset: int, offset: int, *, file: str | os.PathLike, row: int | None,
                 column: str | None, raw: object, policy: str) -> tuple[int, str]:
    """Validate an annotated apex or apply the policy fallback; returns ``(apex, apex_source)``.

    ``column=None`` means the release has no apex at all (SMIC): the source is then the bare policy name.
    """
    check_apex_policy(policy)
    if onset > offset:
        raise DataFormatError(file, f"onset {onset} is after offset {offset}", row)
    if apex is not None:
        if not onset <= apex <= offset:
            raise DataFormatError(file, f"apex {apex} outside [onset {onset}, offset {offset}]", row, column)
        return apex, "annotated"
    value = middle_frame(onset, offset)
    if column is None:
        return value, policy
    reason = "blank" if raw is None or str(raw).strip() == "" else str(raw).strip()
    return value, f"{policy} (apex {reason})"
