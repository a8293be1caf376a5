"""The repository stands alone: a bare clone runs the reference tests with nothing beside it, none skipped."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
REFERENCE_TESTS = ("tests/test_metrics_pooled.py", "tests/test_data_readers.py")


def test_bare_clone_runs_reference_tests_without_skips(tmp_path: Path) -> None:
    """Clone HEAD into an empty folder (no peer folder beside it) and run the tests that read reference data."""
    if shutil.which("git") is None or not (ROOT / ".git").exists():
        pytest.fail(f"{ROOT} is not a git checkout with git available: the clone check cannot run")
    clone = tmp_path / "alone" / "emhnet-lite"
    subprocess.run(["git", "clone", "--quiet", "--no-hardlinks", str(ROOT), str(clone)], check=True)
    env = {**os.environ, "PYTHONPATH": str(clone), "OMP_NUM_THREADS": "1"}
    where = subprocess.run([sys.executable, "-c", "import emhnet_lite; print(emhnet_lite.__file__)"],
                           cwd=clone, env=env, capture_output=True, text=True, check=True).stdout.strip()
    assert Path(where).resolve().is_relative_to(clone.resolve()), where  # the clone's code, not this checkout's
    result = subprocess.run([sys.executable, "-m", "pytest", "-q", "-rs", "-p", "no:cacheprovider",
                             *REFERENCE_TESTS], cwd=clone, env=env, capture_output=True, text=True)
    summary = result.stdout.strip().splitlines()[-1] if result.stdout.strip() else result.stderr
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-2000:]
    assert "skipped" not in summary and " passed" in summary, summary
