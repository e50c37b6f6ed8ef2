"""The engine as xlwings user-defined functions: type the math into cells, watch it recalculate.

Each function is a thin wrapper: it turns cell values into a Spec (or picks an activation or loss
from functions.py; an optimizer's cells become a spec's [optimizer] table, which
spec.Optimizer.from_dict validates as it does a spec's), runs the engine, and lays the engine's
numbers out as cells, so a cell shows exactly what `backprop-xl trace` and the workbooks show.
The one expression written here is BP_LOSS's cost, the engine's own (engine.Step.loss), and a
test holds the two equal.

xlwings imports this module on Windows (xlwings.conf: "UDF MODULES","backprop_xl.udfs"; the
`backprop-xl xlwings-setup DIR` command writes it); elsewhere the decorators do nothing and the
functions are plain Python. A bad argument returns one readable string to the cell,
"#backprop_xl: <what is wrong>", never a traceback; a number that overflows (inf or NaN in the
engine) shows as #NUM!, as it does in the workbooks.

Ranges arrive as 2-D numpy arrays (xlwings' numpy converter, ndim=2: an empty cell reads as NaN);
results go back as lists of rows, so a table spills as a dynamic array. Arguments carry no type
annotations: xlwings would read them as converters.

This module is the one definition of every function for both hosts: `cell_function` registers
each in FUNCTIONS with its arguments and their docs, which xlwings' decorators and LibreOffice's
add-in (calc.py, libreoffice_setup.py) both read. LibreOffice passes its own kinds of values
(tuples of rows for a range, 1 or 0 for TRUE or FALSE); calc.py adapts those to these functions.
"""

from __future__ import annotations

import functools
import inspect
import math
from typing import Callable, NamedTuple

import numpy as np

try:
    import xlwings as xw
except ImportError:  # LibreOffice's add-in (calc.py) calls these functions without xlwings
    xw = None

from . import engine, export
from .errors import SpecError, UserError
from .functions import (ACTIVATION_NAMES, DEFAULT_LEAKY_SLOPE, FD_STEP, LOSSES, activation as
                        activation_function, relative_difference)
from .spec import DEFAULT_EPS, DISTRIBUTION_SLACK, MODES, OPTIMIZERS, Optimizer, Spec
from .names import EXCEL_COLUMNS, OVERFLOW

ERROR_PREFIX = "#backprop_xl: "
CATEGORY = "backprop_xl"  # the group Excel's Insert Function dialog lists these under
TABLE_COLUMNS = ("trace", "all")

# BP_STEP's row: (machine name in the engine's step record, how a header writes it)
STEP_ROW = (("z1_1", "z"), ("a1_1", "a"), ("C", "C"), ("dC_da1_1", "dC/da"), ("da_dz1_1", "da/dz"),
            ("dz_dw1_1_1", "dz/dw"), ("grad_w1_1_1", "dC/dw"), ("new_w1_1_1", "w'"))
GRADCHECK_HEADER = ["parameter", "grad", "fd", "reldiff"]

