"""The region control: STSTNet, HTNet-reduced and EMHNet-tiny on SynthME 2 ``real`` and ``real`` +
``region_control``, same data, same schedule (``tiny``), leak-free ``last`` selection, 68-fold LOSO.

A regional model (EMHNet, HTNet) must not win by construction: under ``region_control`` the
class-defining motion sits between the region centres (docs/data.md), the nuisances stay in the regions.
Reuses the calibration's synth/prepare/LOSO steps (``calibrate_synthme.py``), so ``real`` runs of the
evaluation seeds are shared with it.

    .venv/bin/python benchmarks/region_control.py --work runs/calibration [--seeds 0] [--models ststnet ...]
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent))

from calibrate_synthme import REPO, loso, prepared  # noqa: E402

from emhnet_lite.synth.config import DIFFICULTIES  # noqa: E402

#: name -> (model, model overrides, description); HTNet-reduced as in benchmarks/bench_loso.py
MODELS = {
    "ststnet": ("ststnet", (), "STSTNet (three-stream shallow CNN, as published)"),
    "htnet_reduced": ("htnet", ("dim=32", "heads=2", "block_repeats=(1,1,2)"),
                      "HTNet-shaped, reduced: widths 32/64/128, depths 1/1/2"),
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
    parser.add_argument("--out", type=Path, default=REPO / "results" / "synthme_region_control")
    args = parser.parse_args()
    factor = DIFFICULTIES["real"]["amplitude_min"]  # amplitude_min = 1.0 x factor
    rows = []
    for seed in args.seeds:
        for control in args.controls:
            cache, timings = prepared(args.work, factor, seed, region_control=control == "region_control")
            for name in args.models:
                model, model_args, description = MODELS[name]
                run_name = f"{name}_f{factor:g}_seed{seed}{'_rc' if control == 'region_control' else ''}"
                if name == "ststnet" and control == "real":
                    run_name = f"ststnet_f{factor:g}_seed{seed}"  # the calibration's evaluation run
                result = loso(args.work, cache, run_name, model, model_args, args.jobs,
                              preset=None if name == "ststnet" else "tiny")
                rows.append({"seed": seed, "data": control, "model": name, "description": description,
                             "dlib_found": timings["dlib_found"], **result})
                print(json.dumps(rows[-1]), flush=True)
    table = pd.DataFrame([{"seed": r["seed"], "data": r["data"], "model": r["model"],
                           **{f"uf1_{k}": v for k, v in r["uf1"].items()}} for r in rows])
    args.out.with_suffix(".json").write_text(json.dumps(rows, indent=2) + "\n")
    lines = ["# SynthME 2 region control", "",
             "Written by `benchmarks/region_control.py`: 68-fold LOSO, `tiny` schedule for every model (STSTNet's "
             "default), leak-free `last` selection, `emhnet prepare --landmarks dlib`; `real` as calibrated "
             f"(amplitude factor {factor:g}), `region_control` = the same level with class-defining motion moved "
             "off the region centres. SynthME seeds: " + ", ".join(map(str, args.seeds)) + ".", "",
             "| data | model | seed | composite UF1 | CASME II | SAMM | SMIC |", "|---|---|---|---|---|---|---|"]
    for r in rows:
        u = r["uf1"]
        lines.append(f"| {r['data']} | {r['model']} | {r['seed']} | {u['composite']:.4f} | {u['casme2']:.4f} | "
                     f"{u['samm']:.4f} | {u['smic']:.4f} |")
    if len(args.seeds) > 1:
        lines += ["", "Mean ± sd over seeds (composite UF1):", ""]
        for (data, model), group in table.groupby(["data", "model"]):
            lines.append(f"- {data} · {model}: {group['uf1_composite'].mean():.4f} ± "
                         f"{group['uf1_composite'].std():.4f} (n={len(group)})")
    args.out.with_suffix(".md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
