"""The xlwings functions (backprop_xl/udfs.py) on Linux, where xlwings' decorators do nothing: each
function called directly equals the engine exactly; BP_TRAIN with Adam equals two steps worked by
hand, and BP_TRAIN_NETWORK with every optimizer equals torch.optim's documented update rules,
written here from scratch, on autograd's gradients; bad arguments come back as one readable
"#backprop_xl: ..." string; xlwings' own Windows registration path (its decorators and
generate_vba_wrapper, with the pywin32 modules stubbed) wraps every function with the right
arguments; and `backprop-xl xlwings-setup` writes the conf and the macro-enabled workbook."""

import dataclasses
import importlib
import importlib.util
import inspect
import io
import math
import sys
import types
import zipfile
from pathlib import Path

import autograd.numpy as anp
import numpy as np
import openpyxl
import pytest
import xlwings
from autograd import grad

from backprop_xl import engine, export, udfs, xlwings_setup
from backprop_xl.functions import ACTIVATION_NAMES, LOSSES, FD_STEP
from backprop_xl.presets import preset
from backprop_xl.spec import OPTIMIZER_KEYS, Optimizer, Spec
from helpers import ERROR, UDF_NAMES, run, snapshot

MAZUR_WEIGHTS = [[0.15, 0.20, 0.25, 0.30, 0.40, 0.45, 0.50, 0.55]]
MAZUR_BIASES = [[0.35, 0.35, 0.60, 0.60]]


def test_every_function_the_issue_names_is_there():
    assert UDF_NAMES == ["BP_ACTIVATE", "BP_DERIVATIVE", "BP_GRADCHECK", "BP_LOSS", "BP_STEP",
                         "BP_TRAIN", "BP_TRAIN_NETWORK"]


# --- equal to the engine ---------------------------------------------------------------------


def test_bp_step_is_the_engines_first_seed_step_exactly(seed):
    row = udfs.BP_STEP(1.5, 0.8, 0.5, 0.1)
    record = next(engine.run(seed)).record()
    assert row == [[record[name] for name, _ in udfs.STEP_ROW]]
    # z, a, C, dC/da, da/dz, dz/dw, dC/dw, w' of the lesson, worked by hand (tests/test_engine.py)
    assert [round(value, 6) for value in row[0]] == [
        1.2, 0.768525, 0.072106, 0.537050, 0.177894, 1.5, 0.143307, 0.785669]


def test_bp_step_with_another_activation_and_loss_is_the_engines():
    spec = Spec(layers=[1, 1], weights=[[[-0.3]]], inputs=[[2.0]], targets=[[0.25]],
                activations=["tanh"], loss="half_squared_error", learning_rate=0.7, steps=1)
    record = next(engine.run(spec)).record()
    assert udfs.BP_STEP(2.0, -0.3, 0.25, 0.7, "tanh", "half_squared_error") == [
        [record[name] for name, _ in udfs.STEP_ROW]]


def network_step(activation, loss="squared_error", slope=0.01):
    """One batch step of a 2-3-2 network over three samples, with biases; softmax on the output
    layer only, over tanh."""
    hidden = "tanh" if activation == "softmax" else activation
    spec = Spec(layers=[2, 3, 2], activations=[hidden, activation], leaky_slope=slope,
                weights=[[[0.3, -0.8], [1.1, 0.2], [-0.5, 0.9]],
                         [[0.7, -0.4, 0.6], [-1.2, 0.5, 0.1]]],
                biases=[[0.1, -0.2, 0.05], [0.3, -0.1]],
                inputs=[[0.5, -1.5], [2.0, 0.3], [-0.7, 0.0]],
                targets=([[0.2, 0.8], [1.0, 0.0], [0.4, 0.6]] if loss == "cross_entropy" else
                         [[0.2, 0.9], [0.6, 0.1], [0.4, 0.5]]), loss=loss, steps=1)
    return next(engine.run(spec))


@pytest.mark.parametrize("name", [name for name in ACTIVATION_NAMES if name != "softmax"])
def test_activate_and_derivative_over_ranges_are_the_engines(name):
    step = network_step(name, slope=0.05)
    for layer, z in enumerate(step.z):
        assert udfs.BP_ACTIVATE(z, name, 0.05) == step.a[layer + 1].tolist()
        assert udfs.BP_DERIVATIVE(z, name, 0.05) == step.da_dz[layer].tolist()
    z = float(step.z[0][0, 0])  # a single cell gives a single number
    assert udfs.BP_ACTIVATE(z, name, 0.05) == float(step.a[1][0, 0])
    assert udfs.BP_DERIVATIVE(z, name, 0.05) == float(step.da_dz[0][0, 0])


def test_softmax_over_a_range_is_the_engines_row_by_row():
    step = network_step("softmax")
    assert udfs.BP_ACTIVATE(step.z[1], "softmax") == step.a[2].tolist()
    # torch.nn.functional.softmax's definition, exp(z_i) / Σ_j exp(z_j), row by row
    expected = np.exp(step.z[1]) / np.exp(step.z[1]).sum(axis=1, keepdims=True)
    np.testing.assert_allclose(udfs.BP_ACTIVATE(step.z[1], "softmax"), expected, rtol=1e-15)
    # sums whose exponentials overflow: e^1000 is inf, the shifted form is not
    assert udfs.BP_ACTIVATE([[1000.0, 0.0, -1000.0]], "softmax") == [[1.0, 0.0, 0.0]]
    assert udfs.BP_ACTIVATE([[1000.0, 1000.0]], "softmax") == [[0.5, 0.5]]
    assert udfs.BP_DERIVATIVE([[0.5, 1.0]], "softmax").startswith(
        "#backprop_xl: activation: softmax has no da/dz of each cell")


def test_cross_entropy_loss_is_the_engines_cost_and_torchs():
    step = network_step("softmax", "cross_entropy")
    assert udfs.BP_LOSS(step.a[-1], step.y, "cross_entropy") == step.loss
    # torch.nn.CrossEntropyLoss with probability targets: mean over samples of -Σ y log a
    expected = float(np.mean(-(step.y * np.log(step.a[-1])).sum(axis=1)))
    assert step.loss == pytest.approx(expected, rel=1e-14)


