"""Activations and losses: each defined once, its numpy form, its derivative and its Excel formulas
side by side, so the engine and the workbook compute the same thing.

An Excel formula here is a function of cell references (strings such as "C2", a defined name, or a
parenthesised expression) that returns formula text without the leading "=". Where numpy has a more
accurate form than Excel can write (log1p, say), the numpy side uses Excel's form anyway: the
workbook must show the engine's numbers, not merely close ones.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np

LEAKY_SLOPE_NAME = "leaky_slope"  # the defined name of the cell holding leaky_relu's slope


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
    bounded: bool = False  # a stays strictly inside (0, 1), as cross-entropy needs


@dataclass(frozen=True)
class Loss:
    name: str
    symbol: str  # how a header writes C(a, y) for one output
    derivative_symbol: str  # and dC/da
    words: str
    value: Callable[[np.ndarray, np.ndarray], np.ndarray]  # per output unit
    derivative: Callable[[np.ndarray, np.ndarray], np.ndarray]  # dC/da per output unit
    excel_value: Callable[[str, str], str]  # given the cells of a and y
    excel_derivative: Callable[[str, str], str]
    needs_probabilities: bool = False  # targets in [0, 1] and a bounded output activation


def _stable_sigmoid(z):
    # exp(min(z, 0)) / (1 + exp(-|z|)) equals 1 / (1 + exp(-z)) for both signs, but no exponent is
    # ever positive, so neither numpy nor Excel's EXP (#NUM! past about 709) can overflow.
    return np.exp(np.minimum(z, 0.0)) / (1.0 + np.exp(-np.abs(z)))


def _excel_sigmoid(z: str) -> str:
    return f"EXP(MIN({z},0))/(1+EXP(-ABS({z})))"


SIGMOID = Activation(
    name="sigmoid", symbol="σ(z)", derivative_symbol="a(1 − a)",
    words="the logistic sigmoid 1/(1+e^-z), written exp(min(z,0))/(1+exp(-|z|)) so that no "
    "exponent overflows for large |z|",
    value=_stable_sigmoid,
    derivative=lambda z, a: a * (1.0 - a),
    excel_value=_excel_sigmoid,
    excel_derivative=lambda z, a: f"{a}*(1-{a})",
    bounded=True,
)

TANH = Activation(
    name="tanh", symbol="tanh(z)", derivative_symbol="1 − a²",
    words="the hyperbolic tangent",
    value=np.tanh,
    derivative=lambda z, a: 1.0 - a ** 2,
    excel_value=lambda z: f"TANH({z})",
    excel_derivative=lambda z, a: f"1-{a}^2",
)

RELU = Activation(
    name="relu", symbol="max(z, 0)", derivative_symbol="1 if z > 0 else 0",
    words="the rectified linear unit max(z, 0); its derivative at z = 0 is taken as 0",
    value=lambda z: np.maximum(z, 0.0),
    derivative=lambda z, a: np.where(z > 0, 1.0, 0.0),
    excel_value=lambda z: f"MAX({z},0)",
    excel_derivative=lambda z, a: f"IF({z}>0,1,0)",
)

LINEAR = Activation(
    name="linear", symbol="z", derivative_symbol="1",
    words="the identity: a = z",
    value=lambda z: z * 1.0,
    derivative=lambda z, a: np.ones_like(z),
    excel_value=lambda z: f"{z}",
    excel_derivative=lambda z, a: "1",
)

SOFTPLUS = Activation(
    name="softplus", symbol="ln(1 + e^z)", derivative_symbol="σ(z)",
    words="softplus ln(1+e^z), written max(z,0)+ln(1+exp(-|z|)) so that no exponent overflows",
    value=lambda z: np.maximum(z, 0.0) + np.log(1.0 + np.exp(-np.abs(z))),
    derivative=lambda z, a: _stable_sigmoid(z),
    excel_value=lambda z: f"MAX({z},0)+LN(1+EXP(-ABS({z})))",
    excel_derivative=lambda z, a: _excel_sigmoid(z),
)


def leaky_relu(slope: float) -> Activation:
    """Leaky ReLU: z for z > 0, slope·z otherwise. The workbook reads the slope from a named cell."""
    return Activation(
        name="leaky_relu", symbol="z if z > 0 else s·z", derivative_symbol="1 if z > 0 else s",
        words=f"the leaky rectified linear unit, z for z > 0 and s·z otherwise, slope s = {slope:g} "
        f"(the cell named {LEAKY_SLOPE_NAME}); its derivative at z = 0 is taken as s",
        value=lambda z: np.where(z > 0, z, slope * z),
        derivative=lambda z, a: np.where(z > 0, 1.0, slope),
        excel_value=lambda z: f"IF({z}>0,{z},{LEAKY_SLOPE_NAME}*{z})",
        excel_derivative=lambda z, a: f"IF({z}>0,1,{LEAKY_SLOPE_NAME})",
    )


SQUARED_ERROR = Loss(
    name="squared_error", symbol="(a − y)²", derivative_symbol="2(a − y)",
    words="the squared error (a - y)^2",
    value=lambda a, y: (a - y) ** 2,
    derivative=lambda a, y: 2.0 * (a - y),
    excel_value=lambda a, y: f"({a}-{y})^2",
    excel_derivative=lambda a, y: f"2*({a}-{y})",
)

HALF_SQUARED_ERROR = Loss(
    name="half_squared_error", symbol="½(a − y)²", derivative_symbol="a − y",
    words="half the squared error, (a - y)^2 / 2",
    value=lambda a, y: 0.5 * (a - y) ** 2,
    derivative=lambda a, y: a - y,
    excel_value=lambda a, y: f"0.5*({a}-{y})^2",
    excel_derivative=lambda a, y: f"{a}-{y}",
)


def _cross_entropy(a, y):
    # A target of exactly 0 or 1 drops its term, so 0·ln(0) never turns into NaN.
    with np.errstate(divide="ignore", invalid="ignore"):
        return -(np.where(y > 0, y * np.log(a), 0.0) + np.where(y < 1, (1 - y) * np.log(1 - a), 0.0))


BINARY_CROSS_ENTROPY = Loss(
    name="binary_cross_entropy", symbol="−(y ln a + (1 − y) ln(1 − a))",
    derivative_symbol="(a − y) / (a(1 − a))",
    words="the binary cross-entropy -(y ln a + (1 - y) ln(1 - a)), for targets in [0, 1]",
    value=_cross_entropy,
    derivative=lambda a, y: (a - y) / (a * (1.0 - a)),
    excel_value=lambda a, y: f"-(IF({y}>0,{y}*LN({a}),0)+IF({y}<1,(1-{y})*LN(1-{a}),0))",
    excel_derivative=lambda a, y: f"({a}-{y})/({a}*(1-{a}))",
    needs_probabilities=True,
)

ACTIVATION_NAMES = ("sigmoid", "tanh", "relu", "leaky_relu", "linear", "softplus")
_FIXED_ACTIVATIONS = {f.name: f for f in (SIGMOID, TANH, RELU, LINEAR, SOFTPLUS)}
LOSSES = {f.name: f for f in (SQUARED_ERROR, HALF_SQUARED_ERROR, BINARY_CROSS_ENTROPY)}
DEFAULT_LEAKY_SLOPE = 0.01


def activation(name: str, leaky_slope: float = DEFAULT_LEAKY_SLOPE) -> Activation:
    return leaky_relu(leaky_slope) if name == "leaky_relu" else _FIXED_ACTIVATIONS[name]


# The gradient check: a central difference (C(p + h) - C(p - h)) / 2h beside each analytic
# gradient, and how far apart the two are, relative to the larger (0 when both are 0).
FD_STEP = 1e-5
FD_STEP_NAME = "fd_step"  # the defined name of the cell holding h


def relative_difference(analytic, numeric):
    scale = np.maximum(np.abs(analytic), np.abs(numeric))
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(scale > 0, np.abs(analytic - numeric) / scale, 0.0)


def excel_relative_difference(analytic: str, numeric: str) -> str:
    scale = f"MAX(ABS({analytic}),ABS({numeric}))"
    return f"IF({scale}>0,ABS({analytic}-{numeric})/{scale},0)"
