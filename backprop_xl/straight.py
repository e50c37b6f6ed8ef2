"""Straight-line Python from array code: run a function once on numbers that record what is done
to them, and get back the source of a function that does just that, one statement an operation,
with no loops, indexing or dispatch left.

kernels.py uses it to specialise its step (the same functions numba compiles) to one network:
CPython then runs a step several times faster than it runs the loops. Every operation is pure, so
an expression met twice (a layer that a finite difference's probe leaves unchanged, say) is
computed once; results are bit for bit those of the loops, in the same order of operations.
"""

from __future__ import annotations

import math
import operator
import types
from typing import Callable, Iterable


class Tape:
    """The statements recorded so far, each a name bound to one operation."""

    def __init__(self):
        self.statements: list[str] = []
        self.known: dict[str, Traced] = {}  # expression -> the name it was bound to

    def record(self, expression: str) -> "Traced":
        if expression not in self.known:
            name = f"t{len(self.statements)}"
            self.statements.append(f"{name} = {expression}")
            self.known[expression] = Traced(self, name)
        return self.known[expression]

    def number(self, name: str) -> "Traced":
        """A named input of the function being traced."""
        return Traced(self, name)

    def call(self, function: str) -> Callable[..., "Traced"]:
        """A stand-in for the function of that name: records each call instead of making it."""
        return lambda *arguments: self.record(f"{function}({', '.join(map(_text, arguments))})")

    def source(self, name: str, parameters: Iterable[str], results: Iterable) -> str:
        """A function `name` of the parameters that runs the statements and returns the results
        (traced numbers, constants, or tuples of them) as a tuple."""
        body = "".join(f"    {statement}\n" for statement in self.statements)
        return f"def {name}({', '.join(parameters)}):\n{body}    return {_text(tuple(results))}\n"


def _text(value) -> str:
    """How the source writes a traced number, a constant (numpy's own numbers included, whose
    repr is not Python) or a tuple of them."""
    if isinstance(value, Traced):
        return value.name
    if isinstance(value, tuple):
        return f"({''.join(_text(item) + ', ' for item in value)})"
    if isinstance(value, float):
        return repr(float(value)) if math.isfinite(value) else f"float('{float(value)!r}')"
    return repr(operator.index(value))


class Traced:
    """A number of the traced function: arithmetic on it is recorded on its tape."""

    __slots__ = ("tape", "name")

    def __init__(self, tape: Tape, name: str):
        self.tape, self.name = tape, name

    def _apply(self, operator: str, left, right) -> "Traced":
        return self.tape.record(f"{_text(left)} {operator} {_text(right)}")

    def __add__(self, other): return self._apply("+", self, other)
    def __radd__(self, other): return self._apply("+", other, self)
    def __sub__(self, other): return self._apply("-", self, other)
    def __rsub__(self, other): return self._apply("-", other, self)
    def __mul__(self, other): return self._apply("*", self, other)
    def __rmul__(self, other): return self._apply("*", other, self)
    def __truediv__(self, other): return self._apply("/", self, other)
    def __rtruediv__(self, other): return self._apply("/", other, self)

    def __bool__(self):
        raise TypeError("a traced number has no truth value: straight-line code cannot branch")


def rebind(modules: Iterable[types.ModuleType], replace: dict) -> dict:
    """The functions of the modules, each looking up the names it uses in one new namespace: the
    modules' own names, then `replace` over them. So a call from one of these functions to
    another, or to a name in `replace`, goes where the namespace says."""
    namespace: dict = {}
    for module in modules:
        namespace.update(vars(module))
    for module in modules:
        for name, function in vars(module).items():
            if isinstance(function, types.FunctionType) and function.__module__ == module.__name__:
                namespace[name] = rebound(function, namespace)
    namespace.update(replace)
    return namespace


def rebound(function: types.FunctionType, namespace: dict) -> types.FunctionType:
    """The same code, closure and defaults, looking up its global names in `namespace`."""
    return types.FunctionType(function.__code__, namespace, function.__name__,
                              function.__defaults__, function.__closure__)
