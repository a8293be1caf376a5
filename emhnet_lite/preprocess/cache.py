"""The preprocessing cache: ``CACHE/<config-key>/`` with ``config.json``, ``manifest.csv`` and one ``.pt``
per sample; incremental (done samples are skipped), atomic (temp file + rename) and parallel (processes).
"""

from __future__ import annotations

import json
import os
import pickle
import re
import warnings
from concurrent.futures import ProcessPoolExecutor
from multiprocessing import get_context
from pathlib import Path
from typing import Any

import pandas as pd
import torch

from emhnet_lite.dataset import PreparedSet
from emhnet_lite.errors import KitError, PathError
from emhnet_lite.preprocess.config import PreprocessConfig
from emhnet_lite.progress import progress
from emhnet_lite.utils import atomic_path, config_hash, write_json_atomic, write_text_atomic

MANIFEST_COLUMNS = ["dataset", "subject", "clip", "label", "status", "landmark_source", "fallbacks",
                    "flow_backend", "onset", "apex", "apex_source", "path", "error", "offset", "frame_dir",
                    "frame_template"]
#: Composite-table fields the manifest keeps so a sample can be re-prepared from the cache alone (overlays).
SOURCE_COLUMNS = ("offset", "frame_dir", "frame_template")


class CacheError(KitError, ValueError):
    """A cache folder or sample file that cannot be read, or samples that failed to prepare (names the file)."""


def cache_key(config: PreprocessConfig) -> str:
    """Readable and unique folder name for a config: ``<backend>-<size>-<hash>``."""
    return f"{config.flow_backend}-{config.size}-{config_hash(config)}"


def sample_file(row: Any) -> str:
    """Relative ``.pt`` path of a row inside a cache folder: ``dataset/subject/clip.pt`` (safe characters)."""
    parts = [re.sub(r"[^A-Za-z0-9_.-]", "_", str(row[key])) for key in ("dataset", "subject", "clip")]
    return "/".join(parts) + ".pt"


def row_fingerprint(row: dict[str, Any]) -> str:
    """Hash of what a sample is made from: its table fields and the size + mtime of its onset, apex and
    offset frame files. A cached sample whose fingerprint differs (data regenerated or re-annotated) is
    recomputed instead of trusted."""
    from emhnet_lite.data.frames import frame_path

    fields = {key: str(row.get(key)) for key in ("dataset", "subject", "clip", "onset", "apex", "offset",
                                                "apex_source", "frame_dir", "frame_template")}
    stats = []
    for key in ("onset", "apex", "offset"):
        try:
            stat = frame_path(row, int(row[key])).stat()
            stats.append([stat.st_size, stat.st_mtime_ns])
        except (OSError, ValueError, TypeError, KeyError):
            stats.append(None)
    return config_hash({"fields": fields, "frames": stats}, length=16)


def _init_worker() -> None:
    """Worker processes: one OpenCV / torch thread each (the pool provides the parallelism)."""
    import cv2

    cv2.setNumThreads(1)
    torch.set_num_threads(1)


def _prepare_and_save(row: dict[str, Any], config: PreprocessConfig, target: str) -> dict[str, Any]:
    """Prepare one row and write its ``.pt`` atomically → its manifest entry (errors become status rows)."""
    import cv2

    from emhnet_lite.preprocess.pipeline import prepare_sample

    entry = {key: row.get(key) for key in ("dataset", "subject", "clip", "label")}
    try:
        sample = prepare_sample(row, config)
    except (ValueError, OSError, cv2.error) as error:  # FrameError / FlowError / LandmarkError: ValueError
        return {**entry, "status": "error", "error": str(error), "flow_backend": config.flow_backend}
    sample.info["fingerprint"] = row_fingerprint(row)
    payload = {"flow": sample.flow, "boxes": sample.boxes, "landmarks": sample.landmarks,
               "info": json.dumps(sample.info, sort_keys=True)}
    with atomic_path(target) as tmp:
        torch.save(payload, tmp)
    return {**entry, **_manifest_fields(sample.info), "status": "ok", "error": ""}


def _manifest_fields(info: dict[str, Any]) -> dict[str, Any]:
    keys = ("landmark_source", "flow_backend", "onset", "apex", "apex_source")
    return {**{key: info.get(key) for key in keys}, "fallbacks": ";".join(info.get("fallbacks", []))}


