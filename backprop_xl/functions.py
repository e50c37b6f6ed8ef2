"""Activations and losses: each defined once, its numpy form, its derivative and its Excel formulas
side by side, so the engine and the workbook compute the same thing.

An Excel formula here is a function of cell references (strings such as "C2" or a defined name)
that returns formula text without the leading "=".
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np


@dataclass(frozen=True)
class Activation:
    name: str
    symbol: str  # how a header writes a = f(z)
    derivative_symbol: str  # and da/dz
    words: str  # what it computes, for the notes area
    value: Callable[[np.ndarray], np.ndarray]  # a = f(z)
    derivative: Callable[[np.ndarray, np.ndarray], np.ndarray]  # da/dz given z and a
    excel_value: Callable[[str], str]
    excel_derivative: Callable[[str, str], str]  # given the cells of z and a


@dataclass(frozen=True)
class Loss:
    name: str
    symbol: str  # how a header writes C(a, y)
    derivative_symbol: str  # and dC/da
    words: str
    value: Callable[[np.ndarray, np.ndarray], np.ndarray]  # per output unit
    derivative: Callable[[np.ndarray, np.ndarray], np.ndarray]  # dC/da per output unit
    excel_value: Callable[[str, str], str]  # given the cells of a and y
    excel_derivative: Callable[[str, str], str]


# Sigmoid as exp(min(z, 0)) / (1 + exp(-|z|)): equal to 1 / (1 + exp(-z)) for both signs, but no
# exponent is ever positive, so neither numpy nor Excel's EXP (which overflows to #NUM! past about
# 709) can overflow however large |z| grows.
SIGMOID = Activation(
    name="sigmoid",
    symbol="σ(z)",
    derivative_symbol="a(1 − a)",
    words="the logistic sigmoid 1/(1+e^-z), written exp(min(z,0))/(1+exp(-|z|)) so that "
    "no exponent overflows for large |z|",
    value=lambda z: np.exp(np.minimum(z, 0.0)) / (1.0 + np.exp(-np.abs(z))),
    derivative=lambda z, a: a * (1.0 - a),
    excel_value=lambda z: f"EXP(MIN({z},0))/(1+EXP(-ABS({z})))",
    excel_derivative=lambda z, a: f"{a}*(1-{a})",
)

SQUARED_ERROR = Loss(
    name="squared_error",
    symbol="(a − y)²",
    derivative_symbol="2(a − y)",
    words="the squared error (a - y)^2",
    value=lambda a, y: (a - y) ** 2,
    derivative=lambda a, y: 2.0 * (a - y),
    excel_value=lambda a, y: f"({a}-{y})^2",
    excel_derivative=lambda a, y: f"2*({a}-{y})",
)

ACTIVATIONS = {f.name: f for f in (SIGMOID,)}
LOSSES = {f.name: f for f in (SQUARED_ERROR,)}
