"""The user-error contract of every ``emhnet`` subcommand (docs/architecture.md, "User errors").

``CATALOGUE`` lists the bad inputs: each must exit 2 with exactly one line on stderr that names the file,
row, field or option at fault, print no traceback, and write nothing it was not asked to. The reader-level
cases (malformed workbooks, frames, sample lists) are catalogued in ``test_data_bad_input.py``.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
import torch
from fake_cache import write_cache
from figures_fake_run import make_fake_run

from emhnet_lite import cli
from emhnet_lite.commands import loso as loso_command
from emhnet_lite.errors import KitError, PathError
from emhnet_lite.synth import generate_synthme

pytestmark = pytest.mark.usefixtures("one_torch_thread")
ROOT = Path(__file__).resolve().parents[1]
TINY_RUN = ["--model", "ststnet", "--preset", "teaching", "--epochs", "1"]


@pytest.fixture(scope="module")
def world(tmp_path_factory) -> dict[str, Path]:
    """Inputs shared by the catalogue: a 4-subject cache, a damaged copy, run folders, SynthME, notebooks."""
    base = tmp_path_factory.mktemp("world")
    cache = base / "cache" / "abc123"
    cache.mkdir(parents=True)
    write_cache(cache)
    damaged = base / "damaged" / "abc123"
    shutil.copytree(cache, damaged)
    sample = damaged / pd.read_csv(damaged / "manifest.csv")["path"].iloc[0]
    sample.write_bytes(sample.read_bytes()[:300])  # truncated, as after a full disk or a killed copy
    finished, half = base / "finished_run", base / "half_run"
    assert cli.main(["loso", "--data", str(cache), "--out", str(finished), *TINY_RUN]) == 0
    assert cli.main(["loso", "--data", str(cache), "--out", str(half), "--shard", "1/2", "--no-merge",
                     *TINY_RUN]) == 0
    broken = base / "broken_run"
    shutil.copytree(finished, broken)
    (broken / "config.json").write_text("{")
    synth = generate_synthme(base / "synth", scale=0.03, seed=2)
    corrupt = base / "corrupt"
    shutil.copytree(base / "synth", corrupt)
    clip = sorted((corrupt / "casme2" / "CASME2_RAW_selected" / "sub01").iterdir())[0]
    for frame in clip.iterdir():
        frame.write_bytes(b"not a jpeg")
    empty = base / "empty"
    empty.mkdir()
    bad_manifest = base / "bad_manifest"
    bad_manifest.mkdir()
    (bad_manifest / "manifest.csv").write_text("foo\n1\n")
    (base / "not_a_notebook.ipynb").write_text("{ not json")
    (base / "99_unknown.ipynb").write_text((ROOT / "notebooks" / "00_overview.ipynb").read_text())
    return {"base": base, "cache": cache, "damaged": damaged, "sample": sample, "finished": finished,
            "half": half, "synth": synth["casme2"].parent, "corrupt": corrupt, "empty": empty,
            "bad_manifest": bad_manifest, "broken": broken}


#: (case id, command line with {placeholders} from ``world``, expected message regex). The id is the catalogue.
CATALOGUE: list[tuple[str, str, str]] = [
    ("loso-data-missing", "loso --data {base}/missing --out {out}", r"--data .*missing: no such folder"),
    ("loso-data-not-cache", "loso --data {empty} --out {out}", r"not a prepared cache folder \(no manifest.csv\)"),
    ("loso-shard-k-above-n", "loso --data {cache} --out {out} --shard 3/2", r"--shard '3/2': need 1 ≤ K ≤ N"),
    ("loso-shard-not-k-n", "loso --data {cache} --out {out} --shard half", r"--shard 'half': expected K/N"),
    ("loso-jobs-zero", "loso --data {cache} --out {out} --jobs 0", r"argument --jobs: '0': must be ≥ 1"),
    ("loso-threads-text", "loso --data {cache} --out {out} --threads two", r"argument --threads: 'two'"),
    ("loso-val-subjects-too-many", "loso --data {cache} --out {out} --select val --val-subjects 3",
     r"--val-subjects 3: each fold has only 3 training subjects; use at most 2"),
    ("loso-device-unknown", "loso --data {cache} --out {out} --device gpu", r"--device 'gpu': not a device name"),
    ("loso-model-unknown", "loso --data {cache} --out {out} --model vgg", r"unknown model 'vgg'; known: "),
    ("loso-model-arg-unknown-field", "loso --data {cache} --out {out} --model-arg bogus=1",
     r"unknown config field\(s\) \['bogus'\]"),
    ("loso-model-arg-no-value", "loso --data {cache} --out {out} --model-arg dim", r"--model-arg 'dim': expected KEY=VALUE"),
    ("loso-model-arg-bad-value", "loso --data {cache} --out {out} --model-arg dim=7",
     r"EMHNetConfig: dim=7 not divisible by heads"),
    ("loso-preset-unknown", "loso --data {cache} --out {out} --preset nope", r"unknown training preset 'nope'"),
    ("loso-epochs-zero", "loso --data {cache} --out {out} --epochs 0", r"TrainConfig: epochs \(0\)"),
    ("loso-vectorize-zero", "loso --data {cache} --out {out} --vectorize-folds 0",
     r"argument --vectorize-folds: '0': expected a positive integer or 'auto'"),
    ("loso-synthme-scale-zero", "loso --data {base}/synthme --out {out} --synthme-scale 0",
     r"argument --synthme-scale: '0': must be > 0"),
    ("loso-manifest-bad-columns", "loso --data {bad_manifest} --out {out}",
     r"bad_manifest/manifest.csv: missing column\(s\) \['clip', 'dataset', 'label', 'path', 'status', 'subject'\]"),
    ("loso-damaged-cache-sample", "loso --data {damaged} --out {out}",
     r"damaged/abc123/\S+\.pt: damaged cache sample .*rerun `emhnet prepare`"),
    ("loso-finished-without-resume", "loso --data {cache} --out {finished} " + " ".join(TINY_RUN),
     r"finished_run: 4 fold\(s\) of this shard already finished; .*--resume"),
    ("loso-config-mismatch", "loso --data {cache} --out {finished} --model ststnet --preset teaching --epochs 2",
     r"finished_run/config.json: run folder holds a different config \(differs in \['train'\]\)"),
    ("loso-resume-config-not-json", "loso --data {cache} --out {broken} --resume " + " ".join(TINY_RUN),
     r"broken_run/config.json: not readable JSON"),
    ("merge-config-not-json", "merge {broken}", r"broken_run/config.json: not readable JSON"),
    ("figures-config-not-json", "figures {broken} --out {out}", r"broken_run/config.json: not readable JSON"),
    ("merge-not-a-run", "merge {empty}", r"empty is not a LOSO run folder \(no config.json\)"),
    ("merge-unfinished", "merge {half}", r"half_run: 2 of 4 folds not finished"),
    ("prepare-data-missing", "prepare --data {base}/missing --out {out}", r"--data .*missing: no such folder"),
    ("prepare-no-release", "prepare --data {empty} --out {out}", r"no CASME II / SAMM / SMIC-HS release found"),
    ("prepare-no-data", "prepare --out {out}", r"give --data ROOT"),
    ("prepare-release-root-missing", "prepare --casme2 {base}/missing --out {out}", r"--casme2 .*missing: no such folder"),
    ("prepare-workers-zero", "prepare --data {synth} --out {out} --workers 0", r"argument --workers: '0': must be ≥ 1"),
    ("prepare-preset-unknown", "prepare --data {synth} --out {out} --preset nope",
     r"unknown preprocessing preset 'nope'"),
    ("prepare-size-too-small", "prepare --data {synth} --out {out} --size 4", r"PreprocessConfig: size=4 must be >= 8"),
    ("prepare-sample-list-missing", "prepare --data {synth} --out {out} --sample-list {base}/list.csv",
     r"--sample-list .*list.csv: no such file"),
    ("prepare-corrupt-frame", "prepare --data {corrupt} --out {out} --flow farneback --workers 1",
     r"CASME2-coding-20140508.xlsx, sheet row \d+, column 'Filename': .*img\d+\.jpg: frame file is corrupt"),
    ("figures-run-missing", "figures {base}/missing --out {out}", r"missing: run folder not found"),
    ("figures-overlays-without-data", "figures {fake_run} --out {out} --overlays 2", r"--overlays needs --overlay-data"),
    ("figures-overlay-data-missing", "figures {fake_run} --out {out} --overlays 1 --overlay-data {base}/missing",
     r"--overlay-data .*missing: neither a prepared cache folder nor a data root"),
    ("figures-overlays-negative", "figures {fake_run} --out {out} --overlays -1", r"argument --overlays: '-1': must be ≥ 0"),
    ("figures-selection-unknown", "figures {fake_run} --out {out} --selection best",
     r"argument --selection: invalid choice: 'best'"),
    ("synth-scale-zero", "synth --out {out} --scale 0", r"--scale 0.0: must be positive"),
    ("synth-out-holds-other-data", "synth --out {empty} --scale 0.02", r"empty exists and is not SynthME"),
    ("student-source-missing", "student --source {base}/missing", r"--source .*missing is not a folder of solution"),
    ("student-grade-missing", "student --grade {base}/missing.ipynb", r"--grade .*missing.ipynb: no such notebook"),
    ("student-grade-unmatched-name", "student --grade {base}/99_unknown.ipynb",
     r"no solution notebook named '99_unknown.ipynb' in .*\(solutions: 00_overview.ipynb, .*--solution"),
    ("student-grade-not-a-notebook", "student --grade {base}/not_a_notebook.ipynb --solution {base}/99_unknown.ipynb",
     r"--grade .*not_a_notebook.ipynb: not a readable notebook"),
    ("student-export-not-empty", "student --export {base} --data none", r"--export .*: the hand-out folder must be new or empty"),
    ("student-export-data-missing", "student --export {out} --data {base}/missing", r"--data .*missing: not a folder"),
    ("models-unknown", "models --models vgg", r"--models: unknown model\(s\) \['vgg'\]"),
    ("models-batch-zero", "models --batch 0", r"argument --batch: '0': must be ≥ 1"),
    ("notebooks-missing", "notebooks refresh {base}/missing.ipynb", r"missing.ipynb: no such notebook"),
    ("unknown-command", "bogus", r"invalid choice: 'bogus'"),
]


def _argv(template: str, world: dict[str, Path], out: Path) -> list[str]:
    return [part.format(out=out, **{k: str(v) for k, v in world.items()}) for part in template.split()]


def test_catalogue_is_large_enough():
    assert len(CATALOGUE) >= 25 and len({case for case, _, _ in CATALOGUE}) == len(CATALOGUE)


def _exit_code(argv: list[str]) -> int:
    """``cli.main``'s status; argparse's own refusals leave through ``SystemExit``."""
    try:
        return cli.main(argv)
    except SystemExit as exit:
        return int(exit.code)


@pytest.mark.parametrize(("case", "template", "message"), CATALOGUE, ids=[c for c, _, _ in CATALOGUE])
def test_bad_input_exits_2_with_one_line(case, template, message, world, tmp_path, capsys):
    world = {**world, "fake_run": make_fake_run(tmp_path / "fake_run")}
    out = tmp_path / "out"
    before = {p: p.stat().st_mtime_ns for p in world["finished"].rglob("*")}
    code = _exit_code(_argv(template, world, out))
    err = capsys.readouterr().err
    assert code == 2, err
    lines = err.strip().splitlines()
    command = template.split()[0]
    prefix = "emhnet: error: " if case == "unknown-command" else f"emhnet {command}: error: "
    assert len(lines) == 1 and lines[0].startswith(prefix), err
    assert re.search(message, lines[0]), lines[0]
    assert "Traceback" not in err
    assert not out.exists(), f"{case} wrote {sorted(out.rglob('*'))}"
    assert before == {p: p.stat().st_mtime_ns for p in world["finished"].rglob("*")}  # the finished run is untouched


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has CUDA")
def test_device_cuda_without_cuda_is_refused_before_any_work(world, tmp_path, capsys):
    out = tmp_path / "run"
    assert cli.main(["loso", "--data", str(world["cache"]), "--out", str(out), "--device", "cuda"]) == 2
    assert "--device cuda: CUDA is not available on this machine" in capsys.readouterr().err
    assert not out.exists()


def test_val_subjects_refused_before_config_is_written_and_corrected_run_works(world, tmp_path, capsys):
    out = tmp_path / "run"
    assert cli.main(["loso", "--data", str(world["cache"]), "--out", str(out), "--select", "val",
                     "--val-subjects", "3", *TINY_RUN]) == 2
    assert not out.exists()  # today's bug: config.json was written first and refused the corrected run
    assert cli.main(["loso", "--data", str(world["cache"]), "--out", str(out), "--select", "val",
                     "--val-subjects", "1", *TINY_RUN]) == 0


def test_debug_shows_the_traceback(world):
    for argv in (["--debug", "loso", "--data", "/missing/x", "--out", "o"],
                 ["loso", "--data", "/missing/x", "--out", "o", "--debug"]):
        with pytest.raises(PathError, match="no such folder"):
            cli.main(argv)


def test_a_bug_keeps_its_traceback(monkeypatch):
    from emhnet_lite.commands import models

    def broken(args):
        return 1 / 0

    monkeypatch.setattr(models, "run", broken)
    with pytest.raises(ZeroDivisionError):
        cli.main(["models"])


def test_kit_errors_are_still_the_builtin_types():
    from emhnet_lite.data import DataFormatError
    from emhnet_lite.errors import ConfigError, OutputExistsError, UnknownNameError
    from emhnet_lite.preprocess import CacheError, FlowError, FrameError, LandmarkError
    from emhnet_lite.runs import RunFolderError

    for kind in (DataFormatError, FrameError, FlowError, LandmarkError, CacheError, RunFolderError, ConfigError):
        assert issubclass(kind, KitError) and issubclass(kind, ValueError)
    assert issubclass(PathError, FileNotFoundError) and issubclass(OutputExistsError, FileExistsError)
    assert str(UnknownNameError("unknown preset 'x'")) == "unknown preset 'x'"  # no KeyError quotes


def test_missing_data_from_a_real_process_is_one_line(tmp_path):
    """The issue's first report, run as a user runs it: no 20-line traceback."""
    result = subprocess.run([sys.executable, "-m", "emhnet_lite", "loso", "--data", str(tmp_path / "missing"),
                             "--out", str(tmp_path / "run")], capture_output=True, text=True, cwd=ROOT)
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [f"emhnet loso: error: --data {tmp_path / 'missing'}: no such folder"]


