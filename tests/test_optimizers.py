"""The optimizers of issue 16 (spec [optimizer]) in the engine, against sources that share no code
with the package: each optimizer's first two steps of the seed lesson worked by hand with the math
module, and random networks trained for 50 steps by a from-scratch implementation, here, of
torch.optim's documented update rules on gradients from HIPS autograd. Then the spec's refusals.
The workbooks of the optimizers: test_optimizer_workbooks.py.

torch.optim's documented rules, as this file implements them (weight decay 0 throughout):
- SGD with momentum mu (dampening 0): b_1 = g_1, b_t = mu b_{t-1} + g_t; the step is b_t, or with
  nesterov g_t + mu b_t; theta_t = theta_{t-1} - lr * step.
- RMSprop (alpha, eps; not centered, no momentum): v_t = alpha v_{t-1} + (1 - alpha) g_t^2;
  theta_t = theta_{t-1} - lr g_t / (sqrt(v_t) + eps).
- Adagrad (eps; lr_decay 0, initial accumulator 0): s_t = s_{t-1} + g_t^2;
  theta_t = theta_{t-1} - lr g_t / (sqrt(s_t) + eps).
- Adam (beta1, beta2, eps; no amsgrad): m_t = beta1 m_{t-1} + (1 - beta1) g_t,
  v_t = beta2 v_{t-1} + (1 - beta2) g_t^2, m^_t = m_t / (1 - beta1^t), v^_t = v_t / (1 - beta2^t),
  theta_t = theta_{t-1} - lr m^_t / (sqrt(v^_t) + eps).
"""

import math

import autograd.numpy as anp
import numpy as np
import pytest
from autograd import grad

from backprop_xl import engine, export
from backprop_xl.errors import SpecError
from backprop_xl.presets import preset
from backprop_xl.spec import Optimizer, Spec
from helpers import OPTIMIZERS, reference_names, run, trains_biases

MOMENTUM, NESTEROV, RMSPROP, ADAGRAD, ADAM = (OPTIMIZERS[name] for name in (
    "momentum", "nesterov", "rmsprop", "adagrad", "adam"))
EVERY = OPTIMIZERS

# --- 1. the seed lesson's first two steps, by hand ---------------------------------------------
# i = 1.5, w = 0.8, y = 0.5, r = 0.1, a = sigmoid(i w), C = (a - y)^2, dC/dw = 2(a - y) a(1 - a) i.

I, W, Y, R = 1.5, 0.8, 0.5, 0.1


def seed_gradient(w):
    a = 1 / (1 + math.exp(-I * w))
    return 2 * (a - Y) * a * (1 - a) * I


# Step 1 is the same for every optimizer up to its update: z = 1.2, a = 0.768525, C = 0.072106,
# g1 = 0.143307198481.
G1 = seed_gradient(W)


def seed_records(optimizer):
    return [step.record() for step in
            engine.run(preset("seed").with_overrides(optimizer=optimizer, steps=2))]


def assert_by_hand(record, expected):
    for key, value in expected.items():
        assert record[key] == pytest.approx(value, rel=1e-13, abs=1e-300), key


def test_the_hand_worked_gradient_is_the_readmes():
    assert round(G1, 6) == 0.143307


def test_momentum_by_hand():
    # b1 = g1 = 0.143307198; w1 = 0.8 - 0.1 b1 = 0.785669280 (SGD's first step)
    b1 = G1
    w1 = W - R * b1
    # g2 = 0.142882973; b2 = 0.9 b1 + g2 = 0.271859452; w2 = w1 - 0.1 b2 = 0.758483335
    g2 = seed_gradient(w1)
    b2 = 0.9 * b1 + g2
    w2 = w1 - R * b2
    assert (round(w1, 6), round(b2, 6), round(w2, 6)) == (0.785669, 0.271859, 0.758483)
    first, second = seed_records(MOMENTUM)
    assert_by_hand(first, {"grad_w1_1_1": G1, "velocity_w1_1_1": b1, "new_w1_1_1": w1})
    assert_by_hand(second, {"w1_1_1": w1, "grad_w1_1_1": g2, "velocity_w1_1_1": b2,
                            "new_w1_1_1": w2})


