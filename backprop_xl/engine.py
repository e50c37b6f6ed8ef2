"""The numpy engine: forward pass, loss, every factor of the chain rule, the gradient and the update,
one training step at a time, as a stream of steps or as a trace with one column per quantity.

Names follow DESIGN.md: w{l}_{j}_{k} is the weight from input k into neuron j of layer l (1-based,
layer 1 the first after the inputs); z{l}_{j} and a{l}_{j} are that neuron's sum and activation.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterator

import numpy as np

from .functions import ACTIVATIONS, LOSSES, Activation, Loss
from .spec import Spec


def weight_name(layer: int, neuron: int, source: int) -> str:
    return f"w{layer}_{neuron}_{source}"


def neuron_name(layer: int, neuron: int) -> str:
    return f"{layer}_{neuron}"


@dataclass
class Step:
    """Everything one training step computes. Lists run over layers 1..L (index 0 is layer 1),
    except `a`, whose entry 0 is the input, so a[l] is what layer l + 1 multiplies by its weights."""

    number: int
    weights: list[np.ndarray]  # at the start of the step
    z: list[np.ndarray]
    a: list[np.ndarray]
    loss: float
    dC_da: list[np.ndarray]
    da_dz: list[np.ndarray]
    gradients: list[np.ndarray]  # dC/dW = dC/da * da/dz * dz/dw, with dz/dw the input a[l]
    new_weights: list[np.ndarray]

    def record(self) -> dict[str, float]:
        """This step as flat named numbers: the machine names of DESIGN.md and of the workbook."""
        row: dict[str, float] = {"step": self.number}
        for index, weights in enumerate(self.weights):
            layer = index + 1
            for (neuron, source), value in np.ndenumerate(weights):
                name = weight_name(layer, neuron + 1, source + 1)
                row[name] = float(value)
                row["dz_d" + name] = float(self.a[index][source])
                row["grad_" + name] = float(self.gradients[index][neuron, source])
                row["new_" + name] = float(self.new_weights[index][neuron, source])
            for neuron in range(weights.shape[0]):
                name = neuron_name(layer, neuron + 1)
                row["z" + name] = float(self.z[index][neuron])
                row["a" + name] = float(self.a[layer][neuron])
                row["dC_da" + name] = float(self.dC_da[index][neuron])
                row["da_dz" + name] = float(self.da_dz[index][neuron])
        row["C"] = self.loss
        return row


def forward(weights: list[np.ndarray], x: np.ndarray, activation: Activation):
    """The sums z and activations a of every layer; a[0] is the input x."""
    z, a = [], [x]
    for w in weights:
        z.append(w @ a[-1])
        a.append(activation.value(z[-1]))
    return z, a


def train_step(number: int, weights: list[np.ndarray], x: np.ndarray, y: np.ndarray,
               activation: Activation, loss: Loss, learning_rate: float) -> Step:
    """One step: every gradient uses this step's weights, then every weight updates."""
    z, a = forward(weights, x, activation)
    layers = len(weights)
    dC_da, da_dz, gradients = [None] * layers, [None] * layers, [None] * layers
    upstream = loss.derivative(a[-1], y)  # dC/da of the output layer
    for index in reversed(range(layers)):
        dC_da[index] = upstream
        da_dz[index] = activation.derivative(z[index], a[index + 1])
        delta = upstream * da_dz[index]  # dC/dz
        gradients[index] = np.outer(delta, a[index])
        upstream = weights[index].T @ delta
    new_weights = [w - learning_rate * g for w, g in zip(weights, gradients)]
    return Step(number, weights, z, a, float(loss.value(a[-1], y).sum()), dC_da, da_dz,
                gradients, new_weights)


def run(spec: Spec) -> Iterator[Step]:
    """The spec's steps, one at a time, so a long run never needs all of them in memory."""
    activation, loss = ACTIVATIONS[spec.activation], LOSSES[spec.loss]
    weights = [np.array(matrix, dtype=float) for matrix in spec.weights]
    x, y = np.array(spec.inputs[0], dtype=float), np.array(spec.targets[0], dtype=float)
    for number in range(1, spec.steps + 1):
        step = train_step(number, weights, x, y, activation, loss, float(spec.learning_rate))
        yield step
        weights = step.new_weights


def trace(spec: Spec) -> dict[str, np.ndarray]:
    """The whole run as columns: machine name -> one value per step."""
    rows = [step.record() for step in run(spec)]
    return {name: np.array([row[name] for row in rows]) for name in rows[0]}
