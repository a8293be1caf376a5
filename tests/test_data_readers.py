"""Readers and the composite on a tiny SynthME, and the real published 442-sample list."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from emhnet_lite.constants import DATASETS, PUBLISHED_COMPOSITE, PUBLISHED_TOTAL
from emhnet_lite.data import (
    TABLE_COLUMNS,
    frame_path,
    load_composite,
    read_casme2,
    read_frame,
    read_samm,
    read_sample_list,
    read_smic,
)
from emhnet_lite.data.composite import published_table
from emhnet_lite.synth import generate_synthme

REFERENCE = Path(__file__).resolve().parent / "data"  # vendored facts, see tests/data/README.md
SAMPLE_LIST = REFERENCE / "composite_442_samples.csv"


@pytest.fixture(scope="module")
def roots(tmp_path_factory) -> dict[str, Path]:
    return generate_synthme(tmp_path_factory.mktemp("synth") / "synthme", scale=0.03, seed=1)


def test_readers_share_one_schema_and_subject_ids(roots):
    tables = {"casme2": read_casme2(roots["casme2"]), "samm": read_samm(roots["samm"]),
              "smic": read_smic(roots["smic"])}
    patterns = {"casme2": r"sub\d\d", "samm": r"\d\d\d", "smic": r"s\d\d"}
    for dataset, table in tables.items():
        assert tuple(table.columns) == TABLE_COLUMNS
        assert (table["dataset"] == dataset).all()
        assert table["subject"].str.fullmatch(patterns[dataset]).all()
        assert str(table["label"].dtype) == "Int64"
        assert ((table["onset"] <= table["apex"]) & (table["apex"] <= table["offset"])).all()
        row = table.iloc[0]
        for frame in (row["onset"], row["apex"], row["offset"]):
            assert frame_path(row, frame).is_file()
        assert read_frame(frame_path(row, row["apex"])).ndim == 2
    # SMIC: folder s1 / clip s1_ne_01, list id s01; SMIC has no apex -> middle frame policy
    smic = tables["smic"]
    assert smic["clip"].str.fullmatch(r"s\d+_(ne|po|sur)_\d\d").all()
    assert (smic["apex_source"] == "middle").all()
    assert (smic["apex"] == smic["onset"] + (smic["offset"] - smic["onset"]) // 2).all()
    assert tables["samm"]["frame_template"].str.fullmatch(r"\d{3}_\{frame:05d\}\.jpg").all()
    assert (tables["casme2"]["frame_template"] == "img{frame}.jpg").all()


def test_composite_drops_mapped_emotions_and_reports(roots):
    table, report = load_composite(**roots)
    assert table["label"].notna().all()
    assert set(report.dropped_emotions) == {"casme2/fear", "casme2/sadness", "casme2/others", "samm/Other"}
    for dataset in DATASETS:  # every class in every dataset even at a tiny scale
        assert set(table.loc[table["dataset"] == dataset, "label"]) == {0, 1, 2}
    assert report.counts.loc["total", "samples"] == len(table)
    assert report.counts.loc["smic", "subjects"] == table.loc[table["dataset"] == "smic", "subject"].nunique()
    assert report.fallbacks.get("smic: middle") == (table["dataset"] == "smic").sum()
    assert not report.matches_published
    text = str(report)
    assert "published" in text and "smic" in text and "apex fallbacks" in text
    assert (report.comparison["difference"] == report.counts - report.published).all().all()


def test_published_table_matches_constants():
    table = published_table()
    assert table.loc["total"].to_dict() == PUBLISHED_TOTAL
    assert table.loc["samm"].to_dict() == PUBLISHED_COMPOSITE["samm"]


def test_real_sample_list_loads_with_published_counts():
    listed = read_sample_list(SAMPLE_LIST)
    assert len(listed) == 442
    assert listed.groupby("dataset")["subject"].nunique().to_dict() == {"casme2": 24, "samm": 28, "smic": 16}
    for dataset in DATASETS:
        part = listed[listed["dataset"] == dataset]
        counts = part["label"].value_counts().to_dict()
        published = PUBLISHED_COMPOSITE[dataset]
        assert (counts[0], counts[1], counts[2]) == (published["negative"], published["positive"],
                                                     published["surprise"])
    assert set(listed.loc[listed["dataset"] == "casme2", "subject"]) >= {"sub01", "sub26"}
    assert "006" in set(listed["subject"]) and "s01" in set(listed["subject"])
    smic = listed[listed["dataset"] == "smic"]
    assert (smic["clip"].str.startswith("s01_") == smic["key"].str.startswith("s1_")).all()


def test_sample_list_overrides_rules_and_names_missing_clips(roots, tmp_path):
    full, _ = load_composite(**roots)
    smic = full[full["dataset"] == "smic"].iloc[0]
    listed_clip = "s0" + smic["clip"][1:] if len(smic["clip"].split("_")[0]) == 2 else smic["clip"]
    casme2 = full[full["dataset"] == "casme2"].iloc[0]
    flipped = (int(casme2["label"]) + 1) % 3
    rows = [("smic", smic["subject"], listed_clip, int(smic["label"])),
            ("casme2", casme2["subject"], casme2["clip"], flipped),
            ("samm", "006", "006_9_99", 0)]
    path = tmp_path / "list.csv"
    pd.DataFrame(rows, columns=["dataset", "subject", "clip", "label"]).to_csv(path, index=False)
    table, report = load_composite(**roots, sample_list=path)
    assert len(table) == 2
    assert report.missing_clips == ["samm/006/006_9_99"]
    assert table.loc[table["dataset"] == "casme2", "label"].iloc[0] == flipped
    assert len(report.label_overrides) == 1
    assert report.not_in_sample_list == len(full) - 2
    assert "006_9_99" in str(report)


def test_real_sample_list_against_synth_reports_every_missing_clip(roots):
    table, report = load_composite(**roots, sample_list=SAMPLE_LIST)
    assert len(table) + len(report.missing_clips) == 442
    assert all(name.count("/") == 2 for name in report.missing_clips)
    # SynthME names SMIC clips like the release (s1_ne_01); the list's s01_ne_01 must match them
    assert (table["dataset"] == "smic").sum() > 0


def test_readers_leave_apex_spotting_to_preprocessing(roots):
    """One apex spotter (preprocess/apex.py): the readers take the middle frame and name where spotting lives."""
    with pytest.raises(ValueError, match=r"preprocessing's.*emhnet prepare --apex spot"):
        read_smic(roots["smic"], apex_policy="spot")
    with pytest.raises(ValueError, match="unknown apex policy"):
        read_smic(roots["smic"], apex_policy="argmax")
