"""The engine on general networks, checked against sources that share no code with the package:
Mazur's published numbers, the same step worked with the math module, HIPS autograd on a reference
cost written here, central differences of that cost, and plain-Python forward passes.

The reference below reads only the spec's plain fields (layers, activations by name, leaky_slope,
loss by name, data); every formula in it is written out here, none comes from backprop_xl.
"""

import math

import autograd.numpy as anp
import numpy as np
import pytest
from autograd import grad
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from backprop_xl import engine, kernels
from backprop_xl.functions import ACTIVATION_NAMES, LOSSES, activation
from backprop_xl.presets import preset
from backprop_xl.spec import MODES, Optimizer, Spec
from helpers import MAZUR_PUBLISHED_AFTER_ONE_STEP, has_biases, reference_names, trains_biases

LOSS_NAMES = tuple(LOSSES)

# --- the independent reference ------------------------------------------------------------------
# Written for a numpy-like module xp: autograd.numpy for gradients, plain numpy for differences.

REFERENCE_ACTIVATIONS = {
    "sigmoid": lambda z, slope, xp: 1.0 / (1.0 + xp.exp(-z)),
    "tanh": lambda z, slope, xp: xp.tanh(z),
    "relu": lambda z, slope, xp: xp.maximum(z, 0.0),
    "leaky_relu": lambda z, slope, xp: xp.where(z > 0, z, slope * z),
    "linear": lambda z, slope, xp: z,
    "softplus": lambda z, slope, xp: xp.log(1.0 + xp.exp(z)),
    # torch.nn.functional.softmax's documented definition, exp(z_i) / Σ_j exp(z_j), over each
    # sample's outputs (a row), written as it reads: no largest z subtracted
    "softmax": lambda z, slope, xp: xp.exp(z) / xp.sum(xp.exp(z), axis=1, keepdims=True),
}

REFERENCE_LOSSES = {
    "squared_error": lambda a, y, xp: (a - y) ** 2,
    "half_squared_error": lambda a, y, xp: 0.5 * (a - y) ** 2,
    "binary_cross_entropy": lambda a, y, xp: -(y * xp.log(a) + (1.0 - y) * xp.log(1.0 - a)),
    # torch.nn.CrossEntropyLoss with class probabilities as targets, per sample: -Σ_c y_c log a_c
    # (the sum over c is reference_cost's, over the outputs)
    "cross_entropy": lambda a, y, xp: -(y * xp.log(a)),
}

KINKED = ("relu", "leaky_relu")  # derivative 0 (relu) or the slope (leaky) at z = 0; kept away


def test_the_reference_covers_every_activation_and_loss():
    assert set(REFERENCE_ACTIVATIONS) == set(ACTIVATION_NAMES)
    assert set(REFERENCE_LOSSES) == set(LOSS_NAMES)


def fixed_biases(spec):
    """The biases when they exist but do not train: as given, or zero (init.biases)."""
    if spec.biases is not None:
        return [list(map(float, row)) for row in spec.biases]
    return [[0.0] * width for width in spec.layers[1:]]


def unpack(theta, spec, xp):
    """Weights and biases per layer from the flat parameters in reference_names order."""
    weights, biases, i = [], [], 0
    for layer, (n_in, n_out) in enumerate(zip(spec.layers[:-1], spec.layers[1:])):
        weights.append(xp.reshape(theta[i:i + n_in * n_out], (n_out, n_in)))
        i += n_in * n_out
        if trains_biases(spec):
            biases.append(theta[i:i + n_out])
            i += n_out
        elif has_biases(spec):
            biases.append(xp.array(fixed_biases(spec)[layer]))
    assert i == len(theta)
    return weights, (biases if has_biases(spec) else None)


def reference_forward(theta, spec, x, xp=np):
    """Sums z and activations a of every layer, samples as rows."""
    weights, biases = unpack(theta, spec, xp)
    a, sums, outs = x, [], []
    for layer, w in enumerate(weights):
        z = xp.dot(a, xp.transpose(w))
        if biases is not None:
            z = z + biases[layer]
        a = REFERENCE_ACTIVATIONS[spec.activations[layer]](z, spec.leaky_slope, xp)
        sums.append(z)
        outs.append(a)
    return sums, outs


def reference_cost(theta, spec, x, y, xp=anp):
    """Loss summed over the outputs, averaged over the samples."""
    output = reference_forward(theta, spec, x, xp)[1][-1]
    return xp.mean(xp.sum(REFERENCE_LOSSES[spec.loss](output, y, xp), axis=1))


reference_gradient = grad(reference_cost)