# The argument docs, shared where functions share an argument. Excel shows each in its Insert
# Function dialog and keeps at most 255 characters of it.
DOC = {
    "z": "A number, or a range of numbers: the sums z = w·x + b.",
    "a": "The outputs a: one row per sample, one column per output.",
    "y": "The targets y, the same shape as a.",
    "x": "The input i of the neuron (a number).",
    "weight": "The weight w at the start (a number).",
    "target": "The target y the output a should reach (a number).",
    "learning_rate": "r, greater than 0: each step changes a parameter p to p - r*dC/dp.",
    "trained_learning_rate": "r, greater than 0: each step changes a parameter p to p - r*dC/dp "
                             "with the default optimizer, sgd; the others scale their steps by r.",
    "activation": f"The activation: {', '.join(ACTIVATION_NAMES)}. Default sigmoid.",
    "layer_activation": "The activation of every layer, or a row of names, one per layer: "
                        f"{', '.join(ACTIVATION_NAMES)}. Default sigmoid.",
    "loss": f"The loss: {', '.join(LOSSES)}. Default squared_error.",
    "steps": "How many training steps, one row each. Default 300.",
    "columns": '"trace" (default): step, loss, each parameter and its gradient grad_<name>, as '
               '`backprop-xl trace` prints them. "all": every quantity of the step (z, a, C, '
               "dC/da, da/dz, dz/dw, dC/dw, the optimizer's state such as m_<name>, new values).",
    "layers": "The layer widths in a row: inputs first, then each layer, e.g. 2, 2, 2.",
    "weights": "Every weight in one range, read row by row: layer 1 first; within a layer "
               "neuron 1's weights (from input 1, 2, ...), then neuron 2's: w1_1_1, w1_1_2, "
               "w1_2_1, ...",
    "biases": 'One bias per neuron, read row by row, layer 1 first: b1_1, b1_2, ..., b2_1, ... An '
              'empty cell or "" for a network without biases.',
    "inputs": "The inputs, one row per sample, one column per input.",
    "targets": "The targets, one row per sample (the rows of inputs), one column per output.",
    "mode": '"batch" (default): every step averages over all samples; "stochastic": one sample '
            "per step, in order, cycling; a whole number k: mini-batches of k samples per step, "
            "in order, the last of each pass smaller when k does not divide the samples.",
    "update_biases": "TRUE (default) trains the biases; FALSE keeps them fixed, as Mazur's example "
                     "does.",
    "leaky_slope": f"leaky_relu's slope for z < 0. Default {DEFAULT_LEAKY_SLOPE}.",
    "h": f"The step h of the central difference (C(p+h) - C(p-h)) / 2h. Default {FD_STEP:g}.",
    # The optimizer and its settings (spec.Optimizer, torch.optim's): an empty one is its default.
    "optimizer": f"How each step moves the parameters, as torch.optim defines it: "
                 f"{', '.join(OPTIMIZERS)}. Default sgd (p - r*dC/dp). Each setting after it "
                 "applies to some optimizers only; an empty one is its default.",
    "momentum": "The momentum optimizer's mu, which it needs: at least 0. Each step v = mu*v + g "
                "(g = dC/dp; v starts at g), then p - r*v.",
    "nesterov": "momentum only: TRUE steps by g + mu*v (Nesterov's momentum) instead of v. "
                "Default FALSE.",
    "alpha": "rmsprop only: each step v = alpha*v + (1-alpha)*g^2 (g = dC/dp), then "
             f"p - r*g/(sqrt(v)+eps). In [0, 1); default {Optimizer.alpha:g}.",
    "beta1": "adam only: each step m = beta1*m + (1-beta1)*g (g = dC/dp), bias-corrected to "
             f"mhat = m/(1-beta1^t) at step t. In [0, 1); default {Optimizer.beta1:g}.",
    "beta2": "adam only: each step v = beta2*v + (1-beta2)*g^2, bias-corrected to "
             "vhat = v/(1-beta2^t), then p - r*mhat/(sqrt(vhat)+eps). In [0, 1); default "
             f"{Optimizer.beta2:g}.",
    "eps": "rmsprop, adagrad and adam: added to the square root in the denominator, greater "
           f"than 0. Default {DEFAULT_EPS['adam']:g}; adagrad's {DEFAULT_EPS['adagrad']:g} (each "
           "step s = s + g^2, then p - r*g/(sqrt(s)+eps)).".replace("e-0", "e-"),
}
# The optimizer's settings, in the order the functions take them: every key of spec's
# [optimizer] table besides its name; and the argument that gives each key of that table.
OPTIMIZER_SETTINGS = ("momentum", "nesterov", "alpha", "beta1", "beta2", "eps")
OPTIMIZER_ARGUMENTS = {"optimizer.name": "optimizer",
                       **{f"optimizer.{key}": key for key in OPTIMIZER_SETTINGS}}


class Argument(NamedTuple):
    """One argument of a cell function, as every host describes it."""
    name: str
    doc: str
    is_range: bool  # a range of cells (xlwings passes a 2-D array), not one value
    default: object  # inspect.Parameter.empty when the argument is required

    @property
    def optional(self) -> bool:
        return self.default is not inspect.Parameter.empty

    @property
    def is_flag(self) -> bool:  # TRUE or FALSE (LibreOffice passes 1 or 0)
        return isinstance(self.default, bool)


