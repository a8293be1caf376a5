"""CASME II reader: ``CASME2-coding-20140508.xlsx`` plus ``CASME2_RAW_selected/subXX/EPxx_yy[f]/img{n}.jpg``."""

from __future__ import annotations

import os
import re

import pandas as pd

from emhnet_lite.data.annotated import WorkbookLayout, read_annotated

CASME2_WORKBOOK = "CASME2-coding-20140508.xlsx"
CASME2_FRAMES = "CASME2_RAW_selected"


def casme2_subject_id(value: object) -> str:
    """Workbook ``Subject`` (1, ``"1"`` or ``"sub01"``) -> ``sub01``, the folder and sample-list id."""
    match = re.fullmatch(r"(?:sub)?0*(\d+)", str(value).strip().removesuffix(".0"), flags=re.IGNORECASE)
    if match is None:
        raise ValueError(value)
    return f"sub{int(match[1]):02d}"


def casme2_layout(frames: str = CASME2_FRAMES) -> WorkbookLayout:
    """The CASME II release layout; ``frames='Cropped'`` reads the cropped release instead."""
    return WorkbookLayout(
        dataset="casme2", workbook=CASME2_WORKBOOK, header_row=1, frames=frames,
        subject="Subject", filename="Filename", onset="OnsetFrame", apex="ApexFrame", offset="OffsetFrame",
        action_units="Action Units", emotion="Estimated Emotion", subject_id=casme2_subject_id,
    )


def read_casme2(root: str | os.PathLike, *, frames: str = CASME2_FRAMES, apex_policy: str = "middle",
                on_error: str = "raise", verify: str = "endpoints") -> pd.DataFrame:
    """Read a CASME II release (the folder holding the workbook and the frame folder) as a composite table.

    ``/`` or blank ``ApexFrame`` cells get ``apex_policy`` (default the middle frame), marked in ``apex_source``.
    """
    return read_annotated(casme2_layout(frames), root, apex_policy=apex_policy, on_error=on_error,
                          verify=verify)