def reference_gradient_where_finite(theta, spec, x, y, admit=None):
    """autograd's gradient of the reference cost. The plain 1/(1 + exp(-z)) overflows for a sum
    below about -709 (a run blown up by a large rate) and its gradient turns to NaN while the
    engine's stays finite: such an example says nothing and is discarded."""
    with np.errstate(all="ignore"):
        gradient = reference_gradient(theta, spec, x, y)
    (admit or assume)(np.all(np.isfinite(gradient)))
    return gradient


def central_difference(theta, spec, x, y, h=1e-6):
    """(C(p + h) - C(p - h)) / 2h of the reference cost in numpy float64, one parameter at a time."""
    estimate = np.zeros_like(theta)
    for i in range(len(theta)):
        up, down = theta.copy(), theta.copy()
        up[i] += h
        down[i] -= h
        estimate[i] = (reference_cost(up, spec, x, y, np) - reference_cost(down, spec, x, y, np)) / (2 * h)
    return estimate


def step_data(spec, number):
    """The samples step `number` trains on: all of them in batch mode; in stochastic mode sample
    (number - 1) % n_samples alone."""
    x = np.array(spec.inputs, dtype=float)
    y = np.array(spec.targets, dtype=float)
    if spec.mode == "stochastic":
        index = (number - 1) % len(spec.inputs)
        return x[index:index + 1], y[index:index + 1]
    if spec.mode == "minibatch":
        # as torch.utils.data.DataLoader(data, batch_size=k) batches them: no shuffling, the last
        # batch smaller (drop_last=False); each epoch the same batches again
        k, n = spec.batch_size, len(x)
        epoch = [list(range(start, min(start + k, n))) for start in range(0, n, k)]
        index = epoch[(number - 1) % len(epoch)]
        return x[index], y[index]
    return x, y


def theta_of(step, spec):
    """The step's starting parameters in reference order, read from Step.parameters()."""
    table = list(step.parameters())
    assert [row[0] for row in table] == reference_names(spec)
    return np.array([row[1] for row in table], dtype=float)


def assume_well_posed(theta, spec, x, y, kink_margin=1e-6, probability_margin=1e-6,
                      max_cost=None, admit=assume):
    """Discard examples where the comparison says nothing about the engine: a relu sum on its kink,
    a cross-entropy output rounded to 0 or 1 (where the naive reference itself loses precision),
    overflowed values. Outside hypothesis, admit=require makes such a case an error instead."""
    with np.errstate(all="ignore"):  # a run that has blown up overflows here; admit says no
        sums, outs = reference_forward(theta, spec, x)
        cost = reference_cost(theta, spec, x, y, np)
    for name, z in zip(spec.activations, sums):
        if name in KINKED:
            admit(np.all(np.abs(z) >= kink_margin))
    if spec.loss in ("binary_cross_entropy", "cross_entropy"):
        admit(np.all((outs[-1] > probability_margin) & (outs[-1] < 1 - probability_margin)))
    admit(np.isfinite(cost) and all(np.all(np.isfinite(z)) for z in sums + outs))
    if max_cost is not None:
        admit(cost < max_cost)


def require(condition):
    assert condition, "a fixed example must be well posed"


def assert_close(actual, expected, rtol, atol, what=""):
    actual, expected = np.asarray(actual, dtype=float), np.asarray(expected, dtype=float)
    np.testing.assert_allclose(actual, expected, rtol=rtol, atol=atol, err_msg=what)


def assert_gradient_close(actual, expected, what=""):
    """Relative 1e-9 per parameter, with a floor of 1e-12 times the largest gradient: a gradient
    that cancels (or that passes through a saturated sigmoid or tanh, whose derivative a(1 - a) or
    1 - a² the engine computes from a, as the workbook does) is exact only up to rounding noise on
    the scale of the others."""
    expected = np.asarray(expected, dtype=float)
    scale = max(1.0, float(np.max(np.abs(expected), initial=0.0)))
    assert_close(actual, expected, rtol=1e-9, atol=1e-12 * scale, what=what)


# --- random specs ---------------------------------------------------------------------------------

values = st.floats(-2.0, 2.0, allow_nan=False, allow_infinity=False)
probabilities = st.floats(0.0, 1.0, allow_nan=False, allow_infinity=False)


