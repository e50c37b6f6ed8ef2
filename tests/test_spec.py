"""Spec TOML in and out, and validation that names the bad key."""

import pytest

from backprop_xl.errors import SpecError
from backprop_xl.presets import PRESETS
from backprop_xl.spec import MAX_STEPS, Spec

ISSUE_EXAMPLE = """
title = "One sigmoid neuron"
steps = 300
learning_rate = 0.1
loss = "squared_error"      # C = (a - y)^2
[network]
layers = [1, 1]             # widths: inputs, then each layer
activation = "sigmoid"
weights = [[[0.8]]]         # per layer: one row per neuron, one entry per input
[data]
inputs = [[1.5]]            # one row per sample
targets = [[0.5]]
"""


def test_the_documented_example_is_the_seed_preset():
    assert Spec.from_toml(ISSUE_EXAMPLE) == PRESETS["seed"][1]


@pytest.mark.parametrize("name", PRESETS)
def test_toml_round_trip(name):
    spec = PRESETS[name][1]
    assert Spec.from_toml(spec.to_toml()) == spec


def test_optional_keys_take_defaults():
    spec = Spec.from_toml("[network]\nlayers=[1,1]\nweights=[[[1]]]\n[data]\ninputs=[[1]]\ntargets=[[0]]")
    assert (spec.steps, spec.learning_rate, spec.loss, spec.activations, spec.mode) == (
        300, 0.1, "squared_error", ["sigmoid"], "batch")


def edit(old, new):
    assert old in ISSUE_EXAMPLE
    return ISSUE_EXAMPLE.replace(old, new)


BAD = [
    ("unknown top key", edit("steps = 300", "steps = 300\nstep_size = 3"), "step_size"),
    ("unknown network key", edit('activation = "sigmoid"', 'activation = "sigmoid"\nbias = 1'),
     "network.bias"),
    ("unknown data key", edit("targets = [[0.5]]", "targets = [[0.5]]\nlabels = [[1]]"), "data.labels"),
    ("steps zero", edit("steps = 300", "steps = 0"), "steps"),
    ("steps negative", edit("steps = 300", "steps = -5"), "steps"),
    ("steps too many", edit("steps = 300", f"steps = {MAX_STEPS + 1}"), "steps"),
    ("steps not whole", edit("steps = 300", "steps = 2.5"), "steps"),
    ("steps text", edit("steps = 300", 'steps = "many"'), "steps"),
    ("steps boolean", edit("steps = 300", "steps = true"), "steps"),
    ("rate zero", edit("learning_rate = 0.1", "learning_rate = 0.0"), "learning_rate"),
    ("rate negative", edit("learning_rate = 0.1", "learning_rate = -0.1"), "learning_rate"),
    ("rate nan", edit("learning_rate = 0.1", "learning_rate = nan"), "learning_rate"),
    ("rate inf", edit("learning_rate = 0.1", "learning_rate = inf"), "learning_rate"),
    ("weight nan", edit("weights = [[[0.8]]]", "weights = [[[nan]]]"), "network.weights[0]"),
    ("input inf", edit("inputs = [[1.5]]", "inputs = [[-inf]]"), "data.inputs"),
    ("target text", edit("targets = [[0.5]]", 'targets = [["half"]]'), "data.targets"),
    ("unknown activation", edit('"sigmoid"', '"sigmod"'), "network.activation"),
    ("unknown loss", edit('"squared_error"', '"squared_eror"'), "loss"),
    ("title not text", edit('title = "One sigmoid neuron"', "title = 3"), "title"),
    ("weights wrong shape", edit("weights = [[[0.8]]]", "weights = [[[0.8, 0.1]]]"),
     "network.weights[0]"),
    ("weights missing layer", edit("weights = [[[0.8]]]", "weights = []"), "network.weights"),
    ("weights not nested", edit("weights = [[[0.8]]]", "weights = [0.8]"), "network.weights[0]"),
    ("layers too short", edit("layers = [1, 1]", "layers = [1]"), "network.layers"),
    ("layers zero width", edit("layers = [1, 1]", "layers = [1, 0]"), "network.layers"),
    ("inputs wrong width", edit("inputs = [[1.5]]", "inputs = [[1.5, 2]]"), "data.inputs"),
    ("targets wrong width", edit("targets = [[0.5]]", "targets = [[0.5, 1]]"), "data.targets"),
    ("targets for another count of samples", edit("targets = [[0.5]]", "targets = [[0.5], [1]]"),
     "data.targets"),
    ("network missing", ISSUE_EXAMPLE.split("[network]")[0], "network"),
    ("data not a table", "data = 3\n" + ISSUE_EXAMPLE.split("[data]")[0], "data"),
    ("malformed TOML", edit("steps = 300", "steps = [300"), "TOML"),
]


