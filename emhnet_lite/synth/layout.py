"""SynthME's plan (subjects, clips, names, frame numbers) and the release-shaped annotation workbooks.

At scale 1.0 the plan has the composite's exact per-dataset subject and class counts, plus a few rows the
composite drops; smaller scales keep every class in every dataset. Workbooks are written byte-for-byte
reproducibly (fixed zip timestamps and document properties).
"""

from __future__ import annotations

import io
import re
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from emhnet_lite.constants import CLASS_NAMES, PUBLISHED_COMPOSITE
from emhnet_lite.data.common import EMOTION_TO_LABEL
from emhnet_lite.data.samm import SAMM_HEADER_ROW

#: Subject ids of the published composite (prior_work.md §3): SMIC s01-s20 less 4, CASME II sub01-sub26
#: less sub10/sub18, SAMM 006-037 less 008/025/027/029.
PUBLISHED_SUBJECTS: dict[str, list[str]] = {
    "smic": [f"s{n:02d}" for n in (1, 2, 3, 4, 5, 6, 8, 9, 11, 12, 13, 14, 15, 18, 19, 20)],
    "casme2": [f"sub{n:02d}" for n in range(1, 27) if n not in (10, 18)],
    "samm": [f"{n:03d}" for n in range(6, 38) if n not in (8, 25, 27, 29)],
}
#: Source emotions used for each 3-class label (with drawing weights) and the extra dropped emotions.
NEGATIVE_EMOTIONS = {"casme2": {"disgust": 0.7, "repression": 0.3},
                     "samm": {"Anger": 0.5, "Contempt": 0.15, "Disgust": 0.12, "Fear": 0.1, "Sadness": 0.13},
                     "smic": {"negative": 1.0}}
POSITIVE_EMOTION = {"casme2": "happiness", "samm": "Happiness", "smic": "positive"}
SURPRISE_EMOTION = {"casme2": "surprise", "samm": "Surprise", "smic": "surprise"}
DROPPED_EXTRAS = {"casme2": {"fear": 2, "sadness": 2, "others": 4}, "samm": {"Other": 4}, "smic": {}}
SMIC_CODES = {"negative": "ne", "positive": "po", "surprise": "sur"}


@dataclass(frozen=True)
class DatasetSpec:
    """How SynthME writes one dataset: native frame size, colour, clip length and frame numbering."""

    key: str
    width: int
    height: int
    color: bool
    frames: tuple[int, int]
    first_frame: tuple[int, int]
    fps: int


SPECS = {
    "casme2": DatasetSpec("casme2", 168, 196, True, (18, 26), (1, 250), 200),
    "samm": DatasetSpec("samm", 180, 180, False, (18, 26), (1000, 9000), 200),
    "smic": DatasetSpec("smic", 128, 144, True, (12, 16), (100000, 900000), 100),
}


@dataclass
class ClipPlan:
    """One clip to render: identity, emotion, frame numbers, and the apex as annotated and as true."""

    dataset: str
    subject: str
    subject_index: int
    clip: str
    emotion: str
    first_frame: int
    last_frame: int
    onset: int
    true_apex: int
    offset: int
    apex_cell: int | str | None  # what the workbook shows (None for SMIC)

    @property
    def label(self) -> int | None:
        """3-class label of the clip's emotion, ``None`` when the composite drops it."""
        return EMOTION_TO_LABEL[self.dataset][self.emotion.lower()]

    @property
    def frame_template(self) -> str:
        """Frame file name pattern of the release (``str.format`` field ``frame``)."""
        return {"casme2": "img{frame}.jpg", "samm": f"{self.subject}_{{frame:05d}}.jpg",
                "smic": "image{frame:06d}.bmp"}[self.dataset]

    def frame_dir(self, dataset_root: Path) -> Path:
        """The clip folder, exactly where the real release keeps it."""
        if self.dataset == "casme2":
            return dataset_root / "CASME2_RAW_selected" / self.subject / self.clip
        if self.dataset == "samm":
            return dataset_root / "SAMM" / self.subject / self.clip
        folder = f"s{int(self.subject[1:])}"
        return dataset_root / "HS" / folder / "micro" / self.emotion / self.clip


