"""The kernels: one training step, written once as loops over flat arrays, and the three ways it
runs. A kernel takes a run's settings and parameters and fills a Block, one row a step of every
quantity the step computes; what the numbers are called and how a reader gets them is engine.py's.

The step (_step, and the _forward, _losses, _backward and _finite_differences it calls, which call
the activations and losses of functions.py by number; then, for an optimizer other than plain
gradient descent, _optimize and its _update) runs one of three ways:

1. Traced into straight-line Python (straight_line_step): run once on numbers that record what is
   done to them (straight.py), it becomes a Python function for the network at hand with no loops,
   indexing or dispatch left, which CPython runs some 10 times faster than the loops. Most runs.
2. Compiled by numba (compiled_train): under 1 µs a step, but loading numba and the cached kernel
   takes about 1.2 s and 125 MB. Long runs of the engine alone (`backprop-xl trace`), and networks
   too large to trace. numba is optional (pip install 'backprop_xl[fast]'); without it, these runs
   take way 1 or 3, with the same numbers, only slower.
3. The loops themselves, run by CPython on numpy's numbers (_train): where the traced step's Python
   floats raise (an overflow, a log of 0) and numpy's give inf or NaN, and for networks too large
   to trace when numba is missing.

Kernel chooses for a run: numba when worth_compiling says its load time pays (and numba is
installed), else the traced step when the network's work is at most STRAIGHT_LINE_WORK, else the
loops. All three do the same operations in the same order, so they give the same numbers (numba's
exp, log and tanh may round a last bit differently from numpy's and math's).
"""

from __future__ import annotations

import functools
import hashlib
import math
import os
import sys
import types
from pathlib import Path
from typing import NamedTuple

import numpy as np

from . import functions, straight
from .functions import (ACTIVATION_NAMES, LOSSES, SOFTMAX_CODE, activation_derivative,
                        activation_value, loss_derivative, loss_value, softmax_into)
from .names import layers
from .spec import OPTIMIZERS, Spec

# --- what a step works on ----------------------------------------------------------------------
# The parameters live in two flat vectors: w holds every weight, layer after layer, each layer's
# matrix row by row (neuron j, input k); b holds one bias per neuron, layer after layer (zeros for
# a network without biases). Neuron-shaped arrays (z, a, dC/da, ...) have one row per sample and
# one column per neuron, in the same order.
#
# The optimizer's state sits beside them in Moments, one entry per weight and per bias in the same
# order: the "first" moment (momentum's velocity, Adam's m) and the "second" (RMSprop's average of
# squared gradients, Adagrad's sum of them, Adam's v). An optimizer without one of the two has it
# empty (length 0), so that plain gradient descent carries and stores nothing more than before.

# The optimizers by number, their places in spec.OPTIMIZERS.
SGD, MOMENTUM, RMSPROP, ADAGRAD, ADAM = range(5)
assert OPTIMIZERS == ("sgd", "momentum", "rmsprop", "adagrad", "adam")


def state_widths(optimizer: int, weights: int, neurons: int) -> dict[str, tuple[int, int]]:
    """How many numbers (weights, biases) each piece of the optimizer's state holds: every
    parameter's for the pieces the optimizer has, none for the others."""
    first = optimizer in (MOMENTUM, ADAM)
    second = optimizer in (RMSPROP, ADAGRAD, ADAM)
    hats = optimizer == ADAM

    def width(has: bool) -> tuple[int, int]:
        return (weights, neurons) if has else (0, 0)

    return {"first": width(first), "second": width(second), "first_hat": width(hats),
            "second_hat": width(hats)}


class Settings(NamedTuple):
    """What every step of a run uses and no step changes."""

    sizes: np.ndarray  # the layers' widths, inputs first (int64)
    codes: np.ndarray  # each layer's activation, by its number in functions.ACTIVATION_NAMES
    slope: float  # leaky_relu's slope
    loss_code: int  # the loss, by its number in functions.LOSSES
    chain_rule: bool  # False: the lesson as shown on screen, without the factor dz/dw
    update_biases: bool  # the biases train (spec.trains_biases)
    check: bool  # compute the gradient check's central differences
    h: float  # the central differences' step
    rate: float  # the learning rate
    optimizer: int  # by its number (SGD, MOMENTUM, ...), its place in spec.OPTIMIZERS
    nesterov: bool  # momentum: step by gradient + momentum * velocity
    momentum: float  # the optimizer's hyperparameters, as spec.Optimizer names them
    alpha: float
    beta1: float
    beta2: float
    eps: float

    @classmethod
    def of(cls, spec: Spec, gradient_check: bool) -> "Settings":
        optimizer = spec.optimizer
        return cls(
            sizes=np.array(spec.layers, dtype=np.int64),
            codes=np.array([ACTIVATION_NAMES.index(name) for name in spec.activations],
                           dtype=np.int64),
            slope=float(spec.leaky_slope), loss_code=list(LOSSES).index(spec.loss),
            chain_rule=spec.gradient == "chain_rule", update_biases=spec.trains_biases,
            check=gradient_check, h=float(spec.fd_step), rate=float(spec.learning_rate),
            optimizer=OPTIMIZERS.index(optimizer.name), nesterov=bool(optimizer.nesterov),
            momentum=float(optimizer.momentum or 0.0), alpha=float(optimizer.alpha),
            beta1=float(optimizer.beta1), beta2=float(optimizer.beta2), eps=float(optimizer.eps))

    @property
    def hyperparameters(self) -> tuple[float, ...]:
        """What a traced step of an optimizer with state takes after the rate."""
        return tuple(getattr(self, name) for name in HYPERPARAMETERS)


