"""Named specs that ship with backprop_xl, usable wherever a spec file is."""

from __future__ import annotations

from pathlib import Path

from .spec import Optimizer, Spec

DATA = Path(__file__).with_name("data")  # datasets shipped with the package, each with notes

SEED = Spec(
    title="One sigmoid neuron", steps=300, learning_rate=0.1, loss="squared_error",
    layers=[1, 1], activations=["sigmoid"], weights=[[[0.8]]], inputs=[[1.5]], targets=[[0.5]],
)
MAZUR = Spec(
    title="Mazur's step-by-step backpropagation example", steps=1000, learning_rate=0.5,
    loss="half_squared_error", layers=[2, 2, 2], activations=["sigmoid", "sigmoid"],
    weights=[[[0.15, 0.20], [0.25, 0.30]], [[0.40, 0.45], [0.50, 0.55]]],
    biases=[[0.35, 0.35], [0.60, 0.60]], update_biases=False,
    inputs=[[0.05, 0.10]], targets=[[0.01, 0.99]],
)
# Fisher's Iris (data/iris.csv, its source and licence in data/iris.md), read as a spec's [data]
# names a CSV file: 150 flowers in the file's order, 50 of each species, so each batch of 10 is
# of one species or two, and the cost of a step depends on which. Over the 15 batches of a pass
# the mean cost falls from about 0.65 to 0.1 in 10 passes, and the accuracy climbs from about 70%
# to 97%.
IRIS = Spec.from_dict({
    "title": "Fisher's Iris: a 4-4-3 softmax classifier in mini-batches", "steps": 150,
    "learning_rate": 0.3, "loss": "cross_entropy", "mode": "minibatch", "batch_size": 10,
    "network": {"layers": [4, 4, 3], "activations": ["tanh", "softmax"],
                "init": {"seed": 1, "biases": True}},
    "data": {"file": "iris.csv", "label": "species", "standardize": True,
             "inputs": ["sepal_length", "sepal_width", "petal_length", "petal_width"]},
}, folder=DATA)

PRESETS: dict[str, tuple[str, Spec]] = {
    "seed": ("one sigmoid neuron, i = 1.5, w = 0.8, y = 0.5, r = 0.1: the classic lesson", SEED),
    "seed-video": (
        "the seed lesson exactly as shown on screen, dC/dw without the factor dz/dw = i; the "
        "gradient check exposes it",
        SEED.with_overrides(title="One sigmoid neuron, as shown on screen (dz/dw left out)",
                            gradient="without_dz_dw")),
    "chain": (
        "input -> neuron -> neuron: the chain rule through two sigmoids",
        Spec(title="A chain of two sigmoid neurons", steps=300, learning_rate=0.5,
             loss="squared_error", layers=[1, 1, 1], activations=["sigmoid", "sigmoid"],
             weights=[[[0.8]], [[0.5]]], inputs=[[1.5]], targets=[[0.5]])),
    "mazur": (
        "Mazur's 2-2-2 sigmoid network with fixed biases (A Step by Step Backpropagation Example)",
        MAZUR),
    "xor": (
        "a 2-2-1 sigmoid network learning XOR from its 4 samples in batch mode",
        Spec(title="XOR: a 2-2-1 sigmoid network, batch mode", steps=600, learning_rate=4.0,
             loss="squared_error", mode="batch", layers=[2, 2, 1],
             activations=["sigmoid", "sigmoid"], init_seed=3, init_biases=True,
             inputs=[[0, 0], [0, 1], [1, 0], [1, 1]], targets=[[0], [1], [1], [0]])),
    # Two runs where an optimizer shows what plain gradient descent cannot (compare them to SGD
    # with `backprop-xl compare NAME --optimizers sgd,adam`, or sgd,momentum):
    # the seed neuron from w = -4, where the sigmoid is flat: SGD's steps are the gradient's size,
    # 0.0004, and w moves 0.12 in 300 steps; Adam's are about r whatever the gradient's size, and
    # it reaches the minimum by step 50, then settles.
    "seed-adam": (
        "the seed neuron started on the sigmoid's flat tail (w = -4), trained with Adam: it "
        "steps about r a step where plain SGD barely moves",
        SEED.with_overrides(title="One sigmoid neuron on a plateau, trained with Adam",
                            weights=[[[-4.0]]], optimizer=Optimizer("adam"))),
    # Mazur's network with momentum 0.9: the velocity builds up along the steady slope, and the
    # cost after 100 steps is 50 times lower than plain SGD's at the same rate.
    "mazur-momentum": (
        "Mazur's network trained with momentum 0.9: the velocity builds up along the slope and "
        "the cost falls far faster than with plain SGD",
        MAZUR.with_overrides(title="Mazur's network with momentum 0.9",
                             optimizer=Optimizer("momentum", momentum=0.9))),
    "iris": (
        "Fisher's Iris, 150 flowers of 3 species: a 4-4-3 network with a softmax output and "
        "cross-entropy, standardized inputs, mini-batches of 10; its accuracy climbs to about 97%",
        IRIS),
}


def preset(name: str) -> Spec:
    return PRESETS[name][1]
