"""The engine: a spec's training run, as a caller uses it. Run holds a run in progress (its
parameters and the next step) and has a kernel compute it a block of steps at a time; it hands the
steps out as Step objects (run), as rows of named values (rows) or as whole named columns (trace).
Run.columns turns a block's arrays into those named columns: every quantity of a step, the
forward pass, the loss, every factor of the chain rule, the gradients, the update and the
gradient check. The step itself, and how it is computed (traced, compiled or as loops), is
kernels.py's.

Its columns are named as names.py says (w1_1_1, z1_1, dC_da1_1, grad_w1_1_1, ...), an optimizer's
state too (velocity_w1_1_1, m_w1_1_1, ...: names.STATE_COLUMNS), for an optimizer with state.
"""

from __future__ import annotations

import functools
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Iterator

import numpy as np

from .functions import activation, relative_difference
from .kernels import Block, Kernel, batch_of, worth_compiling
from . import names
from .names import bias_name, layers, weight_name
from .spec import Spec


@dataclass
class Network:
    """The parameters a step starts from: weights[l] has one row per neuron of layer l + 1 and one
    column per input; biases is None for a network without bias terms."""

    weights: list[np.ndarray]
    biases: list[np.ndarray] | None


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
    cycles_samples: bool  # one sample a step, the next step the next (spec.cycles_samples)
    finite_differences: dict[str, float] | None = None
    source: tuple = field(default=None, repr=False, compare=False)  # (Run, Block, row)

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
        """This step as flat named numbers, keyed by the names of names.py, as in the workbook."""
        run, block, row = self.source
        one = Block(*(values[row:row + 1] for values in block))
        return {name: values[0] for name, values in
                ((name, column.tolist()) for name, column in run.columns(one, self.number).items())}