# The optimizers' hyperparameters among Settings' fields, in the order a traced step takes them.
HYPERPARAMETERS = ("momentum", "alpha", "beta1", "beta2", "eps")


class Moments(NamedTuple):
    """The optimizer's state that one step leaves to the next (see above): each piece for the
    weights (w's order) and the biases (b's order), empty where the optimizer has no such piece.
    It starts at 0: torch.optim's momentum buffer, square average, state sum (initial accumulator
    value 0) and Adam's m and v all do."""

    first_w: np.ndarray
    first_b: np.ndarray
    second_w: np.ndarray
    second_b: np.ndarray

    @classmethod
    def zeros(cls, optimizer: int, weights: int, neurons: int) -> "Moments":
        widths = state_widths(optimizer, weights, neurons)
        return cls(np.zeros(widths["first"][0]), np.zeros(widths["first"][1]),
                   np.zeros(widths["second"][0]), np.zeros(widths["second"][1]))

    def values(self) -> tuple[float, ...]:
        return (*self.first_w.tolist(), *self.first_b.tolist(), *self.second_w.tolist(),
                *self.second_b.tolist())

    def put(self, values) -> None:
        """Set every piece from numbers in the order of values()."""
        start = 0
        for piece in self:
            piece[:] = values[start:start + len(piece)]
            start += len(piece)


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
    # The optimizer's state after the step (Moments; kernels._update says what each holds), and
    # Adam's bias-corrected m and v: (steps, 0) where the optimizer has no such piece.
    first_weights: np.ndarray
    first_biases: np.ndarray
    second_weights: np.ndarray
    second_biases: np.ndarray
    first_hat_weights: np.ndarray
    first_hat_biases: np.ndarray
    second_hat_weights: np.ndarray
    second_hat_biases: np.ndarray

    @staticmethod
    def shapes(steps: int, samples: int, weights: int, neurons: int,
               optimizer: int = SGD) -> dict[str, tuple]:
        shapes = {"samples": (steps,), "weights": (steps, weights), "losses": (steps, samples),
                  "weight_gradients": (steps, samples, weights)}
        for piece, (n_weights, n_biases) in state_widths(optimizer, weights, neurons).items():
            shapes[f"{piece}_weights"] = (steps, n_weights)
            shapes[f"{piece}_biases"] = (steps, n_biases)
        for name in ("mean_weight_gradients", "new_weights", "fd_weights"):
            shapes[name] = (steps, weights)
        for name in ("biases", "mean_bias_gradients", "new_biases", "fd_biases"):
            shapes[name] = (steps, neurons)
        for name in ("z", "a", "dC_da", "da_dz", "bias_gradients"):
            shapes[name] = (steps, samples, neurons)
        return {name: shapes[name] for name in Block._fields}

    @classmethod
    def empty(cls, steps: int, samples: int, weights: int, neurons: int,
              optimizer: int = SGD) -> "Block":
        return cls(**{name: np.zeros(shape, dtype=np.int64 if name == "samples" else float)
                      for name, shape
                      in cls.shapes(steps, samples, weights, neurons, optimizer).items()})

    @classmethod
    def from_rows(cls, rows: list[tuple], fields: tuple[str, ...], samples: int, weights: int,
                  neurons: int, optimizer: int = SGD) -> "Block":
        """A block from one tuple a step, holding the numbers of every field named in `fields`,
        in that order, each field's flattened."""
        assert sorted(fields) == sorted(cls._fields), fields
        shapes = cls.shapes(len(rows), samples, weights, neurons, optimizer)
        table = np.array(rows, dtype=float).reshape(len(rows), -1)
        block, start = {}, 0
        for name in fields:
            width = int(np.prod(shapes[name][1:], dtype=np.int64))
            block[name] = table[:, start:start + width].reshape(shapes[name])
            start += width
        block["samples"] = block["samples"].astype(np.int64)
        return cls(**block)


