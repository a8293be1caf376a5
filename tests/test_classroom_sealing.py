"""Checks that cannot be gamed: the seal on the package's reference implementations, in Python and in a graded
notebook (an answer that calls the reference fails, a correct answer of one's own passes)."""

from __future__ import annotations

import functools
from pathlib import Path

import nbformat
import pytest
import torch
from einops import rearrange

import emhnet_lite.model.partition as partition_module
from emhnet_lite import classroom
from emhnet_lite.classroom import ReferenceUnavailableError, call_without_reference, without_reference
from emhnet_lite.model.hmoe import HMoEGate, load_balance_loss
from emhnet_lite.model.partition import partition_blocks


def own_blocks(x: torch.Tensor, block: int) -> torch.Tensor:
    """A student's own answer for sides divisible by ``block``."""
    return rearrange(x, "n c (gh bh) (gw bw) -> n (gh gw) (bh bw c)", bh=block, bw=block)


def test_every_route_to_a_sealed_function_raises_and_it_comes_back():
    x = torch.randn(2, 3, 14, 14)
    expected = partition_blocks(x, 7)
    alias = partition_blocks

    def by_default(x, block, f=partition_blocks):
        return f(x, block)

    def by_module(x, block):
        return partition_module.partition_blocks(x, block)

    def by_caller(x, block):  # a package function that calls the sealed one internally
        return partition_module.MultiScaleTokenizer((block,), dim=8)(x[:, None])

    with without_reference(partition_blocks):
        for gamed in (alias, by_default, by_module, by_caller):
            with pytest.raises(ReferenceUnavailableError, match="not available inside a check"):
                gamed(x, 7)
        assert torch.equal(own_blocks(x, 7), expected)
    assert torch.equal(partition_blocks(x, 7), expected)  # restored


def test_seal_restores_after_an_error_and_allows_nesting():
    with pytest.raises(ZeroDivisionError):
        with without_reference(load_balance_loss):
            with without_reference(load_balance_loss):
                pass
            with pytest.raises(ReferenceUnavailableError):
                load_balance_loss(torch.full((2, 4), 0.25))  # still sealed after the inner block
            raise ZeroDivisionError("the answer raised")
    assert abs(float(load_balance_loss(torch.full((2, 4), 0.25)))) < 1e-6


def test_classes_and_decorated_functions_are_sealed():
    gate = HMoEGate(num_regions=4, dim=8)

    def inner(a):
        return a + 1

    @functools.wraps(inner)
    def wrapped(a):
        return inner(a)

    with without_reference(HMoEGate, wrapped):
        with pytest.raises(ReferenceUnavailableError):
            HMoEGate(num_regions=4, dim=8)
        with pytest.raises(ReferenceUnavailableError):
            gate(torch.randn(4, 2, 3, 8), torch.randn(4, 2, 3), torch.randn(2, 8))
        with pytest.raises(ReferenceUnavailableError):
            inner(1)  # what a functools.wraps decorator wraps is sealed too
    assert wrapped(1) == 2 and isinstance(HMoEGate(num_regions=4, dim=8), HMoEGate)
    assert call_without_reference(own_blocks, (partition_blocks,), torch.zeros(1, 1, 4, 4), 2).shape == (1, 4, 4)


def test_only_python_functions_and_classes_can_be_sealed():
    with pytest.raises(TypeError, match="cannot seal"):
        with without_reference(torch.softmax):
            pass
    with pytest.raises(TypeError, match="at least one"):
        with without_reference():
            pass


SOLUTION_CELLS = [
    ("import torch\nfrom einops import rearrange\n"
     "from emhnet_lite.classroom import without_reference\n"
     "from emhnet_lite.model.hmoe import load_balance_loss\n"
     "from emhnet_lite.model.partition import partition_blocks", []),
    ("def my_blocks(x, block):\n    ### BEGIN SOLUTION\n"
     "    return rearrange(x, 'n c (gh bh) (gw bw) -> n (gh gw) (bh bw c)', bh=block, bw=block)\n"
     "    ### END SOLUTION", []),
    ("# CHECK: blocks\nx = torch.randn(2, 3, 14, 14)\nwith without_reference(partition_blocks):\n"
     "    mine = my_blocks(x, 7)\nassert torch.equal(mine, partition_blocks(x, 7))", ["check"]),
    ("def my_balance(weights):\n    ### BEGIN SOLUTION\n"
     "    return weights.shape[-1] * weights.mean(0).square().sum() - 1\n    ### END SOLUTION", []),
    ("# CHECK: balance\nw = torch.randn(6, 4).softmax(-1)\nwith without_reference(load_balance_loss):\n"
     "    mine = my_balance(w)\ntorch.testing.assert_close(mine, load_balance_loss(w))", ["check"]),
]


