"""The real-face release: the kit's own annotation of the fetched videos → a CASME II-shaped release.

The annotation CSV (``resources/realfaces_annotations.csv``) gives, per clip, the video, a CASME II-style
subject number, onset/apex/offset frames (1-based decoded frame numbers), the emotion in CASME II's words
and the 3-class label. The release is what the CASME II reader reads: ``CASME2-coding-20140508.xlsx`` and
``CASME2_RAW_selected/subNN/<clip>/img<n>.jpg`` (frames onset..offset), plus a sample list that carries the
3-class labels (CASME II's rule mapping drops ``sadness``, so the labels come from the list, as with the
published 442-sample list) and a provenance JSON.
"""

from __future__ import annotations

import os
import re
import shutil
import tempfile
from collections.abc import Iterable
from importlib import resources
from pathlib import Path

import cv2
import pandas as pd

from emhnet_lite.constants import CLASS_NAMES
from emhnet_lite.data.casme2 import CASME2_FRAMES, CASME2_WORKBOOK, casme2_subject_id
from emhnet_lite.data.common import EMOTION_TO_LABEL, DataFormatError, read_text_csv
from emhnet_lite.data.frames import read_video_frames, video_info
from emhnet_lite.errors import OutputExistsError
from emhnet_lite.realfaces.media import sha256_of
from emhnet_lite.utils import write_json_atomic

ANNOTATION_COLUMNS = ("video", "subject", "clip", "onset", "apex", "offset", "emotion", "label",
                      "action_units", "elicitation", "amplitude", "notes")
ANNOTATIONS_FILE = "realfaces_annotations.csv"
SAMPLE_LIST_FILE = "realfaces_sample_list.csv"
PROVENANCE_FILE = "realfaces_provenance.json"
AMPLITUDES = ("macro", "micro")
_CLIP_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]*")


def default_annotations() -> Path:
    """The annotation CSV shipped with the kit."""
    return Path(str(resources.files("emhnet_lite") / "resources" / ANNOTATIONS_FILE))


def _int_field(value: str, path: Path, line: int, column: str) -> int:
    if not re.fullmatch(r"\d+", value.strip()):
        raise DataFormatError(path, f"expected a positive integer, got {value!r}", line, column)
    number = int(value)
    if number < 1:
        raise DataFormatError(path, f"frame numbers start at 1, got {number}", line, column)
    return number


def read_annotations(path: str | os.PathLike, videos: Iterable[str] | None = None) -> pd.DataFrame:
    """Read and check an annotation CSV; every problem is a ``DataFormatError`` naming file, line and field.

    ``videos``: the known video keys (``None`` skips that check). Frame ranges against the videos' lengths
    are checked when the release is written.
    """
    path = Path(path)
    frame = read_text_csv(path, ANNOTATION_COLUMNS, "annotation CSV")
    if frame.empty:
        raise DataFormatError(path, "no clips annotated")
    known = None if videos is None else set(videos)
    rows, seen = [], {}
    for index, record in frame.iterrows():
        line = int(index) + 2
        row = {column: record[column].strip() for column in ANNOTATION_COLUMNS}
        if known is not None and row["video"] not in known:
            raise DataFormatError(path, f"unknown video {row['video']!r}; known: {sorted(known)}", line, "video")
        try:
            subject = casme2_subject_id(row["subject"])
        except ValueError:
            raise DataFormatError(path, f"subject must be a number (CASME II style), got {row['subject']!r}",
                                  line, "subject") from None
        if not _CLIP_NAME.fullmatch(row["clip"]):
            raise DataFormatError(path, f"clip name {row['clip']!r} must be letters, digits, '_' or '-'",
                                  line, "clip")
        if (subject, row["clip"]) in seen:
            raise DataFormatError(path, f"duplicate clip {subject}/{row['clip']} (first on line "
                                  f"{seen[(subject, row['clip'])]})", line, "clip")
        seen[(subject, row["clip"])] = line
        onset, apex, offset = (_int_field(row[c], path, line, c) for c in ("onset", "apex", "offset"))
        if not onset < apex <= offset:
            raise DataFormatError(path, f"need onset < apex <= offset, got {onset}, {apex}, {offset}", line,
                                  "apex")
        if row["emotion"].lower() not in EMOTION_TO_LABEL["casme2"]:
            raise DataFormatError(path, f"emotion {row['emotion']!r} is not a CASME II emotion "
                                  f"{sorted(EMOTION_TO_LABEL['casme2'])}", line, "emotion")
        if row["label"] not in CLASS_NAMES:
            raise DataFormatError(path, f"label {row['label']!r} is not one of {list(CLASS_NAMES)}", line, "label")
        if row["amplitude"] not in AMPLITUDES:
            raise DataFormatError(path, f"amplitude {row['amplitude']!r} is not one of {list(AMPLITUDES)}",
                                  line, "amplitude")
        rows.append({**row, "subject": subject, "onset": onset, "apex": apex, "offset": offset, "line": line})
    return pd.DataFrame(rows)