def load_sample_file(path: str | Path) -> dict[str, Any]:
    """A cached sample: flow, boxes, landmarks tensors and the info dict (``weights_only=True``).

    A truncated or otherwise damaged file is a ``CacheError`` naming it (``emhnet prepare`` recomputes it).
    """
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
        payload["info"] = json.loads(payload["info"])
        missing = [key for key in ("flow", "boxes", "landmarks") if not isinstance(payload.get(key), torch.Tensor)]
    except FileNotFoundError:
        raise PathError(f"{path}: cached sample file not found; rerun `emhnet prepare` on this cache") from None
    except (RuntimeError, EOFError, OSError, ValueError, KeyError, TypeError, pickle.UnpicklingError) as error:
        # a truncated zip archive (RuntimeError), garbage bytes (UnpicklingError), a payload of the wrong shape
        raise CacheError(f"{path}: damaged cache sample ({type(error).__name__}: {_first_sentence(error)}); "
                         "rerun `emhnet prepare` with the same settings to recompute it") from error
    if missing:
        raise CacheError(f"{path}: cached sample lacks tensor(s) {missing}; rerun `emhnet prepare` to recompute it")
    return payload


def _first_sentence(error: BaseException, limit: int = 120) -> str:
    """The first sentence of an exception's message, at most ``limit`` characters (torch's run long)."""
    text = (str(error).splitlines() or [""])[0].split(". ")[0]
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _cached_info(target: Path, damaged: list[str]) -> dict[str, Any] | None:
    """The info dict of a cached sample, or ``None`` when absent or damaged (damaged ones are listed)."""
    if not target.is_file():
        return None
    try:
        return load_sample_file(target)["info"]
    except CacheError:
        damaged.append(str(target))
        return None


def prepare_dataset(table: pd.DataFrame, config: PreprocessConfig | None = None,
                    cache_dir: str | os.PathLike = "cache", workers: int | None = None,
                    strict: bool = False, reader_errors: list[str] | None = None) -> PreparedSet:
    """Prepare (or load from cache) every labelled row of a composite table → ``PreparedSet``.

    Samples already in ``cache_dir/<config-key>/`` and made from the same frames (``row_fingerprint``) are
    loaded, the rest computed in ``workers`` processes
    (default: all cores). The result is always read back from the ``.pt`` files, so a fresh run and a
    cached run give identical tensors; a damaged ``.pt`` is recomputed (with a warning naming it). Failed
    rows are listed in ``manifest.csv`` with status ``error`` and their message and left out (``strict=True``
    raises a ``CacheError`` after the manifest is written, so finished samples are kept). ``reader_errors``
    (the readers' skipped-row messages) are listed in the manifest as ``error`` rows too.
    """
    config = config or PreprocessConfig()
    folder = Path(cache_dir) / cache_key(config)
    folder.mkdir(parents=True, exist_ok=True)
    write_json_atomic(folder / "config.json", config.to_dict())
    rows = [dict(row) for _, row in table.reset_index(drop=True).iterrows()]
    entries: list[dict[str, Any] | None] = [None] * len(rows)
    todo: list[int] = []
    damaged: list[str] = []
    for index, row in enumerate(rows):
        target = folder / sample_file(row)
        if pd.isna(row.get("label")):
            entries[index] = {**{k: row.get(k) for k in ("dataset", "subject", "clip")}, "label": None,
                              "status": "skipped_no_label", "error": "label is missing (dropped emotion)"}
            continue
        cached = _cached_info(target, damaged)
        if cached is not None and cached.get("fingerprint") == row_fingerprint(row):
            entries[index] = {**{k: row.get(k) for k in ("dataset", "subject", "clip", "label")},
                              **_manifest_fields(cached), "status": "ok", "error": ""}
        else:  # not done yet, or made from other frames / annotations than the current ones
            todo.append(index)
    if damaged:
        warnings.warn(f"{len(damaged)} damaged cache file(s) recomputed: {', '.join(damaged[:5])}", stacklevel=2)
    workers = max(1, min(workers or os.cpu_count() or 1, len(todo)))
    quiet = {"disable": True} if not todo else {}  # nothing to compute: no bar (a cached run prints nothing)
    bar = progress(total=len(todo), desc=f"prepare {folder.name}", unit="sample", **quiet)
    if workers == 1 or len(todo) <= 2:
        for index in todo:
            entries[index] = _prepare_and_save(rows[index], config, str(folder / sample_file(rows[index])))
            bar.update(1)
    else:
        with ProcessPoolExecutor(workers, mp_context=get_context("spawn"), initializer=_init_worker) as pool:
            futures = {index: pool.submit(_prepare_and_save, rows[index], config,
                                          str(folder / sample_file(rows[index]))) for index in todo}
            for index, future in futures.items():
                entries[index] = future.result()
                bar.update(1)
    bar.close()
    for index, entry in enumerate(entries):
        entry["path"] = sample_file(rows[index]) if entry["status"] == "ok" else ""
        entry.update({key: rows[index].get(key) for key in SOURCE_COLUMNS})
    entries += [{"status": "error", "error": message, "path": ""} for message in reader_errors or []]
    manifest = pd.DataFrame(entries).reindex(columns=MANIFEST_COLUMNS)
    with atomic_path(folder / "manifest.csv") as tmp:
        manifest.to_csv(tmp, index=False)
    write_json_atomic(folder / "source.json", data_provenance(table))
    failed = manifest[manifest["status"] == "error"]
    if strict and len(failed):
        raise CacheError(f"{len(failed)} of {len(manifest)} samples failed to prepare (finished ones are kept; "
                         f"all listed in {folder / 'manifest.csv'}); first: {failed.iloc[0]['error']}")
    return _assemble(folder, manifest, table)