class CellFunction(NamedTuple):
    name: str
    doc: str  # what the function returns, in one paragraph
    arguments: tuple[Argument, ...]
    call: Callable  # as a host calls it: bad arguments come back as a message, never raised


FUNCTIONS: dict[str, CellFunction] = {}


def cell_function(ranges=(), **doc_keys):
    """Register a BP_ function for every host: each argument's doc from DOC (under another key
    where doc_keys says so, as activation="layer_activation"), the arguments named in `ranges`
    read as ranges, and errors returned to the cell (cell_errors)."""
    def decorate(function):
        arguments = tuple(Argument(p.name, DOC[doc_keys.get(p.name, p.name)], p.name in ranges,
                                   p.default)
                          for p in inspect.signature(function).parameters.values())
        wrapped = cell_errors(function)
        if xw is not None:
            for argument in reversed(arguments):
                converter = (np.array,) if argument.is_range else ()
                options = dict(ndim=2) if argument.is_range else {}
                wrapped = xw.arg(argument.name, *converter, doc=argument.doc, **options)(wrapped)
            wrapped = xw.func(category=CATEGORY)(wrapped)
        FUNCTIONS[function.__name__] = CellFunction(
            function.__name__, " ".join(inspect.getdoc(function).split()), arguments, wrapped)
        return wrapped

    return decorate


def cell_errors(function):
    """A bad argument's message goes back to the cell as "#backprop_xl: <message>", not raised;
    a number that is not finite goes back as #NUM!: Excel has neither infinity nor NaN (xlwings
    would show NaN as an empty cell)."""

    @functools.wraps(function)
    def wrapper(*args, **kwargs):
        try:
            result = function(*args, **kwargs)
        except (UserError, ValueError, TypeError) as error:
            return ERROR_PREFIX + str(error)
        if isinstance(result, list):
            return [[_finite(value) for value in row] for row in result]
        return _finite(result)

    return wrapper


def _finite(value):
    return OVERFLOW if isinstance(value, float) and not math.isfinite(value) else value


# --- single-cell functions ---------------------------------------------------------------------


@cell_function(ranges=("z",))
def BP_ACTIVATE(z, activation, leaky_slope=DEFAULT_LEAKY_SLOPE):  # noqa: N802 - Excel's style
    """The activation a = f(z) of each cell of z: one number, or a range of the same shape (for
    softmax, of each row of the range)."""
    f = activation_function(_choice(activation, "activation", ACTIVATION_NAMES),
                            _number(leaky_slope, "leaky_slope", default=DEFAULT_LEAKY_SLOPE))
    z = _numbers(z, "z")
    return _cells(f.value(z))


@cell_function(ranges=("z",))
def BP_DERIVATIVE(z, activation, leaky_slope=DEFAULT_LEAKY_SLOPE):  # noqa: N802
    """The derivative da/dz of the activation at each cell of z: one number, or a range."""
    f = activation_function(_choice(activation, "activation", ACTIVATION_NAMES),
                            _number(leaky_slope, "leaky_slope", default=DEFAULT_LEAKY_SLOPE))
    if f.of_layer:
        raise UserError(f"activation: {f.name} has no da/dz of each cell, each a depends on every "
                        "z of its row; BP_TRAIN_NETWORK's dC_dz columns hold its Jacobian product")
    z = _numbers(z, "z")
    return _cells(f.derivative(z, f.value(z)))


@cell_function(ranges=("a", "y"))
def BP_LOSS(a, y, loss):  # noqa: N802
    """The cost C of outputs a against targets y: each sample's loss summed over its outputs, then
    averaged over the samples (rows), as every step's C."""
    function = LOSSES[_choice(loss, "loss", LOSSES)]
    a, y = _numbers(a, "a"), _numbers(y, "y")
    if a.shape != y.shape:
        raise UserError(f"y: must have the shape of a ({_shape(a)}), got {_shape(y)}")
    if function.needs_probabilities:
        if not np.all((a > 0) & (a < 1)):
            raise UserError(f"a: {function.name} needs outputs strictly between 0 and 1")
        if not np.all((y >= 0) & (y <= 1)):
            raise UserError(f"y: {function.name} needs targets between 0 and 1")
    if function.needs_distribution and not np.allclose(y.sum(axis=1), 1.0, rtol=0.0,
                                                        atol=DISTRIBUTION_SLACK):
        raise UserError(f"y: {function.name} needs each row of targets to sum to 1")
    return float(function.value(a, y).sum(axis=1).mean())  # as engine.Step.loss