def test_graded_answer_calling_the_reference_fails_and_own_answer_passes(tmp_path: Path):
    solution = nbformat.v4.new_notebook()
    solution.metadata["kernelspec"] = {"display_name": "Python 3", "language": "python", "name": "python3"}
    solution.cells = [nbformat.v4.new_code_cell(src, metadata={"tags": tags} if tags else {})
                      for src, tags in SOLUTION_CELLS]
    for i, cell in enumerate(solution.cells):
        cell["id"] = f"c{i}"
    nbformat.write(solution, tmp_path / "chapter.ipynb")
    submission = classroom.make_student_notebook(solution, "chapter.ipynb")
    # cell 0 is the student setup cell: the exercises sit one cell later than in the solution
    submission.cells[2].source = submission.cells[2].source.replace(
        "raise NotImplementedError()", "return partition_blocks(x, block)  # gamed: the package's answer")
    submission.cells[4].source = submission.cells[4].source.replace(
        "raise NotImplementedError()", "usage = weights.mean(dim=0)\n    return len(usage) * (usage ** 2).sum() - 1")
    (tmp_path / "alice").mkdir()
    nbformat.write(submission, tmp_path / "alice" / "chapter.ipynb")
    results = classroom.grade(tmp_path / "alice" / "chapter.ipynb", tmp_path / "chapter.ipynb", cwd=tmp_path,
                              timeout=120)
    assert [(r.title, r.status, r.error) for r in results] == [
        ("blocks", "failed", "ReferenceUnavailableError"), ("balance", "passed", "")]


def test_verify_flags_a_check_that_neither_seals_nor_is_independent():
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(src, metadata={"tags": list(tags)} if tags else {})
                for src, tags in SOLUTION_CELLS]
    assert classroom.unsealed_checks(nb, "chapter") == []
    nb.cells[2].source = "# CHECK: blocks\nx = torch.randn(2, 3, 14, 14)\n" \
                         "assert torch.equal(my_blocks(x, 7), partition_blocks(x, 7))"
    assert classroom.unsealed_checks(nb, "chapter") == [
        "chapter cell 2: check 'blocks' runs the answer without `without_reference(...)` and is not tagged "
        "'independent' (docs/teachers.md)"]
    nb.cells[2].metadata["tags"].append("independent")
    assert classroom.unsealed_checks(nb, "chapter") == []


#: Chapter 05's exercises answered by calling the package's own implementation (what the seal must catch).
GAMED_05 = {"def my_hflip": "return hflip(flows, boxes)",
            "def my_class_weights": 'return class_weights(labels, "balanced")',
            "def my_confusion": "return torch.as_tensor(metrics.confusion_matrix(y_true, y_pred))"}


@pytest.mark.slow
def test_every_check_of_a_real_chapter_fails_when_the_answers_call_the_package(tmp_path: Path):
    from emhnet_lite.notebook_tools import NOTEBOOK_DIR

    solution = nbformat.read(NOTEBOOK_DIR / "05_training.ipynb", as_version=4)
    gamed = classroom.make_student_notebook(solution, "05_training.ipynb")
    replaced = 0
    for cell in gamed.cells:
        for signature, body in GAMED_05.items():
            if cell.cell_type == "code" and signature in cell.source:
                cell.source = cell.source.replace("raise NotImplementedError()", body)
                replaced += 1
    assert replaced == len(GAMED_05) == len(classroom.find_exercises(solution))
    report = classroom.execute_notebook_checks(gamed, NOTEBOOK_DIR, "gamed 05", timeout=600)
    assert [(r.status, r.error) for r in report.checks] == [("failed", "ReferenceUnavailableError")] * replaced


def test_every_committed_check_is_sealed_or_independent():
    from emhnet_lite.notebook_tools import NOTEBOOK_DIR, chapter_notebooks

    problems = [p for path in chapter_notebooks(NOTEBOOK_DIR)
                for p in classroom.unsealed_checks(nbformat.read(path, as_version=4), path.name)]
    assert problems == []
