"""A spec's data read from a CSV file: `[data] file = "iris.csv"` with `inputs` (column names) and
either `targets` (numeric columns) or `label` (a class column, one-hot in sorted label order).

This module owns reading that file with the standard library's csv module (UTF-8, a header row of
column names, then one row per sample in file order; blank lines are skipped) and refusing a bad
one with one line that names the file and, where it applies, the line of the file (1-based) and
the column. What it returns are plain numbers, as if the spec had written them inline; spec.py
checks them against the network like any other data.

It also owns standardizing the inputs (`[data] standardize = true`, inline data or a file's):
each input column shifted by its mean and scaled by its population standard deviation (ddof 0, as
scikit-learn's StandardScaler and Excel's STDEVP), computed in the order the Data sheet's formulas
compute them: mean = sum / n, sd = sqrt(sum((x - mean)^2) / n), then (x - mean) / sd. A column
whose standard deviation is 0 (or overflows) is refused, naming it."""

from __future__ import annotations

import csv
import math
import re
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

from .errors import SpecError

# A number as a CSV written by a spreadsheet or a program holds it: no underscores, no "nan" or
# "inf" (float() would take them all).
NUMBER = re.compile(r"[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?")
MIN_LABELS = 2


@dataclass(frozen=True)
class Data:
    """The samples of a CSV file: inputs and targets, one row per sample in file order, and the
    class labels in sorted order when the targets are one-hot from a label column."""

    inputs: list[list[float]]
    targets: list[list[float]]
    labels: list[str] | None = None


class Statistics(NamedTuple):
    """An input column's mean and population standard deviation (ddof 0)."""

    mean: float
    sd: float


def statistics(inputs: list[list[float]]) -> list[Statistics]:
    """Each input column's mean and population standard deviation, as AVERAGE and STDEVP compute
    them: mean = sum / n, sd = sqrt(sum((x - mean)^2) / n). The sums are math.fsum's, correctly
    rounded, so they do not depend on the order of the samples or on Python's version; a sum that
    overflows is inf."""
    n = len(inputs)
    found = []
    for column in zip(*inputs):
        mean = _sum(column) / n
        sd = math.sqrt(_sum((x - mean) * (x - mean) for x in column) / n)
        found.append(Statistics(mean, sd))
    return found


def standardized(inputs: list[list[float]], found: list[Statistics]) -> list[list[float]]:
    """Each input shifted by its column's mean and scaled by its standard deviation:
    (x - mean) / sd, as the Data sheet's formulas compute it."""
    return [[(x - column.mean) / column.sd for x, column in zip(row, found)] for row in inputs]


def check_standardizable(inputs: list[list[float]], found: list[Statistics],
                         columns: list[str]) -> None:
    """Refuse (data.standardize) the first input column that cannot be standardized: its
    standard deviation is 0 (it divides) or not finite. `columns` names each in the message: a
    file's column, or an inline input."""
    for index, (column, name) in enumerate(zip(found, columns)):
        if 0 < column.sd < math.inf and math.isfinite(column.mean):
            continue
        values = {row[index] for row in inputs}
        if not (math.isfinite(column.mean) and math.isfinite(column.sd)):
            why = "holds numbers too large to standardize (their sum of squares overflows)"
        elif len(inputs) == 1:
            why = ("holds one sample: its standard deviation is 0, and standardizing divides by "
                   "it (standardizing needs several samples)")
        elif len(values) == 1:
            why = (f"holds {inputs[0][index]!r} in every sample: its standard deviation is 0, "
                   f"and standardizing divides by it")
        else:
            why = ("differs too little between samples: its standard deviation computes as 0, "
                   "and standardizing divides by it")
        raise SpecError("data.standardize", f"{name} {why}")


def _sum(values) -> float:
    try:
        return math.fsum(values)
    except (OverflowError, ValueError):  # past the largest float; inf - inf
        return math.inf


def read(path: Path, inputs: list[str], targets: list[str] | None = None,
         label: str | None = None, max_samples: int | None = None) -> Data:
    """The samples of the CSV file at `path`: the columns named by `inputs`, and either the
    columns named by `targets` or the class column `label` as one-hot targets (one column per
    distinct label, in sorted order). Refuses a bad file with a SpecError naming the file, the
    line and the column; at most `max_samples` rows."""
    if (targets is None) == (label is None):
        raise ValueError("give targets or label")  # spec.py checks this before; a programming error
    where = str(path)
    if path.is_dir():
        raise SpecError("data.file", f"{where}: is a folder, not a CSV file")
    if not path.exists():
        raise SpecError("data.file", f"{where}: no such file")
    try:
        with open(path, encoding="utf-8-sig", newline="") as handle:
            return _read(handle, where, inputs, targets, label, max_samples)
    except UnicodeDecodeError:
        raise SpecError("data.file", f"{where}: not UTF-8 text (a CSV file must be)") from None
    except OSError as error:
        raise SpecError("data.file", f"{where}: cannot read it ({error.strerror or error})") from None


