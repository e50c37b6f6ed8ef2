"""The description of a run (network, activations, loss, data, learning rate, steps, mode): TOML in
and out, the documented random initialisation, and validation that names the bad key and says why."""

from __future__ import annotations

import functools
import json
import math
import re
import sys
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
import tomlkit

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

from . import datafile, names
from .errors import SpecError
from .functions import ACTIVATION_NAMES, DEFAULT_LEAKY_SLOPE, FD_STEP, LOSSES, activation

EXCEL_ROWS = 1_048_576
MAX_STEPS = EXCEL_ROWS - 1  # the steps sheet spends one row on its header

MODES = ("batch", "stochastic", "minibatch")
# "without_dz_dw" reproduces the lesson as shown on screen: dC/dw = dC/da·da/dz, no factor dz/dw.
GRADIENTS = ("chain_rule", "without_dz_dw")
GRADIENT_CHECK_LIMIT = 20  # parameters: up to this many, the gradient check is on by default
# A relative difference of the gradient check above this shows red: a right gradient's is about
# 1e-8 or less, the seed-video's wrong one's 1/3.
GRADIENT_CHECK_THRESHOLD = 1e-4
# How far from 1 a sample's targets may sum for cross_entropy: probabilities read from a file as
# decimals (0.1 + 0.2 + 0.7) seldom sum to 1 exactly.
DISTRIBUTION_SLACK = 1e-9

TITLE_LIMIT = 255  # what Excel allows a document title, which the title also becomes
TOP_KEYS = {"title", "steps", "learning_rate", "loss", "mode", "batch_size", "gradient", "gradient_check",
            "fd_step", "gradient_check_threshold", "optimizer", "network", "data"}
NETWORK_KEYS = {"layers", "activation", "activations", "leaky_slope", "weights", "init", "biases",
                "update_biases"}
INIT_KEYS = {"seed", "biases"}
DATA_KEYS = {"inputs", "targets", "labels", "file", "label", "standardize"}

# The optimizers, with torch.optim's definitions and defaults (weight decay 0 everywhere; see
# kernels._update for the update rules, as torch.optim documents them): "sgd" is plain gradient
# descent, today's update; "momentum" torch.optim.SGD with a momentum (dampening 0, nesterov
# optional); "rmsprop" torch.optim.RMSprop (not centered, no momentum); "adagrad"
# torch.optim.Adagrad (lr_decay 0, initial_accumulator_value 0); "adam" torch.optim.Adam
# (bias-corrected, no amsgrad). Their order gives each its number in the kernels (Settings).
OPTIMIZERS = ("sgd", "momentum", "rmsprop", "adagrad", "adam")
# The keys of [optimizer] that each optimizer takes, besides its name.
OPTIMIZER_KEYS = {"sgd": (), "momentum": ("momentum", "nesterov"), "rmsprop": ("alpha", "eps"),
                  "adagrad": ("eps",), "adam": ("beta1", "beta2", "eps")}
# eps by default: torch.optim's, which differs between the optimizers
DEFAULT_EPS = {"rmsprop": 1e-8, "adagrad": 1e-10, "adam": 1e-8}
BARE_KEY = re.compile(r"[A-Za-z0-9_-]+")

