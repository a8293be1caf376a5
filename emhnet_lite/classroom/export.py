"""The hand-out folder (``emhnet student --export DIR``): what students get, and never the solutions.

Layout: ``notebooks/`` (the student copy of every chapter with exercises, the other chapters as they are),
``figures/`` and ``results/`` (files the chapters read), ``data/`` (the SynthME teaching set and its prepared
cache, copied when present, otherwise left to the chapters, which generate it on first run), ``runs/`` (chapter
06's teaching run when present), ``package/`` (the kit as a wheel: the package only, no notebooks) and a
README. The chapters' relative paths (``../data``, ``../figures``, ``../runs``) resolve inside the folder.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

import nbformat

from emhnet_lite.classroom.exercises import has_exercises, notebook_text
from emhnet_lite.classroom.student import make_student_notebook
from emhnet_lite.errors import OutputExistsError
from emhnet_lite.notebook_tools import NOTEBOOK_DIR, REPO_ROOT, chapter_notebooks
from emhnet_lite.utils import write_text_atomic

#: Files of the repository the chapters read besides the package (copied when present).
SHARED_FOLDERS = ("figures", "results")
TEACHING_RUN = Path("runs") / "teaching_loso"

HANDOUT_README = """# emhnet-lite: student hand-out

The chapters are in `notebooks/`; chapters with exercises are student copies (write the code where it says
`raise NotImplementedError()`, then run the check cell below it). The kit is in `package/` as a wheel.

```bash
python3.11 -m venv .venv
.venv/bin/pip install package/*.whl
.venv/bin/jupyter lab notebooks/
```

`data/` holds the synthetic SynthME teaching set (when it was shipped; otherwise chapter 01 generates it on
first run, the same bytes for the same seed); `runs/` holds chapter 06's training run (chapter 06 creates it if
missing). Hand in your notebooks; your teacher grades them with the official check cells.
"""


class ExportError(RuntimeError):
    """The kit itself cannot produce a clean hand-out (a solution would leak, the wheel did not build): a bug."""


@dataclass
class ExportReport:
    """What went into the hand-out folder (relative paths), for the command's summary and the tests."""

    root: Path
    student_copies: list[str] = field(default_factory=list)
    chapters: list[str] = field(default_factory=list)
    copied: list[str] = field(default_factory=list)
    wheel: str = ""


def build_wheel(out_dir: Path, repo_root: Path = REPO_ROOT) -> Path:
    """Build the kit's wheel from a copy of the package sources (the checkout gets no build/ or egg-info)."""
    with tempfile.TemporaryDirectory(prefix="emhnet-wheel-") as tmp:
        src = Path(tmp) / "src"
        src.mkdir()
        for name in ("pyproject.toml", "README.md"):
            shutil.copy2(repo_root / name, src / name)
        shutil.copytree(repo_root / "emhnet_lite", src / "emhnet_lite",
                        ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
        done = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation",
                               "--disable-pip-version-check", "-q", "-w", str(out_dir), str(src)],
                              capture_output=True, text=True)
        if done.returncode != 0:
            raise ExportError(f"building the wheel failed:\n{done.stderr.strip()}")
    wheels = sorted(out_dir.glob("emhnet_lite-*.whl"))
    if len(wheels) != 1:
        raise ExportError(f"{out_dir}: expected one emhnet_lite wheel, found {[w.name for w in wheels]}")
    with zipfile.ZipFile(wheels[0]) as archive:
        leaked = [n for n in archive.namelist() if n.endswith(".ipynb")]
    if leaked:
        raise ExportError(f"{wheels[0].name} contains notebooks: {leaked}")
    return wheels[0]


def _copy_teaching_data(data_root: Path, target: Path) -> list[str]:
    """Copy the teaching-scale SynthME folder and its prepared cache (nothing else under ``data_root``)."""
    from emhnet_lite.synth import TEACHING_SCALE, synthme_dirname

    name = synthme_dirname(TEACHING_SCALE, 0)
    copied = []
    for part in (Path(name), Path("cache") / name):
        if (data_root / part).is_dir():
            shutil.copytree(data_root / part, target / part)
            copied.append(str(Path("data") / part))
    return copied


def export_handout(out_dir: str | os.PathLike, source_dir: str | os.PathLike = NOTEBOOK_DIR,
                   data_root: str | os.PathLike | None = None, repo_root: str | os.PathLike = REPO_ROOT,
                   wheel: bool = True) -> ExportReport:
    """Write the hand-out folder ``out_dir`` (must be absent or empty); see the module docstring."""
    out, source, repo = Path(out_dir), Path(source_dir), Path(repo_root)
    if out.exists() and any(out.iterdir()):
        raise OutputExistsError(f"--export {out}: the hand-out folder must be new or empty")
    report = ExportReport(out)
    for path in chapter_notebooks(source):
        nb = nbformat.read(path, as_version=4)
        if has_exercises(nb):
            nb = make_student_notebook(nb, path.name)
            report.student_copies.append(path.name)
        else:
            report.chapters.append(path.name)
        if has_exercises(nb):  # belt and braces: a solution region must never reach the hand-out
            raise ExportError(f"{path.name}: a solution region survived in the student copy")
        write_text_atomic(out / "notebooks" / path.name, notebook_text(nb))
    for folder in SHARED_FOLDERS:
        if (repo / folder).is_dir():
            shutil.copytree(repo / folder, out / folder, ignore=shutil.ignore_patterns(".*"))
            report.copied.append(folder)
    (out / "figures").mkdir(exist_ok=True)
    if data_root is not None:
        report.copied += _copy_teaching_data(Path(data_root), out / "data")
    if (repo / TEACHING_RUN / "metrics.csv").exists():
        shutil.copytree(repo / TEACHING_RUN, out / TEACHING_RUN)
        report.copied.append(str(TEACHING_RUN))
    if wheel:
        report.wheel = str(build_wheel(out / "package", repo).relative_to(out))
    write_text_atomic(out / "README.md", HANDOUT_README)
    return report