def test_child_argv_replays_every_option(tmp_path):
    """``--jobs`` shard processes get exactly the parent's options (derived from the parser, not by hand)."""
    import argparse

    parser = argparse.ArgumentParser()
    loso_command.add_arguments(parser)
    argv = ["--data", "d", "--synthme-scale", "0.5", "--model", "htnet", "--model-arg", "dim=64", "--model-arg",
            "depth=2", "--out", "o", "--select", "val", "--preset", "tiny", "--epochs", "3", "--lr", "0.001",
            "--batch-size", "8", "--seed", "5", "--val-subjects", "2", "--class-weighting", "balanced",
            "--jobs", "3", "--threads", "2", "--vectorize-folds", "auto", "--resume", "--device", "cpu"]
    parent = parser.parse_args(argv)
    child_argv = loso_command._child_argv(parent, "2/3")
    assert child_argv[:4] == [sys.executable, "-m", "emhnet_lite", "loso"]
    child = parser.parse_args(child_argv[4:])
    assert (child.shard, child.no_merge, child.jobs) == ("2/3", True, 1)
    differs = {k for k in vars(parent) if getattr(parent, k) != getattr(child, k)}
    assert differs == {"shard", "no_merge", "jobs"}


def test_damaged_cache_sample_is_named_and_prepare_recomputes_it(world, tmp_path, capsys):
    from emhnet_lite.preprocess import CacheError, load_prepared

    root = tmp_path / "cache"
    assert cli.main(["prepare", "--data", str(world["synth"]), "--out", str(root), "--flow", "farneback",
                     "--workers", "1"]) == 0
    folder = next(root.iterdir())
    reference = load_prepared(folder)
    victim = folder / pd.read_csv(folder / "manifest.csv")["path"].iloc[2]
    victim.write_bytes(victim.read_bytes()[:200])
    with pytest.raises(CacheError, match=re.escape(str(victim)) + ": damaged cache sample"):
        load_prepared(folder)
    capsys.readouterr()
    with pytest.warns(UserWarning, match=r"1 damaged cache file\(s\) recomputed: .*" + re.escape(victim.name)):
        assert cli.main(["prepare", "--data", str(world["synth"]), "--out", str(root), "--flow", "farneback",
                         "--workers", "1"]) == 0
    again = load_prepared(folder)
    assert torch.equal(again.flows, reference.flows) and torch.equal(again.boxes, reference.boxes)