TOML_HEADER = "# a backprop_xl spec: README.md, 'The spec', says what each key means\n"
# The comment to_toml writes after a key whose value does not say what it means (the loss's is its
# words in functions.py); README.md's table of keys says more. ASCII, as the loss's words are: a
# Windows console's code page may have no other characters for `backprop-xl spec > mine.toml`.
KEY_COMMENTS = {
    "steps": f"training steps, one row each: 1 to {MAX_STEPS:,} (Excel's rows less the header)",
    "learning_rate": "r, greater than 0",
    "batch_size": "samples a step, in file order; an epoch's last batch may be smaller",
    "gradient": "dC/dw without the factor dz/dw, as the lesson on screen",
    "gradient_check": "finite-difference columns beside each gradient",
    "fd_step": "h of the gradient check's central differences",
    "gradient_check_threshold": "relative differences above it show red",
    "network.layers": "widths: inputs, then each layer",
    "network.activations": "one per layer",
    "network.leaky_slope": "leaky ReLU's slope for z < 0",
    "network.weights": "per layer: one row per neuron, one entry per input",
    "network.init": "Glorot uniform weights from numpy's default_rng(seed)",
    "network.biases": "per layer: one per neuron",
    "network.update_biases": "false keeps the biases fixed",
    "data.inputs": "one row per sample",
    "data.labels": "the class of each target column, in order",
    "data.label": "the class column's name: the Data sheet's header",
    "data.standardize": "each input as (x - mean) / sd, on the Data sheet",
    "optimizer.name": "torch.optim's definitions: README.md, 'The spec'",
    "optimizer.momentum": "mu: velocity = mu * velocity + gradient",
    "optimizer.nesterov": "step by gradient + mu * velocity",
    "optimizer.alpha": "decay of the squared gradients' average",
    "optimizer.eps": "added to the square root in the denominator",
    "optimizer.beta1": "decay of the gradients' average m",
    "optimizer.beta2": "decay of the squared gradients' average v",
}
COMMENT_COLUMN = 28  # where the comments start, lined up while the values are short
LINE_WIDTH = 100  # a list longer than this on one line is written one entry per line

Matrix = list[list[float]]


@dataclass(frozen=True)
class Optimizer:
    """How a step moves the parameters by their gradients: the optimizer's name (OPTIMIZERS) and
    its hyperparameters, torch.optim's defaults where it has one. Only the keys OPTIMIZER_KEYS
    gives an optimizer mean anything to it; eps None is the optimizer's default (DEFAULT_EPS)."""

    name: str = "sgd"
    momentum: float | None = None  # required for "momentum"
    nesterov: bool = False
    alpha: float = 0.99
    beta1: float = 0.9
    beta2: float = 0.999
    eps: float | None = None

    def __post_init__(self):
        _check_choice(self.name, "optimizer.name", OPTIMIZERS, noun="optimizer")
        if self.eps is None:
            object.__setattr__(self, "eps", DEFAULT_EPS.get(self.name, 1e-8))
        if self.name == "momentum":
            if self.momentum is None:
                raise SpecError("optimizer.momentum", "is missing (the momentum optimizer needs "
                                "it, for example momentum = 0.9)")
        if self.momentum is not None:
            _check_number(self.momentum, "optimizer.momentum")
            if self.momentum < 0:
                raise SpecError("optimizer.momentum", f"must be at least 0, got {self.momentum!r}")
        _check_bool(self.nesterov, "optimizer.nesterov")
        if self.nesterov and not (self.momentum or 0) > 0:
            raise SpecError("optimizer.nesterov", "needs a momentum greater than 0")
        for key in ("alpha", "beta1", "beta2"):
            value = getattr(self, key)
            _check_number(value, f"optimizer.{key}")
            if not 0 <= value < 1:
                raise SpecError(f"optimizer.{key}", f"must be in [0, 1), got {value!r}")
        _check_number(self.eps, "optimizer.eps")
        if self.eps <= 0:
            raise SpecError("optimizer.eps", f"must be greater than 0, got {self.eps!r}")

    @property
    def has_state(self) -> bool:
        """Whether a step carries anything to the next besides the parameters."""
        return self.name != "sgd"

    def to_dict(self) -> dict:
        """The [optimizer] table: the name and the keys this optimizer takes."""
        values = {"name": self.name}
        for key in OPTIMIZER_KEYS[self.name]:
            values[key] = getattr(self, key)
        return values

    @classmethod
    def from_dict(cls, table: dict) -> "Optimizer":
        _check_keys(table, {"name", *{key for keys in OPTIMIZER_KEYS.values() for key in keys}},
                    "optimizer.")
        name = table.get("name", "sgd")
        _check_choice(name, "optimizer.name", OPTIMIZERS, noun="optimizer")
        for key in table:
            if key != "name" and key not in OPTIMIZER_KEYS[name]:
                takes = ", ".join(OPTIMIZER_KEYS[name]) or "nothing but its name"
                raise SpecError(f"optimizer.{key}", f"does not apply to the {name} optimizer "
                                f"(it takes: {takes})")
        return cls(**table)