CLASSIFIER = """
title = "three classes"
loss = "cross_entropy"
mode = "minibatch"
batch_size = 2
[network]
layers = [2, 3]
activation = "softmax"
init = { seed = 1 }
[data]
inputs = [[0, 1], [1, 0], [1, 1]]
targets = [[1, 0, 0], [0, 1, 0], [0, 0, 1]]
"""


def classifier(old, new):
    assert old in CLASSIFIER
    return CLASSIFIER.replace(old, new)


BAD += [
    ("softmax on a hidden layer", classifier('layers = [2, 3]\nactivation = "softmax"',
                                             'layers = [2, 3, 3]\nactivation = "softmax"'),
     "network.activations"),
    ("softmax over one output", classifier("layers = [2, 3]", "layers = [2, 1]").replace(
        "[[1, 0, 0], [0, 1, 0], [0, 0, 1]]", "[[1], [1], [1]]"), "network.activations"),
    ("cross_entropy without softmax", classifier('activation = "softmax"',
                                                 'activation = "sigmoid"'), "network.activations"),
    ("cross_entropy targets not summing to 1", classifier("[0, 0, 1]]", "[0, 0.5, 0.4]]"),
     "data.targets"),
    ("cross_entropy negative target", classifier("[0, 0, 1]]", "[-0.5, 0.5, 1]]"),
     "data.targets"),
    ("minibatch without batch_size", classifier("batch_size = 2\n", ""), "batch_size"),
    ("batch_size zero", classifier("batch_size = 2", "batch_size = 0"), "batch_size"),
    ("batch_size over the samples", classifier("batch_size = 2", "batch_size = 4"), "batch_size"),
    ("batch_size not whole", classifier("batch_size = 2", "batch_size = 1.5"), "batch_size"),
    ("batch_size in batch mode", classifier('mode = "minibatch"', 'mode = "batch"'),
     "batch_size"),
]


def test_the_classifier_example_loads():
    spec = Spec.from_toml(CLASSIFIER)
    assert (spec.step_samples, spec.cycles_batches, spec.uneven_batches) == (2, True, True)


@pytest.mark.parametrize("text, key", [case[1:] for case in BAD], ids=[case[0] for case in BAD])
def test_bad_spec_names_the_key(text, key):
    with pytest.raises(SpecError) as caught:
        Spec.from_toml(text, source="run.toml")
    assert caught.value.key == key
    message = str(caught.value)
    assert message.startswith(f"run.toml: {key}: ")
    assert "\n" not in message


def test_overrides_are_validated(seed):
    assert seed.with_overrides(steps=7, learning_rate=None).steps == 7
    with pytest.raises(SpecError, match="learning_rate"):
        seed.with_overrides(learning_rate=0)


EVERY_KEY = [  # between them, every key a spec can hold, each away from its default
    Spec(title="every key, weights", steps=7, learning_rate=0.3, loss="half_squared_error",
         mode="stochastic", gradient="without_dz_dw", gradient_check=True, fd_step=1e-4,
         layers=[2, 2, 1], activations=["leaky_relu", "tanh"], leaky_slope=0.05,
         weights=[[[0.1, -0.2], [0.3, 0.4]], [[0.5, -0.6]]], biases=[[0.1, 0.2], [0.3]],
         update_biases=False, inputs=[[1, 2], [3, 4]], targets=[[0.5], [0.25]]),
    Spec(title="every key, drawn", loss="binary_cross_entropy", gradient_check=False,
         layers=[2, 3, 1], activations=["relu", "sigmoid"], init_seed=5, init_biases=True,
         inputs=[[1, 0]], targets=[[1]]),
    Spec(title="a classifier in mini-batches", loss="cross_entropy", mode="minibatch",
         batch_size=2, layers=[2, 3, 2], activations=["tanh", "softmax"], init_seed=6,
         inputs=[[1, 0], [0, 1], [1, 1]], targets=[[1, 0], [0, 1], [0.25, 0.75]]),
]


@pytest.mark.parametrize("spec", EVERY_KEY, ids=["weights", "drawn", "minibatch"])
def test_the_commented_toml_of_every_key_loads_back(spec):
    text = spec.to_toml()
    assert Spec.from_toml(text) == spec
    # ASCII, so that `backprop-xl spec > mine.toml` works in a console of any code page
    assert text.isascii()


def test_many_samples_are_written_one_per_line():
    """A CSV's 150 samples would be one line of thousands of characters; a short list stays on
    its key's line, as README writes it."""
    iris = PRESETS["iris"][1]
    lines = iris.to_toml().splitlines()
    first = lines.index("inputs = [")
    assert lines[first + 1:first + 1 + len(iris.inputs)] == [
        f"    [{', '.join(map(str, sample))}]," for sample in iris.inputs]
    assert max(len(line) for line in lines[first:]) <= 100
    assert "inputs = [[1.5]]            # one row per sample" in PRESETS["seed"][1].to_toml()
