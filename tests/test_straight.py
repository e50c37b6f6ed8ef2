"""straight.py: tracing array code into straight-line Python."""

import numpy as np
import pytest

from backprop_xl import straight


def traced(function, *names):
    tape = straight.Tape()
    results = function(*(tape.number(name) for name in names))
    namespace: dict = {}
    exec(tape.source("f", names, results), namespace)
    return tape, namespace["f"]


def test_the_traced_function_computes_what_the_original_does():
    def original(x, y):
        total = 0.0
        for weight in (np.float64(0.5), 2, -1.25):  # numpy's and Python's numbers as constants
            total += weight * x - y / 3
        return total, 1 - total, x  # an input returned as it is

    tape, f = traced(original, "x", "y")
    assert f(0.3, -7.0) == original(0.3, -7.0)
    assert "np." not in "\n".join(tape.statements)


def test_an_expression_met_twice_is_computed_once():
    tape, f = traced(lambda x: ((x * 2) + (x * 2), x * 2.0), "x")
    assert len(tape.statements) == 3  # x * 2, its sum, and x * 2.0, which is another constant
    assert f(1.5) == (6.0, 3.0)


def test_recorded_calls_and_non_finite_constants():
    tape = straight.Tape()
    g = tape.call("g")
    results = (g(tape.number("x"), float("inf")), g(tape.number("x"), float("inf")))
    namespace = {"g": lambda x, c: x - c}
    exec(tape.source("f", ["x"], results), namespace)
    assert len(tape.statements) == 1 and namespace["f"](1.0) == (-np.inf, -np.inf)


def test_a_branch_on_a_traced_number_is_refused():
    """Straight-line code has one path: what depends on a traced number (min, max, a branch)
    must be a recorded call."""
    with pytest.raises(TypeError, match="cannot branch"):
        traced(lambda x: x if x else 0.0, "x")
    with pytest.raises(TypeError):
        traced(lambda x: max(x, 0.0), "x")
