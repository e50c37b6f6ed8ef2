"""Activations and losses: each defined once, its value and derivative for one number (which the
engine runs as Python or compiles with numba) and its Excel formulas side by side, so the engine
and the workbook compute the same thing.

An Excel formula here is a function of cell references (strings such as "C2", a defined name, or a
parenthesised expression) that returns formula text without the leading "=". Where numpy has a more
accurate form than Excel can write (log1p, say), the numpy side uses Excel's form anyway: the
workbook must show the engine's numbers, not merely close ones.
"""

from __future__ import annotations

import functools
import math
import sys
from dataclasses import dataclass
from typing import Callable

import numpy as np

from . import straight

LEAKY_SLOPE_NAME = "leaky_slope"  # the defined name of the cell holding leaky_relu's slope


def elementwise(function):
    """A function of numbers applied to each element of numpy arrays (broadcast together), with
    numpy's floating-point warnings off: overflow shows in the numbers, and callers report it.
    Each element goes through the function's float form (see on_floats), as in the engine, or,
    where that raises, through the function itself on numpy floats, whose overflow gives inf."""
    def apply(*arrays):
        fast = straight.rebound(function, on_floats())  # here: this module is complete by now

        def one(*numbers):
            try:
                return fast(*map(float, numbers))
            except FLOAT_FORM_ERRORS:
                return function(*map(np.float64, numbers))
        with np.errstate(all="ignore"):
            return np.vectorize(one, otypes=[float])(*arrays)
    return apply


# What the float forms raise where numpy's give inf or NaN: an overflow (math.exp, **), a division
# by 0, a log of 0 or less (math's ValueError).
FLOAT_FORM_ERRORS = (ArithmeticError, ValueError)


@functools.cache
def on_floats() -> dict:
    """Every function of this module as it runs on Python floats: the same code with math's exp,
    log and tanh for numpy's, several times faster on one number. Where numpy's would give inf or
    NaN, these raise instead (FLOAT_FORM_ERRORS), and a caller falls back to the numpy form."""
    return straight.rebind([sys.modules[__name__]], {"np": math})


def _elementwise_fields(instance) -> None:
    for field in ("value", "derivative"):
        object.__setattr__(instance, field, elementwise(getattr(instance, field)))


@dataclass(frozen=True)
class Activation:
    name: str
    symbol: str  # how a header writes a = f(z)
    derivative_symbol: str  # and da/dz
    words: str  # what it computes, for the notes area
    value: Callable[[np.ndarray], np.ndarray]  # a = f(z), given for a number, taken elementwise
    derivative: Callable[[np.ndarray, np.ndarray], np.ndarray]  # da/dz given z and a
    excel_value: Callable[[str], str]
    excel_derivative: Callable[[str, str], str] | None  # given the cells of z and a
    bounded: bool = False  # a stays strictly inside (0, 1), as cross-entropy needs
    # For an activation of the whole layer (softmax), each neuron's a as formulas of all the
    # layer's z cells; None for one neuron's own, excel_value of its z.
    excel_layer: Callable[[list[str]], list[str]] | None = None

    def __post_init__(self):
        if self.excel_layer is None:
            _elementwise_fields(self)

    @property
    def of_layer(self) -> bool:
        """Whether each a depends on every z of its layer (softmax), so that it has no da/dz of
        its own: the backward pass takes dC/dz as a Jacobian product instead."""
        return self.excel_layer is not None

    def excel_values(self, zs: list[str]) -> list[str]:
        """The activations of a layer of neurons whose sums are the cells (or expressions) zs."""
        if self.excel_layer is not None:
            return self.excel_layer(zs)
        return [self.excel_value(z) for z in zs]


