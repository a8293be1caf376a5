"""Readers for CASME II, SAMM and SMIC-HS, and the MEGC2019 composite built from them.

Every reader returns the composite table schema of ``docs/architecture.md``; formats, fallbacks and how to
point the kit at real releases are in ``docs/data.md``.
"""

from __future__ import annotations

from emhnet_lite.data.casme2 import read_casme2
from emhnet_lite.data.common import EMOTION_TO_LABEL, TABLE_COLUMNS, DataFormatError
from emhnet_lite.data.composite import CompositeReport, count_table, load_composite, read_sample_list
from emhnet_lite.data.frames import FrameError, frame_path, read_frame
from emhnet_lite.data.samm import read_samm
from emhnet_lite.data.smic import read_smic


def clip_browser(row, **kwargs):
    """An ipywidgets frame slider over one clip with onset/apex/offset marked (see ``data.browse``)."""
    from emhnet_lite.data.browse import clip_browser as _clip_browser

    return _clip_browser(row, **kwargs)


__all__ = [
    "EMOTION_TO_LABEL", "TABLE_COLUMNS", "CompositeReport", "DataFormatError", "FrameError", "clip_browser",
    "count_table", "frame_path", "load_composite", "read_casme2", "read_frame", "read_sample_list", "read_samm",
    "read_smic",
]