@st.composite
def specs(draw, activation=None, loss=None, mode=None, min_samples=1, max_samples=4, steps=3,
          max_layers=3, max_width=3, max_rate=0.5):
    """A small Spec: 1-3 layers of width 1-3, 1-4 samples, weights and inputs in [-2, 2], targets
    in [0, 1]. `activation`, if given, is used by at least one layer (a hidden one where the loss
    fixes the output's: sigmoid for binary cross-entropy, softmax for cross-entropy). A softmax
    output (drawn at times, or fixed so) has 2 or more outputs; cross-entropy's targets sum to 1,
    one-hot or probabilities."""
    loss = loss or draw(st.sampled_from(LOSS_NAMES))
    distribution = LOSSES[loss].needs_distribution
    if distribution or activation == "softmax":
        output = "softmax"
    elif loss == "binary_cross_entropy":
        output = "sigmoid"
    else:
        output = "softmax" if activation is None and draw(st.integers(0, 4)) == 0 else None
    hidden = activation if activation != "softmax" else None
    low = 2 if output and hidden not in (None, output) else 1
    n_layers = draw(st.integers(low, max_layers))
    layers = draw(st.lists(st.integers(1, max_width), min_size=n_layers + 1, max_size=n_layers + 1))
    if output == "softmax":
        layers[-1] = max(2, layers[-1])
    activations = draw(st.lists(st.sampled_from(ELEMENTWISE), min_size=n_layers,
                                max_size=n_layers))
    if output:
        activations[-1] = output
    if hidden is not None:
        last = n_layers - 2 if output and hidden != output else n_layers - 1
        activations[draw(st.integers(0, last))] = hidden
    shapes = list(zip(layers[1:], layers[:-1]))
    seeded = draw(st.booleans())
    network = {}
    if seeded:
        network["init_seed"] = draw(st.integers(0, 2 ** 32 - 1))
    else:
        network["weights"] = [[[draw(values) for _ in range(n_in)] for _ in range(n_out)]
                              for n_out, n_in in shapes]
    bias_kind = draw(st.sampled_from(["none", "given", "init"] if seeded else ["none", "given"]))
    if bias_kind == "given":
        network["biases"] = [[draw(values) for _ in range(n_out)] for n_out in layers[1:]]
    elif bias_kind == "init":
        network["init_biases"] = True
    n_samples = draw(st.integers(min_samples, max_samples))
    inputs = [[draw(values) for _ in range(layers[0])] for _ in range(n_samples)]
    targets = [[draw(probabilities) for _ in range(layers[-1])] for _ in range(n_samples)]
    if distribution:
        for row in targets:
            if draw(st.booleans()):  # one-hot
                row[:] = [0.0] * len(row)
                row[draw(st.integers(0, len(row) - 1))] = 1.0
            else:
                row[:] = [value + 0.01 for value in row]
                row[:] = [value / sum(row) for value in row]
    mode = mode or draw(st.sampled_from(MODES))
    if mode == "minibatch":
        network["batch_size"] = draw(st.integers(1, n_samples))
    return Spec(
        layers=layers, inputs=inputs, targets=targets, activations=activations, loss=loss,
        update_biases=draw(st.booleans()), leaky_slope=draw(st.floats(0.0, 0.5)),
        mode=mode, learning_rate=draw(st.floats(0.01, max_rate)),
        steps=steps, gradient_check=False, **network)


COMBINATIONS = [(a, l) for a in ACTIVATION_NAMES for l in LOSS_NAMES]
ELEMENTWISE = [name for name in ACTIVATION_NAMES if not activation(name).of_layer]

# Every optimizer (tests/test_optimizers.py checks their numbers), for the tests of the three ways
# to run a step.
optimizers = st.sampled_from([
    Optimizer(), Optimizer("momentum", momentum=0.9), Optimizer("momentum", momentum=0.5,
                                                                nesterov=True),
    Optimizer("rmsprop"), Optimizer("adagrad"), Optimizer("adam"),
    Optimizer("adam", beta1=0.5, beta2=0.9, eps=1e-3)])


# --- 1. Mazur's published numbers ----------------------------------------------------------------

# Mazur's w1..w8 in docs/design.md's names: w1, w2 into h1; w3, w4 into h2; w5, w6 into o1; w7, w8 into o2.
MAZUR_NAMES = {"w1": "w1_1_1", "w2": "w1_1_2", "w3": "w1_2_1", "w4": "w1_2_2",
               "w5": "w2_1_1", "w6": "w2_1_2", "w7": "w2_2_1", "w8": "w2_2_2"}