def test_nesterov_momentum_by_hand():
    # b1 = g1; the step is g1 + 0.9 b1 = 1.9 g1: w1 = 0.8 - 0.1 * 0.272283677 = 0.772771632
    b1 = G1
    w1 = W - R * (G1 + 0.9 * b1)
    # g2 = 0.142435768; b2 = 0.9 b1 + g2 = 0.271412247; w2 = w1 - 0.1 (g2 + 0.9 b2) = 0.734100953
    g2 = seed_gradient(w1)
    b2 = 0.9 * b1 + g2
    w2 = w1 - R * (g2 + 0.9 * b2)
    assert (round(w1, 6), round(w2, 6)) == (0.772772, 0.734101)
    first, second = seed_records(NESTEROV)
    assert_by_hand(first, {"velocity_w1_1_1": b1, "new_w1_1_1": w1})
    assert_by_hand(second, {"grad_w1_1_1": g2, "velocity_w1_1_1": b2, "new_w1_1_1": w2})


def test_rmsprop_by_hand():
    # v1 = 0.01 g1^2 = 0.000205370; sqrt(v1) = 0.1 g1, so the first step is 0.1 * 10 (less eps's
    # share): w1 = 0.8 - 1.0 = -0.199999302
    v1 = 0.01 * G1 ** 2
    w1 = W - R * G1 / (math.sqrt(v1) + 1e-8)
    # g2 = -0.054594097 (past the target now); v2 = 0.99 v1 + 0.01 g2^2 = 0.000233121;
    # w2 = w1 - 0.1 g2 / (sqrt(v2) + 1e-8) = 0.157565459
    g2 = seed_gradient(w1)
    v2 = 0.99 * v1 + 0.01 * g2 ** 2
    w2 = w1 - R * g2 / (math.sqrt(v2) + 1e-8)
    assert (round(w1, 6), round(v2, 9), round(w2, 6)) == (-0.199999, 0.000233121, 0.157565)
    first, second = seed_records(RMSPROP)
    assert_by_hand(first, {"sqavg_w1_1_1": v1, "new_w1_1_1": w1})
    assert_by_hand(second, {"grad_w1_1_1": g2, "sqavg_w1_1_1": v2, "new_w1_1_1": w2})


def test_adagrad_by_hand():
    # s1 = g1^2 = 0.020536953; w1 = 0.8 - 0.1 g1 / (|g1| + 1e-10) = 0.700000000070
    s1 = G1 ** 2
    w1 = W - R * G1 / (math.sqrt(s1) + 1e-10)
    # g2 = 0.138706168; s2 = s1 + g2^2 = 0.039776354; w2 = w1 - 0.1 g2 / sqrt(s2) = 0.630452218
    g2 = seed_gradient(w1)
    s2 = s1 + g2 ** 2
    w2 = w1 - R * g2 / (math.sqrt(s2) + 1e-10)
    assert (round(w1, 9), round(s2, 9), round(w2, 9)) == (0.7, 0.039776354, 0.630452218)
    first, second = seed_records(ADAGRAD)
    assert_by_hand(first, {"sqsum_w1_1_1": s1, "new_w1_1_1": w1})
    assert_by_hand(second, {"grad_w1_1_1": g2, "sqsum_w1_1_1": s2, "new_w1_1_1": w2})


