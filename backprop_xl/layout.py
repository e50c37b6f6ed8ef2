"""Where everything goes on the steps sheet: which quantity sits in which column, its header, the
words that explain it, and its Excel formula for any row; and the parameter cells, with their
defined names, that those formulas refer to.

A step's row holds the weight at the start of the step; the weight of step n + 1 is w' of step n.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from xlsxwriter.utility import xl_rowcol_to_cell

from .engine import neuron_name, weight_name
from .errors import SpecError
from .functions import ACTIVATIONS, LOSSES
from .spec import Spec

SHEET = "Steps"
HEADER_ROW = 0  # the table's header; step n sits on row n (0-based), Excel row n + 1


@dataclass(frozen=True)
class Parameter:
    """A named cell the user edits; every formula reaches it by its defined name."""

    name: str  # the Excel defined name
    label: str
    value: float


@dataclass(frozen=True)
class Column:
    key: str  # the machine name, as in the engine's records
    header: str  # math notation
    words: str  # what it computes, for the notes area
    formula: Callable[["Row"], str] | None  # None: a constant (the step number)
    number_format: str = "0.000000"

    @property
    def heading(self) -> str:
        """The header cell: math notation, with the machine name below unless it says the same."""
        symbol = self.header.split(" = ")[0]
        return self.header if symbol == self.key else f"{self.header}\n{self.key}"


class Row:
    """The cells a formula of one step's row may refer to."""

    def __init__(self, row: int, positions: dict[str, int]):
        self.row, self.positions = row, positions
        self.first = row == HEADER_ROW + 1

    def __getitem__(self, key: str) -> str:
        return xl_rowcol_to_cell(self.row, self.positions[key])

    def previous(self, key: str) -> str:
        return xl_rowcol_to_cell(self.row - 1, self.positions[key])


def check_fits(spec: Spec) -> None:
    """The workbook lays out one neuron so far; refuse anything else before writing."""
    if spec.layers != [1, 1]:
        raise SpecError("network.layers", f"the workbook shows one neuron (layers = [1, 1]) so far, "
                        f"got {spec.layers}")


def parameters(spec: Spec) -> list[Parameter]:
    return [
        Parameter("input", "input i", spec.inputs[0][0]),
        Parameter("target", "target y", spec.targets[0][0]),
        Parameter("learning_rate", "learning rate r", spec.learning_rate),
        Parameter("initial_weight", "initial weight w", spec.weights[0][0][0]),
    ]


def columns(spec: Spec) -> list[Column]:
    check_fits(spec)
    activation, loss = ACTIVATIONS[spec.activation], LOSSES[spec.loss]
    w, n = weight_name(1, 1, 1), neuron_name(1, 1)
    z, a, dC_da, da_dz = "z" + n, "a" + n, "dC_da" + n, "da_dz" + n
    dz_dw, grad, new = "dz_d" + w, "grad_" + w, "new_" + w
    return [
        Column("step", "step", "the step number", None, "0"),
        Column(w, "w", "the weight at the start of the step: the initial weight in step 1, "
               "then the previous step's w'",
               lambda r: "initial_weight" if r.first else r.previous(new)),
        Column(z, "z = i·w", "the neuron's sum, input times weight", lambda r: f"input*{r[w]}"),
        Column(a, f"a = {activation.symbol}", f"the activation: {activation.words}",
               lambda r: activation.excel_value(r[z])),
        Column("C", f"C = {loss.symbol}", f"the cost: {loss.words}",
               lambda r: loss.excel_value(r[a], "target")),
        Column(dC_da, f"dC/da = {loss.derivative_symbol}", "how the cost changes with the activation",
               lambda r: loss.excel_derivative(r[a], "target")),
        Column(da_dz, f"da/dz = {activation.derivative_symbol}",
               "how the activation changes with the sum", lambda r: activation.excel_derivative(r[z], r[a])),
        Column(dz_dw, "dz/dw = i", "how the sum changes with the weight: the input",
               lambda r: "input"),
        Column(grad, "dC/dw = dC/da·da/dz·dz/dw", "the gradient, by the chain rule: the product "
               "of the three factors to its left", lambda r: f"{r[dC_da]}*{r[da_dz]}*{r[dz_dw]}"),
        Column(new, "w' = w − r·dC/dw", "the updated weight, one step down the gradient",
               lambda r: f"{r[w]}-learning_rate*{r[grad]}"),
    ]


def notes(spec: Spec) -> list[str]:
    """The notes area, as paragraphs ("" between them): what each column computes, in words."""
    lines = ["What each column computes (one row per training step):"]
    lines += [f"{column.header.split(' = ')[0]}: {column.words}." for column in columns(spec)]
    return lines + [
        "",
        "The lesson's famous mistake: on screen it wrote da/dw = a(1 − a), which leaves out the "
        "factor dz/dw = i. The chain rule needs all three factors, dC/dw = dC/da·da/dz·dz/dw; "
        "without i the gradient, and every weight after the first, comes out wrong.",
        "",
        "Edit a yellow cell and the whole table and the chart recalculate. To change the number "
        "of steps, run backprop-xl generate --steps N.",
    ]