def mazur_by_hand():
    """Mazur's first step with nothing but the math module: E and the 8 updated weights."""
    i1, i2, t1, t2 = 0.05, 0.10, 0.01, 0.99
    w1, w2, w3, w4, w5, w6, w7, w8 = 0.15, 0.20, 0.25, 0.30, 0.40, 0.45, 0.50, 0.55
    b1, b2, eta = 0.35, 0.60, 0.5

    def sigmoid(z):
        return 1 / (1 + math.exp(-z))

    out_h1 = sigmoid(w1 * i1 + w2 * i2 + b1)
    out_h2 = sigmoid(w3 * i1 + w4 * i2 + b1)
    out_o1 = sigmoid(w5 * out_h1 + w6 * out_h2 + b2)
    out_o2 = sigmoid(w7 * out_h1 + w8 * out_h2 + b2)
    error = 0.5 * (t1 - out_o1) ** 2 + 0.5 * (t2 - out_o2) ** 2
    delta_o1 = (out_o1 - t1) * out_o1 * (1 - out_o1)  # dE/dnet_o1
    delta_o2 = (out_o2 - t2) * out_o2 * (1 - out_o2)
    delta_h1 = (delta_o1 * w5 + delta_o2 * w7) * out_h1 * (1 - out_h1)  # with the old w5, w7
    delta_h2 = (delta_o1 * w6 + delta_o2 * w8) * out_h2 * (1 - out_h2)
    gradients = {
        "w1": delta_h1 * i1, "w2": delta_h1 * i2, "w3": delta_h2 * i1, "w4": delta_h2 * i2,
        "w5": delta_o1 * out_h1, "w6": delta_o1 * out_h2, "w7": delta_o2 * out_h1,
        "w8": delta_o2 * out_h2,
    }
    old = {"w1": w1, "w2": w2, "w3": w3, "w4": w4, "w5": w5, "w6": w6, "w7": w7, "w8": w8}
    return error, {name: old[name] - eta * gradients[name] for name in old}


def test_mazur_first_loss_is_published_value():
    first = next(engine.run(preset("mazur")))
    assert first.loss == pytest.approx(0.298371109, abs=1e-9)


def test_mazur_hand_derivation_reproduces_the_published_weights():
    error, after = mazur_by_hand()
    assert error == pytest.approx(0.298371109, abs=1e-9)
    for name, published in MAZUR_PUBLISHED_AFTER_ONE_STEP.items():
        assert after[name] == pytest.approx(published, abs=1e-8), name


def test_mazur_weights_after_one_step():
    spec = preset("mazur")
    first = next(engine.run(spec))
    new = {name: new_value for name, _, _, new_value in first.parameters()}
    assert sorted(new) == sorted(MAZUR_NAMES.values())  # biases are fixed, so not trained
    error, by_hand = mazur_by_hand()
    assert first.loss == pytest.approx(error, rel=1e-14)
    for mazur, ours in MAZUR_NAMES.items():
        assert new[ours] == pytest.approx(MAZUR_PUBLISHED_AFTER_ONE_STEP[mazur], abs=1e-8), mazur
        assert new[ours] == pytest.approx(by_hand[mazur], rel=1e-14, abs=1e-16), mazur
    # the two Mazur quotes in the text, by name
    assert new["w2_1_1"] == pytest.approx(0.35891648, abs=1e-8)
    assert new["w1_1_1"] == pytest.approx(0.149780716, abs=1e-8)
    # the biases stay where they were
    np.testing.assert_array_equal(first.new_biases[0], [0.35, 0.35])
    np.testing.assert_array_equal(first.new_biases[1], [0.60, 0.60])


def test_mazur_loss_before_the_10000th_update():
    last = None
    for last in engine.run(preset("mazur").with_overrides(steps=10000)):
        pass
    assert last.number == 10000
    # Published to 6 significant digits, 0.0000351085: agreement to half a unit in the last
    # published digit (5e-11, i.e. relative 1.4e-6; neighbouring steps differ by 6.7e-9).
    # The engine gives 3.5108548e-05, so a relative 1e-6 tolerance would reject the published
    # number's own rounding.
    assert round(last.loss, 10) == 0.0000351085
    assert last.loss == pytest.approx(0.0000351085, abs=5e-11)


# --- 2. gradients against autograd --------------------------------------------------------------

def check_against_autograd(spec, kink_margin=1e-6, admit=assume):
    assert spec.parameter_names == reference_names(spec)
    previous = None
    for step in engine.run(spec):
        x, y = step_data(spec, step.number)
        theta = theta_of(step, spec)
        if previous is None:
            if spec.weights is not None:  # step 1 starts from the spec's numbers
                expected = [float(v) for m in spec.weights for row in m for v in row]
                np.testing.assert_array_equal(
                    [v for n, v in zip(reference_names(spec), theta) if n.startswith("w")], expected)
        else:  # each step starts where the last one ended
            np.testing.assert_array_equal(theta, previous)
        assume_well_posed(theta, spec, x, y, kink_margin=kink_margin, admit=admit)
        expected_gradient = reference_gradient_where_finite(theta, spec, x, y, admit)
        table = list(step.parameters())
        gradient = np.array([row[2] for row in table])
        new = np.array([row[3] for row in table])
        what = f"step {step.number} of {spec!r}"
        assert_gradient_close(gradient, expected_gradient, what=what)
        for name, value, g, new_value in table:
            assert new_value == value - spec.learning_rate * g, (name, what)
        assert step.loss == pytest.approx(float(reference_cost(theta, spec, x, y, np)),
                                          rel=1e-9, abs=1e-14), what
        if has_biases(spec) and not spec.update_biases:
            for layer, row in enumerate(fixed_biases(spec)):
                np.testing.assert_array_equal(step.network.biases[layer], row)
                np.testing.assert_array_equal(step.new_biases[layer], row)
        previous = new