@dataclass(frozen=True)
class Loss:
    name: str
    symbol: str  # how a header writes C(a, y) for one output
    derivative_symbol: str  # and dC/da
    words: str
    value: Callable[[np.ndarray, np.ndarray], np.ndarray]  # per output unit, as for Activation
    derivative: Callable[[np.ndarray, np.ndarray], np.ndarray]  # dC/da per output unit
    excel_value: Callable[[str, str], str]  # given the cells of a and y
    excel_derivative: Callable[[str, str], str]
    needs_probabilities: bool = False  # targets in [0, 1] and a bounded output activation
    needs_distribution: bool = False  # each sample's targets sum to 1, and a softmax output

    __post_init__ = _elementwise_fields


# Each form below is a function of one number, written with what numba compiles quickly (numpy's
# scalar functions, conditional expressions), so the engine runs the very same definitions as
# Python or compiled (see activation_value). Activation.value and friends apply them to arrays.

def _sigmoid(z):
    # exp(min(z, 0)) / (1 + exp(-|z|)) equals 1 / (1 + exp(-z)) for both signs, but no exponent is
    # ever positive, so neither numpy nor Excel's EXP (#NUM! past about 709) can overflow.
    return np.exp(min(z, 0.0)) / (1.0 + np.exp(-abs(z)))


def _sigmoid_derivative(z, a):
    return a * (1.0 - a)


def _excel_sigmoid(z: str) -> str:
    return f"EXP(MIN({z},0))/(1+EXP(-ABS({z})))"


SIGMOID = Activation(
    name="sigmoid", symbol="σ(z)", derivative_symbol="a(1 − a)",
    words="the logistic sigmoid 1/(1+e^-z), written exp(min(z,0))/(1+exp(-|z|)) so that no "
    "exponent overflows for large |z|",
    value=_sigmoid,
    derivative=_sigmoid_derivative,
    excel_value=_excel_sigmoid,
    excel_derivative=lambda z, a: f"{a}*(1-{a})",
    bounded=True,
)


def _tanh(z):
    return np.tanh(z)


def _tanh_derivative(z, a):
    return 1.0 - a ** 2


TANH = Activation(
    name="tanh", symbol="tanh(z)", derivative_symbol="1 − a²",
    words="the hyperbolic tangent",
    value=_tanh,
    derivative=_tanh_derivative,
    excel_value=lambda z: f"TANH({z})",
    excel_derivative=lambda z, a: f"1-{a}^2",
)


def _relu(z):
    return max(z, 0.0)


def _relu_derivative(z, a):
    return 1.0 if z > 0 else 0.0


RELU = Activation(
    name="relu", symbol="max(z, 0)", derivative_symbol="1 if z > 0 else 0",
    words="the rectified linear unit max(z, 0); its derivative at z = 0 is taken as 0",
    value=_relu,
    derivative=_relu_derivative,
    excel_value=lambda z: f"MAX({z},0)",
    excel_derivative=lambda z, a: f"IF({z}>0,1,0)",
)


def _linear(z):
    return z * 1.0


def _linear_derivative(z, a):
    return 1.0


LINEAR = Activation(
    name="linear", symbol="z", derivative_symbol="1",
    words="the identity: a = z",
    value=_linear,
    derivative=_linear_derivative,
    excel_value=lambda z: f"{z}",
    excel_derivative=lambda z, a: "1",
)


def _softplus(z):
    return max(z, 0.0) + np.log(1.0 + np.exp(-abs(z)))


def _softplus_derivative(z, a):
    return _sigmoid(z)


SOFTPLUS = Activation(
    name="softplus", symbol="ln(1 + e^z)", derivative_symbol="σ(z)",
    words="softplus ln(1+e^z), written max(z,0)+ln(1+exp(-|z|)) so that no exponent overflows",
    value=_softplus,
    derivative=_softplus_derivative,
    excel_value=lambda z: f"MAX({z},0)+LN(1+EXP(-ABS({z})))",
    excel_derivative=lambda z, a: _excel_sigmoid(z),
)


def _leaky_relu(z, slope):
    return z if z > 0 else slope * z


