"""Named specs that ship with backprop_xl, usable wherever a spec file is."""

from __future__ import annotations

from .spec import Spec

PRESETS: dict[str, tuple[str, Spec]] = {
    "seed": (
        "one sigmoid neuron, i = 1.5, w = 0.8, y = 0.5, r = 0.1: the classic backpropagation lesson",
        Spec(
            title="One sigmoid neuron",
            steps=300,
            learning_rate=0.1,
            loss="squared_error",
            layers=[1, 1],
            activation="sigmoid",
            weights=[[[0.8]]],
            inputs=[[1.5]],
            targets=[[0.5]],
        ),
    ),
}


def preset(name: str) -> Spec:
    return PRESETS[name][1]
