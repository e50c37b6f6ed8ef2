"""How long BP_TRAIN takes, against the engine alone doing the same run in the same process.

    python benchmarks/udfs.py [--repeat N]

Prints one row per case: the median of N runs of the function as a cell calls it (Python side
only: xlwings' conversion of the result and Excel's COM round trip are not measured, as they need
Excel), the median of N runs of the engine alone (iterating engine.run over every step), its ratio,
and the same against the engine plus the trace records the table is made of (export.records, what
`backprop-xl trace` writes). A measurement, not a test: nothing here passes or fails.
"""

from __future__ import annotations

import argparse
import platform
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import numpy as np  # noqa: E402

from backprop_xl import engine, export, udfs  # noqa: E402
from backprop_xl.presets import preset  # noqa: E402

MAZUR_WEIGHTS = [[0.15, 0.20, 0.25, 0.30, 0.40, 0.45, 0.50, 0.55]]
MAZUR_BIASES = [[0.35, 0.35, 0.60, 0.60]]


def cases():
    """(label, the UDF call, the spec of the same run)"""
    seed = preset("seed").with_overrides(steps=10_000)
    mazur = preset("mazur").with_overrides(steps=1_000)

    def mazur_call(columns):
        return lambda: udfs.BP_TRAIN_NETWORK(
            np.array([[2.0, 2.0, 2.0]]), np.array(MAZUR_WEIGHTS), np.array(MAZUR_BIASES),
            np.array([[0.05, 0.10]]), np.array([[0.01, 0.99]]), 0.5, 1000.0, "sigmoid",
            "half_squared_error", "batch", False, columns)

    return [
        ("BP_TRAIN seed, 10,000 steps", lambda: udfs.BP_TRAIN(1.5, 0.8, 0.5, 0.1, 10_000.0), seed),
        ('BP_TRAIN seed, 10,000 steps, "all"',
         lambda: udfs.BP_TRAIN(1.5, 0.8, 0.5, 0.1, 10_000.0, "sigmoid", "squared_error", "all"),
         seed),
        ("BP_TRAIN_NETWORK mazur, 1,000 steps", mazur_call("trace"), mazur),
        ('BP_TRAIN_NETWORK mazur, 1,000 steps, "all"', mazur_call("all"), mazur),
    ]


def engine_alone(spec):
    for _ in engine.run(spec):
        pass


def engine_and_records(spec):
    for _ in export.records(spec):
        pass


def median_seconds(function, repeat):
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        result = function()
        times.append(time.perf_counter() - start)
    return statistics.median(times), result


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=7, help="runs per measurement (median)")
    repeat = parser.parse_args().repeat
    print(f"python {platform.python_version()}, numpy {np.__version__}, {platform.machine()}, "
          f"median of {repeat} runs")
    header = ("case", "rows x cols", "UDF", "engine.run", "ratio", "engine+records", "ratio")
    lines = []
    for label, call, spec in cases():
        udf, table = median_seconds(call, repeat)
        if isinstance(table, str):
            raise SystemExit(f"{label}: {table}")
        alone, _ = median_seconds(lambda: engine_alone(spec), repeat)
        records, _ = median_seconds(lambda: engine_and_records(spec), repeat)
        lines.append((label, f"{len(table)} x {len(table[0])}", f"{udf:.3f} s", f"{alone:.3f} s",
                      f"{udf / alone:.2f}", f"{records:.3f} s", f"{udf / records:.2f}"))
    widths = [max(len(row[i]) for row in (header, *lines)) for i in range(len(header))]
    for row in (header, tuple("-" * w for w in widths), *lines):
        print("  ".join(cell.ljust(width) for cell, width in zip(row, widths)).rstrip())


if __name__ == "__main__":
    main()