def scaled_counts(dataset: str, scale: float) -> tuple[int, dict[str, int]]:
    """Subjects and per-class sample counts of a dataset at ``scale`` (exact at 1.0; >= 1 per class)."""
    published = PUBLISHED_COMPOSITE[dataset]
    classes = {name: max(1, round(published[name] * scale)) for name in CLASS_NAMES}
    subjects = min(max(2, round(published["subjects"] * scale)), sum(classes.values()))
    return subjects, classes


def _pick_subjects(dataset: str, count: int) -> list[str]:
    """Evenly spaced subjects of the published list (all of them at scale 1.0)."""
    ids = PUBLISHED_SUBJECTS[dataset]
    picks = np.unique(np.round(np.linspace(0, len(ids) - 1, count)).astype(int))
    return [ids[i] for i in picks]


def plan_dataset(dataset: str, scale: float, rng: np.random.Generator) -> list[ClipPlan]:
    """All clips of one dataset at ``scale``: emotions, subjects (imbalanced, each >= 1), names and frames."""
    n_subjects, classes = scaled_counts(dataset, scale)
    subjects = _pick_subjects(dataset, n_subjects)
    emotions: list[str] = []
    negatives = NEGATIVE_EMOTIONS[dataset]
    emotions += list(rng.choice(list(negatives), size=classes["negative"], p=list(negatives.values())))
    emotions += [POSITIVE_EMOTION[dataset]] * classes["positive"] + [SURPRISE_EMOTION[dataset]] * classes["surprise"]
    rng.shuffle(emotions)
    weights = rng.dirichlet(np.full(len(subjects), 0.8))
    owners = list(range(len(subjects))) + list(rng.choice(len(subjects), size=len(emotions) - len(subjects),
                                                          p=weights))
    extras = [e for e, n in DROPPED_EXTRAS[dataset].items() for _ in range(max(1, round(n * scale)))]
    emotions += extras
    owners += list(rng.integers(0, len(subjects), size=len(extras)))
    spec = SPECS[dataset]
    used: set[tuple[str, str]] = set()
    counters: dict[tuple[str, str], int] = {}
    plans = []
    for emotion, owner in zip(emotions, owners, strict=True):
        subject = subjects[int(owner)]
        clip = _clip_name(dataset, subject, emotion, rng, used, counters)
        length = int(rng.integers(spec.frames[0], spec.frames[1] + 1))
        first = int(rng.integers(*spec.first_frame))
        last = first + length - 1
        if dataset == "smic":
            onset, offset = first, last
        else:
            onset, offset = first + int(rng.integers(0, 3)), last - int(rng.integers(0, 3))
        true_apex = onset + int(round(rng.uniform(0.25, 0.65) * (offset - onset)))
        apex_cell: int | str | None = true_apex
        if dataset == "casme2" and rng.uniform() < 0.06:
            apex_cell = "/"
        elif dataset == "samm" and rng.uniform() < 0.025:
            apex_cell = -1
        elif dataset == "smic":
            apex_cell = None
        plans.append(ClipPlan(dataset, subject, subjects.index(subject), clip, str(emotion), first, last,
                              onset, true_apex, offset, apex_cell))
    return sorted(plans, key=lambda p: (p.subject, p.clip))