def _write_jpeg(path: Path, image, quality: int) -> None:
    ok, encoded = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, quality])
    if not ok:
        raise DataFormatError(path, "JPEG encoding failed")
    path.write_bytes(encoded.tobytes())


def _workbook(path: Path, annotations: pd.DataFrame) -> None:
    """The CASME II workbook, written by the same writer as SynthME's (``synth.layout``)."""
    from emhnet_lite.synth.layout import ClipPlan, write_casme2_workbook

    plans, action_units = [], {}
    for row in annotations.itertuples():
        plans.append(ClipPlan("casme2", row.subject, 0, row.clip, row.emotion, row.onset, row.offset,
                              row.onset, row.apex, row.offset, row.apex))
        action_units[f"{row.clip}@{row.subject}"] = row.action_units
    write_casme2_workbook(path, plans, action_units)


def write_release(annotations: pd.DataFrame, videos: dict[str, Path], out: str | os.PathLike, *,
                  annotation_file: str | os.PathLike | None = None, provenance: dict | None = None,
                  jpeg_quality: int = 95) -> Path:
    """Cut the annotated clips out of ``videos`` into a CASME II-shaped release at ``out`` (must not exist).

    The release is assembled in a temporary sibling folder and renamed into place, so ``out`` is either
    complete or absent. Returns ``out``.
    """
    out = Path(out)
    if out.exists():
        raise OutputExistsError(f"{out} already exists; choose a new --out folder or delete it")
    missing = sorted(set(annotations["video"]) - set(videos))
    if missing:
        raise DataFormatError(annotation_file or "annotations", f"no video file given for {missing}")
    out.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{out.name}.", dir=out.parent))
    try:
        info = {}
        for key in sorted(set(annotations["video"])):
            clips = annotations[annotations["video"] == key]
            info[key] = video_info(videos[key])
            last = int(clips["offset"].max())
            if last > info[key]["frames"]:
                worst = clips.loc[clips["offset"].idxmax()]
                raise DataFormatError(annotation_file or "annotations", f"offset {last} is past the end of "
                                      f"video {key!r} ({info[key]['frames']} frames)", int(worst["line"]), "offset")
            needed = sorted({n for r in clips.itertuples() for n in range(r.onset, r.offset + 1)})
            frames = read_video_frames(videos[key], needed)
            for row in clips.itertuples():
                folder = staging / CASME2_FRAMES / row.subject / row.clip
                folder.mkdir(parents=True)
                for number in range(row.onset, row.offset + 1):
                    _write_jpeg(folder / f"img{number}.jpg", frames[number], jpeg_quality)
        _workbook(staging / CASME2_WORKBOOK, annotations)
        sample_list = pd.DataFrame({"dataset": "casme2", "subject": annotations["subject"],
                                    "clip": annotations["clip"],
                                    "label": [CLASS_NAMES.index(v) for v in annotations["label"]]})
        sample_list.to_csv(staging / SAMPLE_LIST_FILE, index=False)
        annotations[list(ANNOTATION_COLUMNS)].to_csv(staging / ANNOTATIONS_FILE, index=False)
        record = {"what": "real face clips cut from videos shipped in PyPI wheels; posed, macro-amplitude "
                          "expressions annotated by the kit (a transfer check, not a micro-expression benchmark)",
                  "frame_numbers": "1-based decoded frame index of the source video (img<n>.jpg = frame n)",
                  "fps_note": "the videos run at 24-30 fps; the CASME II reader labels every clip 200 fps",
                  "labels": f"3-class labels are in {SAMPLE_LIST_FILE}; pass it as --sample-list",
                  "annotation_sha256": sha256_of(annotation_file) if annotation_file else None,
                  "clips": int(len(annotations)),
                  "classes": {name: int((annotations["label"] == name).sum()) for name in CLASS_NAMES},
                  "videos": {key: {**info[key], **(provenance or {}).get(key, {})} for key in sorted(info)}}
        write_json_atomic(staging / PROVENANCE_FILE, record)
        os.replace(staging, out)
    finally:
        if staging.exists():
            shutil.rmtree(staging)
    return out


def fetch_and_write(out: str | os.PathLike, cache: str | os.PathLike,
                    annotation_file: str | os.PathLike | None = None) -> pd.DataFrame:
    """Fetch the annotated videos (pinned wheels, kept in ``cache``) and write the release at ``out``.

    Returns the checked annotations. Every failure is a ``KitError`` (bad annotation, failed or mismatching
    fetch, existing ``out``) with a one-line message.
    """
    from emhnet_lite.realfaces.media import MEDIA, fetch_media, provenance_record

    annotation_file = annotation_file or default_annotations()
    annotations = read_annotations(annotation_file, videos=MEDIA)
    videos = fetch_media(sorted(set(annotations["video"])), cache)
    provenance = {key: provenance_record(MEDIA[key]) for key in videos}
    write_release(annotations, videos, out, annotation_file=annotation_file, provenance=provenance)
    return annotations
