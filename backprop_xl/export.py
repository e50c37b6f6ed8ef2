"""The trace as text: one record per step (step, loss, every trained parameter, its gradient),
streamed as CSV or JSON Lines while the engine runs, so no run is ever held in memory whole.

Names follow DESIGN.md: a parameter's value is the one at the start of the step, and grad_<name> is
the gradient that step computes for it (averaged over the step's samples).
"""

from __future__ import annotations

import csv
import json
from typing import Iterator, TextIO

from . import engine
from .spec import Spec

FORMATS = ("csv", "json")


def columns(spec: Spec) -> list[str]:
    """The keys of every record, in order: step, loss, the parameters, then their gradients."""
    names = engine.parameter_names(spec)
    return ["step", "loss", *names, *["grad_" + name for name in names]]


def records(spec: Spec) -> Iterator[dict]:
    """One record per step of the spec's run, made as the engine yields each step."""
    for step in engine.run(spec):
        values, gradients = {}, {}
        for name, value, gradient, _ in step.parameters():
            values[name] = value
            gradients["grad_" + name] = gradient
        yield {"step": step.number, "loss": step.loss, **values, **gradients}


def write(spec: Spec, stream: TextIO, format: str = "csv") -> None:
    """Write the trace of the spec's run to a text stream, one line per step as it is computed."""
    if format == "csv":
        header = columns(spec)
        writer = csv.writer(stream, lineterminator="\n")
        writer.writerow(header)
        for record in records(spec):
            # Looked up by name, so a value can never land under another parameter's header;
            # repr is the shortest text that reads back as the same float.
            writer.writerow([repr(record[key]) for key in header])
    elif format == "json":
        for record in records(spec):
            stream.write(json.dumps(record) + "\n")
    else:
        raise ValueError(f"unknown format {format!r} (known: {', '.join(FORMATS)})")
