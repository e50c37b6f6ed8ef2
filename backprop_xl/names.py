"""The names every part of backprop_xl shares, each spelled here once: the layers of a network, the
machine names of its parameters and of every quantity of a step (the keys of the engine's columns,
the workbook's columns and the UDFs' rows alike), the defined names of the workbook's data, and the
limits and markers of Excel that several modules obey.

The naming convention: layer 1 is the first after the inputs; w{l}_{j}_{k} is the weight from
input k into neuron j of layer l (1-based), b{l}_{j} that neuron's bias; z{l}_{j} and a{l}_{j} are
its sum and activation, dC_da{l}_{j} and da_dz{l}_{j} two factors of the chain rule, dz_d{w} the
third (for a softmax layer, whose neurons have no da/dz of their own, dC_dz{l}_{j} stands for the
product of the first two), grad_{p} a parameter's gradient, new_{p} its updated value, fd_{p} its finite difference
and reldiff_{p} how far the two differ. In batch mode with several samples a step, per-sample
quantities end in _s{n}. x{k} and y{j} are the inputs and targets of the step's sample. An
optimizer's state after a step, per parameter p (spec.OPTIMIZERS, torch.optim's names in
brackets): velocity_{p} the momentum's velocity b_t (momentum_buffer); sqavg_{p} RMSprop's running
average of squared gradients v_t (square_avg); sqsum_{p} Adagrad's sum of squared gradients
(state_sum); m_{p} and v_{p} Adam's first and second moments (exp_avg, exp_avg_sq), mhat_{p} and
vhat_{p} the two bias-corrected.

It imports nothing of the package: every other module may use it.
"""

from __future__ import annotations

from typing import NamedTuple, Sequence

EXCEL_COLUMNS = 16_384
EXCEL_FORMULA_LENGTH = 8_192
# What a cell shows where the engine's number is not finite: Excel has no inf or NaN, and an
# overflowing formula gives #NUM!. The workbook caches it, the UDFs return it, verify expects it.
OVERFLOW = "#NUM!"


class Layer(NamedTuple):
    """One layer of weights: its number (1 is the first after the inputs), how many inputs each
    of its neurons takes and how many neurons it has."""

    number: int
    inputs: int
    neurons: int


def layers(sizes: Sequence[int]) -> list[Layer]:
    """The layers of a network of `sizes` (inputs first, as spec.layers), in order."""
    return [Layer(number, n_in, n_out)
            for number, (n_in, n_out) in enumerate(zip(sizes[:-1], sizes[1:]), start=1)]


# --- parameters --------------------------------------------------------------------------------

def weight_name(layer: int, neuron: int, source: int) -> str:
    return f"w{layer}_{neuron}_{source}"


def bias_name(layer: int, neuron: int) -> str:
    return f"b{layer}_{neuron}"


class Parameter(NamedTuple):
    """A trained parameter's place: weight w{layer}_{neuron}_{source}, or bias b{layer}_{neuron}
    (source None)."""

    layer: int
    neuron: int
    source: int | None

    @property
    def name(self) -> str:
        if self.source is None:
            return bias_name(self.layer, self.neuron)
        return weight_name(self.layer, self.neuron, self.source)


def parameters(sizes: Sequence[int], trains_biases: bool) -> list[Parameter]:
    """The trained parameters in the order of every table: layer by layer, weights (neuron by
    neuron, input by input) then biases."""
    found = []
    for layer in layers(sizes):
        found += [Parameter(layer.number, j, k) for j in range(1, layer.neurons + 1)
                  for k in range(1, layer.inputs + 1)]
        if trains_biases:
            found += [Parameter(layer.number, j, None) for j in range(1, layer.neurons + 1)]
    return found


def parameter_names(sizes: Sequence[int], trains_biases: bool) -> list[str]:
    return [parameter.name for parameter in parameters(sizes, trains_biases)]


def initial_name(parameter: str) -> str:
    """The defined name of a parameter's cell of step 1."""
    return f"init_{parameter}"


# --- the data ----------------------------------------------------------------------------------

def data_name(kind: str, index: int, width: int) -> str:
    """The defined name of an input or target column: plain when there is only one."""
    return kind if width == 1 else f"{kind}_{index}"


def input_names(width: int) -> list[str]:
    return [data_name("input", k, width) for k in range(1, width + 1)]


def target_names(width: int) -> list[str]:
    return [data_name("target", j, width) for j in range(1, width + 1)]


# With standardized inputs (spec.standardize), input_{k} names the standardized column, which the
# steps read, and these the Data sheet's other cells of input k: the numbers as given, and the
# mean and population standard deviation of those.