class Scratch(NamedTuple):
    """Arrays a step computes in and every step reuses, so that a step allocates nothing."""

    upstream: np.ndarray  # dC/da of the layer at hand: (samples, widest layer)
    below: np.ndarray  # dC/da of the layer below it, the same shape
    probe_z: np.ndarray  # z and a of a finite difference's forward pass: (samples, neurons)
    probe_a: np.ndarray
    probe_losses: np.ndarray  # and its losses: (samples,)


# --- the step ----------------------------------------------------------------------------------
# Written as loops over plain arrays, with what numba compiles, so that the very same functions run
# as Python, compiled, or traced (see the module's docstring). Each array taken out of a NamedTuple
# (settings.sizes, block.z[t]) costs numba a reference count up and down, atomic operations that
# add up to a third of a small network's step: so _step and _finite_differences take them out once,
# at their top, and the functions called most often (_forward) take plain arrays.


def _forward(sizes, codes, slope, w, b, x, z, a):
    """Fill z and a of every neuron for the samples x (one row each), for layers of widths
    sizes with activations codes: each neuron's a from its own z, or a softmax layer's from all
    of its z."""
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
                if codes[layer] != SOFTMAX_CODE:
                    a[s, neuron + j] = activation_value(codes[layer], z[s, neuron + j], slope)
            if codes[layer] == SOFTMAX_CODE:
                softmax_into(z[s], a[s], neuron, n_out)
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


def _backward(settings, w, x, y, z, a, dC_da, da_dz, weight_gradients, bias_gradients, scratch):
    """Fill every factor of the chain rule and each sample's gradients, from the output layer
    down, given z and a."""
    sizes, codes, slope = settings.sizes, settings.codes, settings.slope
    neuron_end, weight_end = z.shape[1], w.shape[0]
    upstream, below = scratch.upstream, scratch.below
    for s in range(y.shape[0]):
        for j in range(y.shape[1]):
            upstream[s, j] = loss_derivative(settings.loss_code,
                                             a[s, neuron_end - y.shape[1] + j], y[s, j])
    for layer in range(len(sizes) - 2, -1, -1):
        n_in, n_out = sizes[layer], sizes[layer + 1]
        neuron, weight = neuron_end - n_out, weight_end - n_in * n_out
        inputs = x if layer == 0 else a[:, neuron - n_in:neuron]  # dz/dw
        softmax = codes[layer] == SOFTMAX_CODE
        for s in range(x.shape[0]):
            # A softmax neuron's a depends on every z of its layer, so dC/dz is the Jacobian
            # product dC/dz_j = Σ_k dC/da_k·da_k/dz_j = a_j·(dC/da_j − Σ_k dC/da_k·a_k), and its
            # da_dz holds 0: it has no da/dz of its own.
            weighted = 0.0
            if softmax:
                for j in range(n_out):
                    weighted += upstream[s, j] * a[s, neuron + j]
            for j in range(n_out):
                n = neuron + j
                dC_da[s, n] = upstream[s, j]
                if softmax:
                    da_dz[s, n] = 0.0
                    delta = a[s, n] * (upstream[s, j] - weighted)  # dC/dz
                else:
                    da_dz[s, n] = activation_derivative(codes[layer], z[s, n], a[s, n], slope)
                    delta = upstream[s, j] * da_dz[s, n]  # dC/dz
                bias_gradients[s, n] = delta  # dz/db = 1
                for k in range(n_in):
                    # The lesson as shown on screen leaves the factor dz/dw out of the product.
                    factor = inputs[s, k] if settings.chain_rule else 1.0
                    weight_gradients[s, weight + j * n_in + k] = delta * factor
            for k in range(n_in):
                total = 0.0
                for j in range(n_out):
                    total += bias_gradients[s, neuron + j] * w[weight + j * n_in + k]
                below[s, k] = total
        upstream, below = below, upstream
        neuron_end, weight_end = neuron, weight


def _finite_differences(values, differences, settings, w, b, x, y, scratch, used):
    """Central differences (C(p + h) - C(p - h)) / 2h of the step's cost (over its first `used`
    samples) for each entry p of `values` (w or b itself), into `differences`."""
    sizes, codes, slope, loss_code, h = (settings.sizes, settings.codes, settings.slope,
                                         settings.loss_code, settings.h)
    z, a, losses = scratch.probe_z, scratch.probe_a, scratch.probe_losses
    for i in range(values.shape[0]):
        kept = values[i]
        values[i] = kept + h
        _forward(sizes, codes, slope, w, b, x, z, a)
        up = _cost(loss_code, a, y, losses, used)
        values[i] = kept - h
        _forward(sizes, codes, slope, w, b, x, z, a)
        down = _cost(loss_code, a, y, losses, used)
        values[i] = kept
        differences[i] = (up - down) / (2 * h)