class Run:
    """A run of the spec in progress: its parameters as flat vectors (kernels.py says their
    order), the next step, and the kernel that computes the steps."""

    def __init__(self, spec: Spec, gradient_check: bool = False, compiled: bool | None = None):
        """compiled: numba's kernel (True; the Python one when numba is not installed), the
        Python one (False), or as kernels.worth_compiling says for a run by itself (None)."""
        self.spec = spec
        self.kernel = Kernel(spec, gradient_check, compiled)
        self.inputs = np.array(spec.training_inputs, dtype=float)  # standardized, if so
        self.targets = np.array(spec.targets, dtype=float)
        self.w = np.concatenate([m.ravel() for m in spec.initial_weights()])
        biases = spec.initial_biases()
        self.has_biases = biases is not None
        self.b = np.concatenate(biases) if self.has_biases else np.zeros(sum(spec.layers[1:]))
        self.trains_biases = spec.trains_biases
        self.step_samples = spec.step_samples
        self.cycles_samples = spec.cycles_samples
        self.check = gradient_check
        self.moments = self.kernel.moments(len(self.w), len(self.b))  # the optimizer's state
        self.next_step = 1

    def block(self, steps: int) -> Block:
        """The next `steps` steps (fewer at the end of the run)."""
        steps = min(steps, self.spec.steps - self.next_step + 1)
        block = self.kernel.train(self.w, self.b, self.next_step, steps, self.moments)
        self.next_step += steps
        return block

    def blocks(self, steps: int = 1024) -> Iterator[Block]:
        if not self.kernel.compiled:
            while self.next_step <= self.spec.steps:
                yield self.block(steps)
            return
        # The compiled kernel lets go of the GIL: it computes the next block on a second core
        # while the caller formats or writes this one. Each block has arrays of its own.
        with ThreadPoolExecutor(1) as worker:
            pending = worker.submit(self.block, steps)
            while pending is not None:
                block = pending.result()
                more = self.next_step <= self.spec.steps
                pending = worker.submit(self.block, steps) if more else None
                yield block

    def step(self, block: Block, row: int, number: int) -> "Step":
        """Row `row` of block as a Step with one array per layer."""
        weights = self.layer_weights(block.weights[row])
        biases = self.layer_neurons(block.biases[row]) if self.has_biases else None
        first, used = batch_of(number, self.step_samples, self.spec.n_samples)
        samples = list(range(first, first + used))
        x = self.inputs[samples]
        activations = self.layer_neurons(block.a[row][:used])
        step = Step(
            number, samples, Network(weights, biases),
            z=self.layer_neurons(block.z[row][:used]), a=[x] + activations,
            y=self.targets[samples], losses=block.losses[row][:used],
            dC_da=self.layer_neurons(block.dC_da[row][:used]),
            da_dz=self.layer_neurons(block.da_dz[row][:used]), dz_dw=[x] + activations[:-1],
            weight_gradients=self.layer_weights(block.weight_gradients[row][:used]),
            bias_gradients=self.layer_neurons(block.bias_gradients[row][:used]),
            mean_weight_gradients=self.layer_weights(block.mean_weight_gradients[row]),
            mean_bias_gradients=self.layer_neurons(block.mean_bias_gradients[row]),
            new_weights=self.layer_weights(block.new_weights[row]),
            new_biases=self.layer_neurons(block.new_biases[row]) if self.has_biases else None,
            update_biases=self.spec.update_biases, cycles_samples=self.cycles_samples,
            source=(self, block, row))
        if self.check:
            step.finite_differences = dict(zip(
                self.spec.parameter_names,
                self.table_order(block.fd_weights[row], block.fd_biases[row]).tolist()))
        return step

    def layer_weights(self, flat: np.ndarray) -> list[np.ndarray]:
        """Split flat weights (the last axis) into one (neurons, inputs) matrix per layer."""
        matrices, start = [], 0
        for layer in layers(self.spec.layers):
            part = flat[..., start:start + layer.inputs * layer.neurons]
            matrices.append(part.reshape(flat.shape[:-1] + (layer.neurons, layer.inputs)))
            start += layer.inputs * layer.neurons
        return matrices

    def layer_neurons(self, flat: np.ndarray) -> list[np.ndarray]:
        """Split neuron-shaped values (the last axis) into one part per layer."""
        parts, start = [], 0
        for width in self.spec.layers[1:]:
            parts.append(flat[..., start:start + width])
            start += width
        return parts

    def table_order(self, weights: np.ndarray, biases: np.ndarray) -> np.ndarray:
        """Per-parameter values (the last axis) in the order of spec.parameter_names: layer by
        layer, weights then the biases when they train."""
        return np.concatenate([weights, biases], axis=-1)[..., self.order]

    @functools.cached_property
    def order(self) -> np.ndarray:
        """Where each trained parameter, in table order, sits in the concatenated w and b."""
        places, weight, neuron = [], 0, len(self.w)
        for layer in layers(self.spec.layers):
            places += range(weight, weight + layer.inputs * layer.neurons)
            if self.trains_biases:
                places += range(neuron, neuron + layer.neurons)
            weight, neuron = weight + layer.inputs * layer.neurons, neuron + layer.neurons
        return np.array(places, dtype=np.int64)

    def columns(self, block: Block, first: int) -> dict[str, np.ndarray]:
        """The steps of a block that starts at step `first` as named columns, one value per step,
        keyed by the names of names.py, in the workbook's order."""
        parameters = self.spec.parameter_names
        values = self.table_order(block.weights, block.biases)
        # (steps, groups): an uneven epoch's last batch's unused groups take the next samples
        n = self.spec.n_samples
        samples = (block.samples[:, None] + np.arange(self.step_samples)) % n
        x, y = self.inputs[samples], self.targets[samples]
        row: dict[str, np.ndarray] = {"step": np.arange(first, first + len(block.losses))}
        used = self.batch_sizes(row["step"])
        if self.spec.cycles_batches:
            row[names.SAMPLE_KEY] = block.samples + 1
            row[names.BATCH_KEY] = used
        if self.cycles_samples:
            row[names.SAMPLE_KEY] = block.samples + 1
            for k in range(x.shape[2]):
                row[names.input_key(k + 1)] = x[:, 0, k]
            for j in range(y.shape[2]):
                row[names.target_key(j + 1)] = y[:, 0, j]
        for i, name in enumerate(parameters):
            row[name] = values[:, i]
        correct = self.correct(block, y) if self.spec.classifies else None
        for s in range(self.step_samples):
            row.update(self._sample_columns(block, s, x[:, s],
                                            None if correct is None else correct[:, s]))
        row[names.cost_key()] = self.batch_means(block.losses, row["step"])
        if correct is not None and self.step_samples > 1:
            row[names.ACCURACY_KEY] = self.batch_means(correct, row["step"])
        gradients = self.table_order(block.mean_weight_gradients, block.mean_bias_gradients)
        new = self.table_order(block.new_weights, block.new_biases)
        numeric = self.table_order(block.fd_weights, block.fd_biases)
        state = self._state(block)
        for i, name in enumerate(parameters):
            row[names.gradient_key(name)] = gradients[:, i]
            for key, values in state:
                row[key(name)] = values[:, i]
            row[names.new_key(name)] = new[:, i]
            if self.check:
                row[names.finite_difference_key(name)] = numeric[:, i]
                row[names.relative_difference_key(name)] = relative_difference(gradients[:, i],
                                                                               numeric[:, i])
        return row

    def _sample_columns(self, block: Block, s: int, x: np.ndarray,
                        correct: np.ndarray | None) -> dict[str, np.ndarray]:
        """The columns of sample s of each step (x: its inputs; correct: a classifier's 1 or 0,
        see Run.correct): the forward pass layer by layer, the loss, then the backward pass from
        the output layer down."""
        suffix = names.sample_suffix(self.step_samples, s)
        row, neuron = {}, 0
        for layer in layers(self.spec.layers):
            for j in range(layer.neurons):
                row[names.z_key(layer.number, j + 1, suffix)] = block.z[:, s, neuron + j]
                row[names.a_key(layer.number, j + 1, suffix)] = block.a[:, s, neuron + j]
            neuron += layer.neurons
        row[names.cost_key(suffix)] = block.losses[:, s]
        if correct is not None:  # one sample's is the step's accuracy
            row[names.correct_key(suffix) if self.step_samples > 1 else names.ACCURACY_KEY] = \
                correct
        neuron, weight = len(self.b), len(self.w)
        for layer in reversed(layers(self.spec.layers)):
            n_in, n_out, number = layer.inputs, layer.neurons, layer.number
            neuron, weight = neuron - n_out, weight - n_in * n_out
            inputs = x if number == 1 else block.a[:, s, neuron - n_in:neuron]  # dz/dw
            softmax = activation(self.spec.activations[number - 1]).of_layer
            for j in range(n_out):
                row[names.dC_da_key(number, j + 1, suffix)] = block.dC_da[:, s, neuron + j]
                if softmax:  # no da/dz of its own: dC/dz, which the bias's gradient is too
                    row[names.dC_dz_key(number, j + 1, suffix)] = \
                        block.bias_gradients[:, s, neuron + j]
                else:
                    row[names.da_dz_key(number, j + 1, suffix)] = block.da_dz[:, s, neuron + j]
            for j in range(n_out):
                for k in range(n_in):
                    w = weight_name(number, j + 1, k + 1)
                    row[names.dz_dw_key(w, suffix)] = inputs[:, k]
                    row[names.gradient_key(w, suffix)] = block.weight_gradients[
                        :, s, weight + j * n_in + k]
            if self.trains_biases:
                for j in range(n_out):
                    row[names.gradient_key(bias_name(number, j + 1), suffix)] = \
                        block.bias_gradients[:, s, neuron + j]
        return row

    def state(self, block: Block) -> np.ndarray:
        """The optimizer's state after each step of a block, one column per key of state_keys,
        in that order (no columns for plain SGD)."""
        parts = [values for _, values in self._state(block)]
        return np.concatenate(parts, axis=1) if parts else np.empty((len(block.losses), 0))

    def _state(self, block: Block) -> list[tuple]:
        """Each piece of the optimizer's state after each step of a block (names.STATE_COLUMNS):
        the function of names.py that names its columns, and its values, one column per trained
        parameter in table order."""
        return [(key, self.table_order(getattr(block, f"{piece}_weights"),
                                       getattr(block, f"{piece}_biases")))
                for piece, key in names.STATE_COLUMNS[self.spec.optimizer.name]]

    def batch_sizes(self, steps: np.ndarray) -> np.ndarray:
        """How many samples each of the steps trains on (kernels.batch_of)."""
        return batch_of(steps, self.step_samples, self.spec.n_samples)[1]

    def batch_means(self, per_group: np.ndarray, steps: np.ndarray) -> np.ndarray:
        """Each step's mean of a number per group (steps, groups), such as the loss, whose mean
        is the cost C: over the samples the step trains on, leaving out the unused groups of an
        uneven epoch's last batch."""
        used = self.batch_sizes(steps)
        counted = np.arange(self.step_samples) < used[:, None]
        return np.where(counted, per_group, 0.0).sum(axis=1) / used

    def correct(self, block: Block, y: np.ndarray) -> np.ndarray:
        """A classifier's 1 or 0 per step and group: whether the largest output (the first, if
        several are equal) has the largest target, the true class. y: (steps, groups, outputs)."""
        outputs = block.a[:, :, -y.shape[2]:]
        chosen = np.take_along_axis(y, outputs.argmax(axis=2)[..., None], axis=2)[..., 0]
        return (chosen >= y.max(axis=2)).astype(float)

    def summary(self, block: Block, first: int) -> tuple[np.ndarray, ...]:
        """The trace of a block that starts at step `first`: step numbers, losses, and each
        trained parameter and its gradient (one column each, in table order)."""
        steps = np.arange(first, first + len(block.losses))
        return (steps, self.batch_means(block.losses, steps),
                self.table_order(block.weights, block.biases),
                self.table_order(block.mean_weight_gradients, block.mean_bias_gradients))