# --- the single neuron of the lesson -----------------------------------------------------------


@cell_function()
def BP_STEP(x, weight, target, learning_rate, activation="sigmoid",  # noqa: N802
            loss="squared_error"):
    """One training step of one neuron, as one row: z, a, C, dC/da, da/dz, dz/dw, dC/dw, w'."""
    spec = _neuron(x, weight, target, learning_rate, 1, activation, loss)
    record = next(engine.run(spec)).record()
    return [[record[name] for name, _ in STEP_ROW]]


@cell_function(learning_rate="trained_learning_rate")
def BP_TRAIN(x, weight, target, learning_rate, steps=300, activation="sigmoid",  # noqa: N802
             loss="squared_error", columns="trace", optimizer="sgd", momentum=None,
             nesterov=False, alpha=None, beta1=None, beta2=None, eps=None):
    """Train one neuron: a table with a header row and one row per step (step, loss, w1_1_1,
    grad_w1_1_1), spilling below the cell. The optimizer is plain gradient descent unless given."""
    spec = _neuron(x, weight, target, learning_rate, steps, activation, loss)
    spec = spec.with_overrides(optimizer=_optimizer(optimizer, momentum, nesterov, alpha, beta1,
                                                    beta2, eps))
    return _table(spec, _choice(columns, "columns", TABLE_COLUMNS, default="trace"))


# --- networks ------------------------------------------------------------------------------------


NETWORK_RANGES = ("layers", "weights", "biases", "inputs", "targets")  # a network and its data


@cell_function(ranges=NETWORK_RANGES, activation="layer_activation",
               learning_rate="trained_learning_rate")
def BP_TRAIN_NETWORK(layers, weights, biases, inputs, targets, learning_rate,  # noqa: N802
                     steps=300, activation="sigmoid", loss="squared_error", mode="batch",
                     update_biases=True, columns="trace", optimizer="sgd", momentum=None,
                     nesterov=False, alpha=None, beta1=None, beta2=None, eps=None):
    """Train a network: a table with a header row (step, loss, each parameter by name, its
    gradient grad_<name>) and one row per step, spilling below the cell. The optimizer is plain
    gradient descent unless given."""
    spec = _network(layers, weights, biases, inputs, targets, learning_rate=learning_rate,
                    steps=steps, activation=activation, loss=loss, mode=mode,
                    update_biases=update_biases)
    spec = spec.with_overrides(optimizer=_optimizer(optimizer, momentum, nesterov, alpha, beta1,
                                                    beta2, eps))
    return _table(spec, _choice(columns, "columns", TABLE_COLUMNS, default="trace"))


@cell_function(ranges=NETWORK_RANGES, activation="layer_activation")
def BP_GRADCHECK(layers, weights, biases, inputs, targets, activation="sigmoid",  # noqa: N802
                 loss="squared_error", update_biases=True, h=FD_STEP):
    """Each gradient of the cost over all samples against a central finite difference: one row per
    trained parameter (parameter, grad, fd, reldiff), reldiff relative to the larger."""
    spec = _network(layers, weights, biases, inputs, targets, steps=1, activation=activation,
                    loss=loss, update_biases=update_biases)
    h = _number(h, "h", default=FD_STEP)
    if h <= 0:
        raise UserError(f"h: must be greater than 0, got {h!r}")
    step = next(engine.run(spec.with_overrides(fd_step=h), gradient_check=True))
    numeric = step.finite_differences
    rows = [GRADCHECK_HEADER]
    for name, _, gradient, _ in step.parameters():
        rows.append([name, gradient, numeric[name],
                     float(relative_difference(gradient, numeric[name]))])
    return rows


