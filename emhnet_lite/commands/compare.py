"""``emhnet compare``: a grid of models × ablations × training seeds (× SynthME seeds), one LOSO run folder per
cell, then ``summary.csv``/``.md`` with seed spread, subject-bootstrap intervals and paired tests."""

from __future__ import annotations

import argparse
import dataclasses
import subprocess
import sys
import time
from pathlib import Path

from emhnet_lite.commands._args import positive_float, positive_int, shard_argv
from emhnet_lite.errors import ConfigError

NAME = "compare"
HELP = ("compare models / ablations over training seeds: one LOSO run folder per cell (resumable, shardable), "
        "then a summary with intervals and paired tests (docs/run_folder.md)")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--data", type=Path, required=True,
                        help="prepared cache folder, or with --synthme-scale a data root for SynthME")
    parser.add_argument("--synthme-scale", type=positive_float, default=None, help="generate/prepare SynthME at this scale")
    parser.add_argument("--synthme-seeds", default="0", help="SynthME seeds (data sets), e.g. 0 or 0-1 (with --synthme-scale)")
    parser.add_argument("--difficulty", default=None, help="SynthME difficulty level: easy, real or hard (docs/data.md); default easy")
    parser.add_argument("--models", required=True, help="comma-separated, e.g. ststnet,htnet_reduced,emhnet_tiny")
    parser.add_argument("--ablations", default="full",
                        help="comma-separated named ablations of the EMHNet models (other models run full)")
    parser.add_argument("--seeds", default="0", help="training seeds, e.g. 0-4 or 0,3 (seed S → base seed S·1000)")
    parser.add_argument("--preset", default=None, help="training preset (default: each model's default schedule)")
    parser.add_argument("--epochs", type=positive_int, default=None, help="override the schedule's epoch count")
    parser.add_argument("--lr", type=float, default=None, help="override the schedule's learning rate")
    parser.add_argument("--select", choices=["last", "val", "oracle"], default="last",
                        help="epoch selection (oracle = TEST-SET-SELECTED, labelled so)")
    parser.add_argument("--reference", default=None,
                        help="variant the others are tested against (default: emhnet_tiny if in the grid)")
    parser.add_argument("--out", type=Path, required=True, help="grid folder, e.g. runs/NAME")
    parser.add_argument("--shard", default="1/1", help="K/N: run only folds i with i mod N = K-1 of every cell")
    parser.add_argument("--jobs", type=positive_int, default=1, help="N local shard processes, then merge and summarise")
    parser.add_argument("--threads", type=positive_int, default=1, help="torch CPU threads per process")
    parser.add_argument("--vectorize-folds", default="auto", metavar="F",
                        help="members (fold, seed) per batched ensemble; auto per model and device; 1 = one by one")
    parser.add_argument("--resume", action="store_true", help="skip folds already finished in the cells")
    parser.add_argument("--device", default="auto", help="auto (CUDA when present), cpu, cuda, ...")
    parser.add_argument("--bootstrap", type=positive_int, default=2000, help="subject-bootstrap resamples (≥ 2000 for tables)")
    parser.add_argument("--no-merge", action="store_true", help="train this shard only; merge and summarise later")


class UsageError(ConfigError):
    """A bad grid (models, ablations, seeds, difficulty, reference): one line on stderr, exit code 2."""


def _split(text: str) -> list[str]:
    return [part.strip() for part in text.split(",") if part.strip()]


def ablation_support(ablations: list[str]) -> set[str]:
    """Models that take ablations (the EMHNet family); a clear UsageError for names not in ``model.ABLATIONS``."""
    from emhnet_lite.model import ABLATIONS, MODEL_REGISTRY, EMHNet

    unknown = [a for a in ablations if a not in ABLATIONS]
    if unknown:
        raise UsageError(f"--ablations: unknown ablation(s) {unknown}; known: {list(ABLATIONS)}")
    return {name for name, (cls, _) in MODEL_REGISTRY.items() if cls is EMHNet}


def synthme_loader(difficulty: str | None):
    """``load_teaching_set`` with the SynthME difficulty level bound (validated against ``synth.DIFFICULTIES``)."""
    import functools

    from emhnet_lite.synth import DIFFICULTIES
    from emhnet_lite.teaching import load_teaching_set

    if difficulty is None:
        return load_teaching_set
    if difficulty not in DIFFICULTIES:
        raise UsageError(f"--difficulty {difficulty!r}: unknown level; known: {list(DIFFICULTIES)}")
    return functools.partial(load_teaching_set, difficulty=difficulty)