def _clip_name(dataset: str, subject: str, emotion: str, rng: np.random.Generator,
               used: set[tuple[str, str]], counters: dict[tuple[str, str], int]) -> str:
    """A release-style clip name, unique within the subject."""
    if dataset == "smic":
        code = SMIC_CODES[emotion]
        counters[(subject, code)] = counters.get((subject, code), 0) + 1
        return f"s{int(subject[1:])}_{code}_{counters[(subject, code)]:02d}"
    while True:
        if dataset == "casme2":
            name = f"EP{int(rng.integers(1, 20)):02d}_{int(rng.integers(1, 13)):02d}"
            name += "f" if rng.uniform() < 0.4 else ""
        else:
            name = f"{subject}_{int(rng.integers(1, 8))}_{int(rng.integers(1, 13))}"
        if (subject, re.sub("f$", "", name)) not in used:
            used.add((subject, re.sub("f$", "", name)))
            return name


def deterministic_zip(path: Path) -> None:
    """Rewrite a zip container (xlsx) with fixed entry timestamps and fixed document dates, in place."""
    with zipfile.ZipFile(path) as source:
        entries = [(info.filename, source.read(info.filename)) for info in source.infolist()]
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as target:
        for name, data in entries:
            if name == "docProps/core.xml":
                data = re.sub(rb"(<dcterms:(created|modified)[^>]*>)[^<]*(</dcterms:)", rb"\g<1>2014-05-08T00:00:00Z\3",
                              data)
            info = zipfile.ZipInfo(name, date_time=(2014, 5, 8, 0, 0, 0))
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = 0o600 << 16
            target.writestr(info, data)
    path.write_bytes(buffer.getvalue())


def write_casme2_workbook(path: Path, plans: list[ClipPlan], action_units: dict[str, str]) -> None:
    """``CASME2-coding-20140508.xlsx``: the 9 release columns, two of them blank, some apex cells ``/``."""
    from openpyxl import Workbook

    book = Workbook()
    sheet = book.active
    sheet.title = "Sheet1"
    sheet.append(["Subject", "Filename", None, "OnsetFrame", "ApexFrame", "OffsetFrame", None, "Action Units",
                  "Estimated Emotion"])
    for plan in plans:
        sheet.append([int(plan.subject[3:]), plan.clip, None, plan.onset, plan.apex_cell, plan.offset, None,
                      action_units[plan.clip + "@" + plan.subject], plan.emotion])
    book.save(path)
    deterministic_zip(path)


def write_samm_workbook(path: Path, plans: list[ClipPlan], action_units: dict[str, str]) -> None:
    """``SAMM_Micro_FACS_Codes_v2.xlsx``: free-text rows first, the header on sheet row 14."""
    from openpyxl import Workbook

    book = Workbook()
    sheet = book.active
    sheet.title = "FACS_Codes"
    preamble = ["SAMM Micro-FACS Codes (SynthME synthetic release, same layout as v2)", None,
                "Each row is one movement; frames are numbered as in the sequence folders.",
                "Inducement Code: stimulus video index.", "Duration: Offset Frame - Onset Frame + 1.",
                "Micro: Micro - 1/2 when the movement is shorter than half a second.",
                "Action Units: FACS codes, L/R = one side.", "Objective Classes: 1-7 (see the paper).",
                "Estimated Emotion: Anger, Contempt, Disgust, Fear, Happiness, Sadness, Surprise, Other.",
                None, "Apex Frame -1 means no apex was coded.", None, None]
    for text in preamble:
        sheet.append([text])
    assert sheet.max_row == SAMM_HEADER_ROW - 1
    sheet.append(["Subject", "Filename", "Inducement Code", "Onset Frame", "Apex Frame", "Offset Frame",
                  "Duration", "Micro", "Action Units", "Notes", "Objective Classes", "Estimated Emotion"])
    for plan in plans:
        sheet.append([int(plan.subject), plan.clip, int(plan.clip.split("_")[1]), plan.onset, plan.apex_cell,
                      plan.offset, plan.offset - plan.onset + 1, "Micro - 1/2",
                      action_units[plan.clip + "@" + plan.subject], None,
                      {"negative": 2, "positive": 1, "surprise": 5}.get(
                          CLASS_NAMES[plan.label] if plan.label is not None else "", 7),
                      plan.emotion])
    book.save(path)
    deterministic_zip(path)
