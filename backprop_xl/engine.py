"""The engine: forward pass, loss, every factor of the chain rule, the gradient and the update, for
a block of steps at a time in numpy arrays, handed out as a stream of steps or as a trace with one
column per quantity. One definition of a step (_step and the loops it calls) runs three ways:
traced into straight-line Python for the network at hand (most runs), compiled by numba (long
runs of the engine alone, and large networks), or as the loops themselves (where Python's floats
would raise and numpy's give inf or NaN).

Names follow DESIGN.md: w{l}_{j}_{k} is the weight from input k into neuron j of layer l (1-based,
layer 1 the first after the inputs), b{l}_{j} its bias; z{l}_{j} and a{l}_{j} are that neuron's sum
and activation. In batch mode with several samples, per-sample quantities end in _s{n}.
"""

from __future__ import annotations

import functools
import hashlib
import os
import sys
import types
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator, NamedTuple

import numpy as np

from . import functions, straight
from .functions import (ACTIVATION_NAMES, LOSSES, activation_derivative, activation_value,
                        loss_derivative, loss_value, relative_difference)
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
    stochastic: bool
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
        """This step as flat named numbers: the machine names of DESIGN.md and of the workbook."""
        run, block, row = self.source
        one = Block(*(values[row:row + 1] for values in block))
        return {name: values[0] for name, values in
                ((name, column.tolist()) for name, column in run.columns(one, self.number).items())}


# --- the steps themselves ----------------------------------------------------------------------
# Written as loops over plain arrays, so that the same functions run as Python, compiled by numba
# (see _compiled) or traced into straight-line Python (_straight_line_step). The parameters live
# in two flat vectors: w holds every weight, layer after layer, each layer's matrix row by row
# (neuron j, input k); b holds one bias per neuron, layer after layer (zeros for a network without
# biases). Neuron-shaped arrays (z, a, dC/da, ...) have one row per sample and one column per
# neuron, in the same order.


def _forward(w, b, sizes, codes, slope, x, z, a):
    """Fill z and a of every neuron for the samples x (one row each)."""
    weight, neuron = 0, 0
    inputs = x
    for layer in range(len(sizes) - 1):
        n_in, n_out = sizes[layer], sizes[layer + 1]
        for s in range(x.shape[0]):
            for j in range(n_out):
                total = 0.0
                for k in range(n_in):
                    total += w[weight + j * n_in + k] * inputs[s, k]
                z[s, neuron + j] = total + b[neuron + j]
                a[s, neuron + j] = activation_value(codes[layer], z[s, neuron + j], slope)
        inputs = a[:, neuron:neuron + n_out]
        weight += n_in * n_out
        neuron += n_out


def _losses(loss_code, a, y, losses):
    """Each sample's loss, summed over the outputs (the last columns of a)."""
    first = a.shape[1] - y.shape[1]
    for s in range(y.shape[0]):
        total = 0.0
        for j in range(y.shape[1]):
            total += loss_value(loss_code, a[s, first + j], y[s, j])
        losses[s] = total


def _backward(w, sizes, codes, slope, loss_code, chain_rule, x, y, z, a,
              dC_da, da_dz, weight_gradients, bias_gradients, scratch):
    """Fill every factor of the chain rule and each sample's gradients, from the output down.
    scratch holds two (samples, widest layer) arrays, so that a step allocates nothing."""
    neuron_end, weight_end = z.shape[1], w.shape[0]
    upstream, below = scratch[0], scratch[1]  # dC/da of the layer at hand, and of the one below
    for s in range(y.shape[0]):
        for j in range(y.shape[1]):
            upstream[s, j] = loss_derivative(loss_code, a[s, neuron_end - y.shape[1] + j], y[s, j])
    for layer in range(len(sizes) - 2, -1, -1):
        n_in, n_out = sizes[layer], sizes[layer + 1]
        neuron, weight = neuron_end - n_out, weight_end - n_in * n_out
        inputs = x if layer == 0 else a[:, neuron - n_in:neuron]  # dz/dw
        for s in range(x.shape[0]):
            for j in range(n_out):
                n = neuron + j
                dC_da[s, n] = upstream[s, j]
                da_dz[s, n] = activation_derivative(codes[layer], z[s, n], a[s, n], slope)
                delta = upstream[s, j] * da_dz[s, n]  # dC/dz
                bias_gradients[s, n] = delta  # dz/db = 1
                for k in range(n_in):
                    # The lesson as shown on screen leaves the factor dz/dw out of the product.
                    factor = inputs[s, k] if chain_rule else 1.0
                    weight_gradients[s, weight + j * n_in + k] = delta * factor
            for k in range(n_in):
                total = 0.0
                for j in range(n_out):
                    total += bias_gradients[s, neuron + j] * w[weight + j * n_in + k]
                below[s, k] = total
        upstream, below = below, upstream
        neuron_end, weight_end = neuron, weight