@pytest.mark.parametrize("loss", ["squared_error", "half_squared_error", "binary_cross_entropy"])
def test_loss_is_the_engines_cost(loss):
    step = network_step("sigmoid", loss)
    assert udfs.BP_LOSS(step.a[-1], step.y, loss) == step.loss
    assert udfs.BP_LOSS(float(step.a[-1][0, 0]), float(step.y[0, 0]), loss) == float(
        LOSSES[loss].value(step.a[-1][0, 0], step.y[0, 0]))


def test_seed_loss_of_the_lesson(seed):
    record = next(engine.run(seed)).record()
    assert udfs.BP_LOSS(record["a1_1"], 0.5, "squared_error") == record["C"]


def trace_rows(spec):
    header = export.columns(spec)
    return [header, *([record[name] for name in header] for record in export.records(spec))]


def all_rows(spec):
    records = [step.record() for step in engine.run(spec)]
    return [list(records[0]), *(list(record.values()) for record in records)]


def test_bp_train_is_the_trace_of_the_seed(seed):
    spec = seed.with_overrides(steps=25)
    assert udfs.BP_TRAIN(1.5, 0.8, 0.5, 0.1, 25) == trace_rows(spec)
    assert udfs.BP_TRAIN(1.5, 0.8, 0.5, 0.1, 25, "sigmoid", "squared_error",
                         "all") == all_rows(spec)
    assert udfs.BP_TRAIN(1.5, 0.8, 0.5, 0.1)[1:] == trace_rows(seed)[1:]  # 300 steps by default


def test_bp_train_network_is_mazurs_trace_with_his_numbers():
    mazur = preset("mazur")
    table = udfs.BP_TRAIN_NETWORK([[2, 2, 2]], MAZUR_WEIGHTS, MAZUR_BIASES, [[0.05, 0.10]],
                                  [[0.01, 0.99]], 0.5, 1000, "sigmoid", "half_squared_error",
                                  "batch", False)
    assert table == trace_rows(mazur)
    header, first, second = table[0], table[1], table[2]
    assert first[header.index("loss")] == pytest.approx(0.298371109, abs=1e-9)
    assert second[header.index("w2_1_1")] == pytest.approx(0.35891648, abs=1e-8)
    assert second[header.index("w1_1_1")] == pytest.approx(0.149780716, abs=1e-9)


def flat(matrices):
    return [[value for matrix in matrices for row in matrix for value in row]]


def test_bp_train_network_is_the_engines_for_xor_with_biases_in_both_modes():
    xor = preset("xor")
    weights, biases = xor.initial_weights(), xor.initial_biases()
    arguments = ([xor.layers], flat([w.tolist() for w in weights]),
                 [[b for layer in biases for b in layer.tolist()]], xor.inputs, xor.targets,
                 xor.learning_rate, 40)
    explicit = dataclasses.replace(xor, steps=40, weights=[w.tolist() for w in weights],
                                   biases=[b.tolist() for b in biases], init_seed=None,
                                   init_biases=False)
    assert udfs.BP_TRAIN_NETWORK(*arguments) == trace_rows(explicit)
    stochastic = explicit.with_overrides(mode="stochastic")
    assert udfs.BP_TRAIN_NETWORK(*arguments, "sigmoid", "squared_error", "stochastic", True,
                                 "all") == all_rows(stochastic)


def test_bp_train_network_trains_a_softmax_classifier_in_mini_batches():
    """mode as a whole number k: mini-batches of k samples, the engine's minibatch mode."""
    spec = Spec(layers=[2, 3, 3], activations=["tanh", "softmax"], loss="cross_entropy",
                weights=[[[0.1, -0.4], [0.8, 0.3], [-0.5, 0.2]],
                         [[0.6, -0.9, 0.1], [0.2, 0.4, -0.3], [-0.7, 0.5, 0.9]]],
                biases=[[0.1, 0.2, -0.1], [0.0, 0.3, -0.2]], mode="minibatch", batch_size=2,
                inputs=[[0.5, -1.0], [1.0, 0.3], [-0.2, 0.8]],
                targets=[[1, 0, 0], [0, 1, 0], [0, 0, 1]], learning_rate=0.5, steps=5)
    arguments = ([spec.layers], flat(spec.weights), flat([spec.biases]), spec.inputs,
                 spec.targets, spec.learning_rate, spec.steps, [["tanh", "softmax"]],
                 "cross_entropy", 2.0)
    assert udfs.BP_TRAIN_NETWORK(*arguments) == trace_rows(spec)
    table = udfs.BP_TRAIN_NETWORK(*arguments, True, "all")
    assert table == all_rows(spec)
    assert [row[table[0].index("batch")] for row in table[1:]] == [2, 1, 2, 1, 2]


def test_per_layer_activations_and_excel_shaped_values():
    """What xlwings hands over from cells: float arrays (whole numbers as floats), a row of
    names, a column instead of a row, names in another letter case."""
    spec = Spec(layers=[2, 2, 1], activations=["tanh", "linear"], weights=[[[0.1, 0.2], [0.3, 0.4]],
                [[0.5, -0.6]]], inputs=[[1.0, 2.0]], targets=[[0.5]], learning_rate=0.05, steps=7)
    expected = trace_rows(spec)
    as_cells = udfs.BP_TRAIN_NETWORK(np.array([[2.0, 2.0, 1.0]]),
                                     np.array([[0.1, 0.2, 0.3, 0.4, 0.5, -0.6]]),
                                     np.array([[np.nan]]), np.array([[1.0, 2.0]]),
                                     np.array([[0.5]]), 0.05, 7.0, ["TANH", "Linear"])
    assert as_cells == expected
    column = udfs.BP_TRAIN_NETWORK([[2], [2], [1]], [[0.1], [0.2], [0.3], [0.4], [0.5], [-0.6]], "",
                                   [[1, 2]], 0.5, 0.05, 7, [["tanh", "linear"]])
    assert column == expected
    # an omitted optional argument arrives as its default, an empty cell as None: both mean default
    assert udfs.BP_STEP(1.5, 0.8, 0.5, 0.1, None, None) == udfs.BP_STEP(1.5, 0.8, 0.5, 0.1)


