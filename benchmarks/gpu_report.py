"""Render the GPU check's ``gpu_check.json`` (benchmarks/gpu_check.sh) as the markdown of ``results/gpu.md``.

    python benchmarks/gpu_report.py OUT/gpu_check.json [--out results/gpu.md]

Only numbers the check measured are shown; projections are labelled as such, and so is every cut or skipped
step. It runs wherever the check ran (standard library and the kit's atomic write).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path


def _num(value, digits: int = 1) -> str:
    return "—" if value is None else f"{value:.{digits}f}" if isinstance(value, float) else str(value)


def _memory(record: dict) -> str:
    """Peak GPU memory (allocator reserved / tensors allocated), or the process's peak RSS on a CPU."""
    if record.get("gpu_peak_reserved_mb") is not None:
        return f"{record['gpu_peak_reserved_mb']:.0f} / {record['gpu_peak_allocated_mb']:.0f} MB GPU"
    return f"{_num(record.get('max_rss_mb'), 0)} MB RSS (CPU)"


def _status(record: dict, n_folds: int) -> str:
    if record.get("exit_code") is None:
        return "did not run"
    done = record.get("folds_finished", 0)
    if record.get("cut_at_time_limit"):
        return f"cut at the time limit after {done}/{n_folds} folds"
    return "ok" if record["exit_code"] == 0 else f"exit {record['exit_code']} after {done}/{n_folds} folds"