@dataclass(frozen=True)
class Spec:
    """One run. Weights are per layer: one row per neuron, one entry per input of that layer;
    biases per layer, one per neuron. `weights` is None when `init_seed` draws them."""

    layers: list[int]
    inputs: Matrix
    targets: Matrix
    weights: list[Matrix] | None = None
    init_seed: int | None = None
    init_biases: bool = False  # with init_seed: start every layer with zero biases
    biases: list[list[float]] | None = None
    update_biases: bool = True
    activations: list[str] = field(default_factory=list)  # one per layer; empty: all sigmoid
    leaky_slope: float = DEFAULT_LEAKY_SLOPE
    title: str = "backprop_xl run"
    steps: int = 300
    learning_rate: float = 0.1
    loss: str = "squared_error"
    mode: str = "batch"
    batch_size: int | None = None  # minibatch mode's samples a step (None in the other modes)
    gradient: str = "chain_rule"
    gradient_check: bool | None = None  # None: on for networks of up to GRADIENT_CHECK_LIMIT
    fd_step: float = FD_STEP  # h of the gradient check's central differences
    gradient_check_threshold: float = GRADIENT_CHECK_THRESHOLD
    optimizer: Optimizer = field(default_factory=Optimizer)
    # The class of each target column (one-hot targets from a CSV file's label column), in sorted
    # order; None: the targets are numbers with no names.
    labels: list[str] | None = None
    # With labels: the name of the class column they came from, which heads the samples' labels
    # on the Data sheet; None: no name (the header says "label").
    label: str | None = None
    # Train on each input column standardized, (x - mean) / sd with the population standard
    # deviation (datafile.statistics); `inputs` stay the numbers given, `training_inputs` are these.
    standardize: bool = False

    def __post_init__(self):
        if not self.activations and isinstance(self.layers, list):
            object.__setattr__(self, "activations", ["sigmoid"] * max(len(self.layers) - 1, 0))
        _check_int(self.steps, "steps", low=1, high=MAX_STEPS,
                   high_why=f"at most {MAX_STEPS:,} steps fit under Excel's {EXCEL_ROWS:,} rows")
        _check_number(self.learning_rate, "learning_rate")
        if self.learning_rate <= 0:
            raise SpecError("learning_rate", f"must be greater than 0, got {self.learning_rate!r}")
        if not isinstance(self.title, str):
            raise SpecError("title", f"must be a string, got {type(self.title).__name__}")
        if len(self.title) > TITLE_LIMIT:
            raise SpecError("title", f"at most {TITLE_LIMIT:,} characters, "
                            f"got {len(self.title):,}")
        if any(ord(c) < 32 and c not in "\t\n" or 0xD800 <= ord(c) < 0xE000 or c in "\ufffe\uffff"
               for c in self.title):
            raise SpecError("title", "must not contain control characters (a workbook's XML "
                            "cannot hold them)")
        _check_choice(self.loss, "loss", LOSSES)
        _check_choice(self.mode, "mode", MODES)
        _check_choice(self.gradient, "gradient", GRADIENTS)
        if self.gradient_check is not None:
            _check_bool(self.gradient_check, "gradient_check")
        _check_number(self.fd_step, "fd_step")
        if self.fd_step <= 0:
            raise SpecError("fd_step", f"must be greater than 0, got {self.fd_step!r}")
        _check_number(self.gradient_check_threshold, "gradient_check_threshold")
        if self.gradient_check_threshold <= 0:
            raise SpecError("gradient_check_threshold", f"must be greater than 0, got "
                            f"{self.gradient_check_threshold!r}")
        if not isinstance(self.optimizer, Optimizer):
            raise SpecError("optimizer", f"must be a table such as {{ name = \"adam\" }}, got "
                            f"{self.optimizer!r}")
        self._check_network()
        self._check_data()
        self._check_batches()

    def _check_network(self):
        if not isinstance(self.layers, list) or len(self.layers) < 2:
            raise SpecError("network.layers", "must list at least two widths: inputs, then each layer")
        for width in self.layers:
            _check_int(width, "network.layers", low=1)
        n_layers = len(self.layers) - 1
        if not isinstance(self.activations, list) or len(self.activations) != n_layers:
            raise SpecError("network.activations", f"must name one activation per layer, "
                            f"{n_layers} for layers = {self.layers}")
        for name in self.activations:
            _check_choice(name, "network.activations", ACTIVATION_NAMES, noun="activation")
        for index, name in enumerate(self.activations[:-1], start=1):
            if activation(name).of_layer:
                raise SpecError("network.activations", f"{name} only on the output layer (the "
                                f"last), got it on layer {index} of {n_layers}")
        if activation(self.activations[-1]).of_layer and self.layers[-1] < 2:
            raise SpecError("network.activations", f"{self.activations[-1]} needs at least 2 "
                            "outputs: over one output it is always 1")
        _check_number(self.leaky_slope, "network.leaky_slope")
        if (self.weights is None) == (self.init_seed is None):
            raise SpecError("network.weights", "give either weights or init = { seed = N }")
        if self.weights is not None:
            if not isinstance(self.weights, list) or len(self.weights) != n_layers:
                raise SpecError("network.weights", f"must hold one matrix per layer, "
                                f"{n_layers} for layers = {self.layers}")
            for index, matrix in enumerate(self.weights):
                _check_matrix(matrix, f"network.weights[{index}]", rows=self.layers[index + 1],
                              columns=self.layers[index],
                              shape_words=f"layer {index + 1} of layers = {self.layers}")
        else:
            _check_int(self.init_seed, "network.init.seed", low=0)
            _check_bool(self.init_biases, "network.init.biases")
        if self.biases is not None:
            if self.init_biases:
                raise SpecError("network.biases", "give either biases or init.biases, not both")
            if not isinstance(self.biases, list) or len(self.biases) != n_layers:
                raise SpecError("network.biases", f"must hold one list per layer, "
                                f"{n_layers} for layers = {self.layers}")
            for index, row in enumerate(self.biases):
                _check_matrix([row] if isinstance(row, list) else row, f"network.biases[{index}]",
                              rows=1, columns=self.layers[index + 1],
                              shape_words=f"one per neuron of layer {index + 1}")
        _check_bool(self.update_biases, "network.update_biases")

    def _check_data(self):
        _check_matrix(self.inputs, "data.inputs", columns=self.layers[0],
                      shape_words=f"{self.layers[0]} input(s) per sample")
        _check_matrix(self.targets, "data.targets", rows=len(self.inputs), columns=self.layers[-1],
                      shape_words=f"one row per sample, {self.layers[-1]} output(s) each")
        if self.labels is not None:
            _check_labels(self.labels, self.layers[-1])
        if self.label is not None:
            if self.labels is None:
                raise SpecError("data.label", "names a column of a CSV file: give file = "
                                "\"data.csv\" too, or inline targets")
            _check_label_name(self.label)
        _check_bool(self.standardize, "data.standardize")
        if self.standardize:
            datafile.check_standardizable(
                self.inputs, self.input_statistics,
                [f"input {k} (column {k} of data.inputs)"
                 for k in range(1, self.layers[0] + 1)])
        if LOSSES[self.loss].needs_probabilities:
            if any(not 0 <= value <= 1 for row in self.targets for value in row):
                raise SpecError("data.targets", f"{self.loss} needs targets between 0 and 1")
            if not activation(self.activations[-1]).bounded:
                raise SpecError("network.activations", f"{self.loss} needs an output activation "
                                f"between 0 and 1 (sigmoid), got {self.activations[-1]}")
        if LOSSES[self.loss].needs_distribution:
            if not activation(self.activations[-1]).of_layer:
                raise SpecError("network.activations", f"{self.loss} needs a softmax output "
                                f"layer, got {self.activations[-1]} (for one sigmoid output, use "
                                "binary_cross_entropy)")
            for number, row in enumerate(self.targets, start=1):
                if not math.isclose(math.fsum(row), 1.0, rel_tol=0.0, abs_tol=DISTRIBUTION_SLACK):
                    raise SpecError("data.targets", f"{self.loss} needs each sample's targets to "
                                    f"sum to 1 (one-hot, or probabilities); sample {number}'s "
                                    f"sum to {math.fsum(row):g}")

    def _check_batches(self):
        if self.mode == "minibatch":
            if self.batch_size is None:
                raise SpecError("batch_size", 'mode = "minibatch" needs batch_size = k, the '
                                "samples each step trains on")
            _check_int(self.batch_size, "batch_size", low=1, high=self.n_samples,
                       high_why=f"at most the {self.n_samples} samples")
        elif self.batch_size is not None:
            raise SpecError("batch_size", f'only with mode = "minibatch", got mode = "{self.mode}"')

    # --- what the run starts from ------------------------------------------------------------

    @property
    def n_samples(self) -> int:
        return len(self.inputs)

    @functools.cached_property
    def input_statistics(self) -> list[datafile.Statistics] | None:
        """Each input column's mean and population standard deviation when the inputs are
        standardized (datafile.statistics), which the Data sheet's formulas compute; else None."""
        return datafile.statistics(self.inputs) if self.standardize else None

    @functools.cached_property
    def training_inputs(self) -> Matrix:
        """The inputs the steps train on: `inputs` as given, or standardized (each column's
        (x - mean) / sd, datafile.standardized). The engine, the kernels and the workbook's cached
        values all take these; the spec, the TOML and the Data sheet's yellow cells keep
        `inputs`."""
        if not self.standardize:
            return self.inputs
        return datafile.standardized(self.inputs, self.input_statistics)

    @property
    def step_samples(self) -> int:
        """How many samples a step uses at most: one in stochastic mode, every one in batch mode,
        batch_size in minibatch mode (an epoch's last batch may have fewer: kernels.batch_of)."""
        if self.mode == "minibatch":
            return self.batch_size
        return 1 if self.mode == "stochastic" else self.n_samples

    @property
    def uneven_batches(self) -> bool:
        """Whether some steps train on fewer samples than step_samples: the workbook's means then
        leave out the groups those steps do not use."""
        return self.n_samples % self.step_samples != 0

    @property
    def has_biases(self) -> bool:
        return self.biases is not None or self.init_biases

    def initial_weights(self) -> list[np.ndarray]:
        """The weights of step 1: as given, or drawn by the documented initialisation: for each
        layer in order, numpy.random.default_rng(seed).uniform(-limit, limit, (neurons, inputs)),
        limit = sqrt(6 / (inputs + neurons)) (Glorot uniform), one generator for all layers, each
        weight rounded to 16 significant digits, which is what a workbook cell stores."""
        if self.weights is not None:
            return [np.array(matrix, dtype=float) for matrix in self.weights]
        generator = np.random.default_rng(self.init_seed)
        drawn = []
        for layer in names.layers(self.layers):
            limit = math.sqrt(6.0 / (layer.inputs + layer.neurons))
            weights = generator.uniform(-limit, limit, (layer.neurons, layer.inputs))
            drawn.append(np.vectorize(lambda w: float(f"{w:.16g}"))(weights).reshape(weights.shape))
        return drawn

    def initial_biases(self) -> list[np.ndarray] | None:
        """The biases of step 1, None without bias terms; init.biases starts them at zero."""
        if self.biases is not None:
            return [np.array(row, dtype=float) for row in self.biases]
        if self.init_biases:
            return [np.zeros(width) for width in self.layers[1:]]
        return None

    @property
    def n_parameters(self) -> int:
        """The trained parameters: every weight, and the biases when they update."""
        weights = sum(layer.inputs * layer.neurons for layer in names.layers(self.layers))
        return weights + (sum(self.layers[1:]) if self.trains_biases else 0)

    @property
    def cycles_samples(self) -> bool:
        """Whether each step trains on one sample of several, the next step on the next (stochastic
        mode, or batches of 1, with more than one sample)."""
        return self.step_samples == 1 < self.n_samples

    @property
    def classifies(self) -> bool:
        """Whether the network is a classifier, its steps with an accuracy: a softmax output,
        whose largest output is the class it predicts."""
        return activation(self.activations[-1]).of_layer

    @property
    def cycles_batches(self) -> bool:
        """Whether each step trains on a batch of several samples, fewer than all, the next step on
        the next batch (minibatch mode with 1 < batch_size < the samples)."""
        return 1 < self.step_samples < self.n_samples

    @property
    def trains_biases(self) -> bool:
        return self.has_biases and self.update_biases

    @property
    def parameter_names(self) -> list[str]:
        """The trained parameters in the order of every table (names.parameter_names)."""
        return names.parameter_names(self.layers, self.trains_biases)

    @property
    def checks_gradient(self) -> bool:
        if self.gradient_check is None:
            return self.n_parameters <= GRADIENT_CHECK_LIMIT
        return self.gradient_check

    # --- TOML in and out ---------------------------------------------------------------------

    def with_overrides(self, **overrides) -> "Spec":
        """A copy with the given keys replaced (None leaves a key as it is), validated again."""
        return replace(self, **{key: value for key, value in overrides.items() if value is not None})

    def to_dict(self) -> dict:
        values = {"title": self.title, "steps": self.steps, "learning_rate": self.learning_rate,
                  "loss": self.loss, "mode": self.mode}
        if self.batch_size is not None:
            values["batch_size"] = self.batch_size
        if self.gradient != "chain_rule":
            values["gradient"] = self.gradient
        if self.gradient_check is not None:
            values["gradient_check"] = self.gradient_check
        if self.fd_step != FD_STEP:
            values["fd_step"] = self.fd_step
        if self.gradient_check_threshold != GRADIENT_CHECK_THRESHOLD:
            values["gradient_check_threshold"] = self.gradient_check_threshold
        network: dict = {"layers": self.layers}
        if len(set(self.activations)) == 1:
            network["activation"] = self.activations[0]
        else:
            network["activations"] = self.activations
        if "leaky_relu" in self.activations:
            network["leaky_slope"] = self.leaky_slope
        if self.weights is not None:
            network["weights"] = self.weights
        else:
            network["init"] = {"seed": self.init_seed, **({"biases": True} if self.init_biases else {})}
        if self.biases is not None:
            network["biases"] = self.biases
        if self.has_biases:
            network["update_biases"] = self.update_biases
        if self.optimizer.name != "sgd":  # the default writes no table: sgd specs keep their TOML
            values["optimizer"] = self.optimizer.to_dict()
        data = {"inputs": self.inputs, "targets": self.targets}
        if self.labels is not None:
            data["labels"] = self.labels
        if self.label is not None:
            data["label"] = self.label
        if self.standardize:
            data["standardize"] = True
        return {**values, "network": network, "data": data}

    def to_toml(self) -> str:
        """The spec as TOML, commented: what `backprop-xl spec` prints and a workbook embeds."""
        comments = {**KEY_COMMENTS, "loss": LOSSES[self.loss].words}
        document = tomlkit.document()
        for key, value in self.to_dict().items():
            if isinstance(value, dict):  # [optimizer], [network] and [data]
                table = tomlkit.table()
                for inner, item in value.items():
                    table.add(inner, _commented(inner, item, comments.get(f"{key}.{inner}")))
                document.add(key, table)
            else:
                document.add(key, _commented(key, value, comments.get(key)))
        return TOML_HEADER + tomlkit.dumps(document)

    @classmethod
    def from_dict(cls, values: dict, folder: Path | None = None,
                  read_files: bool = True) -> "Spec":
        """The spec `values` describe; a CSV file its [data] names (`file`) is read relative to
        `folder` [default: the current folder], unless not `read_files` (a workbook's embedded
        spec holds its data inline: one that names a file is refused, not read)."""
        _check_keys(values, TOP_KEYS, "")
        network = _table(values, "network", NETWORK_KEYS)
        data = _table(values, "data", DATA_KEYS)
        if "layers" not in network:
            raise SpecError("network.layers", "is missing")
        if "file" in data and not read_files:
            raise SpecError("data.file", "a workbook's spec holds its data inline, not in a file")
        if "file" in data:
            data = _data_from_file(data, Path() if folder is None else folder, network["layers"])
        else:
            if "label" in data and "labels" not in data:  # with labels: their column's name
                raise SpecError("data.label", "names a column of a CSV file: give file = "
                                "\"data.csv\" too, or inline targets")
            for key in ("inputs", "targets"):
                if key not in data:
                    raise SpecError("data." + key, "is missing")
        arguments = {key: values[key] for key in TOP_KEYS - {"network", "data", "optimizer"}
                     if key in values}
        if "optimizer" in values:
            if not isinstance(values["optimizer"], dict):
                raise SpecError("optimizer", 'must be a table such as { name = "adam" }')
            arguments["optimizer"] = Optimizer.from_dict(values["optimizer"])
        if "activation" in network and "activations" in network:
            raise SpecError("network.activation", "give activation (all layers) or activations "
                            "(one per layer), not both")
        if "activation" in network:
            if not isinstance(network["activation"], str):
                raise SpecError("network.activation", f"must be a name, got {network['activation']!r}")
            _check_choice(network["activation"], "network.activation", ACTIVATION_NAMES)
            layers = network["layers"]
            arguments["activations"] = [network["activation"]] * (
                len(layers) - 1 if isinstance(layers, list) else 0)
        for key in ("activations", "leaky_slope", "weights", "biases", "update_biases"):
            if key in network:
                arguments[key] = network[key]
        if "init" in network:
            init = network["init"]
            if not isinstance(init, dict):
                raise SpecError("network.init", "must be a table such as { seed = 1 }")
            _check_keys(init, INIT_KEYS, "network.init.")
            if "seed" not in init:
                raise SpecError("network.init.seed", "is missing")
            arguments["init_seed"] = init["seed"]
            arguments["init_biases"] = init.get("biases", False)
        if "weights" in network and "init" in network:
            raise SpecError("network.init", "give either weights or init, not both")
        for key in ("labels", "label", "standardize"):
            if key in data:
                arguments[key] = data[key]
        return cls(layers=network["layers"], inputs=data["inputs"], targets=data["targets"],
                   **arguments)

    @classmethod
    def from_toml(cls, text: str, source: str | None = None, read_files: bool = True) -> "Spec":
        """The spec the TOML `text` describes. `source` names it in messages; when it is the
        spec file's path, a CSV file the spec names is read relative to that file's folder, else
        relative to the current folder."""
        try:
            values = tomllib.loads(text)
        except tomllib.TOMLDecodeError as error:
            raise SpecError("TOML", str(error), source) from None
        except RecursionError:  # tomllib parses nested arrays and tables recursively
            raise SpecError("TOML", "arrays or tables nested too deeply", source) from None
        try:
            return cls.from_dict(values, _folder(source), read_files)
        except SpecError as error:
            raise error.located(source) if source else error from None