def _cost(loss_code, a, y, losses, used):
    """Fill each sample's loss and return the mean of the first `used`, the cost C, summed in
    sample order."""
    _losses(loss_code, a, y, losses)
    total = 0.0
    for s in range(used):
        total += losses[s]
    return total / used


def _mean(per_sample, mean, used):
    """The mean over the first `used` samples (rows) of each column, summed in sample order as
    numpy does."""
    for i in range(per_sample.shape[1]):
        total = 0.0
        for s in range(used):
            total += per_sample[s, i]
        mean[i] = total / used


def _square_root(x):
    return np.sqrt(x)


def _power(base, exponent):
    return base ** exponent


def _update(settings, p, g, first, second, first_row, second_row, first_hat_row, second_hat_row,
            number):
    """Move each parameter of p (w or b) in place by its mean gradient g under the run's optimizer
    other than plain SGD (which _step does itself), with torch.optim's documented update rules,
    weight decay 0; first and second are its Moments (updated in place), the *_row arrays the
    block's row of this step, which get the state after the update; number is the step, t.
    In the words of torch.optim's documentation, with lr = settings.rate and g_t = g[i]:

    momentum (torch.optim.SGD, dampening 0):  b_t = mu b_{t-1} + g_t, where torch.optim takes
        b_1 = g_1, the very number mu * 0 + g_1 gives; then with nesterov the step is
        g_t + mu b_t, else b_t:  theta_t = theta_{t-1} - lr * step.
    rmsprop (torch.optim.RMSprop, not centered, no momentum):  v_t = alpha v_{t-1} + (1 - alpha)
        g_t^2;  theta_t = theta_{t-1} - lr g_t / (sqrt(v_t) + eps)  (eps outside the root).
    adagrad (torch.optim.Adagrad, lr_decay 0 so lr~ = lr, initial accumulator 0):  state_sum_t =
        state_sum_{t-1} + g_t^2;  theta_t = theta_{t-1} - lr g_t / (sqrt(state_sum_t) + eps).
    adam (torch.optim.Adam, no amsgrad):  m_t = beta1 m_{t-1} + (1 - beta1) g_t;  v_t = beta2
        v_{t-1} + (1 - beta2) g_t^2;  m^_t = m_t / (1 - beta1^t);  v^_t = v_t / (1 - beta2^t);
        theta_t = theta_{t-1} - lr m^_t / (sqrt(v^_t) + eps).

    Each product is taken left to right as written (lr g_t / (...) is (lr g_t) / (...)), g_t^2 as
    g_t * g_t, and beta^t by pow, as Excel's ^ computes it."""
    optimizer, rate, eps = settings.optimizer, settings.rate, settings.eps
    if optimizer == MOMENTUM:
        mu = settings.momentum
        for i in range(p.shape[0]):
            first[i] = mu * first[i] + g[i]
            first_row[i] = first[i]
            step = g[i] + mu * first[i] if settings.nesterov else first[i]
            p[i] = p[i] - rate * step
    elif optimizer == RMSPROP:
        alpha = settings.alpha
        for i in range(p.shape[0]):
            second[i] = alpha * second[i] + (1.0 - alpha) * (g[i] * g[i])
            second_row[i] = second[i]
            p[i] = p[i] - rate * g[i] / (_square_root(second[i]) + eps)
    elif optimizer == ADAGRAD:
        for i in range(p.shape[0]):
            second[i] = second[i] + g[i] * g[i]
            second_row[i] = second[i]
            p[i] = p[i] - rate * g[i] / (_square_root(second[i]) + eps)
    else:  # ADAM
        beta1, beta2 = settings.beta1, settings.beta2
        correction1 = 1.0 - _power(beta1, number)
        correction2 = 1.0 - _power(beta2, number)
        for i in range(p.shape[0]):
            first[i] = beta1 * first[i] + (1.0 - beta1) * g[i]
            second[i] = beta2 * second[i] + (1.0 - beta2) * (g[i] * g[i])
            first_row[i] = first[i]
            second_row[i] = second[i]
            first_hat_row[i] = first[i] / correction1
            second_hat_row[i] = second[i] / correction2
            p[i] = p[i] - rate * first_hat_row[i] / (_square_root(second_hat_row[i]) + eps)


