"""Attention and flow overlaid on faces: a fold's saved checkpoint re-run on its own held-out samples.

The face is the aligned apex crop the flow was computed on (re-prepared with ``keep_steps=True`` and
checked against the prepared tensors); gate weights and attention come from ``return_aux=True``.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from matplotlib.figure import Figure
from matplotlib.patches import Rectangle

from emhnet_lite.constants import CLASS_NAMES, DATASETS, REGION_NAMES
from emhnet_lite.dataset import PreparedSet, data_fingerprint
from emhnet_lite.figures.plots import FigureUnavailable, save_figure
from emhnet_lite.figures.render import DEFAULT_PREFIX, FigureRecord
from emhnet_lite.preprocess.view import region_rgb
from emhnet_lite.runs import RunFolderError, RunTables, fold_dir_name, load_checkpoint, load_run

QUIVER_STEP = 8  # crop pixels between flow arrows
FLOW_TOLERANCE = 1e-4  # re-prepared flow vs cached flow (max abs difference)
OVERLAY_DPI = 80  # photo-like, noisy-textured panels: a lower PNG resolution keeps the file small


@dataclass
class OverlaySample:
    """Everything one overlay row shows, all computed from saved files (checkpoint, cache, frames)."""

    title: str
    face: np.ndarray  # [crop, crop] uint8 aligned apex crop
    flow_crop: np.ndarray  # [crop, crop, 2] onset→apex flow in crop pixels (u, v)
    boxes: np.ndarray  # [4, 4] (x0, y0, x1, y1) in model-input pixels
    region_weights: np.ndarray  # [4] HMoE level-2 gate
    attention: np.ndarray  # [gh, gw] attention received by the whole-face tokens (last global block)
    input_size: tuple[int, int]
    patch: int


def check_same_data(run: RunTables, data: PreparedSet) -> None:
    """The prepared set must be the one the run was trained on (sha256 fingerprint in config.json)."""
    expected = run.config.get("data", {}).get("fingerprint")
    if expected is None:
        raise RunFolderError(f"{run.root / 'config.json'}: no data.fingerprint; cannot match the prepared set")
    actual = data_fingerprint(data)
    if actual != expected:
        raise RunFolderError(f"{run.root / 'config.json'}: data.fingerprint {expected[:12]}… does not match the "
                             f"prepared set given ({actual[:12]}…): pass the data the run was trained on")


def choose_samples(run: RunTables, n_samples: int) -> list[int]:
    """Row indices into the primary predictions: sample k has class k mod 3 and, where possible, comes
    from dataset k mod (datasets present), taking the first such row in fold order (deterministic)."""
    table = run.predictions[run.primary_selection]
    labels, datasets = table["true"].to_numpy(), table["dataset"].to_numpy()
    present = [d for d in DATASETS if d in set(datasets)] + sorted(set(datasets) - set(DATASETS))
    chosen: list[int] = []
    for k in range(min(n_samples, len(table))):
        label, dataset = k % len(CLASS_NAMES), present[k % len(present)]
        for wanted in ((labels == label) & (datasets == dataset), labels == label, np.ones(len(table), bool)):
            candidates = [i for i in np.flatnonzero(wanted) if i not in chosen]
            if candidates:
                chosen.append(int(candidates[0]))
                break
    return chosen


def _load_fold_model(run: RunTables, fold_dir: Path) -> torch.nn.Module:
    from emhnet_lite.model import build_model

    path = fold_dir / "checkpoint.pt"
    if not path.exists():
        raise RunFolderError(f"{path}: missing (overlays need the fold checkpoints)")
    model = build_model(run.model_name, ablation=run.config.get("ablation", "full"),
                        **run.config.get("model_overrides", {}))
    model.load_state_dict(load_checkpoint(path)["state_dict"])
    return model.eval()


def collect_overlay_samples(run: RunTables, data: PreparedSet, n_samples: int = 3,
                            preprocess_config=None) -> list[OverlaySample]:
    """Run each chosen sample's own fold checkpoint on it and re-prepare its face crop and raw flow."""
    from emhnet_lite.preprocess import CacheError, PreprocessConfig, prepare_sample
    from emhnet_lite.preprocess.cache import SOURCE_COLUMNS

    check_same_data(run, data)
    missing = [column for column in SOURCE_COLUMNS if column not in data.table]
    if missing:  # a cache written before the manifest kept the frame paths
        raise CacheError(f"--overlay-data: the prepared set has no {missing} to re-read the frames from; rerun "
                         "`emhnet prepare` on that cache (its finished samples are reused)")
    height, width = data.flows.shape[-2:]
    config = preprocess_config or PreprocessConfig.preset("teaching", size=int(height))
    predictions = run.predictions[run.primary_selection]
    keys = data.table[["dataset", "subject", "clip"]].astype(str).agg("/".join, axis=1).tolist()
    samples = []
    for row_index in choose_samples(run, n_samples):
        row = predictions.iloc[row_index]
        key = f"{row['dataset']}/{row['subject']}/{row['clip']}"
        if key not in keys:
            raise RunFolderError(f"{run.source('predictions_' + run.primary_selection)}: sample {key} is not in "
                                 "the prepared set")
        index = keys.index(key)
        fold_dir = run.root / "folds" / fold_dir_name(int(row["fold"]), f"{row['dataset']}/{row['subject']}")
        model = _load_fold_model(run, fold_dir)
        with torch.no_grad():
            logits, aux = model(data.flows[index:index + 1], data.boxes[index:index + 1], return_aux=True)
        if "attention" not in aux or "global" not in aux["attention"] or "region_weights" not in aux:
            raise FigureUnavailable(f"model {run.model_name!r} returns no region gates / global attention")
        if int(logits.argmax(dim=1)) != int(row["predicted"]):
            raise RunFolderError(f"{fold_dir / 'checkpoint.pt'}: re-run predicts {int(logits.argmax(dim=1))} for {key} "
                                 f"but the run saved {int(row['predicted'])}")
        attention = aux["attention"]["global"][-1][0]  # [h, M + R, M + R] last global block
        patch = int(model.config.global_patch)
        grid_h, grid_w = math.ceil(height / patch), math.ceil(width / patch)
        received = attention.mean(dim=(0, 1))[: grid_h * grid_w]  # [M] mean over heads and queries
        prepared = prepare_sample(data.table.iloc[index], config, keep_steps=True)
        gap = float((prepared.flow - data.flows[index]).abs().max())
        if gap > FLOW_TOLERANCE:
            raise RunFolderError(f"{key}: re-prepared flow differs from the prepared set by {gap:.2e}; pass the "
                                 "preprocessing config the cache was made with")
        label = run.dataset_label(str(row["dataset"]))
        samples.append(OverlaySample(
            title=(f"{label} {row['subject']}/{row['clip']}\ntrue {CLASS_NAMES[int(row['true'])]} · predicted "
                   f"{CLASS_NAMES[int(row['predicted'])]} (fold {int(row['fold'])}, epoch {int(row['selected_epoch'])})"),
            face=prepared.steps["apex_crop"], flow_crop=prepared.steps["flow_crop"],
            boxes=data.boxes[index].numpy(), region_weights=aux["region_weights"][0].numpy(),
            attention=received.reshape(grid_h, grid_w).numpy(), input_size=(int(height), int(width)), patch=patch))
    return samples


