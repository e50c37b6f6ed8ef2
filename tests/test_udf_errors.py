"""Every xlwings function (backprop_xl/udfs.py), every argument, every kind of bad value: a wrong
type, an empty cell or range, a range of the wrong size, an unknown name, NaN and infinity. Each
comes back to the cell as one line "#backprop_xl: <argument>: <what is wrong>", or, where the
value legitimately means something (an empty optional argument is its default), as the result
that meaning gives. Nothing raises. Numbers that overflow in the engine come back as #NUM!.

The functions are found by name (helpers.UDF_NAMES, which test_udfs holds equal to what xlwings
registers), and every argument must have a kind in helpers.py, so a new function or argument cannot be
left out."""

import inspect
import math
import re

import pytest

from backprop_xl import engine, udfs
from backprop_xl.workbook import OVERFLOW
from helpers import (BAD_VALUES, DEFAULT, ERROR, NO_BIASES, UDF_NAMES, VALID, OrDefault, cases,
                     cells, kind, parameters)

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
            assert kind(name, argument) in BAD_VALUES, (name, argument)


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