def _step(settings, w, b, x, y, block, t, scratch, used):
    """One step on the samples x, y, into row t of block: every field from z to fd_biases. The
    step trains on the first `used` samples (rows) and computes the rest, an uneven epoch's last
    batch's unused groups, without counting them. Every gradient uses the step's parameters w
    and b; then, for plain gradient descent, each parameter
    moves, in place, by its gradient averaged over the samples (another optimizer's update is
    _optimize's, after this)."""
    # Row t of every field, each taken once here, before any call or branch: numba then drops
    # most of their reference counting.
    z, a, losses = block.z[t], block.a[t], block.losses[t]
    dC_da, da_dz = block.dC_da[t], block.da_dz[t]
    weight_gradients, bias_gradients = block.weight_gradients[t], block.bias_gradients[t]
    mean_weight_gradients = block.mean_weight_gradients[t]
    mean_bias_gradients = block.mean_bias_gradients[t]
    fd_weights, fd_biases = block.fd_weights[t], block.fd_biases[t]
    _forward(settings.sizes, settings.codes, settings.slope, w, b, x, z, a)
    _losses(settings.loss_code, a, y, losses)
    _backward(settings, w, x, y, z, a, dC_da, da_dz, weight_gradients, bias_gradients, scratch)
    if settings.check:
        _finite_differences(w, fd_weights, settings, w, b, x, y, scratch, used)
        if settings.update_biases:
            _finite_differences(b, fd_biases, settings, w, b, x, y, scratch, used)
    _mean(weight_gradients, mean_weight_gradients, used)
    _mean(bias_gradients, mean_bias_gradients, used)
    if settings.optimizer == SGD:
        for i in range(w.shape[0]):
            w[i] = w[i] - settings.rate * mean_weight_gradients[i]
        if settings.update_biases:
            for i in range(b.shape[0]):
                b[i] = b[i] - settings.rate * mean_bias_gradients[i]


def _optimize(settings, w, b, block, t, moments, number):
    """The update of an optimizer other than plain SGD, after _step has filled row t of block:
    each parameter moves by its mean gradient (_update), and the optimizer's state after it goes
    into the row. Apart from _step, so that SGD's compiled step is the code it was before the
    optimizers came: a call to _update from _step, in a branch SGD never takes, made numba's
    reference counting cost SGD's compiled step about 0.45 µs more (measured: 1,000,000 seed
    steps, 0.56 s then 1.0 s)."""
    mean_weight_gradients = block.mean_weight_gradients[t]
    mean_bias_gradients = block.mean_bias_gradients[t]
    _update(settings, w, mean_weight_gradients, moments.first_w, moments.second_w,
            block.first_weights[t], block.second_weights[t], block.first_hat_weights[t],
            block.second_hat_weights[t], number)
    if settings.update_biases:
        _update(settings, b, mean_bias_gradients, moments.first_b, moments.second_b,
                block.first_biases[t], block.second_biases[t], block.first_hat_biases[t],
                block.second_hat_biases[t], number)


def _train(settings, inputs, targets, n_samples, first, w, b, moments, block):
    """Steps first, first + 1, ... into the rows of block, one row per step, each on its batch
    (batch_of) of the n_samples samples, as many a step as block has groups: inputs and targets
    hold the samples, then again as many of the first as a batch needs to run past the last
    (cycled), for the unused groups of an uneven epoch's last batch. w and b end as the
    parameters after the last step, moments as the optimizer's state after it."""
    samples, widest, neurons = block.losses.shape[1], settings.sizes.max(), b.shape[0]
    scratch = Scratch(upstream=np.empty((samples, widest)), below=np.empty((samples, widest)),
                      probe_z=np.empty((samples, neurons)), probe_a=np.empty((samples, neurons)),
                      probe_losses=np.empty(samples))
    for t in range(block.losses.shape[0]):
        sample, used = batch_of(first + t, samples, n_samples)
        block.samples[t] = sample
        block.weights[t] = w
        block.biases[t] = b
        _step(settings, w, b, inputs[sample:sample + samples], targets[sample:sample + samples],
              block, t, scratch, used)
        if settings.optimizer != SGD:
            _optimize(settings, w, b, block, t, moments, float(first + t))
        block.new_weights[t] = w
        block.new_biases[t] = b


def batches(n_samples, batch_size):
    """The steps of an epoch: the batches of batch_size samples that n_samples make."""
    return (n_samples + batch_size - 1) // batch_size


def batch_of(step, batch_size, n_samples):
    """Step `step`'s batch, as its first sample (0-based) and how many samples it has: batches of
    batch_size samples in order, the last of an epoch smaller where batch_size does not divide
    n_samples, then the first again (a data loader without shuffling and without drop_last).
    Batch mode is one batch of all the samples; stochastic mode, batches of 1. `step` may be an
    array of steps (numpy's minimum, not min, for that)."""
    first = (step - 1) % batches(n_samples, batch_size) * batch_size
    return first, np.minimum(batch_size, n_samples - first)


