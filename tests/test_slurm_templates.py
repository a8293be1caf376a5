"""The SLURM templates: the CPU form requests no GPU, both forms run one body, and the command line that body
builds is one `emhnet loso` accepts. (`make cluster-check` runs the CPU form on a real SLURM.)"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from emhnet_lite.cli import build_parser

ROOT = Path(__file__).resolve().parents[1]
SLURM = ROOT / "slurm"
TEMPLATES = {"gpu": SLURM / "loso_array.sbatch", "cpu": SLURM / "loso_array_cpu.sbatch"}


def sbatch_options(path: Path) -> dict[str, str]:
    """The active ``#SBATCH --key=value`` directives of a job script (``##SBATCH`` lines are disabled)."""
    options = {}
    for line in path.read_text().splitlines():
        if line.startswith("#SBATCH "):
            key, _, value = line.split(maxsplit=1)[1].partition("=")
            options[key] = value
    return options


@pytest.mark.parametrize("path", [*TEMPLATES.values(), SLURM / "loso_task.sh"], ids=lambda p: p.name)
def test_scripts_parse(path):
    subprocess.run(["bash", "-n", str(path)], check=True)


def test_cpu_form_requests_no_gpu_and_both_forms_share_one_body():
    gpu, cpu = sbatch_options(TEMPLATES["gpu"]), sbatch_options(TEMPLATES["cpu"])
    assert gpu["--gres"] == "gpu:1"
    assert not {"--gres", "--gpus", "--gpus-per-task", "--gpus-per-node"} & cpu.keys()
    assert gpu.keys() - {"--gres"} == cpu.keys()
    for path in TEMPLATES.values():
        assert path.read_text().rstrip().splitlines()[-1].endswith('/slurm/loso_task.sh"')


def run_task(tmp_path: Path, template: Path, **env: str) -> list[str]:
    """Run a template as array task 2 of 3 with a stand-in `emhnet` that records its arguments."""
    record = tmp_path / "argv.json"
    fake = tmp_path / "emhnet"
    fake.write_text(f"#!{sys.executable}\nimport json, sys\njson.dump(sys.argv[1:], open({str(record)!r}, 'w'))\n")
    fake.chmod(0o755)
    slurm_env = {"SLURM_ARRAY_TASK_COUNT": "3", "SLURM_ARRAY_TASK_ID": "2", "SLURM_ARRAY_TASK_MIN": "1",
                 "SLURM_CPUS_PER_TASK": "2", "SLURM_SUBMIT_DIR": str(ROOT)}
    base = {k: v for k, v in os.environ.items() if not k.startswith("SLURM_") and k not in
            {"REPO", "DATA", "OUT", "MODEL", "PRESET", "SELECT", "SEED", "DEVICE", "EXTRA_ARGS", "EMHNET"}}
    subprocess.run(["bash", str(template)], check=True, cwd=tmp_path,
                   env={**base, **slurm_env, "EMHNET": str(fake), **env})
    return json.loads(record.read_text())


def test_cpu_task_builds_a_valid_shard_command(tmp_path):
    argv = run_task(tmp_path, TEMPLATES["cpu"], DATA="/data/cache/key", OUT=str(tmp_path / "run"),
                    MODEL="emhnet_tiny", PRESET="tiny", EXTRA_ARGS="--epochs 2 --vectorize-folds auto")
    args = build_parser().parse_args(argv)
    assert args.command == "loso"
    assert (args.shard, args.threads, args.device, args.resume, args.no_merge) == ("2/3", 2, "cpu", True, True)
    assert (args.model, args.preset, args.epochs, args.vectorize_folds) == ("emhnet_tiny", "tiny", 2, "auto")
    assert Path(args.out) == tmp_path / "run"


def test_gpu_task_defaults_to_the_paper_run_in_the_checkout(tmp_path):
    args = build_parser().parse_args(run_task(tmp_path, TEMPLATES["gpu"]))
    assert (args.model, args.preset, args.select, args.device) == ("emhnet", "paper", "last", "auto")
    assert Path(args.out) == ROOT / "runs" / "emhnet_paper_last"


def test_task_outside_a_job_array_refuses(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith("SLURM_")}
    result = subprocess.run(["bash", str(SLURM / "loso_task.sh")], env={**env, "REPO": str(ROOT)},
                            capture_output=True, text=True)
    assert result.returncode != 0
    assert "run as a job array" in result.stderr