def test_gradcheck_is_the_engines_gradient_check():
    step = network_step("tanh")
    spec = Spec(layers=[2, 3, 2], activations=["tanh", "tanh"],
                weights=[w.tolist() for w in step.network.weights],
                biases=[b.tolist() for b in step.network.biases],
                inputs=step.a[0].tolist(), targets=step.y.tolist(), steps=1)
    record = next(engine.run(spec, gradient_check=True)).record()
    names = spec.parameter_names
    ranges = ([spec.layers], flat(spec.weights), [sum(spec.biases, [])], spec.inputs, spec.targets)
    table = udfs.BP_GRADCHECK(*ranges, "tanh")
    assert table == [udfs.GRADCHECK_HEADER, *([name, record["grad_" + name], record["fd_" + name],
                                               record["reldiff_" + name]] for name in names)]
    assert max(row[3] for row in table[1:]) < 1e-6
    # another h is the engine's finite differences with that h
    wider = udfs.BP_GRADCHECK(*ranges, "tanh", "squared_error", True, 1e-3)
    numeric = next(engine.run(spec.with_overrides(fd_step=1e-3), gradient_check=True)).record()
    assert [row[2] for row in wider[1:]] != [row[2] for row in table[1:]]
    assert [row[2] for row in wider[1:]] == [numeric["fd_" + name] for name in names]


def test_gradcheck_of_the_seed_and_fixed_biases():
    seed_check = udfs.BP_GRADCHECK([[1, 1]], 0.8, "", 1.5, 0.5)
    assert seed_check[1][0] == "w1_1_1" and round(seed_check[1][1], 6) == 0.143307
    assert seed_check[1][3] < 1e-8 and FD_STEP == 1e-5
    fixed = udfs.BP_GRADCHECK([[2, 2, 2]], MAZUR_WEIGHTS, MAZUR_BIASES, [[0.05, 0.10]],
                              [[0.01, 0.99]], "sigmoid", "half_squared_error", False)
    assert [row[0] for row in fixed[1:]] == preset("mazur").parameter_names


# --- optimizers: by hand, and against torch.optim's documented rules ---------------------------


def test_the_optimizer_arguments_follow_the_existing_ones():
    """Existing sheets keep working: the new arguments come after `columns`, in the issue's order,
    and they are the keys of a spec's [optimizer] table."""
    for name, before in (("BP_TRAIN", ["x", "weight", "target", "learning_rate", "steps",
                                       "activation", "loss", "columns"]),
                         ("BP_TRAIN_NETWORK", ["layers", "weights", "biases", "inputs",
                                               "targets", "learning_rate", "steps", "activation",
                                               "loss", "mode", "update_biases", "columns"])):
        arguments = udfs.FUNCTIONS[name].arguments
        assert [argument.name for argument in arguments] == before + [
            "optimizer", "momentum", "nesterov", "alpha", "beta1", "beta2", "eps"]
        assert {argument.name: argument.default for argument in arguments[len(before):]} == {
            "optimizer": "sgd", "momentum": None, "nesterov": False, "alpha": None, "beta1": None,
            "beta2": None, "eps": None}
        assert arguments[len(before) + 2].is_flag  # LibreOffice's TRUE, 1, reads as TRUE
    assert set(udfs.OPTIMIZER_SETTINGS) == {key for keys in OPTIMIZER_KEYS.values() for key in keys}


def test_bp_train_with_adam_two_steps_by_hand():
    """The lesson (i = 1.5, w = 0.8, y = 0.5, r = 0.1, sigmoid, C = (a - y)^2) with Adam,
    beta1 = 0.8, beta2 = 0.99, eps = 1e-6, worked with the math module from torch.optim.Adam's
    documented rule."""
    i, w, y, r, beta1, beta2, eps = 1.5, 0.8, 0.5, 0.1, 0.8, 0.99, 1e-6

    def gradient_and_cost(w):
        a = 1 / (1 + math.exp(-i * w))
        return 2 * (a - y) * a * (1 - a) * i, (a - y) ** 2

    # g1 = 0.143307198, C = 0.072105559; m1 = 0.2 g1 = 0.028661440, v1 = 0.01 g1^2 = 0.000205370;
    # bias-corrected m^1 = g1, v^1 = g1^2, so w1 = 0.8 - 0.1 g1 / (g1 + 1e-6) = 0.700000698
    g1, c1 = gradient_and_cost(w)
    m1, v1 = (1 - beta1) * g1, (1 - beta2) * g1 ** 2
    m_hat1, v_hat1 = m1 / (1 - beta1), v1 / (1 - beta2)
    w1 = w - r * m_hat1 / (math.sqrt(v_hat1) + eps)
    # g2 = 0.138706214; m2 = 0.8 m1 + 0.2 g2 = 0.050670395; v2 = 0.99 v1 + 0.01 g2^2 = 0.000395710;
    # m^2 = m2 / (1 - 0.8^2) = 0.140751096; v^2 = v2 / (1 - 0.99^2) = 0.019884923;
    # w2 = w1 - 0.1 m^2 / (sqrt(v^2) + 1e-6) = 0.600187781
    g2, c2 = gradient_and_cost(w1)
    m2, v2 = beta1 * m1 + (1 - beta1) * g2, beta2 * v1 + (1 - beta2) * g2 ** 2
    m_hat2, v_hat2 = m2 / (1 - beta1 ** 2), v2 / (1 - beta2 ** 2)
    w2 = w1 - r * m_hat2 / (math.sqrt(v_hat2) + eps)
    assert [round(value, 9) for value in (g1, c1, m1, v1, w1, g2, m2, v2, m_hat2, v_hat2, w2)] == [
        0.143307198, 0.072105559, 0.02866144, 0.00020537, 0.700000698, 0.138706214, 0.050670395,
        0.00039571, 0.140751096, 0.019884923, 0.600187781]

    settings = dict(optimizer="adam", beta1=beta1, beta2=beta2, eps=eps)
    trace = udfs.BP_TRAIN(i, w, y, r, 2, **settings)
    assert trace[0] == ["step", "loss", "w1_1_1", "grad_w1_1_1"]  # the trace's columns, as for sgd
    assert trace[1:] == [[1, pytest.approx(c1, rel=1e-13), w, pytest.approx(g1, rel=1e-13)],
                         [2, pytest.approx(c2, rel=1e-13), pytest.approx(w1, rel=1e-13),
                          pytest.approx(g2, rel=1e-13)]]
    table = udfs.BP_TRAIN(i, w, y, r, 2, "sigmoid", "squared_error", "all", **settings)
    rows = [dict(zip(table[0], row)) for row in table[1:]]
    expected = [{"grad_w1_1_1": g1, "m_w1_1_1": m1, "v_w1_1_1": v1, "mhat_w1_1_1": m_hat1,
                 "vhat_w1_1_1": v_hat1, "new_w1_1_1": w1},
                {"w1_1_1": w1, "grad_w1_1_1": g2, "m_w1_1_1": m2, "v_w1_1_1": v2,
                 "mhat_w1_1_1": m_hat2, "vhat_w1_1_1": v_hat2, "new_w1_1_1": w2}]
    for row, values in zip(rows, expected, strict=True):
        assert {key: row[key] for key in values} == pytest.approx(values, rel=1e-13)