@pytest.mark.parametrize("activation,loss", COMBINATIONS)
@settings(max_examples=12, deadline=None)
@given(data=st.data())
def test_gradients_match_autograd(activation, loss, data):
    check_against_autograd(data.draw(specs(activation=activation, loss=loss)))


@settings(max_examples=40, deadline=None)
@given(specs())
def test_gradients_match_autograd_on_mixed_networks(spec):
    check_against_autograd(spec)


def test_relu_derivative_at_the_kink_follows_the_convention():
    # At z = 0 exactly: relu's derivative is taken as 0, leaky relu's as its slope.
    for name, expected in (("relu", 0.0), ("leaky_relu", 0.25)):
        spec = Spec(layers=[1, 1], weights=[[[0.0]]], inputs=[[1.0]], targets=[[0.5]],
                    activations=[name], leaky_slope=0.25, steps=1, loss="half_squared_error")
        step = next(engine.run(spec))
        # C = ½(a - y)², a = f(0) = 0: dC/dw = (a - y) · f'(0) · x = -0.5 · f'(0)
        assert list(step.parameters())[0][2] == -0.5 * expected


@pytest.mark.parametrize("biases", [[[0.3, -0.2], [0.7]], None])
def test_fixed_biases_stay_fixed_and_are_not_trained(biases):
    spec = Spec(layers=[2, 2, 1], inputs=[[0.5, -1.0], [1.5, 0.25]], targets=[[0.2], [0.9]],
                steps=5, learning_rate=0.5, activations=["tanh", "sigmoid"],
                update_biases=False, gradient_check=False,
                **({"weights": [[[0.1, -0.4], [0.8, 0.3]], [[0.6, -0.9]]], "biases": biases}
                   if biases else {"init_seed": 7, "init_biases": True}))
    expected = biases or [[0.0, 0.0], [0.0]]
    names = reference_names(spec)
    assert not any(name.startswith("b") for name in names)
    assert spec.parameter_names == names
    for step in engine.run(spec):
        assert [row[0] for row in step.parameters()] == names
        for layer, row in enumerate(expected):
            np.testing.assert_array_equal(step.network.biases[layer], row)
            np.testing.assert_array_equal(step.new_biases[layer], row)
        assert not any(key.startswith(("b", "grad_b", "new_b")) for key in step.record())
    check_against_autograd(spec, admit=require)
    # and with update_biases the same biases do train
    trained = spec.with_overrides(update_biases=True)
    moved = list(engine.run(trained))[-1]
    assert not np.array_equal(moved.new_biases[1], expected[1])
    check_against_autograd(trained, admit=require)


# --- 3. central finite differences -----------------------------------------------------------

def check_against_finite_differences(spec):
    for step in engine.run(spec, gradient_check=True):
        x, y = step_data(spec, step.number)
        theta = theta_of(step, spec)
        # Away from relu kinks by more than h moves any sum; costs small enough that rounding in
        # C stays below the tolerance once divided by 2h; cross-entropy outputs inside
        # [0.05, 0.95], since ln(1 - a) carries an error of about 1e-16 / (1 - a), which the
        # difference quotient multiplies by 1 / 2h = 5e5 (at a = 0.9988 that is 5e-8).
        assume_well_posed(theta, spec, x, y, kink_margin=1e-3, probability_margin=0.05,
                          max_cost=10.0)
        with np.errstate(over="ignore"):  # 1/(1 + exp(-z)) rounds to 0 past z = -709, rightly
            ours = central_difference(theta, spec, x, y)
        table = list(step.parameters())
        what = f"step {step.number} of {spec!r}"
        assert_close([row[2] for row in table], ours, rtol=1e-6, atol=1e-8, what="engine " + what)
        # the engine's own differences, which the workbook shows as the gradient check
        assert list(step.finite_differences) == [row[0] for row in table]
        assert_close([step.finite_differences[row[0]] for row in table], ours, rtol=1e-6,
                     atol=1e-8, what="engine fd " + what)
        record = step.record()
        for name, _, g, _ in table:
            assert record["fd_" + name] == step.finite_differences[name]
            scale = max(abs(g), abs(record["fd_" + name]))
            assert record["reldiff_" + name] == pytest.approx(
                abs(g - record["fd_" + name]) / scale if scale else 0.0, rel=1e-12, abs=1e-300)


