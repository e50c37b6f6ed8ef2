"""The description of a run (network, activation, loss, data, learning rate, steps): TOML in and out,
and validation that names the bad key and says why."""

from __future__ import annotations

import math
import sys
from dataclasses import asdict, dataclass, replace

import tomlkit

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

from .errors import SpecError
from .functions import ACTIVATIONS, LOSSES

EXCEL_ROWS = 1_048_576
MAX_STEPS = EXCEL_ROWS - 1  # the steps sheet spends one row on its header

TOP_KEYS = {"title", "steps", "learning_rate", "loss", "network", "data"}
NETWORK_KEYS = {"layers", "activation", "weights"}
DATA_KEYS = {"inputs", "targets"}

Matrix = list[list[float]]


@dataclass(frozen=True)
class Spec:
    """One run. Weights are per layer: one row per neuron, one entry per input of that layer."""

    layers: list[int]
    weights: list[Matrix]
    inputs: Matrix
    targets: Matrix
    title: str = "backprop_xl run"
    steps: int = 300
    learning_rate: float = 0.1
    loss: str = "squared_error"
    activation: str = "sigmoid"

    def __post_init__(self):
        _check_int(self.steps, "steps", low=1, high=MAX_STEPS,
                   high_why=f"at most {MAX_STEPS:,} steps fit under Excel's {EXCEL_ROWS:,} rows")
        _check_number(self.learning_rate, "learning_rate")
        if self.learning_rate <= 0:
            raise SpecError("learning_rate", f"must be greater than 0, got {self.learning_rate!r}")
        if not isinstance(self.title, str):
            raise SpecError("title", f"must be a string, got {type(self.title).__name__}")
        _check_name(self.loss, "loss", LOSSES)
        _check_name(self.activation, "network.activation", ACTIVATIONS)
        if not isinstance(self.layers, list) or len(self.layers) < 2:
            raise SpecError("network.layers", "must list at least two widths: inputs, then each layer")
        for width in self.layers:
            _check_int(width, "network.layers", low=1)
        if not isinstance(self.weights, list) or len(self.weights) != len(self.layers) - 1:
            raise SpecError("network.weights", f"must hold one matrix per layer, "
                            f"{len(self.layers) - 1} for layers = {self.layers}")
        for index, matrix in enumerate(self.weights):
            _check_matrix(matrix, f"network.weights[{index}]",
                          rows=self.layers[index + 1], columns=self.layers[index],
                          shape_words=f"layer {index + 1} of layers = {self.layers}")
        _check_matrix(self.inputs, "data.inputs", columns=self.layers[0],
                      shape_words=f"{self.layers[0]} input(s) per sample")
        _check_matrix(self.targets, "data.targets", rows=len(self.inputs), columns=self.layers[-1],
                      shape_words=f"one row per sample of {self.layers[-1]} output(s)")
        if len(self.inputs) != 1:
            raise SpecError("data.inputs", f"one sample is supported so far, got {len(self.inputs)}")

    @property
    def n_parameters(self) -> int:
        return sum(rows * columns for rows, columns in zip(self.layers[1:], self.layers[:-1]))

    def with_overrides(self, **overrides) -> "Spec":
        """A copy with the given keys replaced (None leaves a key as it is), validated again."""
        return replace(self, **{key: value for key, value in overrides.items() if value is not None})

    def to_dict(self) -> dict:
        values = asdict(self)
        return {
            "title": values["title"],
            "steps": values["steps"],
            "learning_rate": values["learning_rate"],
            "loss": values["loss"],
            "network": {key: values[key] for key in ("layers", "activation", "weights")},
            "data": {key: values[key] for key in ("inputs", "targets")},
        }

    def to_toml(self) -> str:
        return "# a backprop_xl spec: README.md, 'The spec', says what each key means\n" + \
            tomlkit.dumps(self.to_dict())

    @classmethod
    def from_dict(cls, values: dict) -> "Spec":
        _check_keys(values, TOP_KEYS, "")
        network = _table(values, "network", NETWORK_KEYS)
        data = _table(values, "data", DATA_KEYS)
        for key, table, prefix in (("layers", network, "network."), ("weights", network, "network."),
                                   ("inputs", data, "data."), ("targets", data, "data.")):
            if key not in table:
                raise SpecError(prefix + key, "is missing")
        top = {key: values[key] for key in ("title", "steps", "learning_rate", "loss") if key in values}
        if "activation" in network:
            top["activation"] = network["activation"]
        return cls(layers=network["layers"], weights=network["weights"], inputs=data["inputs"],
                   targets=data["targets"], **top)

    @classmethod
    def from_toml(cls, text: str, source: str | None = None) -> "Spec":
        try:
            values = tomllib.loads(text)
        except tomllib.TOMLDecodeError as error:
            raise SpecError("TOML", str(error), source) from None
        try:
            return cls.from_dict(values)
        except SpecError as error:
            raise error.located(source) if source else error from None


def _table(values: dict, key: str, known: set[str]) -> dict:
    table = values.get(key)
    if not isinstance(table, dict):
        raise SpecError(key, "is missing" if table is None else "must be a table")
    _check_keys(table, known, key + ".")
    return table


def _check_keys(table: dict, known: set[str], prefix: str) -> None:
    for key in table:
        if key not in known:
            raise SpecError(prefix + key, f"unknown key (known: {', '.join(sorted(known))})")


def _check_name(value, key: str, known: dict) -> None:
    if value not in known:
        raise SpecError(key, f"unknown {key.split('.')[-1]} {value!r} (known: {', '.join(known)})")


def _check_number(value, key: str) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise SpecError(key, f"must be a number, got {value!r}")
    if not math.isfinite(value):
        raise SpecError(key, f"must be a finite number, got {value!r}")


def _check_int(value, key: str, low: int, high: int | None = None, high_why: str = "") -> None:
    if isinstance(value, bool) or not isinstance(value, int):
        raise SpecError(key, f"must be a whole number, got {value!r}")
    if value < low:
        raise SpecError(key, f"must be at least {low}, got {value}")
    if high is not None and value > high:
        raise SpecError(key, f"{high_why}, got {value:,}")


def _check_matrix(matrix, key: str, columns: int, rows: int | None = None, shape_words: str = "") -> None:
    if not isinstance(matrix, list) or not all(isinstance(row, list) for row in matrix) or not matrix:
        raise SpecError(key, f"must be a list of rows ({shape_words})")
    if rows is not None and len(matrix) != rows:
        raise SpecError(key, f"must have {rows} row(s) ({shape_words}), got {len(matrix)}")
    for index, row in enumerate(matrix):
        if len(row) != columns:
            raise SpecError(key, f"row {index + 1} must have {columns} entr{'y' if columns == 1 else 'ies'} "
                            f"({shape_words}), got {len(row)}")
        for value in row:
            _check_number(value, key)
