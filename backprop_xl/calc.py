"""The BP_ functions as LibreOffice Calc calls them: its argument values in, udfs.py's functions
called, their results out as the matrices Calc fills cells from.

This module runs inside LibreOffice (the add-in's component imports it), so it imports no UNO: it
only adapts values. What LibreOffice passes to an add-in argument declared `any` (measured on
LibreOffice 7.4):

    a number, or a reference to one cell holding one    float (an empty cell reads as 0.0)
    text, or a reference to a cell holding text         str
    TRUE() or FALSE()                                   1.0 or 0.0: Calc's logical values are numbers
    a range of cells                                    a tuple of rows, each a tuple of its cells,
                                                        an empty cell as ""
    an argument left out                                None

udfs.py already reads all of these but the logical values: an argument that takes TRUE or FALSE
(Argument.is_flag) reads 1 as TRUE and 0 as FALSE. Every result goes back as rows of cells, one
number or text a cell (a single value as one row of one cell, which a plain formula shows); the
overflow marker becomes infinity, which Calc shows as #NUM! (Err:503), as Excel shows the marker.
"""

from __future__ import annotations

import math

from . import udfs
from .names import OVERFLOW

LOGICAL = {1.0: True, 0.0: False}


def call(name: str, arguments: tuple) -> tuple[tuple, ...]:
    """udfs.FUNCTIONS[name] called with LibreOffice's argument values, as Calc's matrix."""
    function = udfs.FUNCTIONS[name]
    values = [_argument(value, argument) for value, argument in zip(arguments, function.arguments)]
    return _matrix(function.call(*values))


def _argument(value, argument: udfs.Argument):
    if argument.is_flag and isinstance(value, float) and value in LOGICAL:
        return LOGICAL[value]
    return value


def _matrix(result) -> tuple[tuple, ...]:
    rows = result if isinstance(result, list) else [[result]]
    return tuple(tuple(_cell(value) for value in row) for row in rows)


def _cell(value):
    if value is None:
        return ""
    if isinstance(value, str):
        return math.inf if value == OVERFLOW else value
    return float(value)