@pytest.mark.parametrize("activation,loss", COMBINATIONS)
@settings(max_examples=10, deadline=None)
@given(data=st.data())
def test_gradients_match_central_differences(activation, loss, data):
    check_against_finite_differences(data.draw(specs(activation=activation, loss=loss, steps=2)))


# --- 4. the lesson as shown on screen ------------------------------------------------------------

def test_seed_video_gradient_differs_from_the_finite_difference():
    spec = preset("seed-video")
    assert spec.gradient == "without_dz_dw"
    step = next(engine.run(spec, gradient_check=True))
    record = step.record()
    assert round(record["grad_w1_1_1"], 6) == 0.095538
    assert round(record["fd_w1_1_1"], 6) == 0.143307
    # by hand: the true gradient is 2(a - y)·a(1 - a)·i, the video's lacks the factor i = 1.5
    a = 1 / (1 + math.exp(-1.5 * 0.8))
    true_gradient = 2 * (a - 0.5) * a * (1 - a) * 1.5
    assert record["fd_w1_1_1"] == pytest.approx(true_gradient, rel=1e-8)
    assert record["grad_w1_1_1"] == pytest.approx(true_gradient / 1.5, rel=1e-14)
    # the video's gradient is the true one divided by i, off by 1 - 1/1.5 = 1/3
    assert record["reldiff_w1_1_1"] == pytest.approx(1 / 3, abs=1e-6)
    assert record["new_w1_1_1"] == pytest.approx(0.8 - 0.1 * record["grad_w1_1_1"], rel=1e-15)


# --- 5. XOR ---------------------------------------------------------------------------------

def test_xor_learns_xor():
    spec = preset("xor")
    steps = list(engine.run(spec))
    assert len(steps) == spec.steps
    first, last = steps[0].loss, steps[-1].loss
    assert last < 0.01
    assert last < 0.05 * first
    final = {name: new_value for name, _, _, new_value in steps[-1].parameters()}

    def sigmoid(z):
        return 1 / (1 + math.exp(-z))

    def forward(x1, x2):  # the 2-2-1 network, with the names of docs/design.md
        h = [sigmoid(final[f"w1_{j}_1"] * x1 + final[f"w1_{j}_2"] * x2 + final[f"b1_{j}"])
             for j in (1, 2)]
        return sigmoid(final["w2_1_1"] * h[0] + final["w2_1_2"] * h[1] + final["b2_1"])

    assert forward(0, 0) < 0.5 and forward(1, 1) < 0.5
    assert forward(0, 1) > 0.5 and forward(1, 0) > 0.5


# --- 6. stochastic mode --------------------------------------------------------------------

@settings(max_examples=25, deadline=None)
@given(data=st.data())
def test_stochastic_steps_cycle_through_the_samples(data):
    spec = data.draw(specs(mode="stochastic", min_samples=2, steps=1, max_rate=0.1))
    spec = spec.with_overrides(steps=2 * spec.n_samples + 1)
    for step in engine.run(spec):
        index = (step.number - 1) % spec.n_samples
        record = step.record()
        assert step.samples == [index]
        assert record["sample"] == index + 1  # 1-based in the table
        assert [record[f"x{k + 1}"] for k in range(spec.layers[0])] == spec.inputs[index]
        assert [record[f"y{k + 1}"] for k in range(spec.layers[-1])] == spec.targets[index]
        theta = theta_of(step, spec)
        x = np.array(spec.inputs[index:index + 1], dtype=float)
        y = np.array(spec.targets[index:index + 1], dtype=float)
        assume_well_posed(theta, spec, x, y)
        assert_gradient_close([row[2] for row in step.parameters()],
                              reference_gradient_where_finite(theta, spec, x, y),
                              what=f"step {step.number} of {spec!r}")
        assert step.loss == pytest.approx(float(reference_cost(theta, spec, x, y, np)),
                                          rel=1e-9, abs=1e-14)


# --- 7. random initialisation --------------------------------------------------------------

@settings(max_examples=30, deadline=None)
@given(seed=st.integers(0, 2 ** 63), layers=st.lists(st.integers(1, 4), min_size=2, max_size=4),
       init_biases=st.booleans())
