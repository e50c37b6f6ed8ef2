"""The trace as text: one record per step (step, loss, every trained parameter, its gradient),
streamed as CSV or JSON Lines while the engine runs, so no run is ever held in memory whole.

Names follow names.py: a parameter's value is the one at the start of the step, and grad_<name> is
the gradient that step computes for it (averaged over the step's samples). Numbers are written in
their shortest form that reads back as the same float; JSON has no NaN or infinity and writes them
as null, CSV as nan, inf and -inf.
"""

from __future__ import annotations

from typing import BinaryIO, Iterator

import numpy as np
import orjson

from . import engine, progress
from .names import gradient_key
from .spec import Spec

FORMATS = ("csv", "json")
BLOCK_STEPS = 4096


def columns(spec: Spec, state: bool = False) -> list[str]:
    """The keys of every record, in order: step, loss, the parameters, then their gradients; with
    `state`, then the optimizer's state after the step (engine.state_keys; none for sgd)."""
    parameters = spec.parameter_names
    return ["step", "loss", *parameters, *[gradient_key(name) for name in parameters],
            *(engine.state_keys(spec) if state else [])]


def blocks(spec: Spec, state: bool = False) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """The trace block by block: step numbers, and a table of the other columns, one row per step."""
    run = engine.Run(spec)
    first = 1
    for block in run.blocks(BLOCK_STEPS):
        numbers, losses, parameters, gradients = run.summary(block, first)
        parts = [losses, parameters, gradients] + ([run.state(block)] if state else [])
        yield numbers, np.column_stack(parts)
        first += len(numbers)


def records(spec: Spec, state: bool = False) -> Iterator[dict]:
    """One record per step of the spec's run, as the engine computes them."""
    names = columns(spec, state)
    for numbers, table in blocks(spec, state):
        for number, row in zip(numbers.tolist(), table.tolist()):
            yield dict(zip(names, [number, *row]))


def _csv_lines(numbers: np.ndarray, table: np.ndarray) -> bytes:
    if np.isfinite(table).all():
        # orjson writes a float array in its shortest round-trip form, many times faster than
        # repr per number: "[[a,b],[c,d]]" becomes the lines "a,b" and "c,d".
        rows = orjson.dumps(np.ascontiguousarray(table),
                            option=orjson.OPT_SERIALIZE_NUMPY)[2:-2].split(b"],[")
    else:
        rows = [",".join(map(repr, row)).encode() for row in table.tolist()]
    steps = orjson.dumps(numbers, option=orjson.OPT_SERIALIZE_NUMPY)[1:-1].split(b",")
    return b"\n".join(map(b",".join, zip(steps, rows))) + b"\n"


def write(spec: Spec, stream: BinaryIO, format: str = "csv", progress_bar: bool = False,
          state: bool = False) -> int | None:
    """Write the trace of the spec's run, as UTF-8, to a binary stream, block by block as it is
    computed (with a progress bar on a terminal, if asked), with the optimizer's state if asked.
    Returns the first step whose numbers overflow to inf or NaN, None if none does."""
    if format not in FORMATS:
        raise ValueError(f"unknown format {format!r} (known: {', '.join(FORMATS)})")
    overflow: list[int] = []
    computed = progress.watched(_watch_overflow(blocks(spec, state), overflow),
                                -(-spec.steps // BLOCK_STEPS),
                                "trace", progress_bar)
    if format == "csv":
        stream.write(",".join(columns(spec, state)).encode() + b"\n")
        for numbers, table in computed:
            stream.write(_csv_lines(numbers, table))
    else:
        names = columns(spec, state)
        for numbers, table in computed:
            stream.write(b"".join(orjson.dumps(dict(zip(names, [number, *row]))) + b"\n"
                                  for number, row in zip(numbers.tolist(), table.tolist())))
    return overflow[0] if overflow else None


def _watch_overflow(computed, overflow: list[int]):
    """The blocks as they are, noting in `overflow` the first step with a number not finite."""
    for numbers, table in computed:
        if not overflow and not np.isfinite(table).all():
            overflow.append(int(numbers[np.flatnonzero(~np.isfinite(table).all(axis=1))[0]]))
        yield numbers, table
