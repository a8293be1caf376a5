"""Every malformed-input case: a clear error naming file, sheet row and column, or a counted fallback."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from openpyxl import load_workbook

from emhnet_lite.data import DataFormatError, load_composite, read_casme2, read_samm, read_smic
from emhnet_lite.data.casme2 import CASME2_WORKBOOK
from emhnet_lite.data.samm import SAMM_HEADER_ROW, SAMM_WORKBOOK
from emhnet_lite.synth import generate_synthme


@pytest.fixture(scope="module")
def pristine(tmp_path_factory) -> dict[str, Path]:
    return generate_synthme(tmp_path_factory.mktemp("synth") / "synthme", scale=0.03, seed=2)


@pytest.fixture
def casme2(pristine, tmp_path) -> Path:
    return Path(shutil.copytree(pristine["casme2"], tmp_path / "casme2"))


@pytest.fixture
def samm(pristine, tmp_path) -> Path:
    return Path(shutil.copytree(pristine["samm"], tmp_path / "samm"))


@pytest.fixture
def smic(pristine, tmp_path) -> Path:
    return Path(shutil.copytree(pristine["smic"], tmp_path / "smic"))


def edit_cell(path: Path, header_row: int, data_row: int, column: str, value) -> dict:
    """Set one cell (by header name) of the ``data_row``-th data row; returns that row's cells."""
    book = load_workbook(path)
    sheet = book.worksheets[0]
    header = [cell.value for cell in sheet[header_row]]
    row = header_row + data_row
    if column:
        sheet.cell(row=row, column=header.index(column) + 1).value = value  # (cell(value=None) is a no-op)
    cells = {name: sheet.cell(row=row, column=i + 1).value for i, name in enumerate(header) if name}
    book.save(path)
    return cells


def clip_dir(root: Path, cells: dict) -> Path:
    if "OnsetFrame" in cells:
        return root / "CASME2_RAW_selected" / f"sub{int(cells['Subject']):02d}" / cells["Filename"]
    return root / "SAMM" / f"{int(cells['Subject']):03d}" / cells["Filename"]


def test_missing_annotation_file(casme2):
    (casme2 / CASME2_WORKBOOK).unlink()
    with pytest.raises(DataFormatError, match="CASME2-coding-20140508.xlsx.*not found"):
        read_casme2(casme2)


def test_missing_or_renamed_column(casme2, samm):
    edit_cell(casme2 / CASME2_WORKBOOK, 1, 0, "", None)
    book = load_workbook(casme2 / CASME2_WORKBOOK)
    book.worksheets[0].cell(row=1, column=5, value="Apex Frame")  # renamed from ApexFrame
    book.save(casme2 / CASME2_WORKBOOK)
    with pytest.raises(DataFormatError, match=r"sheet row 1, column 'ApexFrame'.*found 'Apex Frame'"):
        read_casme2(casme2)
    book = load_workbook(samm / SAMM_WORKBOOK)
    book.worksheets[0].cell(row=SAMM_HEADER_ROW, column=12).value = None  # Estimated Emotion removed
    book.save(samm / SAMM_WORKBOOK)
    with pytest.raises(DataFormatError, match=r"SAMM_Micro_FACS_Codes_v2.xlsx, sheet row 14, "
                                              r"column 'Estimated Emotion'"):
        read_samm(samm)


def test_slash_or_blank_apex_uses_counted_middle_fallback(casme2, samm):
    first = edit_cell(casme2 / CASME2_WORKBOOK, 1, 1, "ApexFrame", "/")
    edit_cell(casme2 / CASME2_WORKBOOK, 1, 2, "ApexFrame", None)
    edit_cell(samm / SAMM_WORKBOOK, SAMM_HEADER_ROW, 1, "Apex Frame", -1)
    table = read_casme2(casme2)
    row = table[table["clip"] == first["Filename"]].iloc[0]
    assert row["apex_source"] == "middle (apex /)"
    assert row["apex"] == first["OnsetFrame"] + (first["OffsetFrame"] - first["OnsetFrame"]) // 2
    assert (table["apex_source"] == "middle (apex blank)").sum() >= 1
    samm_table = read_samm(samm)
    assert (samm_table["apex_source"] == "middle (apex -1)").sum() >= 1
    _, report = load_composite(casme2=table, samm=samm_table)
    both = [table, samm_table]
    expected = {}
    for part in both:
        kept = part[part["label"].notna() & (part["apex_source"] != "annotated")]
        for (dataset, source), n in kept.groupby(["dataset", "apex_source"]).size().items():
            expected[f"{dataset}: {source}"] = int(n)
    assert report.fallbacks == expected
    assert "apex fallbacks: " in str(report)


def test_apex_outside_onset_offset(casme2):
    cells = edit_cell(casme2 / CASME2_WORKBOOK, 1, 1, "", None)
    edit_cell(casme2 / CASME2_WORKBOOK, 1, 1, "ApexFrame", cells["OffsetFrame"] + 5)
    with pytest.raises(DataFormatError, match=r"sheet row 2, column 'ApexFrame': apex \d+ outside"):
        read_casme2(casme2)


