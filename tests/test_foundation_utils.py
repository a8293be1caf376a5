"""Atomic writes, seeding, device choice, progress bars in batch runs, PreparedSet checks."""

from __future__ import annotations

import os

import numpy as np
import pandas as pd
import pytest
import torch

from emhnet_lite.dataset import PreparedSet
from emhnet_lite.progress import progress, progress_mode
from emhnet_lite.utils import atomic_path, config_hash, resolve_device, seed_everything, write_json_atomic


def test_atomic_write_keeps_old_file_when_the_writer_fails(tmp_path):
    target = tmp_path / "metrics.json"
    write_json_atomic(target, {"uf1": 0.5})
    with pytest.raises(RuntimeError):
        with atomic_path(target) as tmp:
            tmp.write_text('{"uf1": 0.9, "half')
            raise RuntimeError("killed mid-write")
    assert target.read_text().strip().startswith("{") and '"uf1": 0.5' in target.read_text()
    assert [p.name for p in tmp_path.iterdir()] == ["metrics.json"], "no temporary file is left behind"


def test_atomic_write_gives_the_umask_mode(tmp_path):
    target = write_json_atomic(tmp_path / "config.json", {"seed": 0})
    umask = os.umask(0)
    os.umask(umask)
    assert (target.stat().st_mode & 0o777) == (0o666 & ~umask)


def test_seed_everything_is_repeatable():
    seed_everything(7)
    first = (np.random.rand(3), torch.rand(3))
    seed_everything(7)
    second = (np.random.rand(3), torch.rand(3))
    assert np.array_equal(first[0], second[0]) and torch.equal(first[1], second[1])


def test_resolve_device_never_hard_codes_an_index():
    auto = resolve_device("auto")
    assert auto.type in ("cpu", "cuda") and auto.index is None
    assert resolve_device("cpu") == torch.device("cpu")


def test_config_hash_is_stable_and_sensitive():
    assert config_hash({"a": 1, "b": 2}) == config_hash({"b": 2, "a": 1})
    assert config_hash({"a": 1}) != config_hash({"a": 2})


def test_progress_modes(capsys, monkeypatch):
    monkeypatch.setenv("EMHNET_PROGRESS", "0")
    assert progress_mode() == "off"
    assert list(progress(range(3), desc="fold")) == [0, 1, 2]
    captured = capsys.readouterr()
    assert captured.err == "" and captured.out == ""
    monkeypatch.setenv("EMHNET_PROGRESS", "1")
    monkeypatch.setenv("EMHNET_BATCH", "1")
    assert progress_mode() == "plain"
    assert list(progress(range(3), desc="fold")) == [0, 1, 2]
    captured = capsys.readouterr()
    assert "fold" in captured.err and "3/3" in captured.err and captured.out == ""


def _toy_set(n: int = 4) -> PreparedSet:
    table = pd.DataFrame({"dataset": ["casme2", "casme2", "samm", "smic"][:n],
                          "subject": ["sub01", "sub02", "006", "s01"][:n], "clip": list("abcd")[:n]})
    return PreparedSet(table, torch.zeros(n, 3, 28, 28), torch.zeros(n, 4, 4), torch.arange(n) % 3)


def test_prepared_set_subjects_and_subset():
    data = _toy_set()
    assert data.subjects == ["casme2/sub01", "casme2/sub02", "samm/006", "smic/s01"]
    part = data.subset([True, False, True, False])
    assert len(part) == 2 and part.table["clip"].tolist() == ["a", "c"]
    assert torch.equal(part.labels, torch.tensor([0, 2]))


def test_prepared_set_rejects_misaligned_tensors():
    data = _toy_set()
    with pytest.raises(ValueError, match="table has 4 rows"):
        PreparedSet(data.table, data.flows[:3], data.boxes, data.labels)
    with pytest.raises(ValueError, match=r"\[N, 3, H, W\]"):
        PreparedSet(data.table, torch.zeros(4, 2, 28, 28), data.boxes, data.labels)



def test_progress_off_restores_the_setting(monkeypatch) -> None:
    from emhnet_lite.progress import progress_mode, progress_off

    monkeypatch.setenv("EMHNET_PROGRESS", "1")
    with progress_off():
        assert progress_mode() == "off"
    assert progress_mode() != "off"
    monkeypatch.delenv("EMHNET_PROGRESS")
    with progress_off():
        assert progress_mode() == "off"
    import os

    assert "EMHNET_PROGRESS" not in os.environ