def build_spec(args: argparse.Namespace):
    """(GridSpec, models that take ablations) from the arguments, validated."""
    from emhnet_lite.model import MODEL_NAMES
    from emhnet_lite.train.grid import GridSpec, parse_seeds, variant_name

    models = _split(args.models)
    unknown = [m for m in models if m not in MODEL_NAMES]
    if not models or unknown:
        raise UsageError(f"--models: unknown model(s) {unknown or models}; known: {list(MODEL_NAMES)}")
    ablations = _split(args.ablations)
    ablation_models = ablation_support(ablations)
    try:
        seeds = parse_seeds(args.seeds)
        data_seeds = parse_seeds(args.synthme_seeds) if args.synthme_scale is not None else [None]
    except ValueError as error:
        raise UsageError(str(error)) from None
    if args.synthme_scale is None and args.synthme_seeds != "0":
        raise UsageError("--synthme-seeds needs --synthme-scale")
    if args.synthme_scale is None and args.difficulty is not None:
        raise UsageError("--difficulty needs --synthme-scale")
    settings = {"data": str(args.data), "synthme_scale": args.synthme_scale, "difficulty": args.difficulty,
                "preset": args.preset, "epochs": args.epochs, "lr": args.lr, "selection": args.select,
                "bootstrap": args.bootstrap}
    spec = GridSpec(out=args.out, models=tuple(models), ablations=tuple(ablations), seeds=tuple(seeds),
                    data_seeds=tuple(data_seeds), settings=settings)
    variants = [variant_name(m, a) for m, a in spec.variants(ablation_models)]
    reference = args.reference or ("emhnet_tiny" if "emhnet_tiny" in variants else variants[0])
    if reference not in variants:
        raise UsageError(f"--reference {reference!r} is not a variant of the grid ({variants})")
    return dataclasses.replace(spec, reference=reference), ablation_models


def _child_argv(args: argparse.Namespace, shard: str) -> list[str]:
    """This command as one local shard process (``_args.shard_argv``: every parsed option replayed)."""
    return shard_argv(NAME, add_arguments, args, shard)


def run(args: argparse.Namespace) -> int:
    """Validate the grid, train (this shard of) its cells, then merge and summarise; user errors are ``KitError``s
    (``emhnet_lite.cli`` prints them as one line and exits 2)."""
    import torch

    from emhnet_lite.runs.layout import write_csv_atomic
    from emhnet_lite.stats import BootstrapConfig
    from emhnet_lite.teaching import load_data
    from emhnet_lite.train import LosoConfig, get_preset, parse_shard, run_loso
    from emhnet_lite.train.config import default_for_model
    from emhnet_lite.train.grid import GRID_FILE, SEED_STRIDE, read_cells, summary_markdown, summary_table
    from emhnet_lite.train.vectorized.trainer import parse_vectorize_folds
    from emhnet_lite.utils import write_json_atomic, write_text_atomic

    started = time.perf_counter()
    spec, ablation_models = build_spec(args)
    loader = synthme_loader(args.difficulty) if args.synthme_scale is not None else None
    shard = parse_shard(args.shard)
    vectorize = {m: parse_vectorize_folds(args.vectorize_folds, m, args.device) for m in spec.models}
    write_json_atomic(args.out / GRID_FILE, spec.as_dict(ablation_models))
    if args.jobs > 1:
        for data_seed in spec.data_seeds:  # generate / prepare once before the shards start
            if loader is not None:
                loader(args.data, scale=args.synthme_scale, seed=data_seed)
        children = [subprocess.Popen(_child_argv(args, f"{k}/{args.jobs}")) for k in range(1, args.jobs + 1)]
        codes = [child.wait() for child in children]
        if any(codes):
            print(f"error: shard exit codes {codes}; finished folds are kept, rerun with --resume", file=sys.stderr)
            return 2 if set(codes) - {0} == {2} else 1  # 2: the shards refused a user error (printed above)
        args.resume, shard = True, (1, 1)  # every fold is done: the pass below only merges
    torch.set_num_threads(args.threads)
    overrides = {k: v for k, v in (("epochs", args.epochs), ("lr", args.lr)) if v is not None}
    cells = spec.cells(ablation_models)
    for data_seed in spec.data_seeds:
        if loader is not None:
            data, source = loader(args.data, scale=args.synthme_scale, seed=data_seed), (
                f"synthme(scale={args.synthme_scale}, seed={data_seed}"
                + (f", difficulty={args.difficulty})" if args.difficulty else ")"))
        else:
            loaded = load_data(args.data)
            data, source = loaded.data, loaded.source
        for model, ablation in spec.variants(ablation_models):
            mine = [c for c in cells if (c.model, c.ablation, c.data_seed) == (model, ablation, data_seed)]
            train = get_preset(args.preset, **overrides) if args.preset else default_for_model(model, **overrides)
            configs = [LosoConfig(model=model, train=train, selection=args.select, seed=c.seed * SEED_STRIDE,
                                  ablation=ablation)
                       for c in mine]
            run_loso(data, configs, [c.run_dir for c in mine], shard=shard, resume=args.resume, device=args.device,
                     data_source=source, merge=not args.no_merge, vectorize_folds=vectorize[model])
    if args.no_merge:
        print(f"shard {args.shard} done in {time.perf_counter() - started:.1f} s; rerun with --resume to "
              "merge and summarise when every shard has finished")
        return 0
    missing = [c.run_dir for c in cells if not (c.run_dir / "metrics.json").exists()]
    if missing:
        print(f"{len(missing)} of {len(cells)} cells not finished (e.g. {missing[0]}); run the missing shards, "
              "then rerun with --resume")
        return 0
    bootstrap = BootstrapConfig(n_resamples=args.bootstrap)
    summary, comparisons = summary_table(read_cells(args.out), spec.reference, bootstrap)
    write_csv_atomic(args.out / "summary.csv", summary)
    write_csv_atomic(args.out / "comparisons.csv", comparisons)
    write_text_atomic(args.out / "summary.md", summary_markdown(
        summary, comparisons, spec.reference, f"Comparison grid {args.out.name}", bootstrap))
    print((args.out / "summary.md").read_text())
    print(f"grid folder: {args.out} ({len(cells)} cells, {time.perf_counter() - started:.1f} s)")
    return 0