# A 2-3-2 network with biases (tanh, then sigmoid; squared error) and three samples, its cost
# written here from scratch for autograd. The parameters in table order (docs/design.md): per
# layer the weights row by row, then the biases.
NET = dict(layers=[[2, 3, 2]],
           weights=[[0.3, -0.8, 1.1, 0.2, -0.5, 0.9, 0.7, -0.4, 0.6, -1.2, 0.5, 0.1]],
           biases=[[0.1, -0.2, 0.05, 0.3, -0.1]],
           inputs=[[0.5, -1.5], [2.0, 0.3], [-0.7, 0.0]],
           targets=[[0.2, 0.9], [0.6, 0.1], [0.4, 0.5]])
NET_NAMES = ([f"w1_{j}_{k}" for j in (1, 2, 3) for k in (1, 2)] + ["b1_1", "b1_2", "b1_3"]
             + [f"w2_{j}_{k}" for j in (1, 2) for k in (1, 2, 3)] + ["b2_1", "b2_2"])
NET_THETA = np.array(NET["weights"][0][:6] + NET["biases"][0][:3] + NET["weights"][0][6:]
                     + NET["biases"][0][3:])


def net_cost(theta, x, y):
    w1, b1 = anp.reshape(theta[0:6], (3, 2)), theta[6:9]
    w2, b2 = anp.reshape(theta[9:15], (2, 3)), theta[15:17]
    hidden = anp.tanh(anp.dot(x, anp.transpose(w1)) + b1)
    output = 1 / (1 + anp.exp(-(anp.dot(hidden, anp.transpose(w2)) + b2)))
    return anp.mean(anp.sum((output - y) ** 2, axis=1))


net_gradient = grad(net_cost)


def torch_optim(name, rate, theta, gradient, steps, momentum=None, nesterov=False, alpha=0.99,
                beta1=0.9, beta2=0.999, eps=None):
    """(parameters, gradient, state by column prefix, new parameters) of each step t = 1, 2, ...
    by torch.optim's documented update rules, with its defaults (weight decay 0): SGD with
    momentum (dampening 0), RMSprop (not centered), Adagrad (no lr decay, accumulator from 0),
    Adam (no amsgrad). `gradient(theta, t)` is step t's gradient."""
    eps = eps if eps is not None else {"adagrad": 1e-10}.get(name, 1e-8)
    b = m = v = s = np.zeros_like(theta)
    for t in range(1, steps + 1):
        g = gradient(theta, t)
        if name == "sgd":
            direction, state = g, {}
        elif name == "momentum":
            b = g if t == 1 else momentum * b + g
            direction, state = (g + momentum * b if nesterov else b), {"velocity": b}
        elif name == "rmsprop":
            v = alpha * v + (1 - alpha) * g ** 2
            direction, state = g / (np.sqrt(v) + eps), {"sqavg": v}
        elif name == "adagrad":
            s = s + g ** 2
            direction, state = g / (np.sqrt(s) + eps), {"sqsum": s}
        else:
            assert name == "adam"
            m = beta1 * m + (1 - beta1) * g
            v = beta2 * v + (1 - beta2) * g ** 2
            m_hat, v_hat = m / (1 - beta1 ** t), v / (1 - beta2 ** t)
            direction = m_hat / (np.sqrt(v_hat) + eps)
            state = {"m": m, "v": v, "mhat": m_hat, "vhat": v_hat}
        new = theta - rate * direction
        yield theta, g, state, new
        theta = new


OPTIMIZER_CASES = {
    "sgd": ("sgd", {}),
    "momentum": ("momentum", {"momentum": 0.9}),
    "nesterov": ("momentum", {"momentum": 0.5, "nesterov": True}),
    "rmsprop": ("rmsprop", {}),
    "rmsprop, alpha and eps": ("rmsprop", {"alpha": 0.9, "eps": 1e-6}),
    "adagrad": ("adagrad", {}),
    "adam": ("adam", {}),
    "adam, betas and eps": ("adam", {"beta1": 0.5, "beta2": 0.9, "eps": 1e-3}),
}
NET_STEPS = 25