def _finite_differences(values, gradients, w, b, sizes, codes, slope, loss_code, x, y, h, probe,
                        probe_losses):
    """Central differences (C(p + h) - C(p - h)) / 2h of the step's cost for each entry of
    `values` (w or b itself), into `gradients`. probe holds a z and an a array to compute in,
    probe_losses one loss per sample, so that a step allocates nothing."""
    z, a = probe[0], probe[1]
    for i in range(values.shape[0]):
        kept = values[i]
        values[i] = kept + h
        _forward(w, b, sizes, codes, slope, x, z, a)
        up = _cost(loss_code, a, y, probe_losses)
        values[i] = kept - h
        _forward(w, b, sizes, codes, slope, x, z, a)
        down = _cost(loss_code, a, y, probe_losses)
        values[i] = kept
        gradients[i] = (up - down) / (2 * h)


def _cost(loss_code, a, y, losses):
    """Fill each sample's loss and return their mean, the cost C, summed in sample order."""
    _losses(loss_code, a, y, losses)
    total = 0.0
    for s in range(losses.shape[0]):
        total += losses[s]
    return total / losses.shape[0]


def _mean(per_sample, mean):
    """The mean over samples (rows) of each column, summed in sample order as numpy does."""
    for i in range(per_sample.shape[1]):
        total = 0.0
        for s in range(per_sample.shape[0]):
            total += per_sample[s, i]
        mean[i] = total / per_sample.shape[0]


def _train(w, b, sizes, codes, slope, loss_code, inputs, targets, one_sample, first, rate,
           chain_rule, update_biases, check, h, block):
    """Steps first, first + 1, ... into the rows of block, one row per step; w and b end as the
    parameters after the last of them."""
    samples = block.losses.shape[1]
    scratch = np.empty((2, samples, sizes.max()))
    probe, probe_losses = np.empty((2, samples, b.shape[0])), np.empty(samples)
    for t in range(block.losses.shape[0]):
        sample = _first_sample(one_sample, first + t, inputs.shape[0])
        x, y = inputs[sample:sample + samples], targets[sample:sample + samples]
        block.samples[t] = sample
        block.weights[t] = w
        block.biases[t] = b
        _step(w, b, sizes, codes, slope, loss_code, chain_rule, update_biases, check, h, rate,
              x, y, block.z[t], block.a[t], block.losses[t], block.dC_da[t], block.da_dz[t],
              block.weight_gradients[t], block.bias_gradients[t], block.mean_weight_gradients[t],
              block.mean_bias_gradients[t], block.fd_weights[t], block.fd_biases[t], scratch,
              probe, probe_losses)
        block.new_weights[t] = w
        block.new_biases[t] = b


def _first_sample(one_sample, step, n_samples):
    """The first sample step `step` uses: one sample a step, in order, cycling; or all of them."""
    return (step - 1) % n_samples if one_sample else 0


