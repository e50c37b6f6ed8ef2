"""Small workbooks of every kind the tests recompute: presets, batch, stochastic and mini-batches,
with and without biases, each activation and each loss, gradient check on and off."""

from backprop_xl.functions import ACTIVATION_NAMES
from backprop_xl.presets import preset
from backprop_xl.spec import Spec

XOR_IN = [[0, 0], [0, 1], [1, 0], [1, 1]]
XOR_OUT = [[0], [1], [1], [0]]


def small(layers, activations, loss="squared_error", **options):
    return Spec(layers=layers, activations=activations, loss=loss, steps=options.pop("steps", 6),
                learning_rate=options.pop("learning_rate", 0.7), **options)


KINDS = {
    "seed": preset("seed").with_overrides(steps=50),
    "seed-video": preset("seed-video").with_overrides(steps=8),
    "chain": preset("chain").with_overrides(steps=8),
    "mazur": preset("mazur").with_overrides(steps=5),
    "xor-batch": preset("xor").with_overrides(steps=5),
    "stochastic-biases-tanh": small(
        [2, 2, 1], ["tanh", "sigmoid"], mode="stochastic", init_seed=4, init_biases=True,
        inputs=XOR_IN[:3], targets=XOR_OUT[:3], steps=7),
    "batch-no-biases-half": small([2, 3, 1], ["sigmoid", "linear"], "half_squared_error",
                                  init_seed=5, inputs=XOR_IN, targets=XOR_OUT),
    "cross-entropy": small([2, 2, 1], ["relu", "sigmoid"], "binary_cross_entropy", init_seed=6,
                           biases=[[0.1, -0.2], [0.05]], inputs=XOR_IN, targets=XOR_OUT),
    # 13 parameters, of which the first layer's 9 take two charts
    "biases-2-3-1": small([2, 3, 1], ["relu", "sigmoid"], init_seed=9, init_biases=True,
                          inputs=XOR_IN, targets=XOR_OUT),
    "no-gradient-check": small([3, 4, 2], ["softplus", "tanh"], init_seed=7, init_biases=True,
                               inputs=[[0.5, -1.0, 2.0]], targets=[[0.2, -0.3]]),
}
# A softmax output over 3 classes with cross-entropy, one-hot targets and a probability one
KINDS["softmax-cross-entropy"] = small(
    [3, 4, 3], ["tanh", "softmax"], "cross_entropy", mode="batch", init_seed=10, init_biases=True,
    inputs=[[0.5, -1.0, 2.0], [1.5, 0.2, -0.7], [-1.1, 0.9, 0.3]],
    targets=[[1, 0, 0], [0, 0, 1], [0.2, 0.5, 0.3]])
KINDS["softmax-stochastic"] = small(
    [2, 3, 3], ["relu", "softmax"], "cross_entropy", mode="stochastic", init_seed=11,
    init_biases=True, inputs=XOR_IN, targets=[[1, 0, 0], [0, 1, 0], [0, 1, 0], [0, 0, 1]], steps=9)
# Sums of ±800: e^800 overflows (EXP gives #NUM! past about 709), so the softmax must subtract
# the largest z; the true class's a underflows to 0 and cross-entropy's clip keeps ln finite.
KINDS["softmax-large"] = small(
    [1, 3], ["softmax"], "cross_entropy", weights=[[[800.0], [0.0], [-800.0]]], inputs=[[1.0]],
    targets=[[0, 0, 1]], steps=4)
# Mini-batches of 2: of 5 samples, an epoch's last batch has 1 and its second group counts in no
# mean; of 4, every batch is whole.
KINDS["minibatch-uneven"] = small(
    [2, 3, 3], ["sigmoid", "softmax"], "cross_entropy", mode="minibatch", batch_size=2,
    init_seed=12, init_biases=True, inputs=XOR_IN + [[0.5, 0.5]],
    targets=[[1, 0, 0], [0, 1, 0], [0, 1, 0], [0, 0, 1], [0.3, 0.3, 0.4]], steps=8)
KINDS["minibatch-even"] = small(
    [2, 2, 1], ["tanh", "sigmoid"], mode="minibatch", batch_size=2, init_seed=13,
    init_biases=True, inputs=XOR_IN, targets=XOR_OUT, steps=5)
for name in ACTIVATION_NAMES:
    # softmax only on the output layer
    KINDS[f"activation-{name}"] = small(
        [2, 2, 2], ["tanh" if name == "softmax" else name, name], init_seed=8, learning_rate=0.2, biases=[[0.3, -0.4], [0.1, 0.2]],
        leaky_slope=0.05, inputs=[[0.9, -1.3], [-0.4, 0.7]], targets=[[0.25, 0.75], [0.5, 0.1]])