@pytest.mark.parametrize("mode", ["batch", "stochastic"])
@pytest.mark.parametrize("case", OPTIMIZER_CASES)
def test_bp_train_network_follows_torch_optims_rules(case, mode):
    name, settings = OPTIMIZER_CASES[case]
    x, y = np.array(NET["inputs"]), np.array(NET["targets"])

    def samples(t):  # stochastic: step t trains on sample t, cycling; batch on all of them
        k = (t - 1) % len(x)
        return slice(k, k + 1) if mode == "stochastic" else slice(None)

    def gradient(theta, t):
        return net_gradient(theta, x[samples(t)], y[samples(t)])

    def tables(columns):
        return udfs.BP_TRAIN_NETWORK(*NET.values(), 0.1, NET_STEPS, [["tanh", "sigmoid"]],
                                     "squared_error", mode, True, columns, name, **settings)

    trace, table = tables("trace"), tables("all")
    assert trace[0] == ["step", "loss", *NET_NAMES, *(f"grad_{p}" for p in NET_NAMES)]
    # "all" adds the optimizer's state to sgd's columns, one column a parameter a piece
    plain = udfs.BP_TRAIN_NETWORK(*NET.values(), 0.1, 1, [["tanh", "sigmoid"]], "squared_error",
                                  mode, True, "all")[0]
    expected = list(torch_optim(name, 0.1, NET_THETA, gradient, NET_STEPS, **settings))
    pieces = expected[0][2]
    assert sorted(set(table[0]) - set(plain)) == sorted(f"{piece}_{p}" for piece in pieces
                                                        for p in NET_NAMES)
    assert set(plain) <= set(table[0])
    for t, (theta, g, state, new) in enumerate(expected, start=1):
        traced = dict(zip(trace[0], trace[t]))
        row = dict(zip(table[0], table[t]))
        assert traced["step"] == row["step"] == t
        assert traced["loss"] == pytest.approx(net_cost(theta, x[samples(t)], y[samples(t)]),
                                               rel=1e-9)
        for key, values in [("", theta), ("grad_", g), ("new_", new),
                            *((piece + "_", values) for piece, values in state.items())]:
            actual = [row[key + p] for p in NET_NAMES]
            np.testing.assert_allclose(actual, values, rtol=1e-9, atol=1e-12,
                                       err_msg=f"{case}, {mode}, step {t}: {key}")
        assert [traced[p] for p in NET_NAMES] == [row[p] for p in NET_NAMES]
        assert [traced["grad_" + p] for p in NET_NAMES] == [row["grad_" + p] for p in NET_NAMES]


@pytest.mark.parametrize("case", OPTIMIZER_CASES)
def test_bp_train_network_with_an_optimizer_is_the_engines(case):
    name, settings = OPTIMIZER_CASES[case]
    spec = Spec(layers=[2, 3, 2], activations=["tanh", "sigmoid"],
                weights=[[[0.3, -0.8], [1.1, 0.2], [-0.5, 0.9]],
                         [[0.7, -0.4, 0.6], [-1.2, 0.5, 0.1]]],
                biases=[[0.1, -0.2, 0.05], [0.3, -0.1]], inputs=NET["inputs"],
                targets=NET["targets"], learning_rate=0.1, steps=NET_STEPS,
                optimizer=Optimizer(name, **settings))
    arguments = (*NET.values(), 0.1, NET_STEPS, [["tanh", "sigmoid"]], "squared_error", "batch",
                 True)
    assert udfs.BP_TRAIN_NETWORK(*arguments, "trace", name, **settings) == trace_rows(spec)
    assert udfs.BP_TRAIN_NETWORK(*arguments, "all", name, **settings) == all_rows(spec)


def test_empty_settings_are_the_optimizers_defaults():
    """An empty cell (None, "", NaN) for a setting is torch.optim's default, not zero."""
    arguments = (*NET.values(), 0.1, 5)
    adam = udfs.BP_TRAIN_NETWORK(*arguments, optimizer="adam")
    assert adam != udfs.BP_TRAIN_NETWORK(*arguments)
    assert adam == udfs.BP_TRAIN_NETWORK(*arguments, optimizer="ADAM ", beta1="", beta2=np.nan,
                                         eps=None, nesterov=None, momentum=" ", alpha=[[np.nan]])
    assert adam == udfs.BP_TRAIN_NETWORK(*arguments, optimizer="adam", beta1=0.9, beta2=0.999,
                                         eps=1e-8, nesterov=False)
    assert udfs.BP_TRAIN_NETWORK(*arguments, optimizer="adagrad") == udfs.BP_TRAIN_NETWORK(
        *arguments, optimizer="adagrad", eps=1e-10) != udfs.BP_TRAIN_NETWORK(
        *arguments, optimizer="adagrad", eps=1e-8)
    assert udfs.BP_TRAIN(1.5, 0.8, 0.5, 0.1, 4, optimizer=None) == udfs.BP_TRAIN(
        1.5, 0.8, 0.5, 0.1, 4)


# --- errors as strings -----------------------------------------------------------------------