def test_adam_by_hand():
    # m1 = 0.1 g1 = 0.014330720, v1 = 0.001 g1^2 = 0.0000205370; bias-corrected: m^1 = g1,
    # v^1 = g1^2, so w1 = 0.8 - 0.1 g1 / (|g1| + 1e-8) = 0.700000007
    m1, v1 = 0.1 * G1, 0.001 * G1 ** 2
    m_hat1, v_hat1 = m1 / (1 - 0.9), v1 / (1 - 0.999)
    w1 = W - R * m_hat1 / (math.sqrt(v_hat1) + 1e-8)
    # g2 = 0.138706169; m2 = 0.9 m1 + 0.1 g2 = 0.026768265; v2 = 0.999 v1 + 0.001 g2^2 =
    # 0.0000397558; m^2 = m2 / 0.19 = 0.140885604; v^2 = v2 / (1 - 0.999^2) = 0.019887853;
    # w2 = w1 - 0.1 m^2 / (sqrt(v^2) + 1e-8) = 0.600098362
    g2 = seed_gradient(w1)
    m2, v2 = 0.9 * m1 + 0.1 * g2, 0.999 * v1 + 0.001 * g2 ** 2
    m_hat2, v_hat2 = m2 / (1 - 0.9 ** 2), v2 / (1 - 0.999 ** 2)
    w2 = w1 - R * m_hat2 / (math.sqrt(v_hat2) + 1e-8)
    assert (round(w1, 9), round(m_hat2, 9), round(w2, 9)) == (0.700000007, 0.140885604,
                                                              0.600098362)
    first, second = seed_records(ADAM)
    assert_by_hand(first, {"m_w1_1_1": m1, "v_w1_1_1": v1, "mhat_w1_1_1": m_hat1,
                           "vhat_w1_1_1": v_hat1, "new_w1_1_1": w1})
    assert_by_hand(second, {"grad_w1_1_1": g2, "m_w1_1_1": m2, "v_w1_1_1": v2,
                            "mhat_w1_1_1": m_hat2, "vhat_w1_1_1": v_hat2, "new_w1_1_1": w2})


def test_sgd_is_todays_update_bit_for_bit():
    """The default optimizer is the update there was before optimizers: w' = w - r g, exactly,
    with no state columns."""
    spec = preset("xor")
    assert spec.optimizer == Optimizer("sgd") == Optimizer()
    for step in engine.run(spec.with_overrides(steps=50)):
        record = step.record()
        assert not any(key.startswith(("velocity_", "sqavg_", "sqsum_", "m_", "v_", "mhat_",
                                       "vhat_")) for key in record)
        for name, value, gradient, new in step.parameters():
            assert new == value - spec.learning_rate * gradient


# --- 2. random networks against torch.optim's documented rules on autograd's gradients -------

ACTIVATIONS = {"sigmoid": lambda z: 1.0 / (1.0 + anp.exp(-z)), "tanh": anp.tanh,
               "linear": lambda z: z}
LOSSES = {"squared_error": lambda a, y: (a - y) ** 2,
          "half_squared_error": lambda a, y: 0.5 * (a - y) ** 2}


def reference_cost(theta, spec, x, y):
    """The cost of the parameters theta (in reference_names order), written here from scratch."""
    a, i = x, 0
    for layer, (n_in, n_out) in enumerate(zip(spec.layers[:-1], spec.layers[1:])):
        w = anp.reshape(theta[i:i + n_in * n_out], (n_out, n_in))
        i += n_in * n_out
        z = anp.dot(a, anp.transpose(w))
        if trains_biases(spec):
            z = z + theta[i:i + n_out]
            i += n_out
        a = ACTIVATIONS[spec.activations[layer]](z)
    return anp.mean(anp.sum(LOSSES[spec.loss](a, y), axis=1))


reference_gradient = grad(reference_cost)


