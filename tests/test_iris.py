"""The iris preset: Fisher's Iris trained by a 4-4-3 softmax network in mini-batches. Its first
steps against a computation from the CSV file that shares no code with backprop_xl (the csv
module, numpy's standardization, the documented Glorot draw, autograd's gradient of torch's
softmax and cross-entropy), and its run's cost and accuracy pass by pass."""

import csv

import autograd.numpy as anp
import numpy as np
import pytest
from autograd import grad

from backprop_xl import engine
from backprop_xl.presets import DATA, preset

INPUTS = ["sepal_length", "sepal_width", "petal_length", "petal_width"]
BATCH = 10


@pytest.fixture(scope="module")
def iris():
    return preset("iris")


@pytest.fixture(scope="module")
def trace(iris):
    return engine.trace(iris)


def from_the_file():
    """The inputs, standardized with numpy (population standard deviation, as scikit-learn's
    StandardScaler), and one-hot targets in sorted species order."""
    with open(DATA / "iris.csv", newline="") as handle:
        rows = list(csv.DictReader(handle))
    x = np.array([[float(row[name]) for name in INPUTS] for row in rows])
    species = sorted({row["species"] for row in rows})
    y = np.array([[1.0 if row["species"] == name else 0.0 for name in species] for row in rows])
    return (x - x.mean(axis=0)) / x.std(axis=0), y


def glorot(seed, sizes):
    """Weights as spec.initial_weights documents them: one default_rng(seed) for all layers,
    uniform(-limit, limit) of shape (neurons, inputs), limit = sqrt(6 / (inputs + neurons)),
    rounded to 16 significant digits."""
    generator = np.random.default_rng(seed)
    weights = []
    for n_in, n_out in zip(sizes[:-1], sizes[1:]):
        limit = np.sqrt(6.0 / (n_in + n_out))
        drawn = generator.uniform(-limit, limit, (n_out, n_in))
        weights.append(np.array([[float(f"{w:.16g}") for w in row] for row in drawn]))
    return weights


def cost(parameters, x, y):
    """torch.nn.CrossEntropyLoss (mean over the batch) of a tanh layer then a linear layer, whose
    softmax CrossEntropyLoss takes as log_softmax: z - logsumexp(z)."""
    w1, b1, w2, b2 = parameters
    z = anp.dot(anp.tanh(anp.dot(x, w1.T) + b1), w2.T) + b2
    largest = anp.max(z, axis=1, keepdims=True)
    log_softmax = z - largest - anp.log(anp.sum(anp.exp(z - largest), axis=1, keepdims=True))
    return anp.mean(-anp.sum(y * log_softmax, axis=1))


def test_the_first_steps_are_an_independent_computations(iris, trace):
    x, y = from_the_file()
    w1, w2 = glorot(1, [4, 4, 3])
    parameters = [w1, np.zeros(4), w2, np.zeros(3)]
    gradient = grad(cost)
    for step in range(1, 16):  # one pass: batches of 10 in file order
        batch = slice((step - 1) * BATCH, step * BATCH)
        row = step - 1
        assert trace["sample"][row] == (step - 1) * BATCH + 1 and trace["batch"][row] == BATCH
        gradients = gradient(parameters, x[batch], y[batch])
        for (name, value), (_, expected) in zip(named(parameters), named(gradients)):
            assert trace[name][row] == pytest.approx(value, rel=1e-12, abs=1e-14), name
            assert trace["grad_" + name][row] == pytest.approx(expected, rel=1e-9, abs=1e-14), name
        assert trace["C"][row] == pytest.approx(cost(parameters, x[batch], y[batch]), rel=1e-12)
        w1, b1, w2, b2 = parameters
        z = np.tanh(x[batch] @ w1.T + b1) @ w2.T + b2
        assert trace["accuracy"][row] == np.mean(z.argmax(axis=1) == y[batch].argmax(axis=1))
        parameters = [p - iris.learning_rate * g for p, g in zip(parameters, gradients)]


def named(parameters):
    """(machine name, value) of each weight and bias, as docs/design.md names them."""
    for index, values in enumerate(parameters):
        layer, kind = index // 2 + 1, "w" if index % 2 == 0 else "b"
        for place, value in np.ndenumerate(values):
            yield f"{kind}{layer}_" + "_".join(str(i + 1) for i in place), float(value)


def test_the_cost_falls_and_the_accuracy_climbs_pass_by_pass(iris, trace):
    passes = iris.steps // 15
    costs = trace["C"].reshape(passes, 15).mean(axis=1)
    accuracy = trace["accuracy"].reshape(passes, 15).mean(axis=1)
    assert costs[-1] < 0.2 * costs[0]
    assert accuracy[0] < 0.8 and accuracy[-1] > 0.95
    assert all(later < earlier for earlier, later in zip(costs, costs[1:]))


def test_the_workbook_charts_cost_and_accuracy_with_a_pass_s_moving_average(iris, tmp_path):
    import re
    import zipfile

    from backprop_xl import workbook
    from helpers import machine_names

    path = tmp_path / "iris.xlsx"
    workbook.write(iris.with_overrides(steps=30), path)
    letters = {name: letter for letter, name in machine_names(path).items()}
    with zipfile.ZipFile(path) as book:
        charts = [book.read(name).decode() for name in book.namelist()
                  if re.fullmatch(r"xl/charts/chart\d+\.xml", name)]
    [chart] = [c for c in charts if "Cost and accuracy, step by step" in c]
    references = re.findall(r"<c:yVal><c:numRef><c:f>([^<]+)</c:f>", chart)
    assert references == [f"Steps!${letters[key]}$2:${letters[key]}$31"
                          for key in ("C", "accuracy")]
    assert chart.count('<c:trendlineType val="movingAvg"/>') == 2
    assert chart.count('<c:period val="15"/>') == 2  # 150 samples in batches of 10