SEED_NET = ([[1, 1]], [[0.8]], "", [[1.5]], [[0.5]])
BAD = [
    ("unknown activation", lambda: udfs.BP_ACTIVATE(1.0, "sigmod"), "unknown activation 'sigmod'"),
    ("unknown activation in a step", lambda: udfs.BP_STEP(1.5, 0.8, 0.5, 0.1, "sigmod"),
     "unknown activation 'sigmod'"),
    ("unknown loss", lambda: udfs.BP_LOSS(0.7, 0.5, "squared"), "unknown loss 'squared'"),
    ("unknown mode", lambda: udfs.BP_TRAIN_NETWORK(*SEED_NET, 0.1, 5, "sigmoid", "squared_error",
                                                   "online"), "unknown mode 'online'"),
    ("unknown columns", lambda: udfs.BP_TRAIN(1.5, 0.8, 0.5, 0.1, 5, "sigmoid", "squared_error",
                                              "some"), "unknown columns 'some'"),
    ("text for a number", lambda: udfs.BP_STEP("abc", 0.8, 0.5, 0.1),
     "x: must be a number, got 'abc'"),
    ("TRUE for a number", lambda: udfs.BP_STEP(1.5, True, 0.5, 0.1),
     "weight: must be a number, got TRUE"),
    ("empty cell for a number", lambda: udfs.BP_STEP(1.5, 0.8, None, 0.1),
     "target: must be a number, got an empty cell"),
    ("a range for a number", lambda: udfs.BP_STEP([[1.5, 2.0]], 0.8, 0.5, 0.1),
     "x: must be a single cell, got a range of 2 cells"),
    ("a number for a name", lambda: udfs.BP_ACTIVATE(1.0, 3.0), "unknown activation 3.0"),
    ("no name", lambda: udfs.BP_LOSS(0.5, 0.4, None), "loss: is missing (known: squared_error"),
    ("fractional steps", lambda: udfs.BP_TRAIN(1.5, 0.8, 0.5, 0.1, 2.5),
     "steps: must be a whole number, got 2.5"),
    ("zero steps", lambda: udfs.BP_TRAIN(1.5, 0.8, 0.5, 0.1, 0), "steps: must be at least 1"),
    ("negative learning rate", lambda: udfs.BP_STEP(1.5, 0.8, 0.5, -0.1),
     "learning_rate: must be greater than 0"),
    ("text for a flag", lambda: udfs.BP_TRAIN_NETWORK(*SEED_NET, 0.1, 5, "sigmoid", "squared_error",
                                                      "batch", "no"),
     "update_biases: must be TRUE or FALSE, got 'no'"),
    ("empty range", lambda: udfs.BP_ACTIVATE(None, "sigmoid"), "z: is empty"),
    ("empty cell in a range", lambda: udfs.BP_ACTIVATE(np.array([[1.0, np.nan]]), "sigmoid"),
     "z: cell 2 of the row is empty"),
    ("empty weights", lambda: udfs.BP_TRAIN_NETWORK([[1, 1]], np.array([[np.nan]]), "", [[1.5]],
                                                    [[0.5]], 0.1), "weights: the cell is empty"),
    ("empty inputs", lambda: udfs.BP_TRAIN_NETWORK([[1, 1]], [[0.8]], "", "", [[0.5]], 0.1),
     "inputs: is empty"),
    ("text in a range", lambda: udfs.BP_ACTIVATE(np.array([[1.0, "x"]]), "sigmoid"),
     "z: cell 2 of the row holds 'x', not a number"),
    ("text in a list", lambda: udfs.BP_ACTIVATE([[1.0], ["x"]], "sigmoid"),
     "z: cell 2 of the column holds 'x', not a number"),
    ("infinite cell", lambda: udfs.BP_DERIVATIVE([[1.0, float("inf")]], "tanh"),
     "z: cell 2 of the row is inf"),
    ("too few weights", lambda: udfs.BP_TRAIN_NETWORK([[2, 2, 2]], [[0.1] * 7], "", [[0.05, 0.1]],
                                                      [[0.01, 0.99]], 0.5),
     "weights: layers 2, 2, 2 take 8 weights (2·2 + 2·2), got 7"),
    ("too many biases", lambda: udfs.BP_GRADCHECK([[2, 2, 2]], MAZUR_WEIGHTS, [[0.1] * 5],
                                                  [[0.05, 0.1]], [[0.01, 0.99]]),
     "biases: layers 2, 2, 2 take 4 biases, one per neuron, got 5"),
    ("inputs of the wrong width", lambda: udfs.BP_GRADCHECK([[2, 2, 2]], MAZUR_WEIGHTS, "",
                                                            [[0.05], [0.1]], [[0.01, 0.99]]),
     "inputs: row 1 must have 2 entries"),
    ("targets for more samples", lambda: udfs.BP_GRADCHECK([[2, 2, 2]], MAZUR_WEIGHTS, "",
                                                           [[0.05, 0.1]], [[0.01, 0.99], [1, 0]]),
     "targets: must have 1 row(s)"),
    ("a and y of different shapes", lambda: udfs.BP_LOSS([[0.5, 0.2]], [[1], [0]], "squared_error"),
     "y: must have the shape of a (1 row × 2 columns), got 2 rows × 1 column"),
    ("one layer width", lambda: udfs.BP_GRADCHECK([[2]], [[0.1]], "", [[1, 2]], [[1]]),
     "layers: must list at least two widths"),
    ("fractional width", lambda: udfs.BP_GRADCHECK([[1, 1.5]], [[0.1]], "", [[1]], [[1]]),
     "layers: must be a whole number, got 1.5"),
    ("activations per layer, wrong count",
     lambda: udfs.BP_TRAIN_NETWORK(*SEED_NET, 0.1, 5, [["tanh", "relu"]]),
     "activation: give one name for all layers or one per layer, 1, got 2"),
    ("cross-entropy target above 1", lambda: udfs.BP_TRAIN(1.5, 0.8, 2.0, 0.1, 5, "sigmoid",
                                                           "binary_cross_entropy"),
     "target: binary_cross_entropy needs targets between 0 and 1"),
    ("cross-entropy output of 1", lambda: udfs.BP_LOSS(1.0, 1.0, "binary_cross_entropy"),
     "a: binary_cross_entropy needs outputs strictly between 0 and 1"),
    ("zero h", lambda: udfs.BP_GRADCHECK(*SEED_NET, "sigmoid", "squared_error", True, 0),
     "h: must be greater than 0"),
    # the optimizer: spec.Optimizer's refusals, naming the argument
    ("unknown optimizer", lambda: udfs.BP_TRAIN(1.5, 0.8, 0.5, 0.1, optimizer="adamw"),
     "unknown optimizer 'adamw' (known: sgd, momentum, rmsprop, adagrad, adam)"),
    ("momentum missing", lambda: udfs.BP_TRAIN_NETWORK(*SEED_NET, 0.1, optimizer="momentum"),
     "momentum: is missing (the momentum optimizer needs it"),
    ("negative momentum", lambda: udfs.BP_TRAIN(1.5, 0.8, 0.5, 0.1, optimizer="momentum",
                                                momentum=-0.5),
     "momentum: must be at least 0, got -0.5"),
    ("nesterov without momentum", lambda: udfs.BP_TRAIN_NETWORK(
        *SEED_NET, 0.1, optimizer="momentum", momentum=0, nesterov=True),
     "nesterov: needs a momentum greater than 0"),
    ("alpha of 1", lambda: udfs.BP_TRAIN(1.5, 0.8, 0.5, 0.1, optimizer="rmsprop", alpha=1),
     "alpha: must be in [0, 1), got 1.0"),
    ("a setting of another optimizer", lambda: udfs.BP_TRAIN_NETWORK(
        *SEED_NET, 0.1, optimizer="momentum", momentum=0.9, beta2=0.99),
     "beta2: does not apply to the momentum optimizer (it takes: momentum, nesterov)"),
    ("a setting for sgd", lambda: udfs.BP_TRAIN(1.5, 0.8, 0.5, 0.1, eps=1e-8),
     "eps: does not apply to the sgd optimizer (it takes: nothing but its name)"),
    ("infinite eps", lambda: udfs.BP_TRAIN(1.5, 0.8, 0.5, 0.1, optimizer="adagrad", eps=math.inf),
     "eps: must be a finite number, got inf"),
    ("text for nesterov", lambda: udfs.BP_TRAIN(1.5, 0.8, 0.5, 0.1, optimizer="momentum",
                                                momentum=0.9, nesterov="yes"),
     "nesterov: must be TRUE or FALSE, got 'yes'"),
]


