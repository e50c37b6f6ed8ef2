"""Every xlwings function (backprop_xl/udfs.py), every argument, every kind of bad value: a wrong
type, an empty cell or range, a range of the wrong size, an unknown name, NaN and infinity. Each
comes back to the cell as one line "#backprop_xl: <argument>: <what is wrong>", or, where the
value legitimately means something (an empty optional argument is its default), as the result
that meaning gives. Nothing raises. Numbers that overflow in the engine come back as #NUM!.

The functions are found by name (test_udfs.UDF_NAMES, which test_udfs holds equal to what xlwings
registers), and every argument must have a kind below, so a new function or argument cannot be
left out."""

import inspect
import math
import re

import numpy as np
import pytest

from backprop_xl import engine, udfs
from backprop_xl.workbook import OVERFLOW
from test_udfs import ERROR, UDF_NAMES

nan, inf = float("nan"), float("inf")


def cells(*rows):
    """A range as xlwings' numpy converter passes it: a 2-D float array."""
    return np.array(rows, dtype=float)


# A 2-2-1 network with biases and two samples: every optional argument set to something other
# than its default, so that "the default" is told apart from "the value given".
NETWORK = dict(layers=cells([2, 2, 1]), weights=cells([0.1, -0.2, 0.3, 0.4, -0.5, 0.6]),
               biases=cells([0.1, 0.2, -0.1]), inputs=cells([0.5, -1.0], [1.0, 0.3]),
               targets=cells([0.3], [0.8]), activation=np.array([["tanh", "sigmoid"]]),
               loss="half_squared_error", update_biases=False)
VALID = {
    "BP_ACTIVATE": dict(z=cells([0.5, -1.0]), activation="leaky_relu", leaky_slope=0.05),
    "BP_DERIVATIVE": dict(z=cells([0.5, -1.0]), activation="leaky_relu", leaky_slope=0.05),
    "BP_LOSS": dict(a=cells([0.7, 0.2]), y=cells([0.5, 0.1]), loss="half_squared_error"),
    "BP_STEP": dict(x=1.5, weight=0.8, target=0.5, learning_rate=0.1, activation="tanh",
                    loss="half_squared_error"),
    "BP_TRAIN": dict(x=1.5, weight=0.8, target=0.5, learning_rate=0.1, steps=3,
                     activation="tanh", loss="half_squared_error", columns="all"),
    "BP_TRAIN_NETWORK": dict(NETWORK, learning_rate=0.5, steps=3, mode="stochastic",
                             columns="all"),
    "BP_GRADCHECK": dict(NETWORK, h=1e-4),
}

# What a value other than the one given means. A pattern (re.match against the message after
# ERROR_PREFIX, "{arg}" the argument's name) is an error; DEFAULT is the argument's own default,
# and OrDefault(pattern) is the default for an optional argument, an error for a required one.
DEFAULT = "the argument's default"
NO_BIASES = "a network without biases"


class OrDefault(str):
    pass


def last_cell(value):
    """The valid range of the argument with its last cell replaced."""
    return lambda valid: np.concatenate([valid.ravel()[:-1], [value]]).reshape(valid.shape)


SEVERAL_CELLS = np.full((2, 2), nan)
NOT_ONE_CELL = [("an empty range", np.empty((0, 0)), "{arg}: must be a single cell, got an empty range$"),
                ("a range of empty cells", SEVERAL_CELLS,
                 "{arg}: must be a single cell, got a range of 4 cells$")]