class Reference:
    """torch.optim's documented update rules (see the module's docstring), from scratch."""

    def __init__(self, optimizer: Optimizer, rate: float, size: int):
        self.o, self.rate, self.t = optimizer, rate, 0
        self.b = self.m = self.v = self.s = None
        self.size = size

    def step(self, theta, g):
        """The new parameters, and the state after the step by its column prefix."""
        o, lr = self.o, self.rate
        self.t += 1
        if o.name == "sgd":
            return theta - lr * g, {}
        if o.name == "momentum":
            self.b = g.copy() if self.t == 1 else o.momentum * self.b + g
            direction = g + o.momentum * self.b if o.nesterov else self.b
            return theta - lr * direction, {"velocity_": self.b}
        if o.name == "rmsprop":
            previous = np.zeros(self.size) if self.v is None else self.v
            self.v = o.alpha * previous + (1 - o.alpha) * g ** 2
            return theta - lr * g / (np.sqrt(self.v) + o.eps), {"sqavg_": self.v}
        if o.name == "adagrad":
            self.s = (np.zeros(self.size) if self.s is None else self.s) + g ** 2
            return theta - lr * g / (np.sqrt(self.s) + o.eps), {"sqsum_": self.s}
        assert o.name == "adam"
        m = np.zeros(self.size) if self.m is None else self.m
        v = np.zeros(self.size) if self.v is None else self.v
        self.m = o.beta1 * m + (1 - o.beta1) * g
        self.v = o.beta2 * v + (1 - o.beta2) * g ** 2
        m_hat = self.m / (1 - o.beta1 ** self.t)
        v_hat = self.v / (1 - o.beta2 ** self.t)
        return (theta - lr * m_hat / (np.sqrt(v_hat) + o.eps),
                {"m_": self.m, "v_": self.v, "mhat_": m_hat, "vhat_": v_hat})


def random_spec(seed, layers, mode, biases, steps=50):
    rng = np.random.default_rng(seed)
    n_samples = 3
    activations = [["tanh", "sigmoid", "linear"][(seed + layer) % 3]
                   for layer in range(len(layers) - 1)]
    return Spec(layers=layers, init_seed=seed, init_biases=biases, activations=activations,
                loss="half_squared_error" if seed % 2 else "squared_error", mode=mode,
                learning_rate=0.05, steps=steps, gradient_check=False,
                inputs=rng.uniform(-1, 1, (n_samples, layers[0])).round(3).tolist(),
                targets=rng.uniform(0.1, 0.9, (n_samples, layers[-1])).round(3).tolist())


NETWORKS = {
    "1-1 batch": (1, [1, 1], "batch", False),
    "2-3-1 batch, biases": (2, [2, 3, 1], "batch", True),
    "3-2-2 stochastic": (3, [3, 2, 2], "stochastic", False),
    "2-4-3-1 stochastic, biases": (4, [2, 4, 3, 1], "stochastic", True),
    "2-2-2 batch": (5, [2, 2, 2], "batch", False),
}


def assert_close(actual, expected, what):
    np.testing.assert_allclose(actual, expected, rtol=1e-9, atol=1e-12, err_msg=what)


@pytest.mark.parametrize("network", NETWORKS)
@pytest.mark.parametrize("optimizer", EVERY)
def test_random_networks_follow_torch_optims_rules(network, optimizer):
    spec = random_spec(*NETWORKS[network]).with_overrides(optimizer=EVERY[optimizer])
    names = reference_names(spec)
    assert spec.parameter_names == names
    trace = engine.trace(spec)
    x_all, y_all = np.array(spec.inputs), np.array(spec.targets)
    theta = np.array([trace[name][0] for name in names])  # the spec's initial parameters
    reference = Reference(spec.optimizer, spec.learning_rate, len(names))
    for t in range(spec.steps):
        what = f"{optimizer}, {network}, step {t + 1}"
        if spec.mode == "stochastic":
            k = t % spec.n_samples
            x, y = x_all[k:k + 1], y_all[k:k + 1]
        else:
            x, y = x_all, y_all
        assert_close([trace[name][t] for name in names], theta, what + ": parameters")
        g = reference_gradient(theta, spec, x, y)
        assert_close([trace["grad_" + name][t] for name in names], g, what + ": gradients")
        theta, state = reference.step(theta, g)
        for prefix, values in state.items():
            assert_close([trace[prefix + name][t] for name in names], values, f"{what}: {prefix}")
        assert_close([trace["new_" + name][t] for name in names], theta, what + ": new")
    assert sorted(key for key in trace if "_" in key and key.split("_")[0] + "_" in
                  ("velocity_", "sqavg_", "sqsum_", "m_", "v_", "mhat_", "vhat_")) == sorted(
        prefix + name for prefix in Reference(spec.optimizer, 0.1, 1).step(
            np.zeros(1), np.ones(1))[1] for name in names)


