"""The shared reader of workbook-annotated releases (CASME II, SAMM): one workbook row -> one clip row."""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from emhnet_lite.data.common import (
    FPS,
    DataFormatError,
    FrameListing,
    check_frame_range,
    label_for,
    list_frames,
    make_table,
    parse_int_cell,
    resolve_apex,
    verify_frames,
)
from emhnet_lite.data.workbook import read_sheet

ON_ERROR = ("raise", "skip")
VERIFY = ("none", "endpoints", "all")


@dataclass(frozen=True)
class WorkbookLayout:
    """Where a release keeps its annotations and frames, and the names of its columns."""

    dataset: str
    workbook: str
    header_row: int
    frames: str
    subject: str
    filename: str
    onset: str
    apex: str
    offset: str
    action_units: str
    emotion: str
    #: workbook Subject cell -> subject id as in the published sample list (``sub01``, ``006``)
    subject_id: Callable[[object], str]
    #: clip names must start with this (given the subject id) when not None (SAMM: ``006_``)
    clip_prefix: Callable[[str], str] | None = None

    @property
    def required(self) -> tuple[str, ...]:
        """Header names that must be present (the error names any that are missing)."""
        return (self.subject, self.filename, self.onset, self.apex, self.offset, self.action_units,
                self.emotion)


def _subject_id(layout: WorkbookLayout, value: object, file: Path, row: int) -> str:
    try:
        return layout.subject_id(value)
    except (TypeError, ValueError):
        raise DataFormatError(file, f"cannot read subject id {value!r}", row, layout.subject) from None


def read_annotated(layout: WorkbookLayout, root: str | os.PathLike, *, apex_policy: str = "middle",
                   on_error: str = "raise", verify: str = "endpoints") -> pd.DataFrame:
    """Read a workbook-annotated release under ``root`` into the composite table schema.

    ``on_error='skip'`` leaves out rows that fail a check and lists each message in ``table.attrs['skipped']``
    (nothing is dropped silently); ``verify`` decodes no frames, the onset/apex/offset frames, or all frames.
    """
    if on_error not in ON_ERROR:
        raise ValueError(f"on_error must be one of {ON_ERROR}, got {on_error!r}")
    if verify not in VERIFY:
        raise ValueError(f"verify must be one of {VERIFY}, got {verify!r}")
    root = Path(root)
    workbook = root / layout.workbook
    frames_root = root / layout.frames
    sheet = read_sheet(workbook, layout.required, header_row=layout.header_row)
    if not frames_root.is_dir():
        raise DataFormatError(frames_root, f"frame folder of the {layout.dataset} release not found")
    subject_folders = sorted(p.name for p in frames_root.iterdir() if p.is_dir())
    seen: dict[tuple[str, str], int] = {}
    listings: dict[Path, FrameListing] = {}
    rows, skipped = [], []
    for sheet_row in sheet:
        try:
            rows.append(_read_row(layout, sheet_row.cells, sheet_row.number, workbook, frames_root,
                                  subject_folders, seen, listings, apex_policy, verify))
        except DataFormatError as error:
            if on_error == "raise":
                raise
            skipped.append(str(error))
    table = make_table(rows, layout.dataset)
    table.attrs["skipped"] = skipped
    table.attrs["source"] = str(workbook)
    return table


def _read_row(layout: WorkbookLayout, cells: dict, number: int, workbook: Path, frames_root: Path,
              subject_folders: list[str], seen: dict, listings: dict, apex_policy: str,
              verify: str) -> dict:
    """Check one workbook row against the frames on disk and return its table row."""
    subject_raw = cells[layout.subject]
    if subject_raw is None:
        raise DataFormatError(workbook, "blank subject", number, layout.subject)
    subject = _subject_id(layout, subject_raw, workbook, number)
    clip = cells[layout.filename]
    if clip is None:
        raise DataFormatError(workbook, "blank file name", number, layout.filename)
    clip = str(clip)
    if (subject, clip) in seen:
        raise DataFormatError(workbook, f"duplicate row for subject {subject} clip {clip} "
                              f"(first on sheet row {seen[(subject, clip)]})", number, layout.filename)
    seen[(subject, clip)] = number
    if layout.clip_prefix is not None and not clip.startswith(layout.clip_prefix(subject)):
        raise DataFormatError(workbook, f"file name {clip!r} does not belong to subject {subject}",
                              number, layout.filename)
    if subject not in subject_folders:
        raise DataFormatError(workbook, f"subject {subject_raw!r} has no folder {subject!r} in {frames_root} "
                              f"(found {subject_folders[:8]}{' ...' if len(subject_folders) > 8 else ''})",
                              number, layout.subject)
    frame_dir = frames_root / subject / clip
    if frame_dir not in listings:
        try:
            listings[frame_dir] = list_frames(frame_dir)
        except DataFormatError as error:
            raise DataFormatError(workbook, f"clip {clip}: {error}", number, layout.filename) from error
    listing = listings[frame_dir]
    onset = parse_int_cell(cells[layout.onset], workbook, number, layout.onset)
    offset = parse_int_cell(cells[layout.offset], workbook, number, layout.offset)
    apex_raw = cells[layout.apex]
    apex = parse_int_cell(apex_raw, workbook, number, layout.apex, allow_missing=True)
    emotion = cells[layout.emotion]
    if emotion is None:
        raise DataFormatError(workbook, "blank emotion", number, layout.emotion)
    label = label_for(layout.dataset, str(emotion), workbook, number, layout.emotion)
    if onset > offset:
        raise DataFormatError(workbook, f"onset {onset} is after offset {offset}", number, layout.onset)
    check_frame_range(listing, frame_dir, onset, offset, workbook, number)
    apex, apex_source = resolve_apex(apex, onset, offset, file=workbook, row=number, column=layout.apex,
                                     raw=apex_raw, policy=apex_policy)
    if verify != "none":
        frames = (onset, apex, offset) if verify == "endpoints" else range(onset, offset + 1)
        try:
            verify_frames(frame_dir, listing.template, frames)
        except DataFormatError as error:
            raise DataFormatError(workbook, str(error), number, layout.filename) from error
    action_units = cells[layout.action_units]
    return {
        "dataset": layout.dataset, "subject": subject, "clip": clip, "onset": onset, "apex": apex,
        "offset": offset, "apex_source": apex_source, "emotion": str(emotion), "label": label,
        "action_units": "" if action_units is None else str(action_units), "fps": FPS[layout.dataset],
        "frame_dir": str(frame_dir.resolve()), "frame_template": listing.template,
    }