def data_provenance(table: pd.DataFrame) -> dict:
    """Whether the clips come from SynthME (a ``synthme.json`` above their frames) — recorded with the cache so
    that runs on it are labelled synthetic explicitly, never by a folder name."""
    synthetic_datasets, real_datasets = set(), set()
    for dataset, frame_dir in zip(table["dataset"], table.get("frame_dir", [None] * len(table)), strict=True):
        if frame_dir is None or pd.isna(frame_dir):
            continue
        is_synthetic = any((parent / "synthme.json").exists() for parent in Path(frame_dir).parents)
        (synthetic_datasets if is_synthetic else real_datasets).add(str(dataset))
    return {"synthetic": bool(synthetic_datasets) and not real_datasets,
            "synthetic_datasets": sorted(synthetic_datasets), "real_datasets": sorted(real_datasets)}


def is_synthetic_cache(folder: str | os.PathLike) -> bool | None:
    """``True``/``False`` from a cache folder's ``source.json``; ``None`` when the cache predates it."""
    record = Path(folder) / "source.json"
    if not record.exists():
        return None
    return bool(json.loads(record.read_text())["synthetic"])


def load_prepared(folder: str | os.PathLike, table: pd.DataFrame | None = None) -> PreparedSet:
    """Read a cache folder's ``ok`` samples into a ``PreparedSet`` (rows in ``table`` order when given)."""
    folder = Path(folder)
    if not (folder / "manifest.csv").is_file():
        raise PathError(f"{folder}: not a prepared cache folder (no manifest.csv); run `emhnet prepare` first")
    try:
        manifest = pd.read_csv(folder / "manifest.csv", dtype={"subject": str, "clip": str})
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as error:
        raise CacheError(f"{folder / 'manifest.csv'}: unreadable manifest ({error})") from None
    missing = sorted({"dataset", "subject", "clip", "label", "status", "path"} - set(manifest.columns))
    if missing:
        raise CacheError(f"{folder / 'manifest.csv'}: missing column(s) {missing}; rerun `emhnet prepare`")
    return _assemble(folder, manifest, table)


def _assemble(folder: Path, manifest: pd.DataFrame, table: pd.DataFrame | None) -> PreparedSet:
    """Stack the ``.pt`` files of the manifest's ``ok`` rows (joined to ``table``'s columns when given)."""
    ok = manifest[manifest["status"] == "ok"].reset_index(drop=True).astype({"subject": str, "clip": str})
    if table is not None:  # keep the composite's columns and order
        keyed = table.reset_index(drop=True).astype({"subject": str, "clip": str})
        ok = keyed.merge(ok[["dataset", "subject", "clip", "path", "landmark_source", "fallbacks",
                             "flow_backend"]], on=["dataset", "subject", "clip"], how="inner")
    flows, boxes, labels, apexes = [], [], [], []
    for _, row in ok.iterrows():
        payload = load_sample_file(folder / row["path"])
        flows.append(payload["flow"])
        boxes.append(payload["boxes"])
        labels.append(int(row["label"]))
        apexes.append(payload["info"]["apex"])
    if not flows:
        raise CacheError(f"{folder}: no successfully prepared samples (see manifest.csv)")
    ok = ok.assign(prepared_apex=apexes)
    return PreparedSet(table=ok, flows=torch.stack(flows), boxes=torch.stack(boxes),
                       labels=torch.tensor(labels, dtype=torch.int64))


def write_report(folder: str | os.PathLike) -> str:
    """A short text summary of a cache's manifest: status and fallback counts (also saved as report.txt)."""
    manifest = pd.read_csv(Path(folder) / "manifest.csv")
    lines = [f"samples: {len(manifest)}"]
    lines += [f"status {key}: {value}" for key, value in manifest["status"].value_counts().sort_index().items()]
    sources = manifest["landmark_source"].dropna().value_counts().sort_index()
    lines += [f"landmark source {key}: {value}" for key, value in sources.items()]
    fallbacks = manifest["fallbacks"].dropna().astype(str).str.split(";").explode()
    counts = fallbacks[fallbacks != ""].value_counts().sort_index()
    lines += [f"fallback {key}: {value}" for key, value in counts.items()] or ["fallbacks: none"]
    text = "\n".join(lines) + "\n"
    write_text_atomic(Path(folder) / "report.txt", text)
    return text