def _folder(source: str | None) -> Path:
    """The folder a spec's relative paths start from: its file's, else the current folder."""
    path = Path(source) if source else None
    return path.parent if path is not None and path.is_file() else Path()


def _data_from_file(data: dict, folder: Path, layers) -> dict:
    """[data] as if its numbers were written inline: a CSV file's columns (`file`, `inputs`, and
    `targets` or `label`) read by datafile.py, with `labels` when a label column gave the
    targets."""
    file = data["file"]
    if not isinstance(file, str) or not file.strip():
        raise SpecError("data.file", f"must be the path of a CSV file, got {file!r}")
    if "labels" in data:
        raise SpecError("data.labels", "come from the label column when the data is a file; "
                        "leave labels out")
    if "label" in data and "targets" in data:
        raise SpecError("data.label", "give targets (numeric columns) or label (a class column), "
                        "not both")
    if "label" not in data and "targets" not in data:
        raise SpecError("data.targets", "is missing: name the target columns, or a class column "
                        "as label")
    inputs = _column_names(data.get("inputs"), "data.inputs")
    targets = _column_names(data["targets"], "data.targets") if "targets" in data else None
    label = data.get("label")
    if label is not None and (not isinstance(label, str) or not label.strip()):
        raise SpecError("data.label", f"must name a column of {file}, got {label!r}")
    widths = (isinstance(layers, list) and len(layers) >= 2
              and all(isinstance(width, int) and not isinstance(width, bool) for width in layers))
    if widths and len(inputs) != layers[0]:
        raise SpecError("data.inputs", f"names {len(inputs)} column(s); layers = {layers} takes "
                        f"{layers[0]} input(s)")
    if widths and targets is not None and len(targets) != layers[-1]:
        raise SpecError("data.targets", f"names {len(targets)} column(s); layers = {layers} has "
                        f"{layers[-1]} output(s)")
    read = datafile.read(folder / file, inputs, targets, label, max_samples=MAX_STEPS)
    standardize = data.get("standardize", False)
    _check_bool(standardize, "data.standardize")
    if standardize:  # refused here, where the file's column names are known
        datafile.check_standardizable(read.inputs, datafile.statistics(read.inputs),
                                      [f"{folder / file}: column {name!r}" for name in inputs])
    if widths and read.labels is not None and len(read.labels) != layers[-1]:
        raise SpecError("data.label", f"{folder / file}: column {label!r} holds "
                        f"{len(read.labels)} labels ({', '.join(map(repr, read.labels))}), one "
                        f"output each; layers = {layers} has {layers[-1]} output(s)")
    result = {"inputs": read.inputs, "targets": read.targets, "standardize": standardize}
    if read.labels is not None:
        result.update(labels=read.labels, label=label)
    return result


