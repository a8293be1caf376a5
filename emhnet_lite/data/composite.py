"""The MEGC2019 composite (CDE): the three readers, the 3-class mapping, an optional explicit sample list,
and a report of the counts against the published table, the counted fallbacks and the missing clips."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from emhnet_lite.constants import CLASS_NAMES, DATASETS, PUBLISHED_COMPOSITE, PUBLISHED_TOTAL
from emhnet_lite.data.casme2 import casme2_subject_id, read_casme2
from emhnet_lite.data.common import TABLE_COLUMNS, DataFormatError, read_text_csv
from emhnet_lite.data.samm import read_samm, samm_subject_id
from emhnet_lite.data.smic import read_smic, smic_clip_key, smic_subject_id

SAMPLE_LIST_COLUMNS = ("dataset", "subject", "clip", "label")
_SUBJECT_IDS = {"casme2": casme2_subject_id, "samm": samm_subject_id, "smic": smic_subject_id}
_READERS = {"casme2": read_casme2, "samm": read_samm, "smic": read_smic}
COUNT_COLUMNS = ("subjects", "samples", *CLASS_NAMES)


def clip_key(dataset: str, clip: str) -> str:
    """The name used to match a clip between the data and a sample list (SMIC: ``s01_`` == ``s1_``)."""
    return smic_clip_key(clip) if dataset == "smic" else str(clip).strip()


def read_sample_list(path: str | os.PathLike) -> pd.DataFrame:
    """Read a sample list CSV (``dataset,subject,clip,label``) with ids normalised to the table's form.

    Errors name the file, the CSV line (header = line 1) and the field.
    """
    path = Path(path)
    frame = read_text_csv(path, SAMPLE_LIST_COLUMNS, "sample list")
    rows = []
    for index, record in frame.iterrows():
        line = int(index) + 2
        dataset = record["dataset"].strip().lower()
        if dataset not in DATASETS:
            raise DataFormatError(path, f"unknown dataset {record['dataset']!r}; expected {DATASETS}",
                                  line, "dataset")
        try:
            subject = _SUBJECT_IDS[dataset](record["subject"])
        except ValueError:
            raise DataFormatError(path, f"bad subject id {record['subject']!r}", line, "subject") from None
        if record["label"].strip() not in ("0", "1", "2"):
            raise DataFormatError(path, f"label must be 0, 1 or 2, got {record['label']!r}", line, "label")
        clip = record["clip"].strip()
        if not clip:
            raise DataFormatError(path, "blank clip", line, "clip")
        rows.append({"dataset": dataset, "subject": subject, "clip": clip, "label": int(record["label"]),
                     "line": line})
    table = pd.DataFrame(rows, columns=[*SAMPLE_LIST_COLUMNS, "line"])
    table["key"] = [clip_key(d, c) for d, c in zip(table["dataset"], table["clip"], strict=True)]
    duplicated = table[table.duplicated(["dataset", "subject", "key"], keep=False)]
    if len(duplicated):
        first = duplicated.iloc[0]
        raise DataFormatError(path, f"duplicate sample {first['dataset']}/{first['subject']}/{first['clip']} "
                              f"on lines {duplicated['line'].tolist()}", int(duplicated['line'].iloc[-1]), "clip")
    return table


def count_table(table: pd.DataFrame) -> pd.DataFrame:
    """Subjects, samples and per-class samples per dataset (rows in ``DATASETS`` order, plus ``total``)."""
    counts = {}
    for dataset in DATASETS:
        part = table[table["dataset"] == dataset]
        row = {"subjects": part["subject"].nunique(), "samples": len(part)}
        for index, name in enumerate(CLASS_NAMES):
            row[name] = int((part["label"] == index).sum())
        counts[dataset] = row
    frame = pd.DataFrame.from_dict(counts, orient="index", columns=list(COUNT_COLUMNS))
    frame.loc["total"] = frame.sum()
    return frame.astype("int64")


def published_table() -> pd.DataFrame:
    """The published composite counts (``constants.PUBLISHED_COMPOSITE``) as a table like ``count_table``."""
    frame = pd.DataFrame.from_dict(PUBLISHED_COMPOSITE, orient="index", columns=list(COUNT_COLUMNS))
    frame = frame.loc[list(DATASETS)]
    frame.loc["total"] = pd.Series(PUBLISHED_TOTAL)
    return frame.astype("int64")


@dataclass
class CompositeReport:
    """What ``load_composite`` did: counts vs the published table, fallbacks, drops and missing clips."""

    counts: pd.DataFrame
    published: pd.DataFrame
    fallbacks: dict[str, int] = field(default_factory=dict)
    dropped_emotions: dict[str, int] = field(default_factory=dict)
    skipped_rows: list[str] = field(default_factory=list)
    missing_clips: list[str] = field(default_factory=list)
    not_in_sample_list: int = 0
    label_overrides: list[str] = field(default_factory=list)
    sample_list: str | None = None

    @property
    def comparison(self) -> pd.DataFrame:
        """Per dataset: ``loaded`` and ``published`` counts side by side, and their difference."""
        return pd.concat({"loaded": self.counts, "published": self.published,
                          "difference": self.counts - self.published}, axis=1)

    @property
    def matches_published(self) -> bool:
        """True when every loaded count equals the published table."""
        return bool((self.counts == self.published).all().all())

    def __str__(self) -> str:
        lines = ["Composite (MEGC2019 CDE) counts: loaded vs published"]
        with pd.option_context("display.width", 200, "display.max_columns", 30):
            lines.append(self.comparison.to_string())
        lines.append(f"matches published table: {self.matches_published}")
        if self.sample_list:
            lines.append(f"sample list: {Path(self.sample_list).name} "
                         f"({len(self.missing_clips)} listed clip(s) missing from the data, "
                         f"{self.not_in_sample_list} labelled clip(s) of the data not in the list, "
                         f"{len(self.label_overrides)} label(s) taken from the list)")
        lines.append("apex fallbacks: " + (", ".join(f"{k}: {v}" for k, v in sorted(self.fallbacks.items()))
                                           or "none"))
        lines.append("dropped by the 3-class mapping: "
                     + (", ".join(f"{k}: {v}" for k, v in sorted(self.dropped_emotions.items())) or "none"))
        if self.skipped_rows:
            lines.append(f"rows skipped by the readers ({len(self.skipped_rows)}):")
            lines.extend(f"  {message}" for message in self.skipped_rows[:20])
        if self.missing_clips:
            shown = self.missing_clips[:20]
            lines.append(f"missing clips ({len(self.missing_clips)}): " + ", ".join(shown)
                         + (" ..." if len(self.missing_clips) > len(shown) else ""))
        return "\n".join(lines)

    __repr__ = __str__


def _as_table(dataset: str, source: str | os.PathLike | pd.DataFrame, **reader_options) -> pd.DataFrame:
    if isinstance(source, pd.DataFrame):
        return source
    return _READERS[dataset](source, **reader_options)


def load_composite(casme2: str | os.PathLike | pd.DataFrame | None = None,
                   samm: str | os.PathLike | pd.DataFrame | None = None,
                   smic: str | os.PathLike | pd.DataFrame | None = None, *,
                   sample_list: str | os.PathLike | None = None, apex_policy: str = "middle",
                   on_error: str = "raise", verify: str = "endpoints") -> tuple[pd.DataFrame, CompositeReport]:
    """Read the given releases (roots or reader tables), keep the composite's 3-class rows, and report.

    Without ``sample_list`` the rule mapping decides (drops CASME II fear/sadness/others and SAMM Other).
    With it, exactly the listed clips are kept, labelled as the list says; listed clips absent from the
    data are reported by name in ``report.missing_clips``. Returns ``(table, report)``.
    """
    sources = {"casme2": casme2, "samm": samm, "smic": smic}
    tables, skipped = [], []
    options = {"apex_policy": apex_policy, "on_error": on_error, "verify": verify}
    for dataset in DATASETS:
        if sources[dataset] is not None:
            table = _as_table(dataset, sources[dataset], **options)
            skipped.extend(table.attrs.get("skipped", []))
            tables.append(table)
    if not tables:
        raise ValueError("load_composite: give at least one of casme2=, samm=, smic=")
    full = pd.concat(tables, ignore_index=True) if len(tables) > 1 else tables[0].copy()
    full = full[list(TABLE_COLUMNS)]
    dropped = full[full["label"].isna()]
    dropped_emotions = {f"{d}/{e}": int(n) for (d, e), n in
                        dropped.groupby(["dataset", "emotion"]).size().items()}
    overrides: list[str] = []
    missing: list[str] = []
    not_in_list = 0
    if sample_list is None:
        composite = full[full["label"].notna()].copy()
    else:
        listed = read_sample_list(sample_list)
        full = full.assign(key=[clip_key(d, c) for d, c in zip(full["dataset"], full["clip"], strict=True)])
        merged = listed.merge(full, on=["dataset", "subject", "key"], how="left", suffixes=("_list", ""),
                              indicator=True)
        absent = merged[merged["_merge"] == "left_only"]
        missing = [f"{r.dataset}/{r.subject}/{r.clip_list}" for r in absent.itertuples()]
        present = merged[merged["_merge"] == "both"].copy()
        for row in present.itertuples():
            if pd.isna(row.label) or int(row.label) != int(row.label_list):
                overrides.append(f"{row.dataset}/{row.subject}/{row.clip}: {row.emotion} -> "
                                 f"{CLASS_NAMES[int(row.label_list)]}")
        present["label"] = present["label_list"].astype("Int64")
        listed_keys = set(zip(listed["dataset"], listed["subject"], listed["key"], strict=True))
        not_in_list = int(sum((d, s, k) not in listed_keys and pd.notna(lab) for d, s, k, lab in
                              zip(full["dataset"], full["subject"], full["key"], full["label"], strict=True)))
        composite = present[list(TABLE_COLUMNS)]
    composite = composite.sort_values(["dataset", "subject", "clip"], kind="stable").reset_index(drop=True)
    composite["label"] = composite["label"].astype("Int64")
    composite.attrs = {}
    fallback_rows = composite[composite["apex_source"] != "annotated"]
    fallbacks = {f"{d}: {s}": int(n) for (d, s), n in
                 fallback_rows.groupby(["dataset", "apex_source"]).size().items()}
    report = CompositeReport(counts=count_table(composite), published=published_table(), fallbacks=fallbacks,
                             dropped_emotions=dropped_emotions, skipped_rows=skipped, missing_clips=missing,
                             not_in_sample_list=not_in_list, label_overrides=overrides,
                             sample_list=None if sample_list is None else str(sample_list))
    return composite, report