def _step(w, b, sizes, codes, slope, loss_code, chain_rule, update_biases, check, h, rate, x, y,
          z, a, losses, dC_da, da_dz, weight_gradients, bias_gradients, mean_weight_gradients,
          mean_bias_gradients, fd_weights, fd_biases, scratch, probe, probe_losses):
    """One step on the samples x, y: every gradient uses the step's parameters w and b, then
    every parameter moves by its gradient averaged over the samples, in place."""
    _forward(w, b, sizes, codes, slope, x, z, a)
    _losses(loss_code, a, y, losses)
    _backward(w, sizes, codes, slope, loss_code, chain_rule, x, y, z, a, dC_da, da_dz,
              weight_gradients, bias_gradients, scratch)
    if check:
        _finite_differences(w, fd_weights, w, b, sizes, codes, slope, loss_code, x, y, h, probe,
                            probe_losses)
        if update_biases:
            _finite_differences(b, fd_biases, w, b, sizes, codes, slope, loss_code, x, y, h,
                                probe, probe_losses)
    _mean(weight_gradients, mean_weight_gradients)
    _mean(bias_gradients, mean_bias_gradients)
    for i in range(w.shape[0]):
        w[i] = w[i] - rate * mean_weight_gradients[i]
    if update_biases:
        for i in range(b.shape[0]):
            b[i] = b[i] - rate * mean_bias_gradients[i]


class Block(NamedTuple):
    """Consecutive steps of a run, every quantity with one row per step (then sample, then
    weight or neuron in the order of the flat vectors)."""

    samples: np.ndarray  # the first sample each step uses (0-based)
    weights: np.ndarray  # at the start of the step
    biases: np.ndarray
    z: np.ndarray
    a: np.ndarray
    losses: np.ndarray  # per sample, summed over the outputs
    dC_da: np.ndarray
    da_dz: np.ndarray
    weight_gradients: np.ndarray  # per sample
    bias_gradients: np.ndarray
    mean_weight_gradients: np.ndarray  # averaged over the step's samples: what the update uses
    mean_bias_gradients: np.ndarray
    new_weights: np.ndarray
    new_biases: np.ndarray
    fd_weights: np.ndarray  # central differences, when the step checks its gradient
    fd_biases: np.ndarray

    @staticmethod
    def shapes(steps: int, samples: int, weights: int, neurons: int) -> dict[str, tuple]:
        shapes = {"samples": (steps,), "weights": (steps, weights), "losses": (steps, samples),
                  "weight_gradients": (steps, samples, weights)}
        for name in ("mean_weight_gradients", "new_weights", "fd_weights"):
            shapes[name] = (steps, weights)
        for name in ("biases", "mean_bias_gradients", "new_biases", "fd_biases"):
            shapes[name] = (steps, neurons)
        for name in ("z", "a", "dC_da", "da_dz", "bias_gradients"):
            shapes[name] = (steps, samples, neurons)
        return {name: shapes[name] for name in Block._fields}

    @classmethod
    def empty(cls, steps: int, samples: int, weights: int, neurons: int) -> "Block":
        return cls(**{name: np.zeros(shape, dtype=np.int64 if name == "samples" else float)
                      for name, shape in cls.shapes(steps, samples, weights, neurons).items()})

    @classmethod
    def from_rows(cls, rows: list[tuple], samples: int, weights: int, neurons: int) -> "Block":
        """A block from one tuple a step: every field's numbers, in the order of the fields."""
        table = np.array(rows, dtype=float).reshape(len(rows), -1)
        fields, start = {}, 0
        for name, shape in cls.shapes(len(rows), samples, weights, neurons).items():
            width = int(np.prod(shape[1:], dtype=np.int64))
            fields[name] = table[:, start:start + width].reshape(shape)
            start += width
        fields["samples"] = fields["samples"].astype(np.int64)
        return cls(**fields)