def _column_names(value, key: str) -> list[str]:
    if value is None:
        raise SpecError(key, "is missing: name the CSV file's columns, such as [\"x1\", \"x2\"]")
    if not isinstance(value, list) or not value or not all(isinstance(name, str) for name in value):
        raise SpecError(key, f"with file, name the CSV file's columns, such as [\"x1\", \"x2\"], "
                        f"not numbers; got {_short(value)}")
    return value


def _short(value) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _check_label_name(label) -> None:
    if not isinstance(label, str) or not label.strip():
        raise SpecError("data.label", f"must name the class column, got {_short(label)}")
    if any(ord(c) < 32 or 0xD800 <= ord(c) < 0xE000 or c in "\ufffe\uffff" for c in label):
        raise SpecError("data.label", "must not contain control characters (a workbook's XML "
                        "cannot hold them)")


def _check_labels(labels, outputs: int) -> None:
    if (not isinstance(labels, list) or not all(isinstance(name, str) and name for name in labels)
            or len(set(labels)) != len(labels)):
        raise SpecError("data.labels", f"must name each output's class once, such as [\"a\", "
                        f"\"b\"], got {_short(labels)}")
    if len(labels) != outputs:
        raise SpecError("data.labels", f"must name one class per output, {outputs}, got "
                        f"{len(labels)}")
    if any(ord(c) < 32 or 0xD800 <= ord(c) < 0xE000 or c in "\ufffe\uffff"
           for name in labels for c in name):
        raise SpecError("data.labels", "must not contain control characters (a workbook's XML "
                        "cannot hold them)")