def overlay_figure(samples: list[OverlaySample], run: RunTables) -> Figure:
    """Rows = samples; columns = face + region boxes with gate weights, flow arrows, global attention."""
    fig = Figure(figsize=(11, 4.0 * len(samples)), layout="constrained")
    axes = fig.subplots(len(samples), 3, squeeze=False)
    for row_axes, sample in zip(axes, samples, strict=True):
        crop = sample.face.shape[0]
        scale = crop / sample.input_size[1]
        extent = (0, crop, crop, 0)
        for ax in row_axes:
            ax.imshow(sample.face, cmap="gray", extent=extent, interpolation="nearest")
            ax.set_xticks([])
            ax.set_yticks([])
        box_ax, flow_ax, attention_ax = row_axes
        for region, (box, weight) in enumerate(zip(sample.boxes, sample.region_weights, strict=True)):
            x0, y0, x1, y1 = box * scale
            box_ax.add_patch(Rectangle((x0, y0), x1 - x0, y1 - y0, fill=False, linewidth=1.5,
                                       edgecolor=region_rgb(region)))
            box_ax.text(x0 + 2, y0 + 2, f"{REGION_NAMES[region]} {weight:.2f}", color=region_rgb(region),
                        fontsize=9, fontweight="bold", va="top",
                        bbox={"facecolor": "white", "alpha": 0.75, "pad": 1, "linewidth": 0})
        box_ax.set_title(sample.title, fontsize=10)
        u, v = sample.flow_crop[..., 0], sample.flow_crop[..., 1]
        magnitude = np.hypot(u, v)
        flow_ax.imshow(magnitude, cmap="magma", alpha=0.55, extent=extent, interpolation="nearest")
        ys, xs = np.mgrid[QUIVER_STEP // 2:crop:QUIVER_STEP, QUIVER_STEP // 2:crop:QUIVER_STEP]
        flow_ax.quiver(xs + 0.5, ys + 0.5, u[ys, xs], v[ys, xs], color="cyan", angles="xy", scale_units="xy",
                       scale=max(float(magnitude.max()), 1e-6) / QUIVER_STEP, width=0.004)
        flow_ax.set_title(f"onset→apex flow (max {magnitude.max():.2f} px at crop size {crop})", fontsize=10)
        grid_h, grid_w = sample.attention.shape
        covered = (grid_w * sample.patch * scale, grid_h * sample.patch * scale)  # padded grid, crop px
        attention_ax.imshow(sample.attention, cmap="inferno", alpha=0.6, interpolation="nearest",
                            extent=(0, covered[0], covered[1], 0))
        attention_ax.set_xlim(0, crop)
        attention_ax.set_ylim(crop, 0)
        attention_ax.set_title(f"global attention received per face token ({grid_h}×{grid_w}),\n"
                               "last block, mean over heads and queries", fontsize=10)
    fig.suptitle(f"{run.model_name} on {run.data_label} · {run.selection_label(run.primary_selection)} checkpoints "
                 "· regions: image left/right", fontsize=11)
    return fig


def render_overlays(run_dir: str | os.PathLike, out_dir: str | os.PathLike, data: PreparedSet,
                    prefix: str = DEFAULT_PREFIX, n_samples: int = 3, preprocess_config=None,
                    show=None) -> FigureRecord:
    """Write ``<prefix>attention_flow_overlay.png/.pdf``; a model without attention is recorded as skipped."""
    run = load_run(run_dir)
    record = FigureRecord(prefix + "attention_flow_overlay", "face + region gates, flow, global attention",
                          [run.source(f"predictions_{run.primary_selection}"), "folds/*/checkpoint.pt",
                           "prepared cache + SynthME frames"])
    try:
        fig = overlay_figure(collect_overlay_samples(run, data, n_samples, preprocess_config), run)
    except FigureUnavailable as reason:
        record.skipped = str(reason)
        return record
    record.files = save_figure(fig, out_dir, record.name, dpi=OVERLAY_DPI)
    if show is not None:
        show(fig)
    return record
