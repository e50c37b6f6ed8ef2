"""The engine against the seed lesson's hand-derived numbers, finite differences and sanity."""

import math
import warnings

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from backprop_xl import engine
from backprop_xl.spec import Spec

# The lesson's first step, worked by hand from i = 1.5, w = 0.8, y = 0.5, r = 0.1.
SEED_FIRST_STEP = {
    "w1_1_1": 0.8, "z1_1": 1.2, "a1_1": 0.768525, "C": 0.072106, "dC_da1_1": 0.537050,
    "da_dz1_1": 0.177894, "dz_dw1_1_1": 1.5, "grad_w1_1_1": 0.143307, "new_w1_1_1": 0.785669,
}


def test_seed_first_step_matches_the_lesson(seed):
    first = next(engine.run(seed)).record()
    for name, expected in SEED_FIRST_STEP.items():
        assert round(first[name], 6) == expected, name


def test_seed_first_step_from_first_principles(seed):
    # The same step with nothing but the math module.
    i, w, y, r = 1.5, 0.8, 0.5, 0.1
    a = 1 / (1 + math.exp(-i * w))
    gradient = 2 * (a - y) * a * (1 - a) * i
    first = next(engine.run(seed)).record()
    assert first["grad_w1_1_1"] == pytest.approx(gradient, rel=1e-15)
    assert first["new_w1_1_1"] == pytest.approx(w - r * gradient, rel=1e-15)


def test_the_lessons_mistake_is_the_missing_factor_i(seed):
    # On screen: dC/dw = dC/da * a(1 - a), without dz/dw = i, giving 0.095538 and w' = 0.790446.
    first = next(engine.run(seed)).record()
    without_i = first["dC_da1_1"] * first["da_dz1_1"]
    assert round(without_i, 6) == 0.095538
    assert round(first["w1_1_1"] - 0.1 * without_i, 6) == 0.790446
    assert first["grad_w1_1_1"] == pytest.approx(without_i * 1.5, rel=1e-15)


def test_weights_chain_from_step_to_step(seed):
    columns = engine.trace(seed.with_overrides(steps=20))
    np.testing.assert_array_equal(columns["w1_1_1"][1:], columns["new_w1_1_1"][:-1])
    assert list(columns["step"]) == list(range(1, 21))


def test_seed_converges_to_the_target(seed):
    columns = engine.trace(seed.with_overrides(steps=3000))
    assert abs(columns["a1_1"][-1] - 0.5) < 1e-6
    assert np.all(np.diff(columns["C"]) <= 0)  # a small enough rate never overshoots here


@pytest.mark.parametrize("z", [-1e6, -800.0, -710.0, 0.0, 710.0, 800.0, 1e6])
def test_sigmoid_is_finite_for_large_sums(z):
    spec = Spec(layers=[1, 1], weights=[[[z]]], inputs=[[1.0]], targets=[[0.5]], steps=2)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no overflow warning either
        record = next(engine.run(spec)).record()
    expected = 1.0 if z > 0 else 0.0 if z < 0 else 0.5
    assert record["a1_1"] == pytest.approx(expected, abs=1e-300)
    assert all(math.isfinite(value) for value in record.values())


# --- finite differences -----------------------------------------------------------------------

def reference_cost(weights, x, y):
    """Sigmoid network and squared error written directly, sharing nothing with the engine."""
    a = np.asarray(x, dtype=float)
    for w in weights:
        a = 1.0 / (1.0 + np.exp(-(np.asarray(w) @ a)))
    return float(np.sum((a - np.asarray(y)) ** 2))


def central_difference(weights, x, y, h=1e-5):
    gradients = []
    for index, w in enumerate(weights):
        gradient = np.zeros_like(w)
        for position in np.ndindex(w.shape):
            up = [m.copy() for m in weights]
            down = [m.copy() for m in weights]
            up[index][position] += h
            down[index][position] -= h
            gradient[position] = (reference_cost(up, x, y) - reference_cost(down, x, y)) / (2 * h)
        gradients.append(gradient)
    return gradients


values = st.floats(-2.0, 2.0, allow_nan=False)


@st.composite
def networks(draw, max_layers=3, max_width=3):
    layers = draw(st.lists(st.integers(1, max_width), min_size=2, max_size=max_layers + 1))
    weights = [[[draw(values) for _ in range(n_in)] for _ in range(n_out)]
               for n_in, n_out in zip(layers[:-1], layers[1:])]
    inputs = [[draw(values) for _ in range(layers[0])]]
    targets = [[draw(st.floats(0.0, 1.0)) for _ in range(layers[-1])]]
    return Spec(layers=layers, weights=weights, inputs=inputs, targets=targets, steps=1)


def assert_gradients_match(spec):
    step = next(engine.run(spec))
    weights = [np.array(m, dtype=float) for m in spec.weights]
    expected = central_difference(weights, spec.inputs[0], spec.targets[0])
    assert step.loss == pytest.approx(reference_cost(weights, spec.inputs[0], spec.targets[0]),
                                      rel=1e-12, abs=1e-15)
    for analytic, numeric in zip((g.mean(axis=0) for g in step.weight_gradients), expected):
        # relative 1e-7, with a floor for gradients so small that rounding in C dominates
        np.testing.assert_allclose(analytic, numeric, rtol=1e-7, atol=1e-9)


@settings(max_examples=200, deadline=None)
@given(w=st.floats(-4, 4), i=st.floats(-4, 4), y=st.floats(0, 1))
def test_single_neuron_gradient_matches_finite_differences(w, i, y):
    assert_gradients_match(Spec(layers=[1, 1], weights=[[[w]]], inputs=[[i]], targets=[[y]], steps=1))


@settings(max_examples=100, deadline=None)
@given(networks())
def test_network_gradient_matches_finite_differences(spec):
    assert_gradients_match(spec)