def _leaky_relu_derivative(z, slope):
    return 1.0 if z > 0 else slope


def leaky_relu(slope: float) -> Activation:
    """Leaky ReLU: z for z > 0, slope·z otherwise. The workbook reads the slope from a named cell."""
    return Activation(
        name="leaky_relu", symbol="z if z > 0 else s·z", derivative_symbol="1 if z > 0 else s",
        words=f"the leaky rectified linear unit, z for z > 0 and s·z otherwise, slope s = {slope:g} "
        f"(the cell named {LEAKY_SLOPE_NAME}); its derivative at z = 0 is taken as s",
        value=lambda z: _leaky_relu(z, slope),
        derivative=lambda z, a: _leaky_relu_derivative(z, slope),
        excel_value=lambda z: f"IF({z}>0,{z},{LEAKY_SLOPE_NAME}*{z})",
        excel_derivative=lambda z, a: f"IF({z}>0,1,{LEAKY_SLOPE_NAME})",
    )


def _larger(a, b):
    return a if a > b else b


def _exp_shifted(z, largest):
    # z minus the layer's largest z is never positive, so no exponent overflows (Excel's EXP
    # gives #NUM! past about 709), as in the sigmoid.
    return np.exp(z - largest)


def traced_through(function):
    """Marks a function that a traced step (kernels.straight_line_step) runs rather than records
    a call to: the numbered forms (below) and loops over a layer's neurons, whose every operation
    on a number is then recorded."""
    function.traced_through = True
    return function


@traced_through
def softmax_into(z, a, start, width):
    """a[start:start + width] = the softmax of z[start:start + width]: exp(z_j - m) / Σ_k
    exp(z_k - m), m the largest z, the sum taken in neuron order. Subtracting m changes nothing
    but keeps every exponent at or below 0. Loops over plain arrays, as the engine's step is
    written (kernels.py)."""
    largest = z[start]
    for j in range(1, width):
        largest = _larger(largest, z[start + j])
    total = 0.0
    for j in range(width):
        a[start + j] = _exp_shifted(z[start + j], largest)
        total += a[start + j]
    for j in range(width):
        a[start + j] = a[start + j] / total


def _softmax_rows(z):
    """The softmax of each row of z (the last axis), by softmax_into."""
    z = np.asarray(z, dtype=float)
    rows = z.reshape(-1, z.shape[-1]) if z.ndim else z.reshape(1, 1)
    a = np.empty_like(rows)
    with np.errstate(all="ignore"):
        for row in range(rows.shape[0]):
            softmax_into(rows[row], a[row], 0, rows.shape[1])
    return a.reshape(z.shape)


def _excel_softmax(zs: list[str]) -> list[str]:
    largest = f"MAX({','.join(zs)})"
    exponentials = [f"EXP({z}-{largest})" for z in zs]
    total = "+".join(exponentials)
    return [f"{e}/({total})" for e in exponentials]


SOFTMAX = Activation(
    name="softmax", symbol="e^z/Σ e^z", derivative_symbol="a(dC/da − Σ dC/da·a)",
    words="the softmax over the layer's neurons, e^z / Σ e^z, written with the layer's largest z "
    "subtracted from each z first, which changes no a but keeps every exponent at or below 0, so "
    "that EXP never overflows",
    value=_softmax_rows,
    derivative=None,
    excel_value=None,
    excel_derivative=None,
    bounded=True,
    excel_layer=_excel_softmax,
)


def _squared_error(a, y):
    return (a - y) ** 2


def _squared_error_derivative(a, y):
    return 2.0 * (a - y)


SQUARED_ERROR = Loss(
    name="squared_error", symbol="(a − y)²", derivative_symbol="2(a − y)",
    words="the squared error (a - y)^2",
    value=_squared_error,
    derivative=_squared_error_derivative,
    excel_value=lambda a, y: f"({a}-{y})^2",
    excel_derivative=lambda a, y: f"2*({a}-{y})",
)


