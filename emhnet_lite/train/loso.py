"""Leave-one-subject-out driver: one fresh model per subject, resumable, shardable, leak-free by default.

The pieces: ``train/plan.py`` (settings and per-fold split), ``train/fold.py`` (one fold, its folder),
``train/vectorized/`` (F folds at once as one fold ensemble), ``emhnet_lite.runs`` (the run-folder format).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

from emhnet_lite.dataset import PreparedSet
from emhnet_lite.errors import ConfigError, OutputExistsError
from emhnet_lite.progress import progress
from emhnet_lite.runs.layout import fold_dir_name, fold_is_done
from emhnet_lite.runs.write import merge_run, write_or_check_config
from emhnet_lite.train.fold import run_fold
from emhnet_lite.train.plan import LosoConfig, ModelFactory, default_model_factory, resolved_config
from emhnet_lite.train.trainer import EpochRecord
from emhnet_lite.train.vectorized.runner import Member, even_chunks, run_members_vectorized
from emhnet_lite.utils import keep_freed_memory, resolve_device


def run_loso(
    data: PreparedSet,
    config: LosoConfig | list[LosoConfig],
    out: str | Path | list[str | Path],
    *,
    shard: tuple[int, int] = (1, 1),
    resume: bool = False,
    device: str = "auto",
    data_source: str = "",
    model_factory: ModelFactory | None = None,
    merge: bool = True,
    threads: int | None = None,
    on_config_mismatch: str = "error",
    on_epoch: Callable[[int, EpochRecord], None] | None = None,
    vectorize_folds: int = 1,
) -> dict[str, Any] | None | list[dict[str, Any] | None]:
    """Run (this shard's share of) the LOSO folds into ``out`` and merge when the run is complete.

    ``vectorize_folds`` F > 1 trains the folds F at a time as one batched fold ensemble (same seeds, same
    run folder; predictions equal fold-by-fold training up to float rounding, see docs/run_folder.md).
    Several runs of one architecture and schedule (e.g. training seeds): pass lists of configs and run
    folders; their folds are trained F at a time across the runs, each run folder as if run alone, and a
    list (one entry per run) is returned.

    Folds already finished in ``out`` are skipped when ``resume``; otherwise finding any is an error.
    A folder holding a run with other settings, data or model is an error, or with
    ``on_config_mismatch="archive"`` is moved aside (kept) and replaced. ``threads`` sets torch's CPU
    threads for the run (restored after); 1 makes CPU results independent of the machine's core count.
    Returns the merged ``metrics.json``, or None while other shards' folds are missing.
    """
    many = isinstance(config, list)
    configs = config if many else [config]
    outs = [Path(o) for o in out] if many else [Path(out)]
    if len(configs) != len(outs) or len(set(outs)) != len(outs):
        raise ValueError(f"run_loso: {len(configs)} configs for {len(outs)} distinct run folders")
    keep_freed_memory()  # reuse freed activation memory: fewer page faults, same results
    previous_threads = torch.get_num_threads()
    if threads is not None:
        torch.set_num_threads(threads)
    try:
        summaries = _run_loso(
            data,
            configs,
            outs,
            shard=shard,
            resume=resume,
            device=device,
            data_source=data_source,
            model_factory=model_factory,
            merge=merge,
            on_epoch=on_epoch,
            on_config_mismatch=on_config_mismatch,
            vectorize_folds=vectorize_folds,
        )
    finally:
        torch.set_num_threads(previous_threads)
    return summaries if many else summaries[0]


def _run_loso(
    data: PreparedSet,
    configs: list[LosoConfig],
    outs: list[Path],
    *,
    shard: tuple[int, int],
    resume: bool,
    device: str,
    data_source: str,
    model_factory: ModelFactory | None,
    merge: bool,
    on_epoch: Callable[[int, EpochRecord], None] | None,
    on_config_mismatch: str,
    vectorize_folds: int = 1,
) -> list[dict[str, Any] | None]:
    """``run_loso`` without the thread handling, for one or several runs."""
    if vectorize_folds < 1:
        raise ConfigError(f"vectorize_folds must be ≥ 1, got {vectorize_folds}")
    started = time.perf_counter()
    torch_device = resolve_device(device)
    factory = model_factory or default_model_factory
    subjects = data.subjects
    for config in configs:
        config.check_subjects(len(subjects))
    k, n = shard
    mine = [fold for fold in range(len(subjects)) if fold % n == k - 1]
    todo: list[Member] = []
    for config, out in zip(configs, outs, strict=True):
        write_or_check_config(out, resolved_config(config, data, data_source, factory), on_config_mismatch)
        done = [fold for fold in mine if fold_is_done(out / "folds" / fold_dir_name(fold, subjects[fold]))]
        if done and not resume:
            raise OutputExistsError(
                f"{out}: {len(done)} fold(s) of this shard already finished; pass resume=True "
                "(--resume) to continue, or use a new output folder"
            )
        todo += [Member(config, fold, out) for fold in mine if fold not in done]
    name = configs[0].model + (f" × {len(configs)} runs" if len(configs) > 1 else "")
    if vectorize_folds > 1:
        chunks = even_chunks(todo, vectorize_folds)
        for chunk in progress(chunks, desc=f"LOSO {name} shard {k}/{n}, {vectorize_folds} folds at once"):
            run_members_vectorized(
                data, chunk, device=torch_device, model_factory=factory, shard=f"{k}/{n}", on_epoch=on_epoch,
            )
    else:
        for member in progress(todo, desc=f"LOSO {name} shard {k}/{n}"):
            fold_dir = member.out / "folds" / fold_dir_name(member.fold, subjects[member.fold])
            run_fold(
                data, member.fold, member.config, fold_dir, device=torch_device, model_factory=factory,
                shard=f"{k}/{n}", on_epoch=on_epoch,
            )
    if not merge:
        return [None] * len(outs)
    summaries: list[dict[str, Any] | None] = []
    for out in outs:
        all_done = all(fold_is_done(out / "folds" / fold_dir_name(i, s)) for i, s in enumerate(subjects))
        trained = any(member.out == out for member in todo)
        # only a process that trained all of a run's folds times it; several runs share the time evenly
        elapsed = (time.perf_counter() - started) / len(outs) if n == 1 and trained else None
        summaries.append(merge_run(out, process_wall_time_s=elapsed) if all_done else None)
    return summaries


__all__ = ["run_loso"]