NUMBER = [
    ("text", "abc", "{arg}: must be a number, got 'abc'$"),
    ("TRUE", True, "{arg}: must be a number, got TRUE$"),
    ("an empty cell", None, OrDefault("{arg}: must be a number, got an empty cell$")),
    ("blank text", " ", OrDefault("{arg}: must be a number, got an empty cell$")),
    ("NaN", nan, OrDefault("{arg}: must be a number, got an empty cell$")),
    ("inf", inf, "{arg}: must be a finite number, got inf$"),
    ("-inf", -inf, "{arg}: must be a finite number, got -inf$"),
    *NOT_ONE_CELL,
]
NAME = [
    ("an unknown name", "nonsense", r"unknown {arg} 'nonsense' \(known: "),
    ("a number", 3.0, r"unknown {arg} 3.0 \(known: "),
    ("TRUE", True, r"unknown {arg} TRUE \(known: "),
    ("inf", inf, r"unknown {arg} inf \(known: "),
]
RANGE = [
    ("text", "abc", "{arg}: the cell holds 'abc', not a number$"),
    ("TRUE", True, "{arg}: the cell holds TRUE, not a number$"),
    ("a text range", np.array([["1.5", "x"]]), "{arg}: cell 2 of the row holds 'x', not a number$"),
    ("inf", inf, "{arg}: the cell is inf; every cell must hold a finite number$"),
    ("inf among numbers", last_cell(inf), "{arg}: .* is inf; every cell must hold a finite number$"),
    ("an empty cell among numbers", last_cell(nan),
     "{arg}: .* is empty; every cell must hold a finite number$"),
]
RANGE_EMPTY = [
    ("an empty cell", None, "{arg}: is empty$"),
    ("blank text", "", "{arg}: is empty$"),
    ("an empty range", np.empty((0, 0)), "{arg}: is empty$"),
    ("NaN", nan, "{arg}: the cell is empty; every cell must hold a number$"),
    ("a range of empty cells", SEVERAL_CELLS,
     "{arg}: the cell in row 1, column 1 of the range is empty; every cell must hold a finite "
     "number$"),
]
KINDS = {
    "number": NUMBER,
    "whole": NUMBER + [
        ("a fraction", 2.5, "{arg}: must be a whole number, got 2.5$"),
        ("zero", 0.0, "{arg}: must be at least 1, got 0$"),
        ("more than a sheet holds", 2e6,
         "{arg}: at most 1,048,575 steps fit under Excel's 1,048,576 rows, got 2,000,000$")],
    "name": NAME + [
        ("an empty cell", None, OrDefault(r"{arg}: is missing \(known: ")),
        ("NaN", nan, OrDefault(r"{arg}: is missing \(known: ")), *NOT_ONE_CELL],
    # The activation of a network: one name for every layer or a range of one name per layer;
    # empty cells are not names, so an empty range is the default.
    "names": NAME + [
        ("an empty cell", None, DEFAULT), ("NaN", nan, DEFAULT),
        ("an empty range", np.empty((0, 0)), DEFAULT), ("a range of empty cells", SEVERAL_CELLS,
                                                        DEFAULT),
        ("an unknown name among names", np.array([["tanh", "sigmod"]], dtype=object),
         r"unknown activation 'sigmod' \(known: "),
        ("a name too many", np.array([["tanh", "sigmoid", "relu"]]),
         "activation: give one name for all layers or one per layer, 2, got 3$")],
    "flag": [
        ("text", "no", "{arg}: must be TRUE or FALSE, got 'no'$"),
        ("a number", 1.0, "{arg}: must be TRUE or FALSE, got 1.0$"),
        ("inf", inf, "{arg}: must be TRUE or FALSE, got inf$"),
        ("an empty cell", None, DEFAULT), ("NaN", nan, DEFAULT), *NOT_ONE_CELL],
    "range": RANGE + RANGE_EMPTY,
    "biases": RANGE + [(label, value, NO_BIASES) for label, value, _ in RANGE_EMPTY],
}
ARGUMENT_KINDS = {
    **dict.fromkeys(("x", "weight", "target", "learning_rate", "leaky_slope", "h"), "number"),
    "steps": "whole",
    **dict.fromkeys(("activation", "loss", "mode", "columns"), "name"),
    "update_biases": "flag",
    **dict.fromkeys(("z", "a", "y", "layers", "weights", "inputs", "targets"), "range"),
    "biases": "biases",
}
# Values out of range for one argument in particular, and ranges of the wrong size for the others.
SPECIFIC = {
    "learning_rate": [("zero", 0.0, "{arg}: must be greater than 0, got 0.0$"),
                      ("negative", -0.1, "{arg}: must be greater than 0, got -0.1$")],
    "h": [("zero", 0.0, "{arg}: must be greater than 0, got 0.0$")],
    "layers": [
        ("one width", cells([2]), "layers: must list at least two widths: inputs, then each layer$"),
        ("a width of 0", cells([2, 0, 1]), "layers: every width must be at least 1, got 2, 0, 1$"),
        ("a fractional width", cells([2, 1.5, 1]), "layers: must be a whole number, got 1.5$"),
        ("another network", cells([2, 2, 2]),
         r"weights: layers 2, 2, 2 take 8 weights \(2·2 \+ 2·2\), got 6$")],
    "weights": [("a weight too many", cells([0.1] * 7),
                 r"weights: layers 2, 2, 1 take 6 weights \(2·2 \+ 1·2\), got 7$")],
    "biases": [("a bias too few", cells([0.1, 0.2]),
                "biases: layers 2, 2, 1 take 3 biases, one per neuron, got 2$")],
    "inputs": [("an input too few", cells([0.5], [1.0]), r"inputs: row 1 must have 2 entries .*, got 1$")],
    "targets": [("a sample too many", cells([0.3], [0.8], [0.1]),
                 r"targets: must have 2 row\(s\) .*, got 3$")],
    "a": [("another shape", cells([0.7], [0.2]),
           r"y: must have the shape of a \(2 rows × 1 column\), got 1 row × 2 columns$")],
    "y": [("another shape", cells([0.5, 0.1, 0.2]),
           r"y: must have the shape of a \(1 row × 2 columns\), got 1 row × 3 columns$")],
}