def raw_input_name(k: int, width: int) -> str:
    """The defined name of input k's column as given, before standardizing."""
    return f"{data_name('input', k, width)}_raw"


def input_mean_name(k: int, width: int) -> str:
    """The defined name of the cell holding the mean of input k's column as given."""
    return f"{data_name('input', k, width)}_mean"


def input_sd_name(k: int, width: int) -> str:
    """The defined name of the cell holding the population standard deviation of input k's
    column as given."""
    return f"{data_name('input', k, width)}_sd"


def raw_input_names(width: int) -> list[str]:
    return [raw_input_name(k, width) for k in range(1, width + 1)]


# --- the quantities of a step: column keys -----------------------------------------------------

def sample_suffix(step_samples: int, sample: int) -> str:
    """How per-sample names end (sample is 0-based): nothing when a step uses one sample."""
    return "" if step_samples == 1 else f"_s{sample + 1}"


def neuron_name(layer: int, neuron: int) -> str:
    return f"{layer}_{neuron}"


# Where each step trains on some samples of several: the first of them (1-based), and in
# minibatch mode how many (an epoch's last batch may have fewer than batch_size).
SAMPLE_KEY = "sample"
BATCH_KEY = "batch"


def input_key(k: int) -> str:
    return f"x{k}"


def target_key(j: int) -> str:
    return f"y{j}"


def z_key(layer: int, j: int, suffix: str = "") -> str:
    return f"z{neuron_name(layer, j)}{suffix}"


def a_key(layer: int, j: int, suffix: str = "") -> str:
    return f"a{neuron_name(layer, j)}{suffix}"


def cost_key(suffix: str = "") -> str:
    return "C" + suffix


# A classifier's (softmax output's): whether a sample's largest output is its true class (1 or 0),
# and the share of the step's samples for which it is.
def correct_key(suffix: str = "") -> str:
    return "correct" + suffix


ACCURACY_KEY = "accuracy"


def dC_da_key(layer: int, j: int, suffix: str = "") -> str:
    return f"dC_da{neuron_name(layer, j)}{suffix}"


def da_dz_key(layer: int, j: int, suffix: str = "") -> str:
    return f"da_dz{neuron_name(layer, j)}{suffix}"


def dC_dz_key(layer: int, j: int, suffix: str = "") -> str:
    return f"dC_dz{neuron_name(layer, j)}{suffix}"


def dz_dw_key(weight: str, suffix: str = "") -> str:
    return f"dz_d{weight}{suffix}"


def gradient_key(parameter: str, suffix: str = "") -> str:
    return f"grad_{parameter}{suffix}"


def new_key(parameter: str) -> str:
    return f"new_{parameter}"


def finite_difference_key(parameter: str) -> str:
    return f"fd_{parameter}"


def relative_difference_key(parameter: str) -> str:
    return f"reldiff_{parameter}"


# --- an optimizer's state after a step, per parameter (spec.Optimizer) --------------------------

def velocity_key(parameter: str) -> str:
    """SGD with momentum's velocity b_t (torch.optim.SGD's momentum_buffer)."""
    return f"velocity_{parameter}"


def square_average_key(parameter: str) -> str:
    """RMSprop's running average of squared gradients v_t (torch.optim.RMSprop's square_avg)."""
    return f"sqavg_{parameter}"


def square_sum_key(parameter: str) -> str:
    """Adagrad's sum of squared gradients (torch.optim.Adagrad's state_sum)."""
    return f"sqsum_{parameter}"


def first_moment_key(parameter: str) -> str:
    """Adam's first moment m_t, the running average of gradients (exp_avg)."""
    return f"m_{parameter}"


def second_moment_key(parameter: str) -> str:
    """Adam's second moment v_t, the running average of squared gradients (exp_avg_sq)."""
    return f"v_{parameter}"


def first_moment_hat_key(parameter: str) -> str:
    """Adam's bias-corrected first moment m_t / (1 - beta1^t)."""
    return f"mhat_{parameter}"


def second_moment_hat_key(parameter: str) -> str:
    """Adam's bias-corrected second moment v_t / (1 - beta2^t)."""
    return f"vhat_{parameter}"


# Each optimizer's state, piece by piece in table order: the stem of the kernel's Block fields that
# hold it (first_weights, first_biases, ...) and the function that names its column per parameter.
STATE_COLUMNS = {
    "sgd": (),
    "momentum": (("first", velocity_key),),
    "rmsprop": (("second", square_average_key),),
    "adagrad": (("second", square_sum_key),),
    "adam": (("first", first_moment_key), ("second", second_moment_key),
             ("first_hat", first_moment_hat_key), ("second_hat", second_moment_hat_key)),
}
