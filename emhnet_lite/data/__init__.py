"""Readers for CASME II, SAMM and SMIC-HS, and the MEGC2019 composite built from them.

Every reader returns the composite table schema of ``docs/architecture.md``; formats, fallbacks and how to
point the kit at real releases are in ``docs/data.md``.
"""

from __future__ import annotations

from pathlib import Path

from emhnet_lite.data.casme2 import read_casme2
from emhnet_lite.data.common import EMOTION_TO_LABEL, TABLE_COLUMNS, DataFormatError, read_gray
from emhnet_lite.data.composite import CompositeReport, count_table, load_composite, read_sample_list
from emhnet_lite.data.samm import read_samm
from emhnet_lite.data.smic import read_smic


def frame_path(row, frame: int) -> Path:
    """Path of frame number ``frame`` of a composite-table row: ``frame_dir / frame_template``."""
    return Path(row["frame_dir"]) / row["frame_template"].format(frame=int(frame))


def clip_browser(row, **kwargs):
    """An ipywidgets frame slider over one clip with onset/apex/offset marked (see ``data.browse``)."""
    from emhnet_lite.data.browse import clip_browser as _clip_browser

    return _clip_browser(row, **kwargs)


__all__ = [
    "EMOTION_TO_LABEL", "TABLE_COLUMNS", "CompositeReport", "DataFormatError", "clip_browser", "count_table",
    "frame_path", "load_composite", "read_casme2", "read_gray", "read_sample_list", "read_samm", "read_smic",
]