def _loso_rows(results: dict) -> list[str]:
    n = results["n_folds"]
    rows = [
        "| model | mode | folds at once | status | command wall (s) | training (s) | training, all "
        f"{n} folds (s) | peak memory (reserved / allocated) |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for mode, key in (("fold by fold", "fold_by_fold"), ("vectorized", "vectorized")):
        for model, record in results[key].items():
            projected = record.get("projected_training_s")
            if projected is not None and record.get("folds_finished", n) < n:
                projected = f"{projected:.1f} (projected from {record['folds_finished']} folds)"
            rows.append(
                f"| {model} | {mode} | {_num(record.get('folds_at_once'))} | {_status(record, n)} | "
                f"{_num(record.get('wall_s'))} | {_num(record.get('training_s'))} | {_num(projected)} | "
                f"{_memory(record)} |"
            )
    return rows


def _agreement_rows(results: dict) -> list[str]:
    rows = [
        "| model | mode | selection | samples compared | predictions differing | max abs prob diff | "
        "UF1 (this run / CPU) | UAR (this run / CPU) | settings differing |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for mode, key in (("fold by fold", "fold_by_fold"), ("vectorized", "vectorized")):
        for model, record in results[key].items():
            report = record.get("agreement") or {"compared": False, "reason": "no predictions"}
            if not report["compared"]:
                rows.append(f"| {model} | {mode} | — | not compared: {report['reason']} | | | | | |")
                continue
            differing = ", ".join(report["settings_differing"]) or "none"
            for selection in ("last", "oracle"):
                a = report[selection]
                label = selection + (" (test-set-selected)" if selection == "oracle" else "")
                rows.append(
                    f"| {model} | {mode} | {label} | {a['n_compared']} / {a['n_reference']} | "
                    f"{a['predictions_differing']} | {a['max_abs_prob_diff']:.4f} | {a['uf1']:.4f} / "
                    f"{a['uf1_reference']:.4f} ({a['uf1_diff']:+.4f}) | {a['uar']:.4f} / "
                    f"{a['uar_reference']:.4f} ({a['uar_diff']:+.4f}) | {differing} |"
                )
    return rows


def _paper_rows(results: dict) -> list[str]:
    n = results["n_folds"]
    if not results["paper"]:
        return ["Not run (no `--paper-models`)."]
    rows = [
        "| model | steady s / epoch (probes) | one-off s | epochs | fold, projected from probes (s) | "
        f"full fold, measured (s) | {n}-fold LOSO, one GPU | peak memory (reserved / allocated) |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for model, entry in results["paper"].items():
        full = entry.get("full_fold")
        if entry.get("projected_loso_s") is not None:
            loso = f"{entry['projected_loso_s'] / 3600:.2f} h (measured fold × {n})"
        elif entry.get("projected_fold_s") is not None:
            loso = f"{entry['projected_fold_s'] * n / 3600:.2f} h (probe projection × {n})"
        else:
            loso = "—"
        measured = _num(entry.get("fold_s")) if full else "not run"
        if full and entry.get("fold_s") is None:
            measured = _status(full, 1)
        last = full or (entry.get("probes") or [{}])[-1]
        rows.append(
            f"| {model} | {_num(entry.get('epoch_s'), 4)} | {_num(entry.get('one_off_s'))} | "
            f"{_num(entry.get('epochs'))} | {_num(entry.get('projected_fold_s'))} | {measured} | {loso} | "
            f"{_memory(last)} |"
        )
    emhnet, htnet = results["paper"].get("emhnet", {}), results["paper"].get("htnet", {})
    if emhnet.get("epoch_s") and htnet.get("epoch_s"):
        rows.append(
            f"\nEMHNet / HTNet steady time per epoch (same run): {emhnet['epoch_s'] / htnet['epoch_s']:.2f}×."
        )
    return rows


def _probe_epochs(results: dict) -> str:
    return (
        " and ".join(
            str(p["epochs"])
            for p in next((e["probes"] for e in results["paper"].values() if e.get("probes")), [])
        )
        or "—"
    )


def _reference(results: dict) -> str:
    """Which reference the runs were compared with (folder, torch, device), or why none."""
    for key in ("vectorized", "fold_by_fold"):
        for record in results[key].values():
            report = record.get("agreement") or {}
            if report.get("compared"):
                return (
                    f"`{report['reference']}` (torch {report['reference_torch']}, "
                    f"device {report['reference_device']}, fold by fold)"
                )
    return f"none compared (`{results['settings'].get('reference')}`)"


def render(results: dict) -> str:
    """The markdown page for one check's results."""
    env, settings = results["environment"], results["settings"]
    lines = [
        f"# GPU check: cost and agreement with the CPU ({results['label']})",
        "",
        f"Generated by `bash benchmarks/gpu_check.sh` (`benchmarks/gpu_check.py`), rendered by "
        f"`benchmarks/gpu_report.py`. Device `{env['device']}`"
        + (f": {env['nvidia_smi']} (name, driver, memory)" if env.get("nvidia_smi") else "")
        + f"; torch {env['torch']} (CUDA {env['torch_cuda']}), Python {env['python']}, "
        f"{env['cpu_count']} CPU cores, {env['utc']}. {results['n_folds']} LOSO folds; AMP (float16 "
        f"autocast + GradScaler) on CUDA as the kit's default. Whole check: {results['elapsed_s']} s of a "
        f"{settings['budget_s']} s budget.",
        "",
        "## Full LOSO, small models",
        "",
        "Command wall = the whole `emhnet loso` process (start, data, training, writing, merge); training = "
        "the folds' own time (an ensemble's time counted once). A run cut at the budget is merged from its "
        "finished folds and its training time projected to all folds (labelled).",
        "",
        *_loso_rows(results),
        "",
        "## Agreement with the CPU reference (same settings)",
        "",
        f"Reference: {_reference(results)}. Settings differing = entries of the runs' `config.json` that "
        "differ from the reference's (`model_fingerprint` = the seeded initial weights, which differ "
        "between torch releases).",
        "",
        *_agreement_rows(results),
        "",
        "## Paper preset (fold 0)",
        "",
        f"Two probes of {_probe_epochs(results)} epochs: steady s / epoch = their fold-time difference over "
        "the extra epochs; one-off = model build, first-call costs and checkpoint. The full fold runs when "
        "the probes say it fits the budget; LOSO = the measured fold × folds (fold by fold on one GPU), "
        "else the probes' projection (labelled).",
        "",
        *_paper_rows(results),
        "",
    ]
    if results["skipped"]:
        lines += ["## Skipped", "", *[f"- {s['step']}: {s['reason']}" for s in results["skipped"]], ""]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("results", type=Path, help="gpu_check.json written by benchmarks/gpu_check.py")
    parser.add_argument("--out", type=Path, default=None, help="markdown file (default: stdout)")
    args = parser.parse_args(argv)
    try:
        results = json.loads(args.results.read_text())
        text = render(results)
    except (OSError, ValueError, KeyError) as error:
        print(
            f"error: {args.results}: not a readable gpu_check.json ({type(error).__name__}: {error})",
            file=sys.stderr,
        )
        return 2
    if args.out is None:
        print(text)
    else:
        from emhnet_lite.utils import write_text_atomic

        write_text_atomic(args.out, text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
