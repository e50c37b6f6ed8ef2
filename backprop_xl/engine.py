"""The numpy engine: forward pass, loss, every factor of the chain rule, the gradient and the update,
one training step at a time, as a stream of steps or as a trace with one column per quantity.

Names follow DESIGN.md: w{l}_{j}_{k} is the weight from input k into neuron j of layer l (1-based,
layer 1 the first after the inputs), b{l}_{j} its bias; z{l}_{j} and a{l}_{j} are that neuron's sum
and activation. In batch mode with several samples, per-sample quantities end in _s{n}.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterator

import numpy as np

from .functions import FD_STEP, LOSSES, Activation, Loss, activation, relative_difference
from .spec import Spec


def weight_name(layer: int, neuron: int, source: int) -> str:
    return f"w{layer}_{neuron}_{source}"


def bias_name(layer: int, neuron: int) -> str:
    return f"b{layer}_{neuron}"


def neuron_name(layer: int, neuron: int) -> str:
    return f"{layer}_{neuron}"


def sample_suffix(step_samples: int, sample: int) -> str:
    """How per-sample names end: nothing when a step uses one sample, _s{n} otherwise."""
    return "" if step_samples == 1 else f"_s{sample + 1}"


def parameter_names(spec: Spec) -> list[str]:
    """The trained parameters in the order of every table: layer by layer, weights then biases."""
    names = []
    for layer, (n_in, n_out) in enumerate(zip(spec.layers[:-1], spec.layers[1:]), start=1):
        names += [weight_name(layer, j, k) for j in range(1, n_out + 1) for k in range(1, n_in + 1)]
        if spec.has_biases and spec.update_biases:
            names += [bias_name(layer, j) for j in range(1, n_out + 1)]
    return names


@dataclass
class Network:
    """What a step computes with: the parameters, and the functions of each layer."""

    weights: list[np.ndarray]
    biases: list[np.ndarray] | None
    activations: list[Activation]
    loss: Loss

    def forward(self, x: np.ndarray):
        """Sums z and activations a of every layer for samples x (one row each); a[0] is x."""
        z, a = [], [x]
        for index, (w, f) in enumerate(zip(self.weights, self.activations)):
            sums = a[-1] @ w.T
            if self.biases is not None:
                sums = sums + self.biases[index]
            z.append(sums)
            a.append(f.value(sums))
        return z, a

    def costs(self, x: np.ndarray, y: np.ndarray, weights: list[np.ndarray],
              biases: list[np.ndarray] | None) -> np.ndarray:
        """The step's cost (each sample's loss summed over the outputs, averaged over samples)
        for many parameter sets at once: weights[l] has shape (sets, neurons, inputs)."""
        a = np.broadcast_to(x, (len(weights[0]),) + x.shape)
        for index, f in enumerate(self.activations):
            sums = np.einsum("bsi,bji->bsj", a, weights[index])
            if biases is not None:
                sums = sums + biases[index][:, None, :]
            a = f.value(sums)
        return self.loss.value(a, y).sum(axis=2).mean(axis=1)


@dataclass
class Step:
    """Everything one training step computes. Lists run over layers 1..L (index 0 is layer 1),
    except `a`, whose entry 0 is the input, so a[l] is what layer l + 1 multiplies by its weights.
    Per-sample arrays have one row per sample the step uses."""

    number: int
    samples: list[int]  # 0-based indices into the spec's data
    network: Network  # parameters at the start of the step
    z: list[np.ndarray]
    a: list[np.ndarray]
    y: np.ndarray
    losses: np.ndarray  # per sample, summed over outputs
    dC_da: list[np.ndarray]
    da_dz: list[np.ndarray]
    dz_dw: list[np.ndarray]  # per sample, the input a[l] of each weight
    weight_gradients: list[np.ndarray]  # per sample: (samples, neurons, inputs)
    bias_gradients: list[np.ndarray]  # per sample: (samples, neurons)
    mean_weight_gradients: list[np.ndarray]  # averaged over the samples: what the update uses
    mean_bias_gradients: list[np.ndarray]
    new_weights: list[np.ndarray]
    new_biases: list[np.ndarray] | None
    update_biases: bool
    stochastic: bool
    finite_differences: dict[str, float] | None = None

    @property
    def loss(self) -> float:
        return float(self.losses.mean())

    def parameters(self):
        """(name, value, mean gradient, new value) of every trained parameter, in table order."""
        for index, w in enumerate(self.network.weights):
            gradient = self.mean_weight_gradients[index]
            for (j, k), value in np.ndenumerate(w):
                yield (weight_name(index + 1, j + 1, k + 1), float(value), float(gradient[j, k]),
                       float(self.new_weights[index][j, k]))
            if self.network.biases is not None and self.update_biases:
                gradient = self.mean_bias_gradients[index]
                for j, value in enumerate(self.network.biases[index]):
                    yield (bias_name(index + 1, j + 1), float(value), float(gradient[j]),
                           float(self.new_biases[index][j]))

    def record(self) -> dict[str, float]:
        """This step as flat named numbers: the machine names of DESIGN.md and of the workbook."""
        row: dict[str, float] = {"step": self.number}
        if self.stochastic:
            row["sample"] = self.samples[0] + 1
            for k, value in enumerate(self.a[0][0], start=1):
                row[f"x{k}"] = float(value)
            for k, value in enumerate(self.y[0], start=1):
                row[f"y{k}"] = float(value)
        parameters = list(self.parameters())
        for name, value, _, _ in parameters:
            row[name] = value
        count = len(self.samples)
        for s, sample in enumerate(self.samples):
            suffix = sample_suffix(count, sample)
            for index in range(len(self.z)):
                for j in range(self.z[index].shape[1]):
                    n = neuron_name(index + 1, j + 1)
                    row["z" + n + suffix] = float(self.z[index][s, j])
                    row["a" + n + suffix] = float(self.a[index + 1][s, j])
            row["C" + suffix] = float(self.losses[s])
            for index in reversed(range(len(self.z))):
                for j in range(self.z[index].shape[1]):
                    n = neuron_name(index + 1, j + 1)
                    row["dC_da" + n + suffix] = float(self.dC_da[index][s, j])
                    row["da_dz" + n + suffix] = float(self.da_dz[index][s, j])
                for (j, k), value in np.ndenumerate(self.weight_gradients[index][s]):
                    w = weight_name(index + 1, j + 1, k + 1)
                    row["dz_d" + w + suffix] = float(self.dz_dw[index][s, k])
                    row["grad_" + w + suffix] = float(value)
                if self.network.biases is not None and self.update_biases:
                    for j, value in enumerate(self.bias_gradients[index][s]):
                        row["grad_" + bias_name(index + 1, j + 1) + suffix] = float(value)
        row["C"] = self.loss
        for name, value, gradient, new_value in parameters:
            row["grad_" + name] = gradient
            row["new_" + name] = new_value
            if self.finite_differences is not None:
                numeric = self.finite_differences[name]
                row["fd_" + name] = numeric
                row["reldiff_" + name] = float(relative_difference(gradient, numeric))
        return row


def train_step(number: int, samples: list[int], network: Network, x: np.ndarray, y: np.ndarray,
               spec: Spec, gradient_check: bool = False) -> Step:
    """One step over samples x (one row each): every gradient uses this step's parameters, then
    every parameter updates by the gradient averaged over the samples."""
    z, a = network.forward(x)
    layers = len(network.weights)
    dC_da, da_dz, dz_dw = [None] * layers, [None] * layers, [None] * layers
    weight_gradients, bias_gradients = [None] * layers, [None] * layers
    upstream = network.loss.derivative(a[-1], y)  # dC/da of the output layer
    for index in reversed(range(layers)):
        dC_da[index] = upstream
        da_dz[index] = network.activations[index].derivative(z[index], a[index + 1])
        delta = upstream * da_dz[index]  # dC/dz
        dz_dw[index] = a[index]
        # The lesson as shown on screen leaves the factor dz/dw out of the product.
        factor = a[index] if spec.gradient == "chain_rule" else np.ones_like(a[index])
        weight_gradients[index] = delta[:, :, None] * factor[:, None, :]
        bias_gradients[index] = delta  # dz/db = 1
        upstream = delta @ network.weights[index]
    rate = float(spec.learning_rate)
    mean_weight_gradients = [g.mean(axis=0) for g in weight_gradients]
    mean_bias_gradients = [g.mean(axis=0) for g in bias_gradients]
    new_weights = [w - rate * g for w, g in zip(network.weights, mean_weight_gradients)]
    new_biases = network.biases
    if network.biases is not None and spec.update_biases:
        new_biases = [b - rate * g for b, g in zip(network.biases, mean_bias_gradients)]
    step = Step(number, samples, network, z, a, y, network.loss.value(a[-1], y).sum(axis=1),
                dC_da, da_dz, dz_dw, weight_gradients, bias_gradients, mean_weight_gradients,
                mean_bias_gradients, new_weights, new_biases,
                spec.update_biases, spec.mode == "stochastic" and spec.n_samples > 1)
    if gradient_check:
        step.finite_differences = finite_differences(network, x, y, spec.update_biases, spec.fd_step)
    return step


def finite_differences(network: Network, x: np.ndarray, y: np.ndarray, update_biases: bool,
                       h: float = FD_STEP) -> dict[str, float]:
    """Central differences (C(p + h) - C(p - h)) / 2h of the step's cost for every trained
    parameter, all perturbed copies of the network evaluated together."""
    places = []  # (weights or biases, layer index, position, name)
    for index, w in enumerate(network.weights):
        places += [("w", index, (j, k), weight_name(index + 1, j + 1, k + 1))
                   for j, k in np.ndindex(w.shape)]
        if network.biases is not None and update_biases:
            places += [("b", index, (j,), bias_name(index + 1, j + 1)) for j in range(w.shape[0])]
    sets = 2 * len(places)  # set 2i moves parameter i up by h, set 2i + 1 down
    weights = [np.repeat(w[None], sets, axis=0) for w in network.weights]
    biases = None if network.biases is None else [np.repeat(b[None], sets, axis=0)
                                                  for b in network.biases]
    for i, (kind, index, position, _) in enumerate(places):
        moved = (weights if kind == "w" else biases)[index]
        moved[(2 * i,) + position] += h
        moved[(2 * i + 1,) + position] -= h
    costs = network.costs(x, y, weights, biases)
    return {name: float((costs[2 * i] - costs[2 * i + 1]) / (2 * h))
            for i, (_, _, _, name) in enumerate(places)}


def run(spec: Spec, gradient_check: bool = False) -> Iterator[Step]:
    """The spec's steps, one at a time, so a long run never needs all of them in memory."""
    network = Network(spec.initial_weights(), spec.initial_biases(),
                      [activation(name, spec.leaky_slope) for name in spec.activations],
                      LOSSES[spec.loss])
    inputs = np.array(spec.inputs, dtype=float)
    targets = np.array(spec.targets, dtype=float)
    everything = list(range(spec.n_samples))
    for number in range(1, spec.steps + 1):
        if spec.mode == "stochastic":
            samples = [(number - 1) % spec.n_samples]  # one sample per step, in order, cycling
        else:
            samples = everything
        step = train_step(number, samples, network, inputs[samples], targets[samples], spec,
                          gradient_check)
        yield step
        network = Network(step.new_weights, step.new_biases, network.activations, network.loss)


def trace(spec: Spec, gradient_check: bool = False) -> dict[str, np.ndarray]:
    """The whole run as columns: machine name -> one value per step."""
    rows = [step.record() for step in run(spec, gradient_check)]
    return {name: np.array([row[name] for row in rows]) for name in rows[0]}