def _half_squared_error(a, y):
    return 0.5 * (a - y) ** 2


def _half_squared_error_derivative(a, y):
    return a - y


HALF_SQUARED_ERROR = Loss(
    name="half_squared_error", symbol="½(a − y)²", derivative_symbol="a − y",
    words="half the squared error, (a - y)^2 / 2",
    value=_half_squared_error,
    derivative=_half_squared_error_derivative,
    excel_value=lambda a, y: f"0.5*({a}-{y})^2",
    excel_derivative=lambda a, y: f"{a}-{y}",
)


# A sigmoid gives exactly 0 or 1 past |z| of about 37, where ln(a) or ln(1 - a) would be ln(0)
# (-inf; #NUM! in Excel) and dC/da would divide by 0. So, as Keras does, the loss sees its output
# clipped into [CLIP, 1 - CLIP], in the engine and in the workbook's formulas alike.
CROSS_ENTROPY_CLIP = 1e-12


def _clipped(a):
    return min(max(a, CROSS_ENTROPY_CLIP), 1.0 - CROSS_ENTROPY_CLIP)


def _excel_clipped(a: str) -> str:
    clip = f"{CROSS_ENTROPY_CLIP:.0E}"  # 1E-12, as Excel writes numbers
    return f"MIN(MAX({a},{clip}),1-{clip})"


def _binary_cross_entropy(a, y):
    a = _clipped(a)
    # A target of exactly 0 or 1 drops its term, so 0·ln(0) never turns into NaN.
    return -((y * np.log(a) if y > 0 else 0.0) + ((1 - y) * np.log(1 - a) if y < 1 else 0.0))


def _binary_cross_entropy_derivative(a, y):
    a = _clipped(a)
    return (a - y) / (a * (1.0 - a))


def _excel_binary_cross_entropy(a: str, y: str) -> str:
    a = _excel_clipped(a)
    return f"-(IF({y}>0,{y}*LN({a}),0)+IF({y}<1,(1-{y})*LN(1-{a}),0))"


def _excel_binary_cross_entropy_derivative(a: str, y: str) -> str:
    a = _excel_clipped(a)
    return f"({a}-{y})/({a}*(1-{a}))"


BINARY_CROSS_ENTROPY = Loss(
    name="binary_cross_entropy", symbol="−(y ln a + (1 − y) ln(1 − a))",
    derivative_symbol="(a − y) / (a(1 − a))",
    words="the binary cross-entropy -(y ln a + (1 - y) ln(1 - a)), for targets in [0, 1], with "
    f"a clipped into [{CROSS_ENTROPY_CLIP:g}, 1 - {CROSS_ENTROPY_CLIP:g}] so that ln never sees 0",
    value=_binary_cross_entropy,
    derivative=_binary_cross_entropy_derivative,
    excel_value=_excel_binary_cross_entropy,
    excel_derivative=_excel_binary_cross_entropy_derivative,
    needs_probabilities=True,
)


def _cross_entropy(a, y):
    # A target of 0 drops its term, so 0·ln(0) never turns into NaN; a is clipped as above.
    return -(y * np.log(_clipped(a))) if y > 0 else 0.0


def _cross_entropy_derivative(a, y):
    return -y / _clipped(a)


CROSS_ENTROPY = Loss(
    name="cross_entropy", symbol="−y ln a", derivative_symbol="−y/a",
    words="the categorical cross-entropy -y ln a, for targets that are a probability "
    f"distribution over the outputs (one-hot: 1 for the true class), with a clipped into "
    f"[{CROSS_ENTROPY_CLIP:g}, 1 - {CROSS_ENTROPY_CLIP:g}] so that ln never sees 0",
    value=_cross_entropy,
    derivative=_cross_entropy_derivative,
    excel_value=lambda a, y: f"IF({y}>0,-({y}*LN({_excel_clipped(a)})),0)",
    excel_derivative=lambda a, y: f"-{y}/{_excel_clipped(a)}",
    needs_probabilities=True,
    needs_distribution=True,
)

