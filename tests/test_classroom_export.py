"""``emhnet student --export``: the hand-out folder holds student copies, data and the wheel, never a solution."""

from __future__ import annotations

import os
import subprocess
import sys
import zipfile
from pathlib import Path

import nbformat
import pytest

from emhnet_lite import classroom
from emhnet_lite.classroom.exercises import BEGIN_MARKER, END_MARKER, cell_source
from emhnet_lite.cli import main
from emhnet_lite.notebook_tools import NOTEBOOK_DIR, chapter_notebooks


def solution_regions() -> list[str]:
    """Every solution region's body (marker lines excluded) in the committed chapters."""
    regions = []
    for path in chapter_notebooks(NOTEBOOK_DIR):
        for cell in nbformat.read(path, as_version=4).cells:
            text = cell_source(cell)
            while BEGIN_MARKER in text:
                body, text = text.split(BEGIN_MARKER, 1)[1].split(END_MARKER, 1)
                regions.append("\n".join(line for line in body.split("\n") if line.strip()).strip())
    return [r for r in regions if r]


def sources(path: Path) -> str:
    """All cell sources of a notebook, joined (what a student sees in JupyterLab)."""
    return "\n".join(cell_source(c) for c in nbformat.read(path, as_version=4).cells)


@pytest.mark.slow
def test_export_holds_student_copies_and_wheel_but_no_solution(tmp_path: Path, capsys):
    out = tmp_path / "handout"
    data = tmp_path / "data"
    (data / "synthme_scale0.18_seed0").mkdir(parents=True)
    (data / "synthme_scale0.18_seed0" / "synthme.json").write_text("{}")
    (data / "full").mkdir()  # other data under the root is not shipped
    assert main(["student", "--export", str(out), "--data", str(data)]) == 0
    assert "no solution chapters" in capsys.readouterr().out

    regions = solution_regions()
    assert regions, "the chapters have exercises, so there are solution regions to look for"
    chapter_sources = [sources(p) for p in chapter_notebooks(NOTEBOOK_DIR)]
    assert all(any(region in text for text in chapter_sources) for region in regions)  # the probe can find one
    exported = sorted((out / "notebooks").glob("*.ipynb"))
    assert [p.name for p in exported] == [p.name for p in chapter_notebooks(NOTEBOOK_DIR)]
    expected_copies = classroom.student_copies(NOTEBOOK_DIR)
    for path in exported:
        text = path.read_text()
        assert BEGIN_MARKER not in text, path.name
        assert not any(region in sources(path) for region in regions), f"{path.name} holds a solution"
        if path.name in expected_copies:
            assert text == expected_copies[path.name]
    assert (out / "data" / "synthme_scale0.18_seed0" / "synthme.json").exists()
    assert not (out / "data" / "full").exists()
    assert (out / "figures").is_dir() and (out / "README.md").exists()

    wheels = list((out / "package").glob("emhnet_lite-*.whl"))
    assert len(wheels) == 1
    with zipfile.ZipFile(wheels[0]) as archive:
        names = archive.namelist()
        assert "emhnet_lite/classroom/sealing.py" in names
        assert not [n for n in names if n.endswith(".ipynb") or n.startswith("notebooks/")]
        packaged = "".join(archive.read(n).decode("utf-8", "replace") for n in names if n.endswith(".py"))
    assert not any(region in packaged for region in regions)
    site = tmp_path / "site"  # the wheel installs, and the installed kit has the classroom (no notebooks)
    done = subprocess.run([sys.executable, "-m", "pip", "install", "--no-deps", "--no-index", "-q", "--target",
                           str(site), str(wheels[0])], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    probe = subprocess.run([sys.executable, "-c", "import emhnet_lite.classroom as c; print(c.__file__)"],
                           capture_output=True, text=True, env={**os.environ, "PYTHONPATH": str(site)}, cwd=tmp_path)
    assert probe.stdout.strip().startswith(str(site)), probe.stdout + probe.stderr
    assert not list(site.rglob("*.ipynb"))
    files = [p for p in out.rglob("*") if p.is_file()]
    solutions = {p.read_bytes() for p in chapter_notebooks(NOTEBOOK_DIR)
                 if classroom.has_exercises(nbformat.read(p, as_version=4))}
    assert not [p for p in files if p.suffix == ".ipynb" and p.read_bytes() in solutions]

    capsys.readouterr()
    assert main(["student", "--export", str(out)]) == 2  # never overwrites a folder that is not empty
    assert "must be new or empty" in capsys.readouterr().err
    assert main(["student", "--export", str(tmp_path / "other"), "--data", str(tmp_path / "nope")]) == 2
    assert "--data" in capsys.readouterr().err and not (tmp_path / "other").exists()
