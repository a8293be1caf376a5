"""Checks that cannot be gamed: run a student's answer with the package's reference implementation sealed.

A check cell computes the student's answer inside ``with without_reference(partition_blocks): ...``; while the
block runs, every function named there (and every method of a class named there) raises
:class:`ReferenceUnavailableError`, however the answer reaches it: the imported name, an alias, a module
attribute, a default argument or another package function that calls it. The seal swaps the function's
``__code__`` in place (the function object stays the same, so every reference to it is covered) and restores
it on exit, also when the answer raises. Run the answer first and the reference after the block, so that an
answer cannot replay a result the reference computed a moment earlier.
"""

from __future__ import annotations

import functools
import inspect
import types
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

MESSAGE = "the reference implementation is not available inside a check"
SEAL_NAME = "without_reference"  # what `emhnet student --verify` looks for in every check cell
INDEPENDENT_TAG = "independent"  # tag of a check cell that compares with no package function


class ReferenceUnavailableError(RuntimeError):
    """Raised by a sealed reference: the answer under check called the package's own implementation."""


@functools.cache
def _stub_code(free_vars: int) -> types.CodeType:
    """Code of ``(*args, **kwargs) -> raise`` with ``free_vars`` closure cells (a code swap must keep the count)."""
    names = [f"_cell{i}" for i in range(free_vars)]
    lines = ["def _outer():"]
    lines += [f"    {name} = None" for name in names]
    lines += ["    def _sealed(*args, **kwargs):"]
    if names:
        lines += ["        " + ", ".join(names)]  # touch the cells so that they are free variables
    # the stub runs with the sealed function's globals: reach the error class through the import system
    lines += [f"        raise __import__({__name__!r}, fromlist=['_']).ReferenceUnavailableError({MESSAGE!r})",
              "    return _sealed"]
    namespace: dict[str, Any] = {}
    exec("\n".join(lines), namespace)  # noqa: S102 - a fixed template, no outside input
    return namespace["_outer"]().__code__


def _functions_of(reference: object) -> list[types.FunctionType]:
    """The Python functions to seal for one reference: the function (and what it wraps) or a class's methods."""
    if isinstance(reference, types.MethodType):
        reference = reference.__func__
    if isinstance(reference, types.FunctionType):
        found = [reference]
        wrapped = getattr(reference, "__wrapped__", None)  # functools.wraps decorators: seal the inner one too
        return found + (_functions_of(wrapped) if isinstance(wrapped, types.FunctionType | types.MethodType)
                        else [])
    if inspect.isclass(reference):
        found = []
        for value in vars(reference).values():
            if isinstance(value, staticmethod | classmethod):
                value = value.__func__
            elif isinstance(value, property):
                value = value.fget
            if isinstance(value, types.FunctionType):
                found += _functions_of(value)
        if not found:
            raise TypeError(f"{reference.__qualname__} defines no Python method to seal")
        return found
    raise TypeError(f"cannot seal {reference!r}: pass a Python function or a class of the package")


@contextmanager
def without_reference(*references: Callable[..., Any]) -> Iterator[None]:
    """Inside the block every given function (or class's methods) raises ``ReferenceUnavailableError``.

    Nested seals of the same function are allowed; the outermost one restores it.
    """
    if not references:
        raise TypeError("without_reference() needs at least one function or class to seal")
    saved: dict[int, tuple[types.FunctionType, types.CodeType]] = {}
    for reference in references:
        for function in _functions_of(reference):
            if id(function) not in saved and function.__code__.co_name != "_sealed":
                saved[id(function)] = (function, function.__code__)
    try:
        for function, code in saved.values():
            stub = _stub_code(len(code.co_freevars))
            function.__code__ = stub.replace(co_name="_sealed", co_qualname=f"sealed {function.__qualname__}")
        yield
    finally:
        for function, code in saved.values():
            function.__code__ = code


def call_without_reference(answer: Callable[..., Any], references: tuple[Callable[..., Any], ...],
                           *args: Any, **kwargs: Any) -> Any:
    """``answer(*args, **kwargs)`` with ``references`` sealed (the one-line form of :func:`without_reference`)."""
    with without_reference(*references):
        return answer(*args, **kwargs)