def test_init_seed_draws_the_documented_weights(seed, layers, init_biases):
    def spec(s):
        return Spec(layers=layers, init_seed=s, init_biases=init_biases, steps=1,
                    inputs=[[0.5] * layers[0]], targets=[[0.5] * layers[-1]])

    rng = np.random.default_rng(seed)  # one generator, layer by layer, in order
    expected = []
    for n_in, n_out in zip(layers[:-1], layers[1:]):
        limit = math.sqrt(6 / (n_in + n_out))
        drawn = rng.uniform(-limit, limit, (n_out, n_in))
        assert np.all(np.abs(drawn) <= limit)
        # rounded to 16 significant digits, as a workbook cell stores a number
        expected.append(np.array([[float("%.16g" % w) for w in row] for row in drawn]))
    first = next(engine.run(spec(seed)))
    again = next(engine.run(spec(seed)))
    other = next(engine.run(spec(seed + 1)))
    for ours, engines, repeat, different in zip(expected, first.network.weights,
                                                again.network.weights, other.network.weights):
        np.testing.assert_array_equal(engines, ours)
        np.testing.assert_array_equal(repeat, ours)
        assert not np.array_equal(different, ours)
    if init_biases:
        for layer, width in enumerate(layers[1:]):
            np.testing.assert_array_equal(first.network.biases[layer], np.zeros(width))
    else:
        assert first.network.biases is None


@pytest.mark.parametrize("mode", ["batch", "stochastic", "minibatch"])
def test_the_trace_command_agrees_with_autograd(tmp_path, mode):
    """`backprop-xl trace` of a random network, read back from its CSV, against autograd."""
    import csv
    import subprocess
    import sys

    spec = Spec(layers=[3, 4, 2], activations=["tanh", "sigmoid"], loss="half_squared_error",
                init_seed=11, init_biases=True, mode=mode, learning_rate=0.3, steps=25,
                batch_size=2 if mode == "minibatch" else None,  # batches of 2, then 1
                inputs=[[0.5, -1.0, 2.0], [1.5, 0.2, -0.7], [-0.3, 0.8, 0.1]],
                targets=[[0.2, 0.9], [0.7, 0.1], [0.5, 0.5]])
    spec_file = tmp_path / "random.toml"
    spec_file.write_text(spec.to_toml())
    result = subprocess.run([sys.executable, "-m", "backprop_xl", "trace", str(spec_file)],
                            capture_output=True, text=True, check=True)
    rows = list(csv.DictReader(result.stdout.splitlines()))
    names = reference_names(spec)
    assert len(rows) == spec.steps and list(rows[0]) == ["step", "loss", *names,
                                                         *["grad_" + n for n in names]]
    for row in rows:
        theta = np.array([float(row[name]) for name in names])
        x, y = step_data(spec, int(row["step"]))
        expected = reference_gradient(theta, spec, x, y)
        actual = np.array([float(row["grad_" + name]) for name in names])
        np.testing.assert_allclose(actual, expected, rtol=1e-9, atol=1e-13)
        assert float(row["loss"]) == pytest.approx(float(reference_cost(theta, spec, x, y, np)),
                                                   rel=1e-12)


# --- 7. three ways to run a step -------------------------------------------------------------
# The engine's step functions run compiled by numba (long runs), traced into straight-line Python
# (most runs) or as the loops themselves (where Python's floats raise). All must give the same
# records (numba's and math's exp, log and tanh may round the last bit differently from numpy's,
# and that difference carries from step to step).

@settings(max_examples=40, deadline=None)
@given(spec=specs(steps=6), check=st.booleans(), optimizer=optimizers)
def test_compiled_and_straight_line_runs_agree(spec, check, optimizer):
    # An adaptive optimizer's step is about the rate whatever the gradient's size, so a rounding
    # difference in a gradient near 0 can move a parameter by the rate: kept small for them.
    spec = spec.with_overrides(optimizer=optimizer, learning_rate=(
        spec.learning_rate if optimizer.name in ("sgd", "momentum") else 0.01))
    straight = [step.record() for step in engine.run(spec, check, compiled=False)]
    compiled = [step.record() for step in engine.run(spec, check, compiled=True)]
    for first, second in zip(straight, compiled, strict=True):
        assert list(first) == list(second)
        for name, value in first.items():
            # A finite difference divides the rounding noise of C by 2h; a relative difference is
            # that noise over the gradient (check_against_finite_differences checks its formula).
            kind = name.split("_")[0]
            if kind != "reldiff":
                noise = 1e-8 * max(1.0, abs(first["C"])) if kind == "fd" else 1e-14
                assert second[name] == pytest.approx(value, rel=1e-11, abs=noise, nan_ok=True), name