ACTIVATION_NAMES = ("sigmoid", "tanh", "relu", "leaky_relu", "linear", "softplus", "softmax")
SOFTMAX_CODE = ACTIVATION_NAMES.index("softmax")  # the engine's step handles it by the layer
_FIXED_ACTIVATIONS = {f.name: f for f in (SIGMOID, TANH, RELU, LINEAR, SOFTPLUS, SOFTMAX)}
LOSSES = {f.name: f for f in (SQUARED_ERROR, HALF_SQUARED_ERROR, BINARY_CROSS_ENTROPY,
                              CROSS_ENTROPY)}
DEFAULT_LEAKY_SLOPE = 0.01


def activation(name: str, leaky_slope: float = DEFAULT_LEAKY_SLOPE) -> Activation:
    return leaky_relu(leaky_slope) if name == "leaky_relu" else _FIXED_ACTIVATIONS[name]


def numbered_form(function):
    """Marks a numbered form (below): a function that picks an activation or a loss by its number.
    A traced step (kernels.straight_line_step) runs these, not records them (traced_through):
    each layer's number is known when tracing, so the trace records a call to the very function
    picked."""
    return traced_through(function)


# The engine's numbered forms: activation and loss by their index in ACTIVATION_NAMES and LOSSES,
# which compiled code can take where it cannot take a function (tests/test_networks.py,
# test_numbered_forms_are_the_named_functions, holds each number to its name).

@numbered_form
def activation_value(code, z, slope):
    if code == 0:
        return _sigmoid(z)
    if code == 1:
        return _tanh(z)
    if code == 2:
        return _relu(z)
    if code == 3:
        return _leaky_relu(z, slope)
    if code == 4:
        return _linear(z)
    return _softplus(z)  # softmax (SOFTMAX_CODE) is the step's, a layer at a time


@numbered_form
def activation_derivative(code, z, a, slope):
    if code == 0:
        return _sigmoid_derivative(z, a)
    if code == 1:
        return _tanh_derivative(z, a)
    if code == 2:
        return _relu_derivative(z, a)
    if code == 3:
        return _leaky_relu_derivative(z, slope)
    if code == 4:
        return _linear_derivative(z, a)
    return _softplus_derivative(z, a)


@numbered_form
def loss_value(code, a, y):
    if code == 0:
        return _squared_error(a, y)
    if code == 1:
        return _half_squared_error(a, y)
    if code == 2:
        return _binary_cross_entropy(a, y)
    return _cross_entropy(a, y)


@numbered_form
def loss_derivative(code, a, y):
    if code == 0:
        return _squared_error_derivative(a, y)
    if code == 1:
        return _half_squared_error_derivative(a, y)
    if code == 2:
        return _binary_cross_entropy_derivative(a, y)
    return _cross_entropy_derivative(a, y)


# The gradient check: a central difference (C(p + h) - C(p - h)) / 2h beside each analytic
# gradient, and how far apart the two are, relative to the larger (0 when both are 0).
FD_STEP = 1e-5
FD_STEP_NAME = "fd_step"  # the defined name of the cell holding h


def relative_difference(analytic, numeric):
    scale = np.maximum(np.abs(analytic), np.abs(numeric))
    with np.errstate(divide="ignore", invalid="ignore"):
        # Where either number is inf or NaN, so is the difference (Excel shows #NUM!): never a
        # 0 that would read as agreement.
        return np.where(scale > 0, np.abs(analytic - numeric) / scale,
                        np.where(scale == 0, 0.0, np.nan))


def excel_relative_difference(analytic: str, numeric: str) -> str:
    scale = f"MAX(ABS({analytic}),ABS({numeric}))"
    return f"IF({scale}>0,ABS({analytic}-{numeric})/{scale},0)"
