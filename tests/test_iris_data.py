"""backprop_xl/data/iris.csv, the Iris data shipped for the `iris` preset (notes:
backprop_xl/data/iris.md): checked against numbers from sources that do not share the file.

The oracle is UCI's iris.names (https://archive.ics.uci.edu/dataset/53/iris): its "Summary
Statistics" table (min, max, mean, SD of each measurement over all 150 samples), its class
distribution (50 each), and its note that UCI's iris.data differs from Fisher's paper in two
samples, with Fisher's values for them. The file ships Fisher's values, so the table, computed on
iris.data, is checked on the file with those two samples put back as iris.data has them; the file
as shipped is checked against the table's means moved by what the two corrections add.

The table gives 2 decimals, so a true value v printed as t has |v - t| <= 0.005 (half a unit in
the last place): that is the tolerance, no looser (a wrong value could pass) and no tighter (a
right value, correctly rounded, could fail). SD is the sample standard deviation (n - 1); on
iris.data the population SD rounds to the same 2 decimals, so the table cannot tell them apart."""

import csv
import statistics
from importlib import resources
from pathlib import Path

import pytest

from backprop_xl import datafile
from backprop_xl.spec import MAX_STEPS

COLUMNS = ["sepal_length", "sepal_width", "petal_length", "petal_width"]
SPECIES = ["setosa", "versicolor", "virginica"]
HALF_UNIT = 0.005 + 1e-9  # 2 decimals, and room for the float sums' last bits

# iris.names, "Summary Statistics": min, max, mean, SD over all 150 samples of iris.data, in cm
UCI_SUMMARY = {
    "sepal_length": (4.3, 7.9, 5.84, 0.83),
    "sepal_width": (2.0, 4.4, 3.05, 0.43),
    "petal_length": (1.0, 6.9, 3.76, 1.76),
    "petal_width": (0.1, 2.5, 1.20, 0.76),
}
# iris.names: "The 35th sample should be: 4.9,3.1,1.5,0.2 ... The 38th sample: 4.9,3.6,1.4,0.1";
# iris.data has 4.9,3.1,1.5,0.1 for both (the error in the 4th feature, and in the 2nd and 3rd)
FISHER = {35: [4.9, 3.1, 1.5, 0.2], 38: [4.9, 3.6, 1.4, 0.1]}
UCI_DATA = {35: [4.9, 3.1, 1.5, 0.1], 38: [4.9, 3.1, 1.5, 0.1]}


def iris_path():
    """The file where an installed backprop_xl has it, as a preset would find it."""
    return resources.files("backprop_xl") / "data" / "iris.csv"


def rows() -> list[dict[str, str]]:
    with iris_path().open(encoding="utf-8", newline="") as handle:
        return list(csv.DictReader(handle))


def measurements(table: list[dict[str, str]]) -> list[list[float]]:
    return [[float(row[name]) for name in COLUMNS] for row in table]


def summary(samples: list[list[float]], column: int) -> tuple[float, float, float, float]:
    values = [sample[column] for sample in samples]
    return min(values), max(values), statistics.fmean(values), statistics.stdev(values)


def test_header_and_classes_in_classic_order():
    with iris_path().open(encoding="utf-8", newline="") as handle:
        header = next(csv.reader(handle))
    assert header == [*COLUMNS, "species"]
    species = [row["species"] for row in rows()]
    assert species == ["setosa"] * 50 + ["versicolor"] * 50 + ["virginica"] * 50


def test_every_measurement_is_a_tenth_of_a_cm():
    for row in rows():
        for name in COLUMNS:
            text = row[name]
            assert len(text.split(".")[-1]) == 1 and 0 < float(text) < 10, (name, text)


def test_the_two_samples_are_fishers():
    samples = measurements(rows())
    for number, values in FISHER.items():
        assert samples[number - 1] == values, number


@pytest.mark.parametrize("name", COLUMNS)
def test_uci_summary_statistics_on_uci_values(name):
    """iris.names's table is of iris.data: with its two samples, the file reproduces all of it."""
    samples = measurements(rows())
    for number, values in UCI_DATA.items():
        samples[number - 1] = values
    got = summary(samples, COLUMNS.index(name))
    low, high, mean, sd = UCI_SUMMARY[name]
    assert got[:2] == (low, high)
    assert got[2] == pytest.approx(mean, abs=HALF_UNIT)
    assert got[3] == pytest.approx(sd, abs=HALF_UNIT)


@pytest.mark.parametrize("name", COLUMNS)
def test_uci_summary_statistics_on_the_file_as_shipped(name):
    """Fisher's two samples touch no minimum or maximum, and move each mean by what they add over
    150 samples (sepal width: +0.5 cm, so 3.054 -> 3.057, which would round to 3.06, not the
    table's 3.05). The sample SD of sepal width moves from 0.434 to 0.436 (0.44 to 2 decimals):
    no shift of the table's rounded SD predicts that, so SDs are checked above, on iris.data's
    values, and here only bounded by the table's to within its rounding plus 0.005."""
    column = COLUMNS.index(name)
    shift = sum(FISHER[n][column] - UCI_DATA[n][column] for n in FISHER) / 150
    low, high, mean, sd = UCI_SUMMARY[name]
    got = summary(measurements(rows()), column)
    assert got[:2] == (low, high)
    assert got[2] == pytest.approx(mean + shift, abs=HALF_UNIT)
    assert got[3] == pytest.approx(sd, abs=2 * HALF_UNIT)


def test_read_as_a_spec_would():
    """`[data] file = "iris.csv"`, the four measurements as inputs, `label = "species"`: 150
    samples, 4 inputs, 3 one-hot targets in sorted label order."""
    with resources.as_file(iris_path()) as path:
        data = datafile.read(Path(path), COLUMNS, label="species", max_samples=MAX_STEPS)
    assert data.labels == sorted(SPECIES) == SPECIES
    assert len(data.inputs) == len(data.targets) == 150
    assert all(len(sample) == 4 for sample in data.inputs)
    assert data.inputs[34] == FISHER[35] and data.inputs[37] == FISHER[38]
    for k, one_hot in enumerate([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]]):
        assert data.targets[50 * k:50 * (k + 1)] == [one_hot] * 50
    for k in range(3):
        assert sum(target[k] for target in data.targets) == 50