# --- from cells to a Spec, and from the engine to cells -----------------------------------------


def _neuron(x, weight, target, learning_rate, steps, activation, loss) -> Spec:
    return _spec({"data.inputs": "x", "network.weights": "weight", "data.targets": "target",
                  "network.activations": "activation"},
                 layers=[1, 1], weights=[[[_number(weight, "weight")]]],
                 inputs=[[_number(x, "x")]], targets=[[_number(target, "target")]],
                 learning_rate=_number(learning_rate, "learning_rate"),
                 steps=_whole(steps, "steps", default=300),
                 activations=[_choice(activation, "activation", ACTIVATION_NAMES, "sigmoid")],
                 loss=_choice(loss, "loss", LOSSES, default="squared_error"))


def _network(layers, weights, biases, inputs, targets, learning_rate=0.1, steps=1,
             activation="sigmoid", loss="squared_error", mode="batch", update_biases=True) -> Spec:
    widths = [_whole(value, "layers") for value in _numbers(layers, "layers").ravel()]
    if len(widths) < 2:
        raise UserError("layers: must list at least two widths: inputs, then each layer")
    if min(widths) < 1:
        raise UserError(f"layers: every width must be at least 1, got {_listed(widths)}")
    shapes = list(zip(widths[1:], widths[:-1]))  # (neurons, inputs) of each layer
    count = sum(rows * columns for rows, columns in shapes)
    flat = _numbers(weights, "weights").ravel()
    if flat.size != count:
        raise UserError(f"weights: layers {_listed(widths)} take {count} weights "
                        f"({' + '.join(f'{r}·{c}' for r, c in shapes)}), got {flat.size}")
    matrices, start = [], 0
    for rows, columns in shapes:
        matrices.append(flat[start:start + rows * columns].reshape(rows, columns).tolist())
        start += rows * columns
    bias_rows = None
    flat = _numbers(biases, "biases", allow_empty=True)
    if flat is not None:
        flat = flat.ravel()
        if flat.size != sum(widths[1:]):
            raise UserError(f"biases: layers {_listed(widths)} take {sum(widths[1:])} biases, "
                            f"one per neuron, got {flat.size}")
        bias_rows, start = [], 0
        for neurons in widths[1:]:
            bias_rows.append(flat[start:start + neurons].tolist())
            start += neurons
    return _spec({"data.inputs": "inputs", "data.targets": "targets", "network.weights": "weights",
                  "network.biases": "biases", "network.layers": "layers",
                  "network.activations": "activation", "network.update_biases": "update_biases",
                  "batch_size": "mode"},
                 layers=widths, weights=matrices, biases=bias_rows,
                 inputs=_numbers(inputs, "inputs").tolist(),
                 targets=_numbers(targets, "targets").tolist(),
                 learning_rate=_number(learning_rate, "learning_rate"),
                 steps=_whole(steps, "steps", default=300),
                 activations=_layer_activations(activation, len(widths) - 1),
                 loss=_choice(loss, "loss", LOSSES, default="squared_error"),
                 **_mode(mode), update_biases=_flag(update_biases, "update_biases", default=True))


def _optimizer(name, momentum, nesterov, alpha, beta1, beta2, eps) -> Optimizer:
    """The optimizer from its cells, built as a spec's [optimizer] table is (Optimizer.from_dict
    says which settings an optimizer takes and what each may be): the settings given, an empty
    one left out (its default), nesterov only when TRUE (FALSE is its default)."""
    table = {"name": _choice(name, "optimizer", OPTIMIZERS, default="sgd")}
    values = dict(momentum=momentum, nesterov=nesterov, alpha=alpha, beta1=beta1, beta2=beta2,
                  eps=eps)
    for key in OPTIMIZER_SETTINGS:
        if key == "nesterov":
            if _flag(values[key], key, default=False):
                table[key] = True
        elif not _is_empty(_single(values[key], key)):
            table[key] = _number(values[key], key)
    try:
        return Optimizer.from_dict(table)
    except SpecError as error:
        raise _named(error, OPTIMIZER_ARGUMENTS) from None