# --- which kernel runs -------------------------------------------------------------------------
# Three ways to run the same _step. As Python, traced into straight-line code for the network at
# hand (see _straight_line_step): about 1.5 µs a step plus 0.1 µs for each weight and neuron of
# each pass through the network (one pass per sample the step uses, and for the gradient check
# two more per parameter); the trace itself grows with that work, so past STRAIGHT_LINE_WORK the
# loops run as they are instead (some 10 times slower). Compiled by numba: under 1 µs a step,
# but numba and the cached kernel take about 1.2 s to load (some 15 s to compile, the first time
# on a machine) and add about 125 MB to a process of about 40 MB. Measured on this project's
# 2-core machine, where benchmarks/run.py measures the engine as generate runs it.
PYTHON_STEP_MICROSECONDS = 1.5
PYTHON_WORK_MICROSECONDS = 0.1
STRAIGHT_LINE_WORK = 100_000
COMPILE_AFTER_SECONDS = 1.2
# A command that writes or reads a workbook spends at least this long on each cell of a step's row
# (generate: 12 to 18 µs a cell); next to that, the engine's share is what counts, not its time.
CELL_MICROSECONDS = 10
ENGINE_SHARE = 0.05


def _work(spec: Spec, gradient_check: bool) -> int:
    """The weights and neurons a step passes through: what a step's time grows with."""
    units = sum(n_in * n_out + n_out for n_in, n_out in zip(spec.layers[:-1], spec.layers[1:]))
    passes = 1 + (2 * spec.n_parameters if gradient_check else 0)
    return spec.step_samples * passes * units


def worth_compiling(spec: Spec, gradient_check: bool = False, cells: int = 0) -> bool:
    """Whether numba's kernel should run the spec: when the Python one would take longer than
    numba takes to load, and, for a command with a table of `cells` columns, when it would also
    be more than ENGINE_SHARE of that command's time (numba's 125 MB buy little there)."""
    work = _work(spec, gradient_check)
    if work > STRAIGHT_LINE_WORK:
        return True
    step = PYTHON_STEP_MICROSECONDS + PYTHON_WORK_MICROSECONDS * work
    return (spec.steps * step * 1e-6 > COMPILE_AFTER_SECONDS
            and step > ENGINE_SHARE * CELL_MICROSECONDS * cells)


# The numbered forms that choose a function of functions.py by its number: a trace runs them (each
# layer's number is known), so that it records a call to the chosen function itself.
_DISPATCHERS = ("activation_value", "activation_derivative", "loss_value", "loss_derivative")


@functools.lru_cache(maxsize=64)  # a spreadsheet's functions call the same few networks over
def _straight_line_step(sizes: tuple[int, ...], codes: tuple[int, ...], loss_code: int,
                        chain_rule: bool, update_biases: bool, check: bool, samples: int):
    """_step traced for one network, as a Python function of its parameters (weights, then
    biases), the step's numbers (inputs, then targets, sample by sample), then slope, h and rate,
    that returns every field of a Block row after `biases`, in order."""
    tape = straight.Tape()
    recorded = {name: tape.call(name) for name, value in vars(functions).items()
                if isinstance(value, types.FunctionType) and name not in _DISPATCHERS}
    traced = straight.rebind([functions, sys.modules[__name__]], recorded)

    def numbers(prefix: str, *shape: int) -> np.ndarray:
        array = np.empty(shape, dtype=object)
        for index in np.ndindex(*shape):
            array[index] = tape.number(prefix + "_".join(map(str, index)))
        return array

    n_weights = sum(n_in * n_out for n_in, n_out in zip(sizes[:-1], sizes[1:]))
    n_neurons = sum(sizes[1:])
    w, b = numbers("w", n_weights), numbers("b", n_neurons)
    x, y = numbers("x", samples, sizes[0]), numbers("y", samples, sizes[-1])
    slope, h, rate = tape.number("slope"), tape.number("h"), tape.number("rate")
    parameters = [item.name for part in (w, b, x, y) for item in part.ravel()]
    # One step's row of every field, starting at 0.0 (what a field the step leaves alone holds).
    row = Block(**{name: np.full(shape[1:], 0.0, dtype=object) for name, shape
                   in Block.shapes(1, samples, n_weights, n_neurons).items()})
    scratch = np.full((2, samples, max(sizes)), 0.0, dtype=object)
    probe, probe_losses = np.full((2, samples, n_neurons), 0.0, dtype=object), row.losses.copy()
    traced["_step"](w, b, np.array(sizes), np.array(codes), slope, loss_code, chain_rule,
                    update_biases, check, h, rate, x, y, row.z, row.a, row.losses, row.dC_da,
                    row.da_dz, row.weight_gradients, row.bias_gradients,
                    row.mean_weight_gradients, row.mean_bias_gradients, row.fd_weights,
                    row.fd_biases, scratch, probe, probe_losses)
    results = row._replace(new_weights=w, new_biases=b)[3:]  # w and b now hold the new values
    source = tape.source("step", parameters + ["slope", "h", "rate"],
                         [item for field in results for item in field.ravel()])
    namespace = dict(functions.on_floats())
    exec(compile(source, "<backprop_xl: _step traced>", "exec"), namespace)
    return namespace["step"]


