"""SAMM reader: ``SAMM_Micro_FACS_Codes_v2.xlsx`` (header on sheet row 14) plus ``SAMM/006/006_1_2/006_05562.jpg``."""

from __future__ import annotations

import os
import re

import pandas as pd

from emhnet_lite.data.annotated import WorkbookLayout, read_annotated

SAMM_WORKBOOK = "SAMM_Micro_FACS_Codes_v2.xlsx"
SAMM_FRAMES = "SAMM"
SAMM_HEADER_ROW = 14


def samm_subject_id(value: object) -> str:
    """Workbook ``Subject`` (6 or ``"006"``) -> ``006``, the folder and sample-list id."""
    match = re.fullmatch(r"0*(\d+)", str(value).strip().removesuffix(".0"))
    if match is None:
        raise ValueError(value)
    return f"{int(match[1]):03d}"


SAMM_LAYOUT = WorkbookLayout(
    dataset="samm", workbook=SAMM_WORKBOOK, header_row=SAMM_HEADER_ROW, frames=SAMM_FRAMES,
    subject="Subject", filename="Filename", onset="Onset Frame", apex="Apex Frame", offset="Offset Frame",
    action_units="Action Units", emotion="Estimated Emotion", subject_id=samm_subject_id,
    clip_prefix=lambda subject: f"{subject}_",
)


def read_samm(root: str | os.PathLike, *, apex_policy: str = "middle", on_error: str = "raise",
              verify: str = "endpoints") -> pd.DataFrame:
    """Read a SAMM release (the folder holding the workbook and ``SAMM/``) as a composite table.

    Blank, ``/`` or ``-1`` apex cells get ``apex_policy`` (default the middle frame), marked in ``apex_source``.
    """
    return read_annotated(SAMM_LAYOUT, root, apex_policy=apex_policy, on_error=on_error, verify=verify)