def cycled(samples: np.ndarray, batch_size: int) -> np.ndarray:
    """The samples (rows), then the first batch_size - 1 again: what _train takes, so that any
    batch's groups are consecutive rows, an uneven last batch's unused ones included."""
    return np.concatenate([samples, samples[:batch_size - 1]])


# --- way 1: the step traced into straight-line Python ------------------------------------------

# The fields of a Block row that _step fills (the rest, _train's bookkeeping, are the sample and
# the parameters before and after the step).
STEP_FIELDS = ("z", "a", "losses", "dC_da", "da_dz", "weight_gradients", "bias_gradients",
               "mean_weight_gradients", "mean_bias_gradients", "fd_weights", "fd_biases",
               "first_weights", "first_biases", "second_weights", "second_biases",
               "first_hat_weights", "first_hat_biases", "second_hat_weights", "second_hat_biases")
# What the traced step calls by name that functions.py does not hold, as it runs on floats.
STEP_PRIMITIVES = {"_square_root": math.sqrt, "_power": _power}


@functools.lru_cache(maxsize=64)  # a spreadsheet's functions call the same few networks over
def straight_line_step(sizes: tuple[int, ...], codes: tuple[int, ...], loss_code: int,
                       chain_rule: bool, update_biases: bool, check: bool, samples: int,
                       optimizer: int = SGD, nesterov: bool = False, used: int | None = None):
    """_step traced for one network and batch (`samples` groups, of which the first `used`
    count: all by default), as a Python function of its parameters (weights, then
    biases, then the optimizer's state in the order of Moments.values()), the step's numbers
    (inputs, then targets, sample by sample), then slope, h and rate, and for an optimizer with
    state its HYPERPARAMETERS and the step's number. It returns two tuples: the new parameters
    (weights, then biases, then the optimizer's state), and the numbers of every field of
    STEP_FIELDS, in that order, each field's flattened."""
    tape = straight.Tape()
    # Each call to a function of functions.py is recorded, not made, except the numbered forms':
    # those run, and pick by a number known now the function whose call is recorded.
    recorded = {name: tape.call(name) for name, value in vars(functions).items()
                if isinstance(value, types.FunctionType)
                and not getattr(value, "traced_through", False)}
    recorded.update({name: tape.call(name) for name in STEP_PRIMITIVES})
    traced = straight.rebind([functions, sys.modules[__name__]], recorded)

    def numbers(prefix: str, *shape: int) -> np.ndarray:
        """An array of the traced function's inputs, named prefix + index (w0, x0_1, ...)."""
        array = np.empty(shape, dtype=object)
        for index in np.ndindex(*shape):
            array[index] = tape.number(prefix + "_".join(map(str, index)))
        return array

    def zeros(*shape: int) -> np.ndarray:
        """An array of constants 0.0, what a field the step leaves alone holds."""
        return np.full(shape, 0.0, dtype=object)

    n_weights = sum(layer.inputs * layer.neurons for layer in layers(sizes))
    n_neurons = sum(sizes[1:])
    w, b = numbers("w", n_weights), numbers("b", n_neurons)
    widths = state_widths(optimizer, n_weights, n_neurons)
    moments = Moments(numbers("mw", widths["first"][0]), numbers("mb", widths["first"][1]),
                      numbers("vw", widths["second"][0]), numbers("vb", widths["second"][1]))
    x, y = numbers("x", samples, sizes[0]), numbers("y", samples, sizes[-1])
    stateful = optimizer != SGD
    hyperparameters = {name: tape.number(name) if stateful else 0.0 for name in HYPERPARAMETERS}
    fixed = Settings(sizes=np.array(sizes), codes=np.array(codes), slope=tape.number("slope"),
                     loss_code=loss_code, chain_rule=chain_rule, update_biases=update_biases,
                     check=check, h=tape.number("h"), rate=tape.number("rate"),
                     optimizer=optimizer, nesterov=nesterov, **hyperparameters)
    parameters = [item.name for part in (w, b, *moments, x, y) for item in part.ravel()]
    parameters += ["slope", "h", "rate"] + (list(HYPERPARAMETERS) + ["step"] if stateful else [])
    row = Block(**{name: zeros(*shape) for name, shape
                   in Block.shapes(1, samples, n_weights, n_neurons, optimizer).items()})
    scratch = Scratch(upstream=zeros(samples, max(sizes)), below=zeros(samples, max(sizes)),
                      probe_z=zeros(samples, n_neurons), probe_a=zeros(samples, n_neurons),
                      probe_losses=zeros(samples))
    # w, b and the moments now hold the new parameters and state
    traced["_step"](fixed, w, b, x, y, row, 0, scratch, samples if used is None else used)
    if stateful:
        traced["_optimize"](fixed, w, b, row, 0, moments, tape.number("step"))
    computed = tuple(item for name in STEP_FIELDS for item in getattr(row, name)[0].ravel())
    new = (*w, *b, *(item for piece in moments for item in piece))
    source = tape.source("step", parameters, [new, computed])
    namespace = dict(functions.on_floats(), **STEP_PRIMITIVES)
    exec(compile(source, "<backprop_xl: _step traced>", "exec"), namespace)
    return namespace["step"]