def _python_train(step, parameters: list[float], data: list[tuple], one_sample: bool, first: int,
                  steps: int) -> tuple[list[tuple], tuple]:
    """Steps first, first + 1, ... by the straight-line step, as _train does with the loops: one
    tuple a step of every field of a Block row, and the parameters after the last step."""
    rows, count = [], len(parameters)
    parameters = tuple(parameters)
    for t in range(steps):
        sample = _first_sample(one_sample, first + t, len(data))
        results = step(*parameters, *data[sample])
        rows.append((sample, *parameters, *results))
        parameters = results[-2 * count:-count]  # the new weights and biases; then the check's
    return rows, parameters


@functools.cache
def _compiled():
    """_train compiled by numba, with every function it calls; imported only for long runs."""
    import numba
    from numba.extending import register_jitable

    sources = [functions, sys.modules[__name__]]
    for module in sources:
        for function in vars(module).values():
            if isinstance(function, types.FunctionType) and function.__module__ == module.__name__:
                register_jitable(inline="always" if function is _step else "never")(function)
    # numba's cache notices a change to this file only, not to functions.py: keep the cache in a
    # folder named by the digest of both.
    digest = hashlib.sha256(b"".join(Path(m.__file__).read_bytes() for m in sources)).hexdigest()
    numba.config.CACHE_DIR = str(_cache_home() / "backprop_xl" / f"numba-{digest[:16]}")
    # error_model="numpy": a division by zero gives inf or NaN, as in numpy, not an exception.
    return numba.njit(_train, error_model="numpy", cache=True, nogil=True)


def _cache_home() -> Path:
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")


