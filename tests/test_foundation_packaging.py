"""The kit installs as one package with pinned dependencies, a CLI, and a conda file that agrees."""

from __future__ import annotations

import subprocess
import sys
import tomllib
from pathlib import Path

import yaml

from emhnet_lite import __version__
from emhnet_lite.cli import build_parser, main

REPO = Path(__file__).resolve().parents[1]


def _pyproject() -> dict:
    return tomllib.loads((REPO / "pyproject.toml").read_text())


def test_environment_yml_parses_and_agrees_with_pyproject():
    env = yaml.safe_load((REPO / "environment.yml").read_text())
    assert env["name"] == "emhnet-lite"
    conda_deps = env["dependencies"]
    assert "python=3.11" in conda_deps
    pip_sections = [d["pip"] for d in conda_deps if isinstance(d, dict) and "pip" in d]
    assert len(pip_sections) == 1, "environment.yml must have exactly one pip: section"
    pip_deps = [d for d in pip_sections[0] if d != "-e ."]
    assert "-e ." in pip_sections[0], "environment.yml must install the kit itself"
    project = _pyproject()["project"]
    assert sorted(pip_deps) == sorted(project["dependencies"] + project["optional-dependencies"]["test"])


def test_torch_pins_are_exact():
    deps = _pyproject()["project"]["dependencies"]
    assert "torch==2.14.1" in deps and "torchvision==0.29.1" in deps
    assert all("==" in d for d in deps), "every direct dependency is pinned exactly"


def test_version_matches_pyproject():
    assert __version__ == _pyproject()["project"]["version"]


def test_cli_version_and_help(capsys):
    try:
        main(["--version"])
    except SystemExit as stop:
        assert stop.code == 0
    assert __version__ in capsys.readouterr().out
    assert main([]) == 0
    assert "COMMAND" in capsys.readouterr().out


def test_cli_discovers_every_command_module():
    commands_dir = REPO / "emhnet_lite" / "commands"
    modules = sorted(p.stem for p in commands_dir.glob("*.py") if not p.stem.startswith("_"))
    parser = build_parser()
    sub_actions = [a for a in parser._actions if a.__class__.__name__ == "_SubParsersAction"]
    registered = set(sub_actions[0].choices)
    assert "notebooks" in registered
    for module in modules:
        mod = __import__(f"emhnet_lite.commands.{module}", fromlist=["NAME"])
        assert mod.NAME in registered


def test_console_script_runs_in_a_subprocess():
    out = subprocess.run([sys.executable, "-m", "emhnet_lite", "--version"], capture_output=True, text=True,
                         check=True)
    assert out.stdout.strip() == f"emhnet-lite {__version__}"


def test_gitignore_keeps_data_runs_and_venv_out():
    ignored = (REPO / ".gitignore").read_text().split()
    for entry in (".venv/", "/runs/", "/data/", "*.pt"):
        assert entry in ignored


def test_ci_installs_chromium_then_runs_the_readme_test_command_and_the_cluster_check():
    readme = (REPO / "README.md").read_text()
    ci_lines = [line for line in (REPO / ".ci" / "run").read_text().splitlines()
                if line.strip() and not line.startswith("#") and not line.startswith("set ")
                and not line.startswith("cd ")]
    assert ci_lines == ["command -v chromium >/dev/null || { apt-get update -q && apt-get install -y -q chromium; }",
                        "export EMHNET_REQUIRE_BROWSER=1", "make test", "make cluster-check"]
    assert "make test" in readme and "make reproduce" in readme
    assert "\ncluster-check: setup\n\tbash scripts/cluster_check.sh $(BIN)\n" in (REPO / "Makefile").read_text()