# --- way 2: the loops compiled by numba --------------------------------------------------------

@functools.cache
def numba_available() -> bool:
    """Whether numba can be imported: it is optional (the `fast` extra). Asked only when a run
    would compile, since importing numba takes about a second."""
    try:
        import numba  # noqa: F401
    except ImportError:
        return False
    return True


@functools.cache
def compiled_train():
    """_train compiled by numba, with every function it calls."""
    import numba
    from numba.extending import register_jitable

    sources = [functions, sys.modules[__name__]]
    for module in sources:
        for function in vars(module).values():
            if isinstance(function, types.FunctionType) and function.__module__ == module.__name__:
                register_jitable(inline="always" if function is _step else "never")(
                    function)
    # numba's cache notices a change to this file only, not to functions.py: keep the cache in a
    # folder named by the digest of both.
    digest = hashlib.sha256(b"".join(Path(m.__file__).read_bytes() for m in sources)).hexdigest()
    numba.config.CACHE_DIR = str(_cache_home() / "backprop_xl" / f"numba-{digest[:16]}")
    # error_model="numpy": a division by zero gives inf or NaN, as in numpy, not an exception.
    return numba.njit(_train, error_model="numpy", cache=True, nogil=True)


def _cache_home() -> Path:
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")


# --- which way runs ----------------------------------------------------------------------------
# The traced step takes about 1.5 µs a step plus 0.1 µs for each weight and neuron of each pass
# through the network (one pass per sample the step uses, and for the gradient check two more per
# parameter); the trace itself grows with that work, so past STRAIGHT_LINE_WORK the loops run as
# they are instead (some 10 times slower). numba's kernel: under 1 µs a step, but numba and the
# cached kernel take about 1.2 s to load (some 15 s to compile, the first time on a machine) and
# add about 125 MB to a process of about 40 MB. Measured on this project's 2-core machine, where
# benchmarks/run.py measures the engine as generate runs it.
PYTHON_STEP_MICROSECONDS = 1.5
PYTHON_WORK_MICROSECONDS = 0.1
STRAIGHT_LINE_WORK = 100_000
COMPILE_AFTER_SECONDS = 1.2
# The loops run as Python take some 5 to 25 times the traced step's time (measured: seed to an
# 8-8-2 network with the gradient check).
LOOPS_SLOWDOWN = 10
# A command that writes or reads a workbook spends at least this long on each cell of a step's row
# (generate: 12 to 18 µs a cell); next to that, the engine's share is what counts, not its time.
CELL_MICROSECONDS = 10
ENGINE_SHARE = 0.05
# A run that would take longer than this in Python for want of numba says how to install it
# (`backprop-xl trace`). Shorter ones gain little: seed's longest run, 1,048,575 steps, takes
# about as long in Python as numba takes to load and run it.
SLOW_PYTHON_SECONDS = 10


def _work(spec: Spec, gradient_check: bool) -> int:
    """The weights and neurons a step passes through: what a step's time grows with."""
    units = sum(layer.inputs * layer.neurons + layer.neurons for layer in layers(spec.layers))
    passes = 1 + (2 * spec.n_parameters if gradient_check else 0)
    return spec.step_samples * passes * units


def _traced_step_microseconds(work: int) -> float:
    return PYTHON_STEP_MICROSECONDS + PYTHON_WORK_MICROSECONDS * work


def python_seconds(spec: Spec, gradient_check: bool = False) -> float:
    """About how long the Python kernel takes to run the spec: the traced step, or the loops."""
    work = _work(spec, gradient_check)
    step = _traced_step_microseconds(work)
    return spec.steps * step * 1e-6 * (LOOPS_SLOWDOWN if work > STRAIGHT_LINE_WORK else 1)


def compiling_pays(spec: Spec, gradient_check: bool = False, cells: int = 0) -> bool:
    """Whether numba's kernel would pay for the spec: always for a network too large to trace;
    else when the traced step would take longer than numba takes to load, and, for a command with
    a table of `cells` columns, when it would also be more than ENGINE_SHARE of that command's
    time (numba's 125 MB buy little there)."""
    work = _work(spec, gradient_check)
    if work > STRAIGHT_LINE_WORK:
        return True
    step = _traced_step_microseconds(work)
    return (python_seconds(spec, gradient_check) > COMPILE_AFTER_SECONDS
            and step > ENGINE_SHARE * CELL_MICROSECONDS * cells)