class Run:
    """A run of the spec in progress: the flat parameters and everything the kernel needs."""

    def __init__(self, spec: Spec, gradient_check: bool = False, compiled: bool | None = None):
        """compiled: numba's kernel (True), the Python one (False), or as worth_compiling says
        for a run by itself (None)."""
        self.spec = spec
        self.sizes = np.array(spec.layers, dtype=np.int64)
        self.codes = np.array([ACTIVATION_NAMES.index(name) for name in spec.activations],
                              dtype=np.int64)
        self.loss_code = list(LOSSES).index(spec.loss)
        self.inputs = np.array(spec.inputs, dtype=float)
        self.targets = np.array(spec.targets, dtype=float)
        self.w = np.concatenate([m.ravel() for m in spec.initial_weights()])
        biases = spec.initial_biases()
        self.has_biases = biases is not None
        self.b = np.concatenate(biases) if self.has_biases else np.zeros(sum(spec.layers[1:]))
        self.trains_biases = self.has_biases and spec.update_biases
        self.step_samples = spec.step_samples
        self.one_sample = spec.step_samples < spec.n_samples  # cycling through the samples
        self.check = gradient_check
        self.chain_rule = spec.gradient == "chain_rule"
        self.slope, self.h, self.rate = (float(spec.leaky_slope), float(spec.fd_step),
                                         float(spec.learning_rate))
        if compiled is None:
            compiled = worth_compiling(spec, gradient_check)
        self.compiled = compiled
        self.straight_line = None
        if not compiled and _work(spec, gradient_check) <= STRAIGHT_LINE_WORK:
            self.straight_line = _straight_line_step(
                tuple(spec.layers), tuple(self.codes.tolist()), self.loss_code, self.chain_rule,
                self.trains_biases, gradient_check, self.step_samples)
        # What the straight-line step takes after the parameters, for each first sample of a step.
        self.step_numbers = [
            tuple(self.inputs[s:s + self.step_samples].ravel().tolist()
                  + self.targets[s:s + self.step_samples].ravel().tolist()
                  + [self.slope, self.h, self.rate])
            for s in range(spec.n_samples if self.one_sample else 1)]
        self.next_step = 1

    def block(self, steps: int) -> Block:
        """The next `steps` steps (fewer at the end of the run)."""
        steps = min(steps, self.spec.steps - self.next_step + 1)
        sizes = (self.step_samples, len(self.w), len(self.b))
        if self.straight_line is not None:
            try:
                rows, parameters = _python_train(
                    self.straight_line, self.w.tolist() + self.b.tolist(), self.step_numbers,
                    self.one_sample, self.next_step, steps)
            except functions.FLOAT_FORM_ERRORS:
                pass  # where numpy gives inf or NaN: this block runs again in the loops below
            else:
                self.w[:], self.b[:] = parameters[:len(self.w)], parameters[len(self.w):]
                self.next_step += steps
                return Block.from_rows(rows, *sizes)
        block = Block.empty(steps, *sizes)
        kernel = _compiled() if self.compiled else _train
        with np.errstate(all="ignore"):  # overflow shows in the numbers; the commands report it
            kernel(self.w, self.b, self.sizes, self.codes, self.slope, self.loss_code, self.inputs,
                   self.targets, self.one_sample, self.next_step, self.rate, self.chain_rule,
                   self.trains_biases, self.check, self.h, block)
        self.next_step += steps
        return block

    def blocks(self, steps: int = 1024) -> Iterator[Block]:
        if not self.compiled:
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
        first = int(block.samples[row])
        samples = list(range(first, first + self.step_samples))
        x = self.inputs[samples]
        activations = self.layer_neurons(block.a[row])
        step = Step(
            number, samples, Network(weights, biases),
            z=self.layer_neurons(block.z[row]), a=[x] + activations, y=self.targets[samples],
            losses=block.losses[row], dC_da=self.layer_neurons(block.dC_da[row]),
            da_dz=self.layer_neurons(block.da_dz[row]), dz_dw=[x] + activations[:-1],
            weight_gradients=self.layer_weights(block.weight_gradients[row]),
            bias_gradients=self.layer_neurons(block.bias_gradients[row]),
            mean_weight_gradients=self.layer_weights(block.mean_weight_gradients[row]),
            mean_bias_gradients=self.layer_neurons(block.mean_bias_gradients[row]),
            new_weights=self.layer_weights(block.new_weights[row]),
            new_biases=self.layer_neurons(block.new_biases[row]) if self.has_biases else None,
            update_biases=self.spec.update_biases, stochastic=self.one_sample,
            source=(self, block, row))
        if self.check:
            step.finite_differences = dict(zip(
                parameter_names(self.spec),
                self.table_order(block.fd_weights[row], block.fd_biases[row]).tolist()))
        return step

    def layer_weights(self, flat: np.ndarray) -> list[np.ndarray]:
        """Split flat weights (the last axis) into one (neurons, inputs) matrix per layer."""
        matrices, start = [], 0
        for n_in, n_out in zip(self.spec.layers[:-1], self.spec.layers[1:]):
            part = flat[..., start:start + n_in * n_out]
            matrices.append(part.reshape(flat.shape[:-1] + (n_out, n_in)))
            start += n_in * n_out
        return matrices

    def layer_neurons(self, flat: np.ndarray) -> list[np.ndarray]:
        """Split neuron-shaped values (the last axis) into one part per layer."""
        parts, start = [], 0
        for width in self.spec.layers[1:]:
            parts.append(flat[..., start:start + width])
            start += width
        return parts

    def table_order(self, weights: np.ndarray, biases: np.ndarray) -> np.ndarray:
        """Per-parameter values (the last axis) in the order of parameter_names: layer by layer,
        weights then the biases when they train."""
        return np.concatenate([weights, biases], axis=-1)[..., self.order]

    @functools.cached_property
    def order(self) -> np.ndarray:
        """Where each trained parameter, in table order, sits in the concatenated w and b."""
        places, weight, neuron = [], 0, len(self.w)
        for n_in, n_out in zip(self.spec.layers[:-1], self.spec.layers[1:]):
            places += range(weight, weight + n_in * n_out)
            if self.trains_biases:
                places += range(neuron, neuron + n_out)
            weight, neuron = weight + n_in * n_out, neuron + n_out
        return np.array(places, dtype=np.int64)

    def columns(self, block: Block, first: int) -> dict[str, np.ndarray]:
        """The steps of a block that starts at step `first` as named columns, one value per step:
        the machine names of DESIGN.md and of the workbook, in the workbook's order."""
        names = parameter_names(self.spec)
        parameters = self.table_order(block.weights, block.biases)
        gradients = self.table_order(block.mean_weight_gradients, block.mean_bias_gradients)
        samples = block.samples[:, None] + np.arange(self.step_samples)  # (steps, samples)
        x, y = self.inputs[samples], self.targets[samples]
        row: dict[str, np.ndarray] = {"step": np.arange(first, first + len(block.losses))}
        if self.one_sample:
            row["sample"] = block.samples + 1
            for k in range(x.shape[2]):
                row[f"x{k + 1}"] = x[:, 0, k]
            for k in range(y.shape[2]):
                row[f"y{k + 1}"] = y[:, 0, k]
        for i, name in enumerate(names):
            row[name] = parameters[:, i]
        layers = list(enumerate(zip(self.spec.layers[:-1], self.spec.layers[1:])))
        for s in range(self.step_samples):
            suffix = sample_suffix(self.step_samples, s)
            neuron = 0
            for index, (_, n_out) in layers:
                for j in range(n_out):
                    n = neuron_name(index + 1, j + 1)
                    row["z" + n + suffix] = block.z[:, s, neuron + j]
                    row["a" + n + suffix] = block.a[:, s, neuron + j]
                neuron += n_out
            row["C" + suffix] = block.losses[:, s]
            neuron, weight = len(self.b), len(self.w)
            for index, (n_in, n_out) in reversed(layers):
                neuron, weight = neuron - n_out, weight - n_in * n_out
                inputs = x[:, s] if index == 0 else block.a[:, s, neuron - n_in:neuron]  # dz/dw
                for j in range(n_out):
                    n = neuron_name(index + 1, j + 1)
                    row["dC_da" + n + suffix] = block.dC_da[:, s, neuron + j]
                    row["da_dz" + n + suffix] = block.da_dz[:, s, neuron + j]
                for j in range(n_out):
                    for k in range(n_in):
                        w = weight_name(index + 1, j + 1, k + 1)
                        row["dz_d" + w + suffix] = inputs[:, k]
                        row["grad_" + w + suffix] = block.weight_gradients[:, s,
                                                                           weight + j * n_in + k]
                if self.trains_biases:
                    for j in range(n_out):
                        row["grad_" + bias_name(index + 1, j + 1) + suffix] = \
                            block.bias_gradients[:, s, neuron + j]
        row["C"] = block.losses.mean(axis=1)
        new = self.table_order(block.new_weights, block.new_biases)
        numeric = self.table_order(block.fd_weights, block.fd_biases)
        for i, name in enumerate(names):
            row["grad_" + name] = gradients[:, i]
            row["new_" + name] = new[:, i]
            if self.check:
                row["fd_" + name] = numeric[:, i]
                row["reldiff_" + name] = relative_difference(gradients[:, i], numeric[:, i])
        return row

    def summary(self, block: Block, first: int) -> tuple[np.ndarray, ...]:
        """The trace of a block that starts at step `first`: step numbers, losses, and each
        trained parameter and its gradient (one column each, in table order)."""
        return (np.arange(first, first + len(block.losses)), block.losses.mean(axis=1),
                self.table_order(block.weights, block.biases),
                self.table_order(block.mean_weight_gradients, block.mean_bias_gradients))


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
