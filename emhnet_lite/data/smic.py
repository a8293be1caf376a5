"""SMIC-HS reader: the folder tree ``HS/s1/micro/{negative,positive,surprise}/s1_ne_01/*.bmp``.

The clip folder is the micro-expression interval (onset = first frame, offset = last); SMIC has no apex,
so the apex is the middle frame (``apex_policy="middle"``; spotting it from motion is preprocessing's
``apex_policy="spot"``). Subject folders are ``s1``;
the published sample list writes ``s01``: the table uses ``s01`` and keeps the folder's clip name.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import pandas as pd

from emhnet_lite.data.annotated import ON_ERROR, VERIFY
from emhnet_lite.data.common import (
    EMOTION_TO_LABEL,
    FPS,
    DataFormatError,
    check_frame_range,
    list_frames,
    make_table,
    resolve_apex,
    verify_frames,
)

SMIC_FOLDER = "HS"
_SUBJECT_FOLDER = re.compile(r"s(\d+)")


def smic_subject_id(folder: str) -> str:
    """Subject folder ``s1`` (or list id ``s01``) -> ``s01``, the sample-list id."""
    match = _SUBJECT_FOLDER.fullmatch(folder.strip())
    if match is None:
        raise ValueError(folder)
    return f"s{int(match[1]):02d}"


def smic_clip_key(clip: str) -> str:
    """Canonical clip key: the list's ``s01_ne_01`` and the folder's ``s1_ne_01`` both give ``s1_ne_01``."""
    match = re.fullmatch(r"s0*(\d+)(_.*)", clip.strip())
    return f"s{int(match[1])}{match[2]}" if match else clip.strip()


def _hs_root(root: Path) -> Path:
    if (root / SMIC_FOLDER).is_dir():
        return root / SMIC_FOLDER
    if root.name == SMIC_FOLDER and root.is_dir():
        return root
    raise DataFormatError(root / SMIC_FOLDER, "SMIC-HS folder not found")


def read_smic(root: str | os.PathLike, *, apex_policy: str = "middle", on_error: str = "raise",
              verify: str = "endpoints") -> pd.DataFrame:
    """Read a SMIC-HS release (the folder holding ``HS/``, or ``HS`` itself) as a composite table.

    Only ``micro/`` clips are read; the emotion is the folder name. Subjects without ``micro/`` are listed in
    ``table.attrs['subjects_without_micro']``; ``on_error='skip'`` lists skipped clips in ``attrs['skipped']``.
    """
    if on_error not in ON_ERROR or verify not in VERIFY:
        raise ValueError(f"on_error must be in {ON_ERROR} and verify in {VERIFY}")
    hs = _hs_root(Path(root))
    rows, skipped, without_micro = [], [], []
    for subject_dir in sorted(p for p in hs.iterdir() if p.is_dir()):
        try:
            subject = smic_subject_id(subject_dir.name)
        except ValueError:
            raise DataFormatError(subject_dir, "subject folder name is not s<number> (e.g. s1)") from None
        micro = subject_dir / "micro"
        if not micro.is_dir():
            without_micro.append(subject_dir.name)
            continue
        for emotion_dir in sorted(p for p in micro.iterdir() if p.is_dir()):
            if emotion_dir.name.lower() not in EMOTION_TO_LABEL["smic"]:
                raise DataFormatError(emotion_dir, f"unknown emotion folder {emotion_dir.name!r}; expected "
                                      f"one of {sorted(EMOTION_TO_LABEL['smic'])}")
            for clip_dir in sorted(p for p in emotion_dir.iterdir() if p.is_dir()):
                try:
                    rows.append(_read_clip(clip_dir, subject_dir.name, subject, emotion_dir.name,
                                           apex_policy, verify))
                except DataFormatError as error:
                    if on_error == "raise":
                        raise
                    skipped.append(str(error))
    _check_duplicates(rows, hs)
    table = make_table(rows, "smic")
    table.attrs.update(skipped=skipped, subjects_without_micro=without_micro, source=str(hs))
    return table


def _read_clip(clip_dir: Path, folder: str, subject: str, emotion: str, apex_policy: str,
               verify: str) -> dict:
    """One clip folder -> one table row (onset/offset are the first/last frame numbers)."""
    if not clip_dir.name.startswith(f"{folder}_"):
        raise DataFormatError(clip_dir, f"clip {clip_dir.name!r} does not belong to subject folder {folder!r}")
    listing = list_frames(clip_dir)
    onset, offset = listing.numbers[0], listing.numbers[-1]
    check_frame_range(listing, clip_dir, onset, offset, clip_dir, None)
    apex, apex_source = resolve_apex(None, onset, offset, file=clip_dir, row=None, column=None, raw=None,
                                     policy=apex_policy)
    if verify != "none":
        verify_frames(clip_dir, listing.template,
                      (onset, apex, offset) if verify == "endpoints" else listing.numbers)
    return {
        "dataset": "smic", "subject": subject, "clip": clip_dir.name, "onset": onset, "apex": apex,
        "offset": offset, "apex_source": apex_source, "emotion": emotion,
        "label": EMOTION_TO_LABEL["smic"][emotion.lower()], "action_units": "", "fps": FPS["smic"],
        "frame_dir": str(clip_dir.resolve()), "frame_template": listing.template,
    }


def _check_duplicates(rows: list[dict], hs: Path) -> None:
    """A clip name in two emotion folders is ambiguous: raise naming both folders."""
    seen: dict[tuple[str, str], str] = {}
    for row in rows:
        key = (row["subject"], row["clip"])
        if key in seen:
            raise DataFormatError(hs, f"clip {row['clip']} appears twice: {seen[key]} and {row['frame_dir']}")
        seen[key] = row["frame_dir"]