def loop_records(spec, check):
    """The run's records from the engine's loops run as Python, numpy's numbers throughout."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(kernels, "STRAIGHT_LINE_WORK", -1)
        return [step.record() for step in engine.run(spec, check, compiled=False)]


ARITHMETIC_ACTIVATIONS = ("relu", "leaky_relu", "linear")  # no exp, log or tanh


@settings(max_examples=60, deadline=None)
@given(spec=specs(steps=6, loss="squared_error"), check=st.booleans(),
       activations=st.lists(st.sampled_from(ARITHMETIC_ACTIVATIONS), min_size=3, max_size=3),
       half=st.booleans(), optimizer=optimizers)
def test_straight_line_steps_are_the_loops_operation_for_operation(spec, check, activations, half,
                                                                   optimizer):
    """With activations and losses of plain arithmetic, the traced step must give the loops'
    numbers bit for bit: the same operations in the same order, none left out or repeated
    wrongly (a reused expression must be the very same one), for every optimizer (sqrt is
    exact, and both take Python's pow for Adam's beta^t)."""
    spec = spec.with_overrides(activations=activations[:len(spec.activations)],
                               loss="half_squared_error" if half else "squared_error",
                               optimizer=optimizer)
    straight = [step.record() for step in engine.run(spec, check, compiled=False)]
    loops = loop_records(spec, check)
    assert [list(record) for record in straight] == [list(record) for record in loops]
    np.testing.assert_array_equal([list(r.values()) for r in straight],
                                  [list(r.values()) for r in loops])


def test_a_step_python_cannot_compute_runs_in_the_loops_with_numpys_numbers(monkeypatch):
    """A linear neuron with a large rate overflows: Python's ** raises, numpy's gives inf. The
    blocks where it happens run in the loops; the records are theirs, inf and NaN included."""
    spec = Spec(layers=[1, 1], activations=["linear"], weights=[[[3.0]]], inputs=[[2.0]],
                targets=[[0.5]], learning_rate=5.0, steps=1000)
    expected = loop_records(spec, True)
    calls = []
    loops = kernels._train
    monkeypatch.setattr(kernels, "_train", lambda *arguments: calls.append(1) or loops(*arguments))
    records = [step.record() for step in engine.run(spec, True, compiled=False)]
    assert calls and len(calls) < len(records) // 256 + 1  # not every block
    assert not math.isfinite(records[-1]["C"])
    np.testing.assert_array_equal([list(r.values()) for r in records],
                                  [list(r.values()) for r in expected])


def test_which_engine_runs():
    seed, mazur = preset("seed"), preset("mazur")
    # generate's table: the Python step is a few percent of writing the row's cells, so numba's
    # 125 MB are not worth it even at Excel's last row, with the gradient check.
    assert not kernels.worth_compiling(seed.with_overrides(steps=1_048_575), True, cells=12)
    assert not kernels.worth_compiling(mazur.with_overrides(steps=1_048_575), True, cells=66)
    # The engine alone (trace) compiles once interpreting would take longer than loading numba.
    assert not kernels.compiling_pays(seed.with_overrides(steps=100_000))
    assert kernels.compiling_pays(seed.with_overrides(steps=1_000_000))
    # A network too large to trace into straight lines: its loops, compiled.
    large = Spec(layers=[40, 40, 1], activations=["tanh", "sigmoid"], init_seed=1, steps=10,
                 inputs=[[0.5] * 40], targets=[[0.5]])
    assert kernels.compiling_pays(large, True, cells=10_000)
    assert kernels.Kernel(large, True, compiled=False).straight_line is None


def test_numbered_forms_are_the_named_functions():
    """The engine calls activations and losses by number; each number is the function its name
    says, at values on both sides of every kink."""
    from backprop_xl import functions

    z = np.array([-800.0, -3.0, -0.0, 0.0, 0.5, 40.0, 800.0])
    for name in ELEMENTWISE:  # softmax is the step's, a layer at a time
        code = ACTIVATION_NAMES.index(name)
        f = functions.activation(name, 0.25)
        a = f.value(z)
        assert [functions.activation_value(code, v, 0.25) for v in z] == a.tolist(), name
        assert ([functions.activation_derivative(code, v, w, 0.25) for v, w in zip(z, a)]
                == f.derivative(z, a).tolist()), name
    a, y = np.array([0.1, 0.5, 0.9, 0.3]), np.array([0.0, 1.0, 0.5, 0.3])
    for code, name in enumerate(LOSSES):
        f = LOSSES[name]
        assert [functions.loss_value(code, p, q) for p, q in zip(a, y)] == f.value(a, y).tolist()
        assert ([functions.loss_derivative(code, p, q) for p, q in zip(a, y)]
                == f.derivative(a, y).tolist()), name