def _commented(key: str, value, comment: str | None):
    """A TOML item for `key = value`, followed by `comment` if there is one."""
    if isinstance(value, dict):  # network.init: on the key's line, as README writes it
        item = tomlkit.inline_table()
        item.update(value)
    else:
        item = tomlkit.item(value)
        if isinstance(value, list) and len(f"{key} = {item.as_string()}") > LINE_WIDTH:
            item.multiline(True)  # a CSV's samples, one per line, not one line of thousands
    if comment:
        item.comment(comment)
        item.trivia.comment_ws = " " * max(COMMENT_COLUMN - len(f"{key} = {item.as_string()}"), 2)
    return item


def _table(values: dict, key: str, known: set[str]) -> dict:
    table = values.get(key)
    if not isinstance(table, dict):
        raise SpecError(key, "is missing" if table is None else "must be a table")
    _check_keys(table, known, key + ".")
    return table


def _check_keys(table: dict, known: set[str], prefix: str) -> None:
    for key in table:
        if key not in known:
            raise SpecError(prefix + _key_text(key),
                            f"unknown key (known: {', '.join(sorted(known))})")


def _key_text(key: str) -> str:
    """A key as TOML writes it: bare, or quoted with its escapes, so that the message stays one
    line whatever the key holds."""
    return key if BARE_KEY.fullmatch(key) else json.dumps(key)


def _check_choice(value, key: str, known, noun: str | None = None) -> None:
    if not isinstance(value, str) or value not in known:
        raise SpecError(key, f"unknown {noun or key.split('.')[-1]} {value!r} "
                        f"(known: {', '.join(known)})")


def _check_bool(value, key: str) -> None:
    if not isinstance(value, bool):
        raise SpecError(key, f"must be true or false, got {value!r}")


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
