"""The region control: STSTNet, HTNet-reduced and EMHNet-tiny on SynthME 2 ``real`` and ``real`` +
``region_control``, same data, each model's default schedule (or one ``--preset`` for all), leak-free ``last``
selection, 68-fold LOSO, training seed 0.

A regional model (EMHNet, HTNet) must not win by construction: under ``region_control`` the
class-defining motion sits between the region centres (docs/data.md), the nuisances stay in the regions.
Reuses the calibration's synth/prepare/LOSO steps (``calibrate_synthme.py``); the ``real`` runs of several
seeds give each model's mean ± sd over SynthME seeds.

    .venv/bin/python benchmarks/region_control.py --work runs/calibration [--seeds 0] [--models ststnet ...]
        [--real-grid runs/comparison ...] [--controls real region_control] [--partial]

``--partial`` reports runs that have not finished yet (no LOSO is started): the last-epoch predictions of
the folds finished in *every* compared run, pooled, labelled with the fold count — a like-for-like but
incomplete comparison, never a composite result.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent))

from calibrate_synthme import REPO, last_scores, loso, prepared  # noqa: E402

from emhnet_lite.metrics import uf1_uar  # noqa: E402
from emhnet_lite.synth.config import DIFFICULTIES  # noqa: E402

#: name -> (model, model overrides, description)
MODELS = {
    "ststnet": ("ststnet", (), "STSTNet (three-stream shallow CNN, as published)"),
    "htnet_reduced": ("htnet_reduced", (), "HTNet-shaped, reduced: widths 32/64/128, depths 1/1/2"),
    "emhnet_tiny": ("emhnet_tiny", (), "EMHNet-tiny (this kit's CPU preset)"),
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--work", type=Path, default=REPO / "runs" / "calibration")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0])
    parser.add_argument("--models", nargs="+", default=list(MODELS), choices=list(MODELS))
    parser.add_argument("--controls", nargs="+", default=["real", "region_control"],
                        choices=["real", "region_control"])
    parser.add_argument("--jobs", type=int, default=1)
    parser.add_argument("--preset", default=None,
                        help="one training preset for every model (default: each model's own default schedule)")
    parser.add_argument("--out", type=Path, default=REPO / "results" / "synthme_region_control")
    parser.add_argument("--partial", action="store_true", help="report finished folds of unfinished runs")
    parser.add_argument("--real-grid", type=Path, nargs="+", default=None,
                        help="`emhnet compare` grids on the same `real` data: their training-seed-0 cells are the "
                             "`real` rows (checked by data fingerprint) instead of new runs")
    args = parser.parse_args()
    factor = DIFFICULTIES["real"]["amplitude_min"]  # amplitude_min = 1.0 x factor
    if args.partial:
        partial_report(args, factor)
        return
    rows = []
    for seed in args.seeds:
        for control in args.controls:
            cache, timings = prepared(args.work, factor, seed, region_control=control == "region_control")
            for name in args.models:
                model, model_args, description = MODELS[name]
                if control == "real" and args.real_grid is not None:
                    result = grid_cell(args.real_grid, name, seed, cache)
                    rows.append({"seed": seed, "data": control, "model": name, "description": description,
                                 "dlib_found": timings["dlib_found"], **result})
                    print(json.dumps(rows[-1]), flush=True)
                    continue
                result = loso(args.work, cache, run_name(name, factor, seed, control, args.preset), model, model_args,
                              args.jobs,
                              preset=args.preset)
                rows.append({"seed": seed, "data": control, "model": name, "description": description,
                             "dlib_found": timings["dlib_found"], **result})
                print(json.dumps(rows[-1]), flush=True)
    table = pd.DataFrame([{"seed": r["seed"], "data": r["data"], "model": r["model"],
                           **{f"uf1_{k}": v for k, v in r["uf1"].items()}} for r in rows])
    args.out.with_suffix(".json").write_text(json.dumps(rows, indent=2) + "\n")
    title = ("SynthME 2 region control" if "region_control" in args.controls else
             f"SynthME 2 `real`: the three models over {len(args.seeds)} SynthME seeds")
    lines = [f"# {title}", "",
             "Written by `benchmarks/region_control.py`: 68-fold LOSO, "
             + (f"the `{args.preset}` schedule for every model" if args.preset else
                "each model's default schedule (`emhnet_lite.train.config.MODEL_DEFAULT_PRESET`)")
             + ", training seed 0, leak-free `last` selection, `emhnet prepare --landmarks dlib`; `real` as calibrated "
             f"(amplitude factor {factor:g}), `region_control` = the same level with class-defining motion moved "
             "off the region centres. SynthME seeds: " + ", ".join(map(str, args.seeds)) + ".", "",
             "| data | model | seed | composite UF1 | CASME II | SAMM | SMIC |", "|---|---|---|---|---|---|---|"]
    for r in rows:
        u = r["uf1"]
        lines.append(f"| {r['data']} | {r['model']} | {r['seed']} | {u['composite']:.4f} | {u['casme2']:.4f} | "
                     f"{u['samm']:.4f} | {u['smic']:.4f} |")
    pivot = table.pivot_table(index=["seed", "model"], columns="data", values="uf1_composite")
    if {"real", "region_control"} <= set(pivot.columns):
        lines += ["", "Composite UF1, `region_control` minus `real` (same seed): " + "; ".join(
            f"{model} (seed {seed}) {row['region_control'] - row['real']:+.4f}" for (seed, model), row in pivot.iterrows())
            + ". A model whose score on `real` came from looking where `easy`/`real` put the class motion "
            "would lose most on `region_control`.", ""]
    if len(args.seeds) > 1:
        lines += ["", "Mean ± sd over seeds (composite UF1):", ""]
        for (data, model), group in table.groupby(["data", "model"]):
            lines.append(f"- {data} · {model}: {group['uf1_composite'].mean():.4f} ± "
                         f"{group['uf1_composite'].std():.4f} (n={len(group)})")
    args.out.with_suffix(".md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


def grid_cell(grids: list[Path], model: str, seed: int, cache: Path) -> dict:
    """UF1 / UAR of the first comparison grid's training-seed-0 cell on SynthME seed ``seed``; refuses a cell
    trained on other data than ``cache`` (data fingerprints differ) or with another schedule than the model's
    default."""
    from emhnet_lite.dataset import data_fingerprint
    from emhnet_lite.preprocess.cache import load_prepared
    from emhnet_lite.train import default_for_model

    found = [g / model / f"synthme{seed}_seed0" for g in grids if (g / model / f"synthme{seed}_seed0").is_dir()]
    if not found:
        raise SystemExit(f"no grid of {[str(g) for g in grids]} has {model} on SynthME seed {seed}, training seed 0")
    run = found[0]
    config = json.loads((run / "config.json").read_text())
    if config["data"]["fingerprint"] != data_fingerprint(load_prepared(cache)):
        raise SystemExit(f"{run}: trained on other data than {cache}")
    if config["train"] != default_for_model(model).as_dict():
        raise SystemExit(f"{run}: not the default schedule of {model}")
    return last_scores(run)


def run_name(name: str, factor: float, seed: int, control: str, preset: str | None = None) -> str:
    """The run folder of one (model, schedule, seed, data); the schedule is part of the name so that a run of
    another schedule (the calibration's ``tiny`` STSTNet runs) is never taken for this one."""
    return f"{name}_{preset or 'default'}_f{factor:g}_seed{seed}{'_rc' if control == 'region_control' else ''}"


def finished_folds(run: Path) -> dict[str, pd.DataFrame]:
    """Last-epoch test predictions of each finished fold (``fold.json`` written), keyed by fold folder."""
    folds = {}
    for fold in sorted((run / "folds").glob("*")):
        if (fold / "fold.json").is_file():
            epochs = pd.read_csv(fold / "test_epochs.csv")
            last = json.loads((fold / "fold.json").read_text())["selected_epoch"]["last"]
            folds[fold.name] = epochs[epochs["epoch"] == last]
    return folds


def partial_report(args: argparse.Namespace, factor: float) -> None:
    """UF1 on the folds finished in every compared run (like for like, labelled incomplete)."""
    runs = {(seed, control, name): finished_folds(args.work / "runs" / run_name(name, factor, seed, control,
                                                                               args.preset))
            for seed in args.seeds for control in args.controls for name in args.models}
    common = sorted(set.intersection(*(set(folds) for folds in runs.values())))
    lines = ["", f"## Partial comparison: the {len(common)} of 68 folds finished in every run below", "",
             "Last-epoch predictions of those folds pooled (same subjects for every model and data); the "
             "remaining folds had not finished when this was written, so these are **not** composite results.",
             "", "| data | model | seed | folds | clips | UF1 | UAR |", "|---|---|---|---|---|---|---|"]
    result = []
    for (seed, control, name), folds in runs.items():
        pooled = pd.concat([folds[f] for f in common]) if common else pd.DataFrame(columns=["true", "predicted"])
        uf1, uar = uf1_uar(pooled["true"].to_numpy(int), pooled["predicted"].to_numpy(int)) if common else (0, 0)
        result.append({"seed": seed, "data": control, "model": name, "folds": len(common), "clips": len(pooled),
                       "uf1": round(float(uf1), 4), "uar": round(float(uar), 4), "fold_names": common})
        lines.append(f"| {control} | {name} | {seed} | {len(common)} | {len(pooled)} | {uf1:.4f} | {uar:.4f} |")
    args.out.with_name(args.out.name + "_partial").with_suffix(".json").write_text(json.dumps(result, indent=2) + "\n")
    with open(args.out.with_suffix(".md"), "a") as handle:
        handle.write("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