def _spec(arguments: dict[str, str], **keywords) -> Spec:
    """The Spec; its errors name the function's argument rather than the spec key."""
    try:
        return Spec(**keywords)
    except SpecError as error:
        raise _named(error, arguments) from None


def _named(error: SpecError, arguments: dict[str, str]) -> UserError:
    """The spec's error naming the function's argument (`arguments`: spec key -> argument)."""
    key = error.key.split("[")[0]
    return UserError(f"{arguments.get(key, key)}: {error.why}")


def _table(spec: Spec, columns: str) -> list[list]:
    """The run as rows under a header of machine names: the trace's (export.columns and records,
    so the table and `backprop-xl trace` agree), or every quantity of Step.record()."""
    if columns == "trace":
        header = export.columns(spec)
        rows = ([record[name] for name in header] for record in export.records(spec))
    else:
        header = list(next(engine.run(spec.with_overrides(steps=1))).record())
        rows = map(list, engine.rows(spec, header))
    if len(header) > EXCEL_COLUMNS:  # before any step is computed: the rows are computed lazily
        raise UserError(f"the table would have {len(header):,} columns, more than Excel's "
                        f"{EXCEL_COLUMNS:,}; try columns \"trace\" or a smaller network")
    return [header, *rows]


def _cells(values: np.ndarray):
    """One number for a single cell, else the rows of numbers."""
    return float(values[0, 0]) if values.size == 1 else values.tolist()


# --- reading cell values -----------------------------------------------------------------------


def _shown(value) -> str:
    if _is_empty(value):
        return "an empty cell"
    if isinstance(value, (bool, np.bool_)):
        return "TRUE" if value else "FALSE"
    return repr(value.item() if isinstance(value, np.generic) else value)


def _shape(array: np.ndarray) -> str:
    rows, columns = array.shape
    return f"{rows} row{'s' * (rows != 1)} × {columns} column{'s' * (columns != 1)}"


def _listed(values) -> str:
    return ", ".join(str(value) for value in values)


def _single(value, name: str):
    """The one value of a cell: a 1×1 range or a one-item list counts as its value."""
    if isinstance(value, np.ndarray) or isinstance(value, (list, tuple)):
        array = np.array(value, dtype=object)
        if array.size == 0:
            raise UserError(f"{name}: must be a single cell, got an empty range")
        if array.size != 1:
            raise UserError(f"{name}: must be a single cell, got a range of {array.size} cells")
        return array.reshape(-1)[0]
    return value


def _is_empty(value) -> bool:
    return value is None or (isinstance(value, str) and value.strip() == "") or (
        isinstance(value, (float, np.floating)) and math.isnan(value))


def _number(value, name: str, default: float | None = None) -> float:
    value = _single(value, name)
    if default is not None and _is_empty(value):
        return float(default)
    if _is_empty(value) or isinstance(value, (bool, np.bool_)) or not isinstance(
            value, (int, float, np.number)):
        raise UserError(f"{name}: must be a number, got {_shown(value)}")
    value = float(value)
    if not math.isfinite(value):
        raise UserError(f"{name}: must be a finite number, got {value!r}")
    return value


def _whole(value, name: str, default: int | None = None) -> int:
    number = _number(value, name, default)
    if not number.is_integer():
        raise UserError(f"{name}: must be a whole number, got {number!r}")
    return int(number)


def _flag(value, name: str, default: bool) -> bool:
    value = _single(value, name)
    if _is_empty(value):
        return default
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    raise UserError(f"{name}: must be TRUE or FALSE, got {_shown(value)}")


def _choice(value, name: str, known, default: str | None = None) -> str:
    """A name from `known`, in any letter case; an empty cell is the default."""
    value = _single(value, name)
    if _is_empty(value):
        if default is not None:
            return default
        raise UserError(f"{name}: is missing (known: {', '.join(known)})")
    if isinstance(value, str) and value.strip().lower() in known:
        return value.strip().lower()
    raise UserError(f"unknown {name} {_shown(value)} (known: {', '.join(known)})")