def parameters(name):
    return inspect.signature(getattr(udfs, name)).parameters


def kind(name, argument):
    if argument == "activation" and "layers" in parameters(name):
        return "names"
    return ARGUMENT_KINDS[argument]


def cases():
    for name in UDF_NAMES:
        for argument in parameters(name):
            for label, value, expected in KINDS[kind(name, argument)] + SPECIFIC.get(argument, []):
                yield pytest.param(name, argument, value, expected, id=f"{name}-{argument}-{label}")


def call(name, **changes):
    """The function with its valid arguments, `changes` replacing some; a change to None
    leaves the argument out."""
    arguments = {**VALID[name], **changes}
    return getattr(udfs, name)(**{key: value for key, value in arguments.items()
                                  if not (key in changes and changes[key] is None)})


def is_error(result):
    return isinstance(result, str) and result.startswith(ERROR)


def test_every_function_and_argument_is_covered():
    assert sorted(VALID) == UDF_NAMES
    for name in UDF_NAMES:
        assert set(VALID[name]) <= set(parameters(name)), name
        for argument in parameters(name):
            assert kind(name, argument) in KINDS, (name, argument)


@pytest.mark.parametrize("name", UDF_NAMES)
def test_the_valid_calls_compute(name):
    result = call(name)
    assert not is_error(result), result


@pytest.mark.parametrize("name, argument, value, expected", list(cases()))
def test_a_bad_argument_comes_back_as_one_line_naming_it(name, argument, value, expected):
    if callable(value):
        value = value(VALID[name][argument])
    result = getattr(udfs, name)(**{**VALID[name], argument: value})
    if isinstance(expected, OrDefault) and parameters(name)[argument].default is not inspect._empty:
        expected = DEFAULT
    if expected == DEFAULT:
        assert parameters(name)[argument].default is not inspect._empty
        assert not is_error(result), result
        assert result == call(name, **{argument: None})
    elif expected == NO_BIASES:
        assert not is_error(result), result
        assert result == call(name, biases="") != call(name)
    else:
        assert is_error(result), result
        assert len(result.splitlines()) == 1, result
        message = result[len(ERROR):]
        assert re.match(expected.format(arg=argument), message), message


# --- numbers too large for the engine ---------------------------------------------------------


def flat(result):
    return [value for row in result for value in row] if isinstance(result, list) else [result]


@pytest.mark.parametrize("name, changes", [
    ("BP_LOSS", dict(a=cells([1e308, 0.2]), y=cells([-1e308, 0.1]))),
    ("BP_STEP", dict(target=1e308)),
    ("BP_TRAIN", dict(target=1e308)),
    ("BP_TRAIN_NETWORK", dict(learning_rate=1e308, activation="linear", loss="squared_error")),
    ("BP_GRADCHECK", dict(targets=cells([1e308], [0.8]), activation="linear")),
])
def test_a_number_that_overflows_shows_as_num(name, changes):
    values = flat(call(name, **changes))
    assert OVERFLOW in values
    assert all(isinstance(value, str) or math.isfinite(value) for value in values)


def test_the_cells_that_do_not_overflow_keep_the_engines_numbers(seed):
    row = udfs.BP_STEP(1.5, 0.8, 1e308, 0.1)[0]
    record = next(engine.run(seed.with_overrides(targets=[[1e308]], steps=1))).record()
    expected = [record[name] if math.isfinite(record[name]) else OVERFLOW
                for name, _ in udfs.STEP_ROW]
    assert row == expected and row[:2] == [record["z1_1"], record["a1_1"]]