def state_keys(spec: Spec) -> list[str]:
    """The names of the optimizer's state columns, piece by piece (names.STATE_COLUMNS), each
    piece's parameters in table order: what Run.state gives. None for plain SGD."""
    return [key(name) for _, key in names.STATE_COLUMNS[spec.optimizer.name]
            for name in spec.parameter_names]


def run(spec: Spec, gradient_check: bool = False, compiled: bool | None = None) -> Iterator[Step]:
    """The spec's steps, one at a time, so a long run never needs all of them in memory."""
    state = Run(spec, gradient_check, compiled)
    number = 1
    for block in state.blocks(256):
        for row in range(len(block.losses)):
            yield state.step(block, row, number)
            number += 1


def rows(spec: Spec, keys: list[str], gradient_check: bool = False,
         compiled: bool | None = None) -> Iterator[tuple]:
    """The spec's steps, one row each, of the values named by `keys` (a table's columns): what a
    table needs without a Step object a step."""
    if compiled is None:
        compiled = worth_compiling(spec, gradient_check, cells=len(keys))
    state = Run(spec, gradient_check, compiled)
    first = 1
    for block in state.blocks(256):
        columns = state.columns(block, first)
        yield from zip(*(columns[key].tolist() for key in keys))
        first += len(block.losses)


def trace(spec: Spec, gradient_check: bool = False) -> dict[str, np.ndarray]:
    """The whole run as columns: machine name -> one value per step."""
    state = Run(spec, gradient_check)
    parts, first = [], 1
    for block in state.blocks():
        parts.append(state.columns(block, first))
        first += len(block.losses)
    return {name: np.concatenate([part[name] for part in parts]) for name in parts[0]}