@pytest.mark.parametrize("optimizer", ["momentum", "nesterov", "rmsprop", "adagrad", "adam"])
def test_the_three_ways_agree_on_every_optimizer(optimizer):
    """Traced straight-line Python and the loops bit for bit, with activations of plain
    arithmetic (math's exp and tanh may round a last bit differently from numpy's; sqrt is exact,
    and both take Python's pow); numba to rounding."""
    from backprop_xl import kernels
    spec = random_spec(*NETWORKS["2-4-3-1 stochastic, biases"], steps=30).with_overrides(
        optimizer=EVERY[optimizer], gradient_check=True,
        activations=["linear", "leaky_relu", "linear"])
    straight = [step.record() for step in engine.run(spec, True, compiled=False)]
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(kernels, "STRAIGHT_LINE_WORK", -1)
        loops = [step.record() for step in engine.run(spec, True, compiled=False)]
    assert [list(r) for r in straight] == [list(r) for r in loops]
    compiled = [step.record() for step in engine.run(spec, True, compiled=True)]
    for a, b, c in zip(straight, loops, compiled, strict=True):
        for key in a:
            if key.startswith(("fd_", "reldiff_")):
                continue  # the finite differences divide rounding noise by 2h
            assert a[key] == b[key], key
            assert c[key] == pytest.approx(a[key], rel=1e-11, abs=1e-14), key


def test_a_run_in_blocks_carries_the_state_across_blocks():
    spec = random_spec(*NETWORKS["2-3-1 batch, biases"], steps=600).with_overrides(optimizer=ADAM)
    whole = engine.trace(spec)  # blocks of 1024: one
    pieces = {}
    state = engine.Run(spec)
    first = 1
    for block in state.blocks(7):
        for key, values in state.columns(block, first).items():
            pieces.setdefault(key, []).append(values)
        first += len(block.losses)
    for key, values in whole.items():
        np.testing.assert_array_equal(np.concatenate(pieces[key]), values, err_msg=key)


# --- 3. trace --state ------------------------------------------------------------------------

def test_trace_keeps_its_columns_and_adds_the_state_when_asked(capsys, tmp_path):
    spec = preset("seed").with_overrides(optimizer=ADAM, steps=3)
    assert export.columns(spec) == ["step", "loss", "w1_1_1", "grad_w1_1_1"]
    assert export.columns(spec, state=True) == ["step", "loss", "w1_1_1", "grad_w1_1_1",
                                                "m_w1_1_1", "v_w1_1_1", "mhat_w1_1_1",
                                                "vhat_w1_1_1"]
    assert export.columns(preset("seed"), state=True) == export.columns(preset("seed"))
    path = tmp_path / "adam.toml"
    path.write_text(spec.to_toml())
    status, out, err = run(capsys, "trace", str(path), "--state")
    assert status == 0, err
    lines = out.splitlines()
    assert lines[0] == ",".join(export.columns(spec, state=True))
    records = [step.record() for step in engine.run(spec)]
    for line, record in zip(lines[1:], records, strict=True):
        values = dict(zip(lines[0].split(","), map(float, line.split(","))))
        for key, value in values.items():
            assert value == record["C" if key == "loss" else key], key
    status, plain, _ = run(capsys, "trace", str(path))
    assert plain.splitlines()[0] == "step,loss,w1_1_1,grad_w1_1_1"


# --- 4. the spec ---------------------------------------------------------------------------

SEED_TOML = preset("seed").to_toml()


def with_table(table: str) -> str:
    return SEED_TOML.replace("[network]", f"[optimizer]\n{table}\n\n[network]")


def test_a_default_spec_writes_no_optimizer_table():
    assert "[optimizer]" not in SEED_TOML and "optimizer" not in SEED_TOML
    assert Spec.from_toml(with_table('name = "sgd"')) == preset("seed")


