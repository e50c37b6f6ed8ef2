"""Where everything goes on the steps sheet: which quantity sits in which column, its header, the
words that explain it, and its Excel formula for any row (GROUP_BREAK_STEPS: the rows written in
parentheses for LibreOffice); the named cells (parameters, data) that those formulas refer to;
which parameters share a chart, and the names Mazur's readers know them by; a one-parameter run's
cost C(w) as a formula of w, for its cost curve's table.

A step's row holds the parameters at the start of the step; the value of a parameter in step n + 1
is its new value of step n. Columns come grouped by phase: the step (and its sample), parameters,
then per sample group the forward pass layer by layer, the loss and the backward pass from the
output layer down, then averaged gradients (batch mode), updates and the gradient check.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from xlsxwriter.utility import xl_col_to_name, xl_rowcol_to_cell

from . import names
from .names import (EXCEL_COLUMNS, EXCEL_FORMULA_LENGTH, a_key, bias_name, da_dz_key, dC_da_key,
                    dC_dz_key, data_name, initial_name, weight_name, z_key)
from .errors import SpecError
from .kernels import batch_of, batches
from .functions import (FD_STEP_NAME, LEAKY_SLOPE_NAME, LOSSES, activation,
                        excel_relative_difference)
from .spec import Spec

SHEET = "Steps"
DATA_SHEET = "Data"
OVERVIEW_SHEET = "Overview"
SPEC_SHEET = "backprop_xl"  # very hidden: the spec the workbook was made from
SPEC_MARKER = "backprop_xl spec"
# A comparison (comparison.py): its first sheet, and per run a very hidden sheet of the run's spec
# as SPEC_SHEET holds one, numbered from 1 in the order of the runs' steps sheets
COMPARE_SHEET = "Compare"
RUN_SPEC_SHEET = SPEC_SHEET + "_run{number}"


def is_spec_sheet(name: str) -> bool:
    """Whether a sheet holds an embedded spec (SPEC_SHEET, or a comparison's RUN_SPEC_SHEET)."""
    return name.startswith(SPEC_SHEET)


def run_sheet(spec: Spec) -> str:
    """The name of a run's steps sheet in a comparison: its optimizer and learning rate."""
    return f"{spec.optimizer.name} r={spec.learning_rate:g}"


# A run of one trained parameter (the seed lesson) gets a chart of its cost curve C(w) with the
# steps on it; this sheet holds the curve's table, CURVE_POINTS values of w and the cost at each.
COST_CURVE_SHEET = "Cost curve"
CURVE_POINTS = 41
CURVE_TITLE = "Gradient descent on the cost curve C(w)"
HEADER_ROW = 0  # the table's header; step n sits on row n (0-based), Excel row n + 1
CHART_LINES = 8  # parameters a chart shows at most, each in a colour of its own
CHARTS = 8  # charts at most: of more parameters than CHARTS * CHART_LINES, the first are charted
HEADER_CHARACTERS = 14  # a header longer than this breaks into lines (see Column.heading)
QUANTITY_FORMAT = "0.000000"  # the number format of a quantity's cells (workbook.py: SMALL)
ACCURACY_FORMAT = "0.0%"
THRESHOLD_NAME = "gradient_check_threshold"  # the cell of spec.gradient_check_threshold
# The optimizer's hyperparameters, each a yellow cell named by its key in the spec's [optimizer]
# table (spec.OPTIMIZER_KEYS), with its label and its symbol in the headers. nesterov has no cell:
# it is a choice between two formulas, not a number.
HYPERPARAMETERS = {"momentum": ("momentum μ", "μ"), "alpha": ("smoothing constant α", "α"),
                   "beta1": ("first moment's β1", "β1"), "beta2": ("second moment's β2", "β2"),
                   "eps": ("ε, added to the root", "ε")}

# LibreOffice (7.4, and its default: multi-threaded calculation) computes a run of 100 or more
# identical formulas down a column, a formula group, in threads, after first computing every cell
# the group refers to. The steps table is a loop from row to row (w of step n + 1 is w' of step n,
# which needs w of step n) through many columns, and cells computed inside that first pass come out
# Err:522, a circular reference that is not there: thousands of them after a hard recalculation
# (seed's 300 steps: 2,988 of its 3,300 formula cells; mazur's 1,000: 60,924). So on every
# GROUP_BREAK_STEPS-th step's row every formula of the loop is written in redundant parentheses,
# =(J50), which ends each of its columns' runs of identical formulas after at most
# GROUP_BREAK_STEPS - 1 rows, too short to be threaded; every application reads the same value.
# (Runs of 99 rows measured right too: 50 keeps a margin.) The gradient check's columns are outside
# the loop, as no formula reads them: their long runs are threaded and come out right, and their
# text stays one on every row.
GROUP_BREAK_STEPS = 50

# What each column computes, in words: the notes area says each once, in the order of the table.
WORDS = {
    "step": "the step number",
    "sample": "which sample the step trains on: samples 1 to {n} in order, cycling",
    "batch_sample": ("the first sample of the step's batch: batches of {k} samples in order, "
                     "then from sample 1 again"),
    "batch_size": ("how many samples the batch has: {k}, but {last} in an epoch's last batch; "
                   "its groups past that compute on the next samples and count in no mean"),
    "batch_size_even": "how many samples the batch has: {k} in every batch",
    "input": "the sample's inputs, looked up on the Data sheet",
    "target": "the sample's targets",
    "weight": ("the weight at the start of the step: its initial value in step 1, then the "
               "previous step's w'"),
    "bias": "a bias, likewise",
    "sum_single": "the neuron's sum, input times weight",
    "sum": ("a neuron's sum: its weights times its inputs (the inputs, or the activations of the "
            "layer below), plus its bias"),
    "activation": "the activation: {f}",
    "cost": "the cost{sample}: {loss}{outputs}",
    "output_dC_da": "how the cost changes with an output's activation",
    "hidden_dC_da": ("for a hidden neuron, how the cost changes with its activation: through every "
                     "neuron of the layer above it, each weight times that neuron's dC/da·da/dz"),
    "da_dz": "how the activation changes with the sum",
    "softmax_dC_dz": ("how the cost changes with a softmax neuron's sum: each a of the layer "
                      "depends on every z of it (da_j/dz_j = a_j(1 − a_j), da_k/dz_j = −a_k·a_j), "
                      "so dC/dz_j = Σ_k dC/da_k·da_k/dz_j, which comes to a_j(dC/da_j − Σ_k "
                      "dC/da_k·a_k), the Jacobian product, one formula per output"),
    "softmax_hidden_dC_da": ("for a neuron below the softmax layer, how the cost changes with its "
                             "activation: each weight above it times that neuron's dC/dz"),
    "softmax_gradient": "a softmax neuron's weight's gradient: dC/dz times dz/dw",
    "softmax_bias_gradient": "a softmax neuron's bias's gradient: dz/db = 1, so just dC/dz",
    "dz_dw_single": "how the sum changes with the weight: the input",
    "dz_dw": "how the sum changes with a weight: what that weight multiplies",
    "gradient": "the gradient, by the chain rule: the product of the three factors",
    "gradient_on_screen": ("the gradient as the lesson wrote it on screen: dC/da·da/dz, leaving out "
                           "the factor dz/dw"),
    "bias_gradient": "a bias's gradient: dz/db = 1, so just dC/da·da/dz",
    "mean_cost": "the step's cost: the mean over the samples",
    "correct": ("1 if the sample's largest output (the first of equals) is its true class, the "
                "one with the largest target, else 0"),
    "accuracy": ("the step's accuracy: the share of its samples whose largest output is their "
                 "true class"),
    "mean_gradient": "the step's gradient: the mean of the samples' gradients",
    "update": "the updated parameter, one step down the gradient",
    "velocity": ("momentum's velocity: the gradient plus μ times the previous step's velocity (0 "
                 "before the first), so steps along a steady slope grow up to 1/(1 − μ) times"),
    "update_momentum": "the updated parameter, one step along the velocity",
    "update_nesterov": ("the updated parameter, Nesterov's step: the gradient plus μ times the "
                        "new velocity, a look ahead along it"),
    "square_average": ("RMSprop's running average of the squared gradient: α times the previous "
                       "step's (0 before the first) plus 1 − α times the new square"),
    "update_rmsprop": ("the updated parameter: the gradient divided by the root of its running "
                       "average square, so each parameter steps about r whatever its gradient's "
                       "size; ε keeps the division away from 0"),
    "square_sum": "Adagrad's sum of every squared gradient so far",
    "update_adagrad": ("the updated parameter: the gradient divided by the root of the sum of its "
                       "squares, so a parameter's steps shrink as its gradients add up"),
    "first_moment": ("Adam's first moment: a running average of the gradient, β1 times the "
                     "previous step's (0 before the first) plus 1 − β1 times the gradient"),
    "second_moment": ("Adam's second moment: a running average of the squared gradient, with "
                      "β2"),
    "first_moment_hat": ("the first moment corrected for starting at 0: divided by 1 − β1^t, t the "
                         "step number"),
    "second_moment_hat": "the second moment corrected likewise: divided by 1 − β2^t",
    "update_adam": ("the updated parameter, Adam's step: the corrected first moment over the root "
                    "of the corrected second, about r in size whatever the gradient's"),
    "finite_difference": ("the gradient check: a central finite difference of the cost, computed "
                          "by re-running the forward pass with the parameter moved by ±h"),
    "relative_difference": ("how far the chain-rule gradient and the finite difference disagree, "
                            "relative to the larger: near 0 (about 1e-8 or less) when the chain "
                            "rule is right"),
}


@dataclass(frozen=True)
class Parameter:
    """A named cell the user edits; every formula reaches it by its defined name."""

    name: str  # the Excel defined name
    label: str
    value: float


@dataclass(frozen=True)
class ChartGroup:
    """Parameters that share a chart: some or all of one layer's."""

    layer: int
    parameters: list[str]
    part: int  # 1 to parts: a layer of more than CHART_LINES parameters takes several charts
    parts: int


@dataclass(frozen=True)
class Column:
    key: str  # the machine name (names.py), as in the engine's columns
    symbol: str  # the quantity in math notation: dC/dw
    definition: str | None  # how it is computed, in math notation: dC/da·da/dz·dz/dw
    words: str  # what it computes, for the notes area (WORDS)
    formula: Callable[["Row"], str] | None  # None: a constant (the step number)
    phase: str = "forward"  # step, parameters, forward, loss, backward, update, check
    number_format: str = QUANTITY_FORMAT
    parameter: str | None = None  # the weight or bias the column is about, if one

    @property
    def header(self) -> str:
        return f"{self.symbol} = {self.definition}" if self.definition else self.symbol

    @property
    def heading(self) -> list[str]:
        """The header cell's lines: the math notation, and below it the machine name unless the
        notation's one line says the same. Notation longer than HEADER_CHARACTERS breaks after its
        " = ", and its definition where it is longer still (see _wrapped): 2(a − y) stays whole."""
        if len(self.header) <= HEADER_CHARACTERS or not self.definition:
            return [self.header] if self.symbol == self.key else [self.header, self.key]
        return [self.symbol + " ="] + _wrapped(self.definition, HEADER_CHARACTERS) + [self.key]


def _wrapped(formula: str, width: int) -> list[str]:
    """`formula` in lines of at most `width` characters where it can, broken only at spaces
    outside parentheses and never right after a lone symbol (Σ w·a stays whole)."""
    pieces, depth, start = [], 0, 0
    for index, character in enumerate(formula):
        depth += {"(": 1, ")": -1}.get(character, 0)
        if character == " " and depth == 0:
            pieces.append(formula[start:index])
            start = index + 1
    pieces.append(formula[start:])
    lines = [pieces[0]]
    for piece in pieces[1:]:
        if len(lines[-1]) + 1 + len(piece) <= width or len(lines[-1]) == 1:
            lines[-1] += " " + piece
        else:
            lines.append(piece)
    return lines


class Row:
    """The cells a formula of one step's row may refer to."""

    def __init__(self, row: int, positions: dict[str, int]):
        self.row, self.positions = row, positions
        self.first = row == HEADER_ROW + 1

    def __getitem__(self, key: str) -> str:
        return xl_rowcol_to_cell(self.row, self.positions[key])

    def previous(self, key: str) -> str:
        return xl_rowcol_to_cell(self.row - 1, self.positions[key])


class TemplateRow(Row):
    """Any row but the first (or the first): addresses come out as placeholders, {r} for this
    row's number and {p} for the previous row's, so a column's formula is built once."""

    def __init__(self, positions: dict[str, int], first: bool):
        self.positions, self.first = positions, first

    def __getitem__(self, key: str) -> str:
        return xl_col_to_name(self.positions[key]) + "{r}"

    def previous(self, key: str) -> str:
        return xl_col_to_name(self.positions[key]) + "{p}"


class LaterRows:
    """A column's formula for every step after the first, as str.format_map fills a template:
    format_map({"r": row, "p": row - 1}) gives the text of Excel's row `row`; in the loop's
    columns, in parentheses on every GROUP_BREAK_STEPS-th step's row."""

    __slots__ = ("plain", "breaking")

    def __init__(self, template: str, in_loop: bool):  # "=B{r}*input"
        self.plain = template
        self.breaking = f"=({template[1:]})" if in_loop else template

    def format_map(self, numbers: dict) -> str:
        step = numbers["r"] - HEADER_ROW - 1
        return (self.plain if step % GROUP_BREAK_STEPS else self.breaking).format_map(numbers)


class CurveRow(Row):
    """The cells a formula of the cost curve's table (COST_CURVE_SHEET) reads in place of a step's
    row: the trained parameter is the table's w, and, where a step trains on one sample of
    several, the step's inputs and targets are those of one sample, looked up on the Data sheet."""

    def __init__(self, cells: dict[str, str]):
        self.cells, self.first = cells, False

    def __getitem__(self, key: str) -> str:
        return self.cells[key]


class Layout:
    """The table of one spec: its columns, named cells and notes."""

    def __init__(self, spec: Spec):
        self.spec = spec
        # Every trained parameter has a column for its value and one for its gradient: a network
        # too wide for that is refused before its columns are built, which would take minutes.
        if 2 * spec.n_parameters > EXCEL_COLUMNS:
            raise SpecError("network.layers", f"this run needs at least {2 * spec.n_parameters:,} "
                            f"columns, more than Excel's {EXCEL_COLUMNS:,}; use fewer neurons")
        self.activations = [activation(name, spec.leaky_slope) for name in spec.activations]
        self.loss = LOSSES[spec.loss]
        self.depth = len(spec.layers) - 1  # layers of weights
        self.step_samples = spec.step_samples
        self.data_on_sheet = spec.n_samples > 1  # one sample's data sits among the parameters
        self.parameters = spec.parameter_names
        # where each parameter sits in the network, for the formulas that move one of them
        self.places = {p.name: p for p in names.parameters(spec.layers, spec.trains_biases)}
        self.gradient_check = spec.checks_gradient
        self.gradient_check_note = ""
        if self.gradient_check and self._longest_check_formula() > EXCEL_FORMULA_LENGTH:
            if spec.gradient_check:
                raise SpecError("gradient_check", f"the finite-difference formulas of this network "
                                f"exceed Excel's {EXCEL_FORMULA_LENGTH:,} characters; set it false")
            self.gradient_check = False
            self.gradient_check_note = "The gradient check is off: its formulas would be too long."
        self.columns = self._columns()
        if len(self.columns) > EXCEL_COLUMNS:
            raise SpecError("network.layers", f"this run needs {len(self.columns):,} columns, more "
                            f"than Excel's {EXCEL_COLUMNS:,}; use fewer neurons or samples")

    # --- the cells formulas refer to ----------------------------------------------------------

    def named_cells(self) -> list[Parameter]:
        """The named cells the formulas refer to, in order: the editable parameters and the data
        of a single sample (several sit on the Data sheet)."""
        spec = self.spec
        cells = [Parameter("learning_rate", "learning rate r", spec.learning_rate)]
        cells += [Parameter(key, HYPERPARAMETERS[key][0], getattr(spec.optimizer, key))
                  for key in spec.optimizer.to_dict() if key in HYPERPARAMETERS]
        if self.gradient_check:
            cells.append(Parameter(FD_STEP_NAME, "finite-difference step h", spec.fd_step))
        if "leaky_relu" in spec.activations:
            cells.append(Parameter(LEAKY_SLOPE_NAME, "leaky ReLU slope s", spec.leaky_slope))
        if not self.data_on_sheet:
            n_in, n_out = spec.layers[0], spec.layers[-1]
            cells += [Parameter(name, f"input i{k if n_in > 1 else ''}", spec.inputs[0][k - 1])
                      for k, name in enumerate(names.input_names(n_in), start=1)]
            cells += [Parameter(name, f"target y{j if n_out > 1 else ''}", spec.targets[0][j - 1])
                      for j, name in enumerate(names.target_names(n_out), start=1)]
        weights, biases = spec.initial_weights(), spec.initial_biases()
        for index, w in enumerate(weights):
            layer = index + 1
            for j in range(w.shape[0]):
                for k in range(w.shape[1]):
                    name = weight_name(layer, j + 1, k + 1)
                    cells.append(Parameter(initial_name(name), f"initial {self.shown_name(name)}",
                                           float(w[j, k])))
            if biases is not None:
                for j, value in enumerate(biases[index]):
                    name = bias_name(layer, j + 1)
                    label = (f"initial {self.shown_name(name)}" if spec.update_biases else
                             f"bias {self.shown_name(name, 'fixed')}")
                    cells.append(Parameter(initial_name(name), label, float(value)))
        if self.single_neuron:  # the lesson's words
            cells = [Parameter(c.name, "initial weight w" if c.name == "init_w1_1_1" else c.label,
                               c.value) for c in cells]
        return cells

    def parameter_cells(self) -> list[Parameter]:
        """The yellow cells beside the table, in order: the named cells, and after fd_step the
        gradient check's threshold, which no formula reads (only the conditional formats)."""
        cells = self.named_cells()
        if self.gradient_check:
            after = [cell.name for cell in cells].index(FD_STEP_NAME) + 1
            cells.insert(after, Parameter(THRESHOLD_NAME, "gradient check: red above",
                                          self.spec.gradient_check_threshold))
        return cells

    @property
    def mazur_names(self) -> dict[str, str]:
        """Mazur's names for the parameters of a 2-2-2 network, the network of his "A Step by Step
        Backpropagation Example", so that his readers find his numbers: w1 ... w8 for the weights
        in table order (w5 is w2_1_1, the weight from hidden neuron 1 into output 1), b1 and b2
        for the biases of layers 1 and 2 (his network shares one bias per layer). Empty for any
        other network."""
        if self.spec.layers != [2, 2, 2]:
            return {}
        weights = [weight_name(layer, j, k) for layer in (1, 2) for j in (1, 2) for k in (1, 2)]
        names = {weight: f"w{number}" for number, weight in enumerate(weights, start=1)}
        names.update({bias_name(layer, j): f"b{layer}" for layer in (1, 2) for j in (1, 2)})
        return names

    def shown_name(self, parameter: str, *more: str) -> str:
        """A parameter's name as labels show it: with Mazur's name (and `more`) in brackets."""
        extra = [self.mazur_names[parameter]] if parameter in self.mazur_names else []
        extra += more
        return f"{parameter} ({', '.join(extra)})" if extra else parameter

    def chart_groups(self) -> list[ChartGroup]:
        """The trained parameters by chart: each layer's in as few charts of at most CHART_LINES
        as it needs, evenly split; at most CHARTS charts."""
        groups = []
        for layer in range(1, self.depth + 1):
            own = [name for name in self.parameters if self.places[name].layer == layer]
            parts = -(-len(own) // CHART_LINES)
            groups += [ChartGroup(layer, own[part * len(own) // parts:
                                            (part + 1) * len(own) // parts], part + 1, parts)
                       for part in range(parts)]
        return groups[:CHARTS]

    @property
    def single_neuron(self) -> bool:
        return self.spec.layers == [1, 1] and not self.spec.has_biases

    def input_ref(self, r: Row, sample: int, k: int) -> str:
        name = data_name("input", k, self.spec.layers[0])
        if self.spec.cycles_samples:
            return r[names.input_key(k)]
        return self._data_ref(r, sample, name)

    def target_ref(self, r: Row, sample: int, j: int) -> str:
        name = data_name("target", j, self.spec.layers[-1])
        if self.spec.cycles_samples:
            return r[names.target_key(j)]
        return self._data_ref(r, sample, name)

    def _data_ref(self, r: Row, sample: int, name: str) -> str:
        """Group `sample`'s entry of the named data column: the group's own sample in batch mode,
        in minibatch mode the batch's first sample plus the group's place, past the last sample
        (an unused group of an uneven epoch's last batch) from the first again."""
        if self.step_samples == 1:
            return name
        if not self.spec.cycles_batches:
            return f"INDEX({name},{sample + 1})"
        first = r[names.SAMPLE_KEY]
        if sample == 0:
            return f"INDEX({name},{first})"
        if self.spec.uneven_batches:
            before = f"{first}+{sample - 1}" if sample > 1 else first  # the sample before, 0-based
            return f"INDEX({name},MOD({before},{self.spec.n_samples})+1)"
        return f"INDEX({name},{first}+{sample})"

    def mean_formula(self, r: Row, terms: list[str]) -> str:
        """The mean of one number per group (a cell or a parenthesised expression): the AVERAGE
        of all, or where an epoch's last batch is smaller, the groups it uses over its size."""
        if not self.spec.uneven_batches:
            return f"AVERAGE({','.join(terms)})"
        size = r[names.BATCH_KEY]
        counted = [terms[0]] + [f"IF({size}>={s + 1},{term},0)"
                                for s, term in enumerate(terms) if s > 0]
        return f"({'+'.join(counted)})/{size}"

    def activation_ref(self, r: Row, sample: int, layer: int, k: int) -> str:
        """What weight w{layer}_{j}_{k} multiplies: input k, or activation k of the layer below."""
        if layer == 1:
            return self.input_ref(r, sample, k)
        return r[a_key(layer - 1, k, self.suffix(sample))]

    def weight_ref(self, r: Row, layer: int, j: int, k: int) -> str:
        return r[weight_name(layer, j, k)]

    def bias_ref(self, r: Row, layer: int, j: int) -> str | None:
        if not self.spec.has_biases:
            return None
        name = bias_name(layer, j)
        return r[name] if self.spec.update_biases else initial_name(name)

    def suffix(self, sample: int) -> str:
        return names.sample_suffix(self.step_samples, sample)

    def group_samples(self) -> list[int]:
        """The sample of each forward/backward group: all of them in batch mode, else one group."""
        return list(range(self.step_samples))

    # --- formulas ------------------------------------------------------------------------------

    def sum_formula(self, r: Row, sample: int, layer: int, j: int, replace=None) -> str:
        """z = Σ w·a + b for neuron j of `layer`; `replace` maps a parameter's cell to an expression."""
        replace = replace or {}
        terms = []
        for k in range(1, self.spec.layers[layer - 1] + 1):
            w = self.weight_ref(r, layer, j, k)
            terms.append(f"{replace.get(w, w)}*{self.activation_ref(r, sample, layer, k)}")
        bias = self.bias_ref(r, layer, j)
        if bias is not None:
            terms.append(replace.get(bias, bias))
        return "+".join(terms)

    def cost_formula(self, r: Row, sample: int, outputs: list[str]) -> str:
        return "+".join(self.loss.excel_value(a, self.target_ref(r, sample, j))
                        for j, a in enumerate(outputs, start=1))

    def perturbed_cost(self, r: Row, parameter: str, change: str) -> str:
        """The step's cost as one expression, with `parameter` moved by `change` ("+fd_step"):
        layers below the parameter's reuse the row's cells; its layer and those above recompute."""
        layer, neuron = self.places[parameter].layer, self.places[parameter].neuron
        cell = r[parameter]
        replace = {cell: f"({cell}{change})"}
        costs = []
        for sample in self.group_samples():
            suffix = self.suffix(sample)
            f, width = self.activations[layer - 1], self.spec.layers[layer]
            if f.of_layer:  # every a of the layer moves with the neuron's z
                zs = [f"({self.sum_formula(r, sample, layer, j, replace)})" if j == neuron
                      else r[z_key(layer, j, suffix)] for j in range(1, width + 1)]
                values = dict(enumerate(f.excel_values(zs), start=1))
            else:
                values = {j: f.excel_value(f"({self.sum_formula(r, sample, layer, j, replace)})")
                          if j == neuron else r[a_key(layer, j, suffix)]
                          for j in range(1, width + 1)}
            for above in range(layer + 1, self.depth + 1):
                below, zs = values, []
                for j in range(1, self.spec.layers[above] + 1):
                    terms = [f"{self.weight_ref(r, above, j, k)}*({below[k]})" for k in below]
                    bias = self.bias_ref(r, above, j)
                    zs.append("(" + "+".join(terms + ([bias] if bias else [])) + ")")
                values = dict(enumerate(self.activations[above - 1].excel_values(zs), start=1))
            costs.append(self.cost_formula(r, sample, [f"({values[j]})" for j in sorted(values)]))
        if len(costs) == 1:
            return costs[0]
        if self.spec.uneven_batches:
            return self.mean_formula(r, [f"({c})" for c in costs])
        return f"({'+'.join(f'({c})' for c in costs)})/{len(costs)}"

    # --- the cost curve C(w) of a one-parameter run ----------------------------------------------

    def curve_cost(self, w: str) -> str:
        """The cost as a formula of the one trained parameter, at `w` (a cell of the cost curve's
        table): the step's cost as perturbed_cost writes it, the parameter replaced by w, so the
        mean over the samples in batch mode, as the step's C is. Where each step trains on one
        sample of several (stochastic mode) and its C is that sample's cost, there is no one
        step's cost to draw: the curve is the mean cost over all the samples, each sample's cost
        as perturbed_cost writes a step's on it, the curve each step goes down on average."""
        [parameter] = self.parameters
        if not self.spec.cycles_samples:
            return self.perturbed_cost(CurveRow({parameter: w}), parameter, "")
        n_in, n_out = self.spec.layers[0], self.spec.layers[-1]
        costs = []
        for sample in range(1, self.spec.n_samples + 1):
            cells = {parameter: w}
            cells.update({names.input_key(k): f"INDEX({name},{sample})"
                          for k, name in enumerate(names.input_names(n_in), start=1)})
            cells.update({names.target_key(j): f"INDEX({name},{sample})"
                          for j, name in enumerate(names.target_names(n_out), start=1)})
            costs.append(self.perturbed_cost(CurveRow(cells), parameter, ""))
        return f"({'+'.join(f'({c})' for c in costs)})/{len(costs)}"

    @property
    def cost_curve(self) -> bool:
        """Whether the workbook draws the cost curve C(w) with the steps on it: a run of one
        trained parameter (the seed lesson) whose curve_cost formula fits in a cell."""
        if len(self.parameters) != 1 or self.spec.cycles_batches:
            return False
        longest = "XFD1048576"  # no cell's address is longer
        return len(self.curve_cost(longest)) + 1 <= EXCEL_FORMULA_LENGTH

    def chart_count(self) -> int:
        """The charts beside the table: a classifier's cost and accuracy, the cost and
        parameters' (chart_groups), and the cost curve's where there is one."""
        return self.spec.classifies + len(self.chart_groups()) + self.cost_curve

    def _longest_check_formula(self) -> int:
        positions = {key: index for index, key in enumerate(self._probe_keys())}
        r = Row(HEADER_ROW + 2, positions)
        return max((len(self.perturbed_cost(r, p, f"+{FD_STEP_NAME}")) * 2 + 20
                    for p in self.parameters), default=0)

    def _probe_keys(self) -> list[str]:
        # Every key a formula can name, to measure formulas before the columns exist.
        keys = ["step", names.SAMPLE_KEY, names.BATCH_KEY] + self.parameters
        keys += [names.input_key(k) for k in range(1, self.spec.layers[0] + 1)]
        keys += [names.target_key(j) for j in range(1, self.spec.layers[-1] + 1)]
        for sample in self.group_samples():
            for layer in range(1, self.depth + 1):
                keys += [key(layer, j, self.suffix(sample)) for key in (z_key, a_key)
                         for j in range(1, self.spec.layers[layer] + 1)]
        return keys

    # --- the columns -----------------------------------------------------------------------

    def _columns(self) -> list[Column]:
        """Every column in table order: the step, the parameters, per sample group the forward
        pass, the cost and the backward pass, then the means, the optimizer's state, the updates
        and the check."""
        columns = self._step_columns() + self._parameter_columns()
        for sample in self.group_samples():
            columns += self._forward_columns(sample)
            columns.append(self._cost_column(sample))
            if self.spec.classifies:
                columns.append(self._correct_column(sample))
            columns += self._backward_columns(sample)
        if self.step_samples > 1:
            columns += self._mean_columns()
        columns += self._state_columns()
        columns += self._update_columns()
        if self.gradient_check:
            columns += self._check_columns()
        return columns

    def _step_columns(self) -> list[Column]:
        """The step number, and where a step trains on one sample of several, which one and its
        inputs and targets."""
        spec = self.spec
        columns = [Column("step", "step", None, WORDS["step"], None, "step", "0")]
        n, k = spec.n_samples, spec.step_samples
        if spec.cycles_batches:
            epoch = batches(n, k)
            last = batch_of(epoch, k, n)[1]
            columns.append(Column(names.SAMPLE_KEY, "sample", None,
                                  WORDS["batch_sample"].format(k=k),
                                  lambda r: f"MOD({r['step']}-1,{epoch})*{k}+1", "step", "0"))
            words = (WORDS["batch_size"].format(k=k, last=last) if spec.uneven_batches
                     else WORDS["batch_size_even"].format(k=k))
            columns.append(Column(names.BATCH_KEY, "batch", None, words,
                                  lambda r: f"MIN({k},{n + 1}-{r[names.SAMPLE_KEY]})", "step",
                                  "0"))
        if not self.spec.cycles_samples:
            return columns
        columns.append(Column(names.SAMPLE_KEY, "sample", None, WORDS["sample"].format(n=n),
                              lambda r: f"MOD({r['step']}-1,{n})+1", "step", "0"))
        for k, name in enumerate(names.input_names(spec.layers[0]), start=1):
            columns.append(Column(names.input_key(k), "i", None, WORDS["input"],
                                  lambda r, name=name: f"INDEX({name},{r[names.SAMPLE_KEY]})",
                                  "step"))
        for j, name in enumerate(names.target_names(spec.layers[-1]), start=1):
            columns.append(Column(names.target_key(j), "y", None, WORDS["target"],
                                  lambda r, name=name: f"INDEX({name},{r[names.SAMPLE_KEY]})",
                                  "step"))
        return columns

    def _parameter_columns(self) -> list[Column]:
        return [Column(name, name[0], None,
                       WORDS["bias" if self.places[name].source is None else "weight"],
                       lambda r, name=name: (initial_name(name) if r.first
                                             else r.previous(names.new_key(name))),
                       "parameters", parameter=name)
                for name in self.parameters]

    def _forward_columns(self, sample: int) -> list[Column]:
        """Each neuron's sum and activation, layer by layer."""
        spec, suffix, one = self.spec, self.suffix(sample), self.single_neuron
        columns = []
        for layer in range(1, self.depth + 1):
            f = self.activations[layer - 1]
            for j in range(1, spec.layers[layer] + 1):
                z, a = z_key(layer, j, suffix), a_key(layer, j, suffix)
                definition = "i·w" if one else (f"Σ w·{'i' if layer == 1 else 'a'}"
                                                + (" + b" if spec.has_biases else ""))
                columns.append(Column(z, "z", definition, WORDS["sum_single" if one else "sum"],
                                      lambda r, l=layer, j=j: self.sum_formula(r, sample, l, j)))
                zs = [z_key(layer, k, suffix) for k in range(1, spec.layers[layer] + 1)]
                columns.append(Column(a, "a", f.symbol, WORDS["activation"].format(f=f.words),
                                      lambda r, f=f, zs=zs, j=j: f.excel_values(
                                          [r[z] for z in zs])[j - 1]))
        return columns

    def _cost_column(self, sample: int) -> Column:
        """The sample's cost, over every output."""
        suffix, outputs = self.suffix(sample), self.spec.layers[-1]
        several = outputs > 1
        words = WORDS["cost"].format(
            sample=" of the sample" if self.step_samples > 1 else "", loss=self.loss.words,
            outputs=", summed over the outputs" if several else "")
        activations = [a_key(self.depth, j, suffix) for j in range(1, outputs + 1)]
        return Column(names.cost_key(suffix), "C", f"{'Σ ' if several else ''}{self.loss.symbol}",
                      words, lambda r: self.cost_formula(r, sample, [r[a] for a in activations]),
                      "loss")

    def _correct_column(self, sample: int) -> Column:
        """A classifier's 1 or 0: whether the sample's largest output is its true class (as
        engine.Run.correct); with one sample a step, that is the step's accuracy."""
        suffix, outputs = self.suffix(sample), range(1, self.spec.layers[-1] + 1)

        def formula(r: Row) -> str:
            a = [r[a_key(self.depth, j, suffix)] for j in outputs]
            y = [self.target_ref(r, sample, j) for j in outputs]
            largest = f"MAX({','.join(a)})"
            chosen = y[-1]  # the target of the first largest output
            for a_j, y_j in reversed(list(zip(a[:-1], y[:-1]))):
                chosen = f"IF({a_j}={largest},{y_j},{chosen})"
            return f"IF({chosen}>=MAX({','.join(y)}),1,0)"
        if self.step_samples > 1:
            return Column(names.correct_key(suffix), "correct", None, WORDS["correct"], formula,
                          "loss", "0")
        return Column(names.ACCURACY_KEY, "accuracy", None, WORDS["accuracy"], formula, "loss",
                      "0")

    def _backward_columns(self, sample: int) -> list[Column]:
        """The chain rule's factors and the gradients, from the output layer down."""
        columns = []
        for layer in reversed(range(1, self.depth + 1)):
            columns += self._factor_columns(sample, layer)
            columns += self._gradient_columns(sample, layer)
        return columns

    def _factor_columns(self, sample: int, layer: int) -> list[Column]:
        """dC/da and da/dz of each neuron of `layer`."""
        spec, suffix = self.spec, self.suffix(sample)
        f = self.activations[layer - 1]
        columns = []
        for j in range(1, spec.layers[layer] + 1):
            z, a = z_key(layer, j, suffix), a_key(layer, j, suffix)
            if layer == self.depth:
                columns.append(Column(
                    dC_da_key(layer, j, suffix), "dC/da", self.loss.derivative_symbol,
                    WORDS["output_dC_da"],
                    lambda r, a=a, j=j: self.loss.excel_derivative(r[a], self.target_ref(r, sample, j)),
                    "backward"))
            elif self.activations[layer].of_layer:  # the layer above is a softmax
                above = range(1, spec.layers[layer + 1] + 1)
                columns.append(Column(
                    dC_da_key(layer, j, suffix), "dC/da", "Σ w·dC/dz",
                    WORDS["softmax_hidden_dC_da"],
                    lambda r, l=layer, j=j, above=above: "+".join(
                        f"{self.weight_ref(r, l + 1, k, j)}*{r[dC_dz_key(l + 1, k, suffix)]}"
                        for k in above), "backward"))
            else:
                above = range(1, spec.layers[layer + 1] + 1)
                columns.append(Column(
                    dC_da_key(layer, j, suffix), "dC/da", "Σ w·dC/da·da/dz", WORDS["hidden_dC_da"],
                    lambda r, l=layer, j=j, above=above: "+".join(
                        f"{self.weight_ref(r, l + 1, k, j)}*{r[dC_da_key(l + 1, k, suffix)]}*"
                        f"{r[da_dz_key(l + 1, k, suffix)]}" for k in above), "backward"))
            if f.of_layer:
                columns.append(self._softmax_dC_dz_column(sample, layer, j))
                continue
            columns.append(Column(da_dz_key(layer, j, suffix), "da/dz", f.derivative_symbol,
                                  WORDS["da_dz"],
                                  lambda r, f=f, z=z, a=a: f.excel_derivative(r[z], r[a]),
                                  "backward"))
        return columns

    def _softmax_dC_dz_column(self, sample: int, layer: int, j: int) -> Column:
        """dC/dz of neuron j of a softmax layer: a_j(dC/da_j − Σ_k dC/da_k·a_k), the sum in neuron
        order, as the engine's step takes it (kernels._backward)."""
        suffix, width = self.suffix(sample), self.spec.layers[layer]

        def formula(r: Row) -> str:
            weighted = "+".join(f"{r[dC_da_key(layer, k, suffix)]}*{r[a_key(layer, k, suffix)]}"
                                for k in range(1, width + 1))
            return (f"{r[a_key(layer, j, suffix)]}*({r[dC_da_key(layer, j, suffix)]}-"
                    f"({weighted}))")
        return Column(dC_dz_key(layer, j, suffix), "dC/dz", self.activations[layer - 1]
                      .derivative_symbol, WORDS["softmax_dC_dz"], formula, "backward")

    def _gradient_columns(self, sample: int, layer: int) -> list[Column]:
        """dz/dw and dC/dw of each weight of `layer`, and dC/db of each bias that trains."""
        spec, suffix, one = self.spec, self.suffix(sample), self.single_neuron
        chain_rule = spec.gradient == "chain_rule"
        columns = []
        softmax = self.activations[layer - 1].of_layer
        for j in range(1, spec.layers[layer] + 1):
            dC_da, da_dz = dC_da_key(layer, j, suffix), da_dz_key(layer, j, suffix)
            dC_dz = dC_dz_key(layer, j, suffix)
            for k in range(1, spec.layers[layer - 1] + 1):
                w = weight_name(layer, j, k)
                dz_dw = names.dz_dw_key(w, suffix)
                columns.append(Column(
                    dz_dw, "dz/dw", "i" if layer == 1 else "a",
                    WORDS["dz_dw_single" if one else "dz_dw"],
                    lambda r, k=k: self.activation_ref(r, sample, layer, k), "backward",
                    parameter=w))
                if softmax and chain_rule:  # no da/dz of its own: dC/dz
                    definition, words = "dC/dz·dz/dw", WORDS["softmax_gradient"]
                    formula = lambda r, dC_dz=dC_dz, dz_dw=dz_dw: f"{r[dC_dz]}*{r[dz_dw]}"
                elif softmax:
                    definition, words = "dC/dz (as on screen)", WORDS["gradient_on_screen"]
                    formula = lambda r, dC_dz=dC_dz: r[dC_dz]
                elif chain_rule:
                    definition, words = "dC/da·da/dz·dz/dw", WORDS["gradient"]
                    formula = (lambda r, dC_da=dC_da, da_dz=da_dz, dz_dw=dz_dw:
                               f"{r[dC_da]}*{r[da_dz]}*{r[dz_dw]}")
                else:
                    definition, words = "dC/da·da/dz (as on screen)", WORDS["gradient_on_screen"]
                    formula = lambda r, dC_da=dC_da, da_dz=da_dz: f"{r[dC_da]}*{r[da_dz]}"
                columns.append(Column(names.gradient_key(w, suffix), "dC/dw", definition, words,
                                      formula, "backward", parameter=w))
            if spec.trains_biases and softmax:
                b = bias_name(layer, j)
                columns.append(Column(
                    names.gradient_key(b, suffix), "dC/db", "dC/dz",
                    WORDS["softmax_bias_gradient"], lambda r, dC_dz=dC_dz: r[dC_dz], "backward",
                    parameter=b))
            elif spec.trains_biases:
                b = bias_name(layer, j)
                columns.append(Column(
                    names.gradient_key(b, suffix), "dC/db", "dC/da·da/dz", WORDS["bias_gradient"],
                    lambda r, dC_da=dC_da, da_dz=da_dz: f"{r[dC_da]}*{r[da_dz]}", "backward",
                    parameter=b))
        return columns

    def _mean_columns(self) -> list[Column]:
        """Batch and minibatch mode: the step's cost and gradients, means over its samples."""
        suffixes = [self.suffix(sample) for sample in self.group_samples()]
        columns = [Column(names.cost_key(), "C", "mean", WORDS["mean_cost"],
                          lambda r: self.mean_formula(r, [r[names.cost_key(s)] for s in suffixes]),
                          "loss")]
        if self.spec.classifies:
            columns.append(Column(names.ACCURACY_KEY, "accuracy", "mean", WORDS["accuracy"],
                                  lambda r: self.mean_formula(
                                      r, [r[names.correct_key(s)] for s in suffixes]),
                                  "loss", ACCURACY_FORMAT))
        columns += [Column(names.gradient_key(name), f"dC/d{name[0]}", "mean",
                           WORDS["mean_gradient"],
                           lambda r, name=name: self.mean_formula(
                               r, [r[names.gradient_key(name, s)] for s in suffixes]),
                           "backward", parameter=name)
                    for name in self.parameters]
        return columns

    def _state_columns(self) -> list[Column]:
        """The optimizer's state after the step, piece by piece (names.STATE_COLUMNS), a column
        per parameter each: a running average or sum over the previous row's, from 0 before the
        first step, as torch.optim's rules (kernels._update) say."""
        optimizer = self.spec.optimizer.name
        return [self._state_column(key, name) for _, key in names.STATE_COLUMNS[optimizer]
                for name in self.parameters]

    def _state_column(self, key: Callable[[str], str], name: str) -> Column:
        """Column `key(name)` of the optimizer's state. In the headers s is the state before the
        step (the previous row's) and s' after it, as w and w' are the parameter's."""
        gradient = f"dC/d{name[0]}"

        def running(decay: str | None, weight: str | None, term: Callable[[Row], str]):
            """decay·previous + weight·term over the rows; before the first step the previous
            is 0, which a first row without it gives exactly (0 + x = x)."""
            def formula(r: Row) -> str:
                new = term(r) if weight is None else f"{weight}*{term(r)}"
                if r.first:
                    return new
                previous = r.previous(key(name))
                return f"{previous}+{new}" if decay is None else f"{decay}*{previous}+{new}"
            return formula

        g = lambda r: r[names.gradient_key(name)]  # noqa: E731 - one cell
        square = lambda r: f"({g(r)}*{g(r)})"  # noqa: E731

        def corrected(moment, beta: str):
            return lambda r: f"{r[moment(name)]}/(1-{beta}^{r['step']})"

        if key is names.velocity_key:
            return Column(key(name), "v'", f"μ·v + {gradient}", WORDS["velocity"],
                          running("momentum", None, g), "update", parameter=name)
        if key is names.square_average_key:
            return Column(key(name), "s'", f"α·s + (1 − α)·({gradient})²", WORDS["square_average"],
                          running("alpha", "(1-alpha)", square), "update", parameter=name)
        if key is names.square_sum_key:
            return Column(key(name), "G'", f"G + ({gradient})²", WORDS["square_sum"],
                          running(None, None, square), "update", parameter=name)
        if key is names.first_moment_key:
            return Column(key(name), "m'", f"β1·m + (1 − β1)·{gradient}", WORDS["first_moment"],
                          running("beta1", "(1-beta1)", g), "update", parameter=name)
        if key is names.second_moment_key:
            return Column(key(name), "v'", f"β2·v + (1 − β2)·({gradient})²",
                          WORDS["second_moment"], running("beta2", "(1-beta2)", square), "update",
                          parameter=name)
        if key is names.first_moment_hat_key:
            return Column(key(name), "m̂", "m'/(1 − β1^t)", WORDS["first_moment_hat"],
                          corrected(names.first_moment_key, "beta1"), "update", parameter=name)
        assert key is names.second_moment_hat_key
        return Column(key(name), "v̂", "v'/(1 − β2^t)", WORDS["second_moment_hat"],
                      corrected(names.second_moment_key, "beta2"), "update", parameter=name)

    def _update_columns(self) -> list[Column]:
        """Each parameter's new value, by the optimizer's rule (kernels._update)."""
        optimizer = self.spec.optimizer
        columns = []
        for name in self.parameters:
            symbol, gradient = name[0], names.gradient_key(name)
            if optimizer.name == "momentum" and optimizer.nesterov:
                definition, words = f"{symbol} − r·(dC/d{symbol} + μ·v')", "update_nesterov"
                step = lambda r, name=name, gradient=gradient: (
                    f"({r[gradient]}+momentum*{r[names.velocity_key(name)]})")
            elif optimizer.name == "momentum":
                definition, words = f"{symbol} − r·v'", "update_momentum"
                step = lambda r, name=name: r[names.velocity_key(name)]
            elif optimizer.name in ("rmsprop", "adagrad"):
                state, below = ((names.square_average_key, "s'") if optimizer.name == "rmsprop"
                                else (names.square_sum_key, "G'"))
                definition = f"{symbol} − r·dC/d{symbol}/(√{below} + ε)"
                words = f"update_{optimizer.name}"
                step = lambda r, state=state, name=name, gradient=gradient: (
                    f"{r[gradient]}/(SQRT({r[state(name)]})+eps)")
            elif optimizer.name == "adam":
                definition, words = f"{symbol} − r·m̂/(√v̂ + ε)", "update_adam"
                step = lambda r, name=name: (f"{r[names.first_moment_hat_key(name)]}/"
                                             f"(SQRT({r[names.second_moment_hat_key(name)]})+eps)")
            else:
                definition, words = f"{symbol} − r·dC/d{symbol}", "update"
                step = lambda r, gradient=gradient: r[gradient]
            columns.append(Column(names.new_key(name), f"{symbol}'", definition, WORDS[words],
                                  lambda r, name=name, step=step: (f"{r[name]}-learning_rate*"
                                                                   f"{step(r)}"),
                                  "update", parameter=name))
        return columns

    def _check_columns(self) -> list[Column]:
        """Per parameter, a central finite difference of the cost and its relative difference to
        the gradient."""
        columns = []
        for name in self.parameters:
            symbol = name[0]
            fd, gradient = names.finite_difference_key(name), names.gradient_key(name)
            columns.append(Column(
                fd, f"(C({symbol}+h) − C({symbol}−h))/2h", None, WORDS["finite_difference"],
                lambda r, name=name: (f"(({self.perturbed_cost(r, name, '+' + FD_STEP_NAME)})-"
                                      f"({self.perturbed_cost(r, name, '-' + FD_STEP_NAME)}))"
                                      f"/(2*{FD_STEP_NAME})"), "check", parameter=name))
            columns.append(Column(
                names.relative_difference_key(name), "rel. difference", None,
                WORDS["relative_difference"],
                lambda r, fd=fd, gradient=gradient: excel_relative_difference(r[gradient], r[fd]),
                "check", "0.00E+00", parameter=name))
        return columns

    def relative_differences(self) -> dict[int, tuple[int, int]]:
        """Each relative difference column (by index): the columns of the gradient and the finite
        difference it compares."""
        index = {column.key: i for i, column in enumerate(self.columns)}
        return {index[names.relative_difference_key(name)]:
                (index[names.gradient_key(name)], index[names.finite_difference_key(name)])
                for name in self.parameters if names.relative_difference_key(name) in index}

    def formulas(self) -> list[tuple[str, LaterRows] | None]:
        """Per column, its formula for the first step's row and for any later row (None for a
        constant): templates whose format_map({"r": row, "p": row - 1}) gives the text of Excel's
        row `row`; this is the one place that says what formula a cell holds."""
        positions = {column.key: index for index, column in enumerate(self.columns)}
        first, later = TemplateRow(positions, True), TemplateRow(positions, False)
        return [None if column.formula is None else
                ("=" + column.formula(first),
                 LaterRows("=" + column.formula(later), in_loop=column.phase != "check"))
                for column in self.columns]

    # --- words ---------------------------------------------------------------------------------

    def notes(self) -> list[str]:
        """The notes area, as paragraphs ("" between them): what each column computes, in words."""
        lines = ["What each column computes (one row per training step):"]
        said = set()
        for column in self.columns:  # columns alike (layers, samples, parameters) say it once
            if column.words not in said:
                lines.append(f"{column.symbol}: {column.words}.")
                said.add(column.words)
        if self.gradient_check:
            lines += ["", f"The relative differences turn red above the threshold in the yellow "
                      f"cell {THRESHOLD_NAME}: there the chain-rule gradient and the finite "
                      "difference disagree, so the gradient's formula is wrong; green at or below "
                      "it. A lone red cell where the gradient is near 0 is rounding, not a wrong "
                      "formula."]
        if self.spec.gradient == "without_dz_dw":
            lines += ["", "This workbook follows the lesson exactly as shown on screen: its dC/dw "
                      "leaves out the factor dz/dw. The gradient check exposes the mistake: the "
                      "finite difference disagrees with that dC/dw by a relative difference of "
                      "about 1/3, red on every row."]
        elif self.single_neuron:
            lines += ["", "The lesson's famous mistake: on screen it wrote da/dw = a(1 − a), which "
                      "leaves out the factor dz/dw = i. The chain rule needs all three factors, "
                      "dC/dw = dC/da·da/dz·dz/dw; without i the gradient, and every weight after "
                      "the first, comes out wrong."]
        if self.activations[-1].of_layer:
            lines += ["", *self.softmax_notes()]
        if self.mazur_names:
            lines += ["", "In brackets in the labels and the chart legends, and in the notes of "
                      "the headers: the names of Mazur's \"A Step by Step Backpropagation "
                      "Example\", whose network is 2-2-2 like this one: w1 ... w8 are w1_1_1 ... "
                      "w2_2_2 in table order (w5 is w2_1_1), b1 and b2 the biases of layers 1 and "
                      "2."]
        if self.gradient_check_note:
            lines += ["", self.gradient_check_note]
        if self.cost_curve:
            lines += ["", *self.cost_curve_notes()]
        charts = "the charts" if self.chart_count() > 1 else "the chart"
        lines += ["", f"Edit a yellow cell and the whole table and {charts} recalculate. For "
                  "another number of steps, keeping what you edited: backprop-xl regenerate "
                  "BOOK.xlsx --steps N (BOOK.xlsx: this workbook)."]
        return lines

    def softmax_notes(self) -> list[str]:
        """Why a softmax output's dC/dz is one formula per output, and what it comes to with
        cross-entropy (one paragraph)."""
        words = ("The softmax output: each a = e^z/Σ e^z depends on every z of the layer, so "
                 "there is no da/dz column; dC/dz = a(dC/da − Σ dC/da·a) adds up every path from "
                 "z to the cost (the Jacobian product), and the weights' gradients are dC/dz·dz/dw.")
        if self.loss.needs_distribution:
            words += (" With cross-entropy, dC/da = −y/a, so dC/dz = a(−y/a + Σ y) = a − y, as "
                      "the targets sum to 1: the columns compute the general formula and arrive "
                      "at a − y (where no a is clipped).")
        return [words]

    def cost_curve_notes(self) -> list[str]:
        """What the cost curve's chart shows, in words (one paragraph)."""
        spec = self.spec
        n = spec.n_samples
        words = (f"The chart \"{CURVE_TITLE}\" is the lesson's picture, a ball rolling down a "
                 f"curve, in this workbook's own numbers: the line is the cost C at "
                 f"{CURVE_POINTS} values of w (live formulas on the sheet \"{COST_CURVE_SHEET}\", "
                 f"spanning every step's w), the dots are the steps, each row's w and C, walking "
                 f"down it.")
        if spec.cycles_samples:
            words += (f" Here each step trains on one sample and its C is that sample's cost, "
                      f"while the line is the mean cost over all {n} samples: the dots lie off "
                      f"the line, each on its own sample's curve, and the walk goes down the mean "
                      f"curve only on average.")
        elif n > 1:
            words += f" C(w) is the mean cost over the {n} samples, as each step's C is."
        return [words]