def worth_compiling(spec: Spec, gradient_check: bool = False, cells: int = 0) -> bool:
    """Whether numba's kernel should run the spec: it pays (compiling_pays), and numba is
    installed (asked last, so that a run that would not compile never imports it)."""
    return compiling_pays(spec, gradient_check, cells) and numba_available()


def slow_without_numba(spec: Spec, gradient_check: bool = False) -> bool:
    """Whether the run will take more than SLOW_PYTHON_SECONDS in Python because numba is not
    installed (asked last, as in worth_compiling)."""
    return python_seconds(spec, gradient_check) > SLOW_PYTHON_SECONDS and not numba_available()


class Kernel:
    """The steps of one run, computed one of the three ways (see the module's docstring), chosen
    when it is made: compiled (numba), else straight_line (the traced step) when the network's
    work is small enough, else the loops."""

    def __init__(self, spec: Spec, gradient_check: bool = False, compiled: bool | None = None):
        """compiled: numba's kernel (True; Python's when numba is missing), the Python one
        (False), or as worth_compiling says for a run by itself (None)."""
        self.settings = Settings.of(spec, gradient_check)
        self.step_samples = k = spec.step_samples
        self.n_samples = spec.n_samples
        # standardized, if so; cycled for an uneven epoch's last batch
        self.inputs = cycled(np.array(spec.training_inputs, dtype=float), k)
        self.targets = cycled(np.array(spec.targets, dtype=float), k)
        if compiled is None:
            compiled = worth_compiling(spec, gradient_check)
        self.compiled = compiled and numba_available()
        self.straight_line = None
        if not self.compiled and _work(spec, gradient_check) <= STRAIGHT_LINE_WORK:
            s = self.settings
            # For each batch of an epoch, the straight-line step of its number of samples (the
            # last may have fewer) and what it takes after the parameters.
            self.straight_line = []
            for position in range(batches(self.n_samples, k)):
                first, used = batch_of(position + 1, k, self.n_samples)
                step = straight_line_step(
                    tuple(spec.layers), tuple(s.codes.tolist()), s.loss_code, s.chain_rule,
                    s.update_biases, gradient_check, k, s.optimizer, s.nesterov, used)
                self.straight_line.append((step, (
                    *self.inputs[first:first + k].ravel().tolist(),
                    *self.targets[first:first + k].ravel().tolist(),
                    s.slope, s.h, s.rate, *(s.hyperparameters if s.optimizer != SGD else ()))))

    def moments(self, weights: int, neurons: int) -> Moments:
        """The optimizer's state before the first step."""
        return Moments.zeros(self.settings.optimizer, weights, neurons)

    def train(self, w: np.ndarray, b: np.ndarray, first: int, steps: int,
              moments: Moments) -> Block:
        """Steps first, ..., first + steps - 1 as a block; w and b end as the parameters after
        the last of them, moments (the optimizer's state before step `first`) as the state after
        it."""
        if self.straight_line is not None:
            try:
                return self._straight_line_train(w, b, moments, first, steps)
            except functions.FLOAT_FORM_ERRORS:
                pass  # where numpy gives inf or NaN: this block runs again in the loops below
        block = Block.empty(steps, self.step_samples, len(w), len(b), self.settings.optimizer)
        train = compiled_train() if self.compiled else _train
        with np.errstate(all="ignore"):  # overflow shows in the numbers; the commands report it
            train(self.settings, self.inputs, self.targets, self.n_samples, first, w, b, moments,
                  block)
        return block

    def _straight_line_train(self, w, b, moments, first, steps) -> Block:
        """Steps first, first + 1, ... by the straight-line step, as _train does with the loops:
        it takes and returns the parameters and the optimizer's state (none for plain SGD), and
        for an optimizer with state the step's number; w, b and moments are left alone if a step
        raises."""
        n = len(w) + len(b)
        stateful = self.settings.optimizer != SGD
        rows, carried = [], (*w.tolist(), *b.tolist(), *moments.values())
        for t in range(steps):
            sample, _ = batch_of(first + t, self.step_samples, self.n_samples)
            step, arguments = self.straight_line[(first + t - 1) % len(self.straight_line)]
            number = (float(first + t),) if stateful else ()
            new, computed = step(*carried, *arguments, *number)
            rows.append((sample, *carried[:n], *computed, *new[:n]))
            carried = new
        block = Block.from_rows(
            rows, ("samples", "weights", "biases", *STEP_FIELDS, "new_weights", "new_biases"),
            self.step_samples, len(w), len(b), self.settings.optimizer)
        w[:], b[:] = block.new_weights[-1], block.new_biases[-1]
        moments.put(carried[n:])
        return block