@pytest.mark.parametrize("call, expected", [(call, expected) for _, call, expected in BAD],
                         ids=[name for name, _, _ in BAD])
def test_a_bad_argument_returns_one_readable_line(call, expected):
    result = call()
    assert isinstance(result, str)
    assert result.startswith(ERROR + expected), result
    assert "\n" not in result and "Traceback" not in result


def test_the_issues_example_error():
    assert udfs.BP_ACTIVATE(1.0, "sigmod").startswith("#backprop_xl: unknown activation 'sigmod'")


# --- xlwings' registration path, as on Windows -------------------------------------------------

# VBA keywords and statements that cannot name an argument of the generated wrapper.
VBA_RESERVED = {
    "and", "as", "boolean", "byref", "byte", "byval", "call", "case", "close", "const",
    "currency", "date", "declare", "dim", "do", "double", "each", "else", "elseif", "empty", "end",
    "enum", "eqv", "erase", "error", "event", "exit", "false", "for", "friend", "function", "get",
    "global", "gosub", "goto", "if", "imp", "implements", "in", "input", "integer", "is", "let",
    "like", "line", "lock", "long", "loop", "lset", "me", "mod", "name", "new", "next", "not",
    "nothing", "null", "on", "open", "option", "optional", "or", "paramarray", "preserve", "print",
    "private", "public", "put", "raiseevent", "redim", "rem", "resume", "return", "rset", "seek",
    "select", "set", "single", "static", "step", "stop", "string", "sub", "then", "to", "true",
    "type", "typeof", "until", "variant", "wend", "while", "with", "withevents", "write", "xor",
    "caller",  # xlwings passes the calling range in an argument of this name
}


@pytest.fixture
def registered(monkeypatch):
    """backprop_xl/udfs.py loaded afresh under xlwings' real Windows decorators (xlwings.udfs),
    with the pywin32 modules that xlwings.udfs imports replaced by stubs."""
    pythoncom = types.ModuleType("pythoncom")
    pythoncom.CoInitialize = lambda: None
    pythoncom.IID_IDispatch = object()
    pywintypes = types.ModuleType("pywintypes")
    pywintypes.com_error = type("com_error", (Exception,), {})
    win32com = types.ModuleType("win32com")
    client = types.ModuleType("win32com.client")
    client.Dispatch = lambda *args, **kwargs: None
    win32com.client = client
    for name, module in {"pythoncom": pythoncom, "pywintypes": pywintypes, "win32com": win32com,
                         "win32com.client": client}.items():
        monkeypatch.setitem(sys.modules, name, module)
    saved = sys.modules.pop("xlwings.udfs", None)
    try:
        xlwings_udfs = importlib.import_module("xlwings.udfs")
        monkeypatch.setattr(xlwings, "func", xlwings_udfs.xlfunc)
        monkeypatch.setattr(xlwings, "arg", xlwings_udfs.xlarg)
        monkeypatch.setattr(xlwings, "ret", xlwings_udfs.xlret)
        source = importlib.util.spec_from_file_location("backprop_xl.udfs", udfs.__file__)
        module = importlib.util.module_from_spec(source)
        source.loader.exec_module(module)
        yield xlwings_udfs, module
    finally:
        sys.modules.pop("xlwings.udfs", None)
        if saved is not None:
            sys.modules["xlwings.udfs"] = saved
        if hasattr(xlwings, "udfs") and saved is None:
            delattr(xlwings, "udfs")


def vba_functions(text):
    """Each generated VBA function's text, by name."""
    functions = {}
    for block in text.split("End Function"):
        lines = [line for line in block.strip().splitlines() if line.strip()]
        if lines:
            name = lines[0].split("Function ", 1)[1].split("(", 1)[0]
            functions[name] = "\n".join(lines)
    return functions


RANGE_ARGUMENTS = {"BP_ACTIVATE": {"z"}, "BP_DERIVATIVE": {"z"}, "BP_LOSS": {"a", "y"},
                   "BP_STEP": set(), "BP_TRAIN": set(),
                   "BP_TRAIN_NETWORK": {"layers", "weights", "biases", "inputs", "targets"},
                   "BP_GRADCHECK": {"layers", "weights", "biases", "inputs", "targets"}}


def test_xlwings_generates_a_vba_wrapper_for_every_function(registered):
    xlwings_udfs, module = registered
    output = io.StringIO()
    book = types.SimpleNamespace(Name="backprop_xl.xlsm")
    xlwings_udfs.generate_vba_wrapper("backprop_xl.udfs", module, output, book)
    functions = vba_functions(output.getvalue())
    assert sorted(functions) == UDF_NAMES
    for name in UDF_NAMES:
        python = getattr(udfs, name)
        parameters = list(inspect.signature(python).parameters.values())
        declared = ", ".join(("Optional " if p.default is not p.empty else "") + p.name
                             for p in parameters)
        arguments = ", ".join(p.name for p in parameters)
        lines = functions[name].splitlines()
        assert lines[0] == f"Function {name}({declared})"
        assert (f'{name} = XLPy.CallUDF("backprop_xl.udfs", "{name}", Array({arguments}), '
                f"ThisWorkbook, Application.Caller)") in functions[name]
        assert not {p.name.lower() for p in parameters} & VBA_RESERVED


def test_every_argument_is_documented_and_ranges_arrive_as_2d_arrays(registered):
    _, module = registered
    for name in UDF_NAMES:
        info = getattr(module, name).__xlfunc__
        assert info["name"] == name and info["category"] == "backprop_xl"
        assert not info["volatile"] and info["async_mode"] is None
        assert 20 < len(info["ret"]["doc"]) <= 255  # Excel keeps 255 characters
        assert "expand" not in info["ret"]["options"]  # native dynamic arrays spill by themselves
        for argument in info["args"]:
            assert not argument["doc"].startswith("Positional argument"), (name, argument["name"])
            assert len(argument["doc"]) <= 255, (name, argument["name"])
            if argument["name"] in RANGE_ARGUMENTS[name]:
                assert argument["options"] == {"convert": np.array, "ndim": 2}
            else:
                assert argument["options"] == {}, (name, argument["name"])
        defaults = {a["name"]: a["optional"] for a in info["args"] if "optional" in a}
        assert defaults == {p.name: p.default for p in
                            inspect.signature(getattr(udfs, name)).parameters.values()
                            if p.default is not p.empty}


