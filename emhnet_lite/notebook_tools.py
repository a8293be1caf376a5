"""Run the chapter notebooks with papermill: the main job (all chapters) and in-place refreshes.

Notebooks are committed with the outputs of their default run; ``refresh`` re-executes them in place at
their default parameters and strips papermill's volatile metadata so nbval has stable references.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from emhnet_lite.errors import PathError

if TYPE_CHECKING:  # nbformat costs ~1 s to import; the CLI imports this module to build --help
    import nbformat

REPO_ROOT = Path(__file__).resolve().parent.parent
NOTEBOOK_DIR = REPO_ROOT / "notebooks"
KERNEL_NAME = "python3"


def chapter_notebooks(directory: str | os.PathLike = NOTEBOOK_DIR) -> list[Path]:
    """The numbered chapters (``NN_name.ipynb``) in order; student copies and checkpoints excluded."""
    return sorted(p for p in Path(directory).glob("[0-9][0-9]_*.ipynb") if p.is_file())


def strip_volatile_metadata(nb: nbformat.NotebookNode) -> nbformat.NotebookNode:
    """Remove papermill timing/status metadata and per-cell execution timestamps (kept out of git)."""
    nb.metadata.pop("papermill", None)
    nb.metadata["kernelspec"] = {"display_name": "Python 3", "language": "python", "name": KERNEL_NAME}
    for cell in nb.cells:
        cell.metadata.pop("papermill", None)
        cell.metadata.pop("execution", None)
        if cell.get("cell_type") == "code":
            cell.metadata.pop("ExecuteTime", None)
    return nb


def execute_notebook(
    source: str | os.PathLike,
    output: str | os.PathLike,
    parameters: dict[str, Any] | None = None,
    *,
    cwd: str | os.PathLike | None = None,
    strip: bool = True,
) -> Path:
    """Execute ``source`` with papermill (kernel ``python3``) into ``output`` and strip volatile metadata.

    The working directory is the notebook's own folder unless ``cwd`` is given, so relative defaults such
    as ``../data`` and ``../figures`` resolve the same way in JupyterLab, papermill and nbval.
    """
    import papermill as pm

    source, output = Path(source).resolve(), Path(output).resolve()
    output.parent.mkdir(parents=True, exist_ok=True)
    env_before = os.environ.get("EMHNET_BATCH")
    os.environ["EMHNET_BATCH"] = "1"  # the kernel inherits it: plain progress bars on stderr, no widgets
    try:
        pm.execute_notebook(
            str(source),
            str(output),
            parameters=parameters or {},
            kernel_name=KERNEL_NAME,
            cwd=str(cwd or source.parent),
            progress_bar=False,
            log_output=False,
        )
    finally:
        if env_before is None:
            os.environ.pop("EMHNET_BATCH", None)
        else:
            os.environ["EMHNET_BATCH"] = env_before
    if strip:
        import nbformat

        nb = nbformat.read(output, as_version=4)
        nbformat.write(strip_volatile_metadata(nb), output)
    return output


RUN_TIME_PREFIX = "**Run time:**"


def run_time_line(seconds: float, cores: int | None = None) -> str:
    """The header's run-time line: wall clock of the last refresh, rounded for reading."""
    cores = cores or os.cpu_count() or 1
    shown = f"about {max(5, round(seconds / 5) * 5)} s" if seconds < 90 else f"about {seconds / 60:.1f} min"
    return (f"{RUN_TIME_PREFIX} {shown} on a {cores}-core CPU at the default parameters (measured by the last "
            "`emhnet notebooks refresh`; a first run that must generate SynthME takes longer).")


def stamp_run_time(nb: nbformat.NotebookNode, seconds: float, cores: int | None = None) -> bool:
    """Replace the ``**Run time:**`` line of the first (header) cell, if it has one; True when stamped."""
    if not nb.cells or nb.cells[0].get("cell_type") != "markdown":
        return False
    lines = nb.cells[0].source.split("\n")
    hits = [i for i, line in enumerate(lines) if line.startswith(RUN_TIME_PREFIX)]
    for i in hits:
        lines[i] = run_time_line(seconds, cores)
    nb.cells[0].source = "\n".join(lines)
    return bool(hits)


def refresh(paths: Iterable[str | os.PathLike] | None = None) -> list[Path]:
    """Re-execute notebooks in place at their defaults (all chapters when ``paths`` is empty); the measured
    wall clock goes into each header's ``**Run time:**`` line. Progress bars are off while refreshing, so the
    committed outputs hold no bar residue (a bar caught mid-way reads as if training never finished)."""
    import nbformat

    targets = [Path(p) for p in paths] if paths else chapter_notebooks()
    done = []
    for path in targets:
        started = time.perf_counter()
        progress_before = os.environ.get("EMHNET_PROGRESS")
        os.environ["EMHNET_PROGRESS"] = "0"  # the kernel inherits it: emhnet_lite.progress draws nothing
        try:
            execute_notebook(path, path)
        finally:
            if progress_before is None:
                os.environ.pop("EMHNET_PROGRESS", None)
            else:
                os.environ["EMHNET_PROGRESS"] = progress_before
        seconds = time.perf_counter() - started
        nb = nbformat.read(path, as_version=4)
        if stamp_run_time(nb, seconds):
            nbformat.write(nb, path)
        print(f"refreshed {path} in {seconds:.1f} s", flush=True)
        done.append(path)
    return done


def run_all(out_dir: str | os.PathLike, parameters: dict[str, Any] | None = None,
            notebooks: Sequence[str | os.PathLike] | None = None) -> list[Path]:
    """The main job: execute every chapter (or ``notebooks``) at defaults into ``out_dir``."""
    out_dir = Path(out_dir)
    targets = [Path(p) for p in notebooks] if notebooks else chapter_notebooks()
    if not targets:
        raise PathError(f"no chapter notebooks (NN_*.ipynb) found in {NOTEBOOK_DIR}")
    written = []
    for path in targets:
        started = time.perf_counter()
        out = execute_notebook(path, out_dir / path.name, parameters, cwd=path.resolve().parent)
        print(f"ran {path.name} -> {out} in {time.perf_counter() - started:.1f} s", flush=True)
        written.append(out)
    return written