def _read(handle, where: str, inputs: list[str], targets: list[str] | None, label: str | None,
          max_samples: int | None) -> Data:
    reader = csv.reader(handle)
    header, line = _next_row(reader, where)
    if header is None:
        raise SpecError("data.file", f"{where}: is empty (it needs a header row of column names, "
                        f"then one row per sample)")
    if any("\x00" in name for name in header):
        _refuse_nul(where, line)
    header = [name.strip() for name in header]
    index = {}
    for key, names in (("data.inputs", inputs), ("data.targets", targets or []),
                       ("data.label", [label] if label is not None else [])):
        for name in names:
            count = header.count(name)
            if count != 1:
                problem = "no column" if count == 0 else f"{count} columns"
                raise SpecError(key, f"{where}: has {problem} named {name!r} (columns: "
                                f"{_listed(header)})")
            index[name] = header.index(name)
    input_columns = [(index[name], name) for name in inputs]
    target_columns = [(index[name], name) for name in targets or []]
    input_rows, target_rows, classes = [], [], []
    while True:
        row, line = _next_row(reader, where)
        if row is None:
            break
        if len(row) != len(header):
            raise SpecError("data.file", f"{where}: line {line} has {len(row)} field(s), the "
                            f"header {len(header)}")
        if max_samples is not None and len(input_rows) == max_samples:
            raise SpecError("data.file", f"{where}: line {line}: more than {max_samples:,} samples, "
                            f"more than a sheet's rows hold")
        input_rows.append([_number(row, column, name, line, where)
                           for column, name in input_columns])
        if targets is not None:
            target_rows.append([_number(row, column, name, line, where)
                                for column, name in target_columns])
        else:
            text = row[index[label]].strip()
            if "\x00" in text:
                _refuse_nul(where, line)
            if not text:
                raise SpecError("data.label", f"{where}: line {line}, column {label!r}: is empty; "
                                f"every sample needs a label")
            classes.append(text)
    if not input_rows:
        raise SpecError("data.file", f"{where}: has a header but no rows of samples")
    if targets is not None:
        return Data(input_rows, target_rows)
    labels = sorted(set(classes))
    if len(labels) < MIN_LABELS:
        raise SpecError("data.label", f"{where}: column {label!r} holds {len(labels)} distinct "
                        f"label(s) ({', '.join(map(repr, labels))}); a classifier needs at least "
                        f"{MIN_LABELS}")
    position = {name: number for number, name in enumerate(labels)}
    one_hot = [[1.0 if position[name] == k else 0.0 for k in range(len(labels))] for name in classes]
    return Data(input_rows, one_hot, labels)


def _next_row(reader, where: str) -> tuple[list[str] | None, int]:
    """The next row that is not a blank line, and the line of the file it starts on; None at the
    end of the file."""
    while True:
        line = reader.line_num + 1
        try:
            row = next(reader)
        except StopIteration:
            return None, line
        except csv.Error as error:
            raise SpecError("data.file", f"{where}: line {reader.line_num or line}: not readable as "
                            f"CSV ({error})") from None
        if row and (len(row) > 1 or row[0].strip()):
            return row, line


def _number(row: list[str], column: int, name: str, line: int, where: str) -> float:
    text = row[column].strip()
    if NUMBER.fullmatch(text):
        value = float(text)
        if math.isfinite(value):
            return value
    if "\x00" in text:
        _refuse_nul(where, line)
    key = f"{where}: line {line}, column {name!r}"
    if NUMBER.fullmatch(text):
        raise SpecError("data.file", f"{key}: {text!r} is too large for a number")
    if not text:
        raise SpecError("data.file", f"{key}: is empty; every input and target needs a number")
    try:
        finite = math.isfinite(float(text))
    except ValueError:
        finite = True
    raise SpecError("data.file", f"{key}: {text!r} is not {'a' if finite else 'a finite'} number")


def _refuse_nul(where: str, line: int):
    raise SpecError("data.file", f"{where}: line {line}: holds a NUL character; not a text file "
                    f"(CSV in UTF-8)")


def _listed(header: list[str], limit: int = 20) -> str:
    """The column names for a message: the first `limit` of them, and how many more."""
    names = [repr(name) if len(name) <= 40 else repr(name[:37]) + "..." for name in header[:limit]]
    more = f" and {len(header) - limit:,} more" if len(header) > limit else ""
    return ", ".join(names) + more