def test_registered_functions_still_compute_and_return_errors(registered):
    _, module = registered
    assert module.BP_STEP(1.5, 0.8, 0.5, 0.1) == udfs.BP_STEP(1.5, 0.8, 0.5, 0.1)
    assert module.BP_ACTIVATE(1.0, "sigmod").startswith(ERROR + "unknown activation 'sigmod'")


# --- backprop-xl xlwings-setup -----------------------------------------------------------------


def formulas_in(path):
    sheet = openpyxl.load_workbook(path)[xlwings_setup.SHEET]
    found = []
    for row in sheet.iter_rows():
        for cell in row:
            value = getattr(cell.value, "text", cell.value)  # array formulas come as objects
            if isinstance(value, str) and value.startswith("="):
                found.append((cell.coordinate, value))
    return found


def test_setup_writes_the_conf_and_a_workbook_calling_every_function(tmp_path, capsys):
    folder = tmp_path / "excel"
    status, out, err = run(capsys, "xlwings-setup", str(folder))
    assert status == 0 and out == ""
    assert sorted(p.name for p in folder.iterdir()) == ["backprop_xl.xlsm", "xlwings.conf"]
    conf = (folder / "xlwings.conf").read_bytes().decode()
    assert conf.splitlines()[0] == '"UDF MODULES","backprop_xl.udfs"'
    assert conf.endswith("\r\n")

    book = folder / "backprop_xl.xlsm"
    with zipfile.ZipFile(book) as archive:
        types_xml = archive.read("[Content_Types].xml").decode()
        vba = archive.read("xl/vbaProject.bin")
    assert "application/vnd.ms-excel.sheet.macroEnabled.main+xml" in types_xml
    with zipfile.ZipFile(Path(xlwings.__file__).parent / "quickstart_standalone.xlsm") as source:
        assert vba == source.read("xl/vbaProject.bin")

    formulas = formulas_in(book)
    called = {name for name in UDF_NAMES for _, text in formulas if text.startswith(f"={name}(")}
    assert called == set(UDF_NAMES)
    assert "=BP_STEP(1.5,0.8,0.5,0.1)" in [text for _, text in formulas]

    # each stored value is what the function returns: the BP_STEP row, the BP_TRAIN table
    values = openpyxl.load_workbook(book, data_only=True)[xlwings_setup.SHEET]
    step_cell = next(cell for cell, text in formulas if text == "=BP_STEP(1.5,0.8,0.5,0.1)")
    row = values[step_cell].row
    assert [values.cell(row, column).value for column in range(2, 10)] == pytest.approx(
        udfs.BP_STEP(1.5, 0.8, 0.5, 0.1)[0], rel=1e-15)
    train_cell = next(cell for cell, text in formulas if text.startswith("=BP_TRAIN("))
    first = values[train_cell]
    expected = udfs.BP_TRAIN(1.5, 0.8, 0.5, 0.1, xlwings_setup.SEED_STEPS)
    table = [[values.cell(first.row + r, first.column + c).value for c in range(len(expected[0]))]
             for r in range(len(expected))]
    assert table[0] == expected[0]
    # XlsxWriter stores a number with 16 significant digits
    assert sum(table[1:], []) == pytest.approx(sum(expected[1:], []), rel=1e-15)
    sheets = openpyxl.load_workbook(book).sheetnames
    assert sheets == [xlwings_setup.SHEET, xlwings_setup.CONF_SHEET]


def test_setup_writes_the_same_bytes_each_time(tmp_path, capsys):
    assert run(capsys, "xlwings-setup", str(tmp_path / "a"))[0] == 0
    assert run(capsys, "xlwings-setup", str(tmp_path / "b"))[0] == 0
    for name in ("backprop_xl.xlsm", "xlwings.conf"):
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes()


def test_conf_names_the_interpreter_when_given():
    assert xlwings_setup.conf_text(r"C:\venv\Scripts\python.exe") == (
        '"UDF MODULES","backprop_xl.udfs"\r\n"INTERPRETER_WIN","C:\\venv\\Scripts\\python.exe"\r\n')


def test_setup_refuses_existing_files_unless_force(tmp_path, capsys):
    assert run(capsys, "xlwings-setup", str(tmp_path))[0] == 0
    before = snapshot(tmp_path)
    (tmp_path / "other.txt").write_text("mine")
    status, _, err = run(capsys, "xlwings-setup", str(tmp_path))
    assert status == 2 and len(err.splitlines()) == 1 and "--force" in err
    assert {k: v for k, v in snapshot(tmp_path).items() if k != "other.txt"} == before
    (tmp_path / "backprop_xl.xlsm").unlink()  # one file present is enough to refuse
    status, _, err = run(capsys, "xlwings-setup", str(tmp_path))
    assert status == 2 and "xlwings.conf already exists" in err
    assert not (tmp_path / "backprop_xl.xlsm").exists()
    assert run(capsys, "xlwings-setup", str(tmp_path), "--force")[0] == 0
    assert (tmp_path / "backprop_xl.xlsm").exists()
    assert (tmp_path / "other.txt").read_text() == "mine"


@pytest.mark.parametrize("target, message", [
    ("a-file", "is a file, not a folder"),
    ("missing/folder", "does not exist"),
])
def test_setup_refuses_a_bad_dir_with_one_line(tmp_path, capsys, target, message):
    (tmp_path / "a-file").write_text("x")
    before = snapshot(tmp_path)
    status, out, err = run(capsys, "xlwings-setup", str(tmp_path / target))
    assert status == 2 and out == ""
    assert len(err.splitlines()) == 1 and message in err and "Traceback" not in err
    assert snapshot(tmp_path) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a-file"]