def test_prepare_on_error_skip_leaves_the_clip_out_and_counts_it(world, tmp_path, capsys):
    out = tmp_path / "cache"
    assert cli.main(["prepare", "--data", str(world["corrupt"]), "--out", str(out), "--flow", "farneback",
                     "--workers", "1", "--on-error", "skip"]) == 0
    printed = capsys.readouterr().out
    folder = next(out.iterdir())
    manifest = pd.read_csv(folder / "manifest.csv")
    failed = manifest[manifest["status"] == "error"]
    assert len(failed) == 1 and failed["dataset"].iloc[0] == "casme2" and failed["subject"].iloc[0] == "sub01"
    assert re.search(r"img\d+\.jpg: frame (file is corrupt|cannot be decoded)", failed["error"].iloc[0])
    ok = int((manifest["status"] == "ok").sum())
    assert "status error: 1" in printed and f"{ok} samples ready" in printed
    assert "status error: 1" in (folder / "report.txt").read_text()


def test_overlays_from_a_prepared_cache_on_a_healthy_run(world, tmp_path, capsys):
    """``emhnet figures RUN --overlays 1 --overlay-data CACHE`` (was: KeyError 'frame_dir')."""
    root = tmp_path / "cache"
    assert cli.main(["prepare", "--data", str(world["synth"]), "--out", str(root), "--flow", "farneback",
                     "--workers", "1"]) == 0
    cache = next(root.iterdir())
    run = tmp_path / "run"
    assert cli.main(["loso", "--data", str(cache), "--out", str(run), "--model", "emhnet_tiny", "--preset",
                     "teaching", "--epochs", "1"]) == 0
    figures = tmp_path / "figures"
    assert cli.main(["figures", str(run), "--out", str(figures), "--overlays", "1",
                     "--overlay-data", str(cache)]) == 0
    assert (figures / "07_attention_flow_overlay.png").stat().st_size > 0
    config = json.loads((run / "config.json").read_text())
    assert config["data"]["source"].startswith("synthme-cache:")