def test_onset_after_offset(samm):
    cells = edit_cell(samm / SAMM_WORKBOOK, SAMM_HEADER_ROW, 2, "", None)
    edit_cell(samm / SAMM_WORKBOOK, SAMM_HEADER_ROW, 2, "Onset Frame", cells["Offset Frame"] + 1)
    with pytest.raises(DataFormatError, match=r"sheet row 16, column 'Onset Frame': onset \d+ is after offset"):
        read_samm(samm)


def test_frames_missing_for_annotated_range(casme2):
    cells = edit_cell(casme2 / CASME2_WORKBOOK, 1, 1, "", None)
    missing = clip_dir(casme2, cells) / f"img{cells['OnsetFrame'] + 1}.jpg"
    missing.unlink()
    with pytest.raises(DataFormatError, match=rf"sheet row 2: 1 frame\(s\) .*missing.*{missing.name}"):
        read_casme2(casme2)


def test_empty_clip_folder(samm, smic):
    cells = edit_cell(samm / SAMM_WORKBOOK, SAMM_HEADER_ROW, 1, "", None)
    folder = clip_dir(samm, cells)
    for frame in folder.iterdir():
        frame.unlink()
    with pytest.raises(DataFormatError, match=r"sheet row 15, column 'Filename'.*no image frames"):
        read_samm(samm)
    smic_clip = next((smic / "HS").glob("s*/micro/*/*"))
    for frame in smic_clip.iterdir():
        frame.unlink()
    with pytest.raises(DataFormatError, match=rf"{smic_clip.name}: clip folder holds no image frames"):
        read_smic(smic)


def test_unknown_emotion_label(casme2, smic):
    edit_cell(casme2 / CASME2_WORKBOOK, 1, 3, "Estimated Emotion", "joy")
    with pytest.raises(DataFormatError, match=r"sheet row 4, column 'Estimated Emotion': unknown emotion label 'joy'"):
        read_casme2(casme2)
    subject = next((smic / "HS").glob("s*"))
    shutil.copytree(next((subject / "micro").iterdir()), subject / "micro" / "angry")
    with pytest.raises(DataFormatError, match="unknown emotion folder 'angry'"):
        read_smic(smic)


def test_duplicate_rows(casme2):
    book = load_workbook(casme2 / CASME2_WORKBOOK)
    sheet = book.worksheets[0]
    sheet.append([cell.value for cell in sheet[2]])
    last = sheet.max_row
    book.save(casme2 / CASME2_WORKBOOK)
    with pytest.raises(DataFormatError, match=rf"sheet row {last}, column 'Filename': duplicate row .*sheet row 2"):
        read_casme2(casme2)


def test_corrupt_image_file(casme2, smic):
    cells = edit_cell(casme2 / CASME2_WORKBOOK, 1, 1, "", None)
    apex = cells["ApexFrame"] if isinstance(cells["ApexFrame"], int) else cells["OnsetFrame"]
    corrupt = clip_dir(casme2, cells) / f"img{apex}.jpg"
    corrupt.write_bytes(b"not a jpeg at all")
    with pytest.raises(DataFormatError, match=rf"sheet row 2.*{corrupt.name}: frame file is corrupt"):
        read_casme2(casme2)
    table = read_casme2(casme2, verify="none")  # decoding can be skipped explicitly
    assert len(table) > 0
    clip = next((smic / "HS").glob("s*/micro/*/*"))
    sorted(clip.iterdir())[0].write_bytes(b"")
    with pytest.raises(DataFormatError, match="frame file is corrupt"):
        read_smic(smic)


def test_subject_folder_not_matching_workbook(casme2, samm, smic):
    cells = edit_cell(casme2 / CASME2_WORKBOOK, 1, 1, "", None)
    folder = casme2 / "CASME2_RAW_selected" / f"sub{int(cells['Subject']):02d}"
    folder.rename(folder.with_name(f"sub{int(cells['Subject'])}"))  # sub01 -> sub1
    with pytest.raises(DataFormatError, match=r"sheet row 2, column 'Subject': subject .* has no folder 'sub\d\d'"):
        read_casme2(casme2)
    cells = edit_cell(samm / SAMM_WORKBOOK, SAMM_HEADER_ROW, 1, "Filename", "999_1_1")
    with pytest.raises(DataFormatError, match=r"sheet row 15, column 'Filename'.*'999_1_1' does not belong"):
        read_samm(samm)
    clip = next((smic / "HS").glob("s*/micro/*/*"))
    clip.rename(clip.with_name("s77" + clip.name[clip.name.index("_"):]))
    with pytest.raises(DataFormatError, match="does not belong to subject folder"):
        read_smic(smic)


def test_skip_mode_lists_every_skipped_row(casme2):
    edit_cell(casme2 / CASME2_WORKBOOK, 1, 1, "Estimated Emotion", "joy")
    strict = read_casme2(casme2, verify="none", on_error="skip")
    assert len(strict.attrs["skipped"]) == 1 and "joy" in strict.attrs["skipped"][0]
    _, report = load_composite(casme2=casme2, on_error="skip")
    assert report.skipped_rows == strict.attrs["skipped"]
    assert "rows skipped by the readers (1)" in str(report)