@pytest.mark.parametrize("optimizer", EVERY)
def test_each_optimizer_round_trips_through_toml(optimizer):
    spec = preset("mazur").with_overrides(optimizer=EVERY[optimizer])
    text = spec.to_toml()
    assert Spec.from_toml(text) == spec
    assert ("[optimizer]" in text) == (optimizer != "sgd")


def test_the_defaults_are_torch_optims():
    assert (RMSPROP.alpha, RMSPROP.eps) == (0.99, 1e-8)
    assert ADAGRAD.eps == 1e-10
    assert (ADAM.beta1, ADAM.beta2, ADAM.eps) == (0.9, 0.999, 1e-8)
    assert MOMENTUM.nesterov is False
    assert Spec.from_toml(with_table('name = "adam"')).optimizer == ADAM
    assert Spec.from_toml(with_table('name = "adagrad"')).optimizer == ADAGRAD


@pytest.mark.parametrize("table, key, words", [
    ('name = "adamw"', "optimizer.name", "unknown optimizer 'adamw'"),
    ("name = 3", "optimizer.name", "unknown optimizer 3"),
    ('name = "momentum"', "optimizer.momentum", "is missing"),
    ('name = "momentum"\nmomentum = -0.1', "optimizer.momentum", "at least 0"),
    ('name = "momentum"\nmomentum = "high"', "optimizer.momentum", "must be a number"),
    ('name = "momentum"\nmomentum = 0.9\nnesterov = 1', "optimizer.nesterov", "true or false"),
    ('name = "momentum"\nmomentum = 0\nnesterov = true', "optimizer.nesterov", "greater than 0"),
    ('name = "adam"\nbeta1 = 1.0', "optimizer.beta1", "[0, 1)"),
    ('name = "adam"\nbeta1 = -0.1', "optimizer.beta1", "[0, 1)"),
    ('name = "adam"\nbeta2 = 1.5', "optimizer.beta2", "[0, 1)"),
    ('name = "adam"\neps = 0', "optimizer.eps", "greater than 0"),
    ('name = "adam"\neps = -1e-8', "optimizer.eps", "greater than 0"),
    ('name = "adam"\neps = nan', "optimizer.eps", "finite"),
    ('name = "rmsprop"\nalpha = 1', "optimizer.alpha", "[0, 1)"),
    ('name = "adagrad"\neps = inf', "optimizer.eps", "finite"),
    ('name = "adam"\nmomentum = 0.9', "optimizer.momentum", "does not apply to the adam"),
    ('name = "sgd"\neps = 1e-8', "optimizer.eps", "does not apply to the sgd"),
    ('beta1 = 0.9', "optimizer.beta1", "does not apply to the sgd"),
    ('name = "adam"\nbeta3 = 0.9', "optimizer.beta3", "unknown key"),
])
def test_a_bad_optimizer_is_refused_naming_the_key(table, key, words):
    with pytest.raises(SpecError) as error:
        Spec.from_toml(with_table(table))
    message = str(error.value)
    assert message.startswith(key + ":") and words in message, message


def test_an_optimizer_that_is_no_table_is_refused():
    with pytest.raises(SpecError, match="^optimizer: must be a table"):
        Spec.from_toml('optimizer = "adam"\n' + SEED_TOML)


# --- the presets that show an optimizer's difference ------------------------------------------

def test_seed_adam_leaves_the_plateau_where_sgd_stays():
    adam = engine.trace(preset("seed-adam"))
    sgd = engine.trace(preset("seed-adam").with_overrides(optimizer=Optimizer()))
    assert sgd["w1_1_1"][-1] < -3.8  # 300 steps of about 0.0004
    assert abs(adam["w1_1_1"][49]) < 0.2 and adam["C"][-1] < 1e-10  # the minimum is at w = 0


def test_mazur_momentum_falls_fifty_times_lower_in_a_hundred_steps():
    momentum = engine.trace(preset("mazur-momentum"))
    sgd = engine.trace(preset("mazur"))
    assert momentum["C"][99] < sgd["C"][99] / 50