def _mode(value) -> dict:
    """The spec's mode, and its batch_size: a name of MODES but "minibatch", whose batch size
    the cell gives as a whole number instead."""
    single = _single(value, "mode")
    if isinstance(single, (int, float, np.number)) and not isinstance(single, (bool, np.bool_)) \
            and not _is_empty(single):
        return {"mode": "minibatch", "batch_size": _whole(single, "mode")}
    named = [mode for mode in MODES if mode != "minibatch"]
    return {"mode": _choice(single, "mode", named, default="batch")}


def _layer_activations(value, layers: int) -> list[str]:
    """One activation name for every layer, or one name per layer."""
    if isinstance(value, np.ndarray) or isinstance(value, (list, tuple)):
        names = [item for item in np.array(value, dtype=object).ravel() if not _is_empty(item)]
        if len(names) > 1:
            if len(names) != layers:
                raise UserError(f"activation: give one name for all layers or one per layer, "
                                f"{layers}, got {len(names)}")
            return [_choice(item, "activation", ACTIVATION_NAMES) for item in names]
        value = names[0] if names else None
    return [_choice(value, "activation", ACTIVATION_NAMES, default="sigmoid")] * layers


def _numbers(value, name: str, allow_empty: bool = False) -> np.ndarray | None:
    """A range as a 2-D float array: every cell a finite number. With allow_empty, a range with no
    values at all (an empty cell, "", nothing) is None."""
    if value is None or (isinstance(value, str) and value.strip() == ""):
        if allow_empty:
            return None
        raise UserError(f"{name}: is empty")
    array = value if isinstance(value, np.ndarray) else np.array(value, dtype=object)
    if array.ndim > 2:
        raise UserError(f"{name}: must be a range of rows and columns")
    array = array.reshape((1,) * (2 - array.ndim) + array.shape)
    if array.size == 0:
        if allow_empty:
            return None
        raise UserError(f"{name}: is empty")
    if array.dtype.kind in "fiu":  # xlwings' numpy converter: numbers, NaN for an empty cell
        numbers = array.astype(float)
        if np.isfinite(numbers).all():
            return numbers
        empty = np.isnan(numbers)
        if allow_empty and empty.all():
            return None
        row, column = np.argwhere(~np.isfinite(numbers))[0]
        what = "is empty" if empty[row, column] else f"is {float(numbers[row, column])!r}"
        raise UserError(f"{name}: {_where(array, row, column)} {what}; every cell must hold a "
                        f"finite number")
    if array.dtype.kind == "U":
        # xlwings' numpy converter turns a range mixing numbers and text into text throughout
        # (1.5 becomes "1.5", an empty cell "nan"): name the first cell that was text.
        for (row, column), item in np.ndenumerate(array):
            try:
                float(item)
            except ValueError:
                what = "is empty" if item.strip() == "" else f"holds {str(item)!r}, not a number"
                raise UserError(f"{name}: {_where(array, row, column)} {what}") from None
        raise UserError(f"{name}: must hold numbers, not text")
    cells = array.astype(object)
    if allow_empty and all(_is_empty(item) for item in cells.ravel()):
        return None
    numbers = np.empty(cells.shape)
    for (row, column), item in np.ndenumerate(cells):
        if _is_empty(item):
            raise UserError(f"{name}: {_where(cells, row, column)} is empty; every cell must "
                            f"hold a number")
        if isinstance(item, (bool, np.bool_)) or not isinstance(item, (int, float, np.number)):
            raise UserError(f"{name}: {_where(cells, row, column)} holds {_shown(item)}, "
                            f"not a number")
        numbers[row, column] = item
        if not math.isfinite(numbers[row, column]):
            raise UserError(f"{name}: {_where(cells, row, column)} is {float(item)!r}; every "
                            f"cell must hold a finite number")
    return numbers


def _where(array: np.ndarray, row: int, column: int) -> str:
    if array.size == 1:
        return "the cell"
    rows, columns = array.shape
    if rows == 1:
        return f"cell {column + 1} of the row"
    if columns == 1:
        return f"cell {row + 1} of the column"
    return f"the cell in row {row + 1}, column {column + 1} of the range"
