"""A spec's [data] from a CSV file (issue 17, part 4): the numbers it loads are the ones the test
wrote, a label column becomes one-hot targets in sorted label order, the workbook of such a spec
verifies and regenerates without the CSV, and every kind of bad CSV is refused with one line
naming the file (and the line and column where they apply), writing nothing."""

from pathlib import Path

import openpyxl
import pytest

from backprop_xl.cli import main
from backprop_xl.errors import SpecError
from backprop_xl.layout import SPEC_SHEET
from backprop_xl.spec import MAX_STEPS, Spec
from helpers import assert_refused

# The test's own numbers: the oracle the loaded spec must equal, exactly.
X1 = [0.5, -1.25, 3.0, 1e-3, -0.0625]
X2 = [2.0, 0.75, -4.5, 12.0, 0.1]
Y = [0.25, 0.9, 0.125, 0.5, 0.0]
SPECIES = ["versicolor", "setosa", "virginica", "setosa", "versicolor"]
# sorted: setosa, versicolor, virginica; each sample's row of the one-hot targets
ONE_HOT = [[0.0, 1.0, 0.0], [1.0, 0.0, 0.0], [0.0, 0.0, 1.0], [1.0, 0.0, 0.0], [0.0, 1.0, 0.0]]


def csv_text(columns: dict[str, list]) -> str:
    header = ",".join(columns)
    rows = [",".join(repr(value) if isinstance(value, float) else str(value) for value in row)
            for row in zip(*columns.values())]
    return "\n".join([header, *rows]) + "\n"


GOOD_CSV = csv_text({"species": SPECIES, "x2": X2, "note": ["a"] * 5, "y": Y, "x1": X1})


def spec_text(data: str, outputs: int = 1, loss: str = "squared_error") -> str:
    return (f'title = "from a CSV file"\nsteps = 4\nlearning_rate = 0.5\nloss = "{loss}"\n'
            f"[network]\nlayers = [2, 3, {outputs}]\nactivation = \"sigmoid\"\n"
            f"init = {{ seed = 3, biases = true }}\n[data]\n{data}\n")


NUMERIC = 'file = "data.csv"\ninputs = ["x1", "x2"]\ntargets = ["y"]'
LABELLED = 'file = "data.csv"\ninputs = ["x1", "x2"]\nlabel = "species"'


def write(folder: Path, data: str = NUMERIC, csv: str | bytes | None = GOOD_CSV, outputs=1,
          csv_name="data.csv") -> Path:
    spec_path = folder / "run.toml"
    spec_path.write_text(spec_text(data, outputs), encoding="utf-8")
    if isinstance(csv, str):
        (folder / csv_name).write_text(csv, encoding="utf-8", newline="")
    elif csv is not None:
        (folder / csv_name).write_bytes(csv)
    return spec_path


def load(spec_path: Path) -> Spec:
    return Spec.from_toml(spec_path.read_text(encoding="utf-8"), source=str(spec_path))


def test_numeric_columns_load_to_the_numbers_written(tmp_path):
    spec = load(write(tmp_path))
    assert spec.inputs == [[a, b] for a, b in zip(X1, X2)]
    assert spec.targets == [[y] for y in Y]
    assert spec.labels is None


def test_a_label_column_gives_one_hot_targets_in_sorted_label_order(tmp_path):
    spec = load(write(tmp_path, LABELLED, outputs=3))
    assert spec.labels == ["setosa", "versicolor", "virginica"]
    assert spec.targets == ONE_HOT
    assert spec.inputs == [[a, b] for a, b in zip(X1, X2)]


def test_the_path_is_relative_to_the_spec_file_not_the_current_folder(tmp_path, monkeypatch):
    (tmp_path / "specs" / "data").mkdir(parents=True)
    spec_path = tmp_path / "specs" / "run.toml"
    spec_path.write_text(spec_text(NUMERIC.replace("data.csv", "data/data.csv")), encoding="utf-8")
    (tmp_path / "specs" / "data" / "data.csv").write_text(GOOD_CSV, encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    assert load(spec_path).inputs == [[a, b] for a, b in zip(X1, X2)]
    # relative to the current folder when the source is no file
    with pytest.raises(SpecError, match="no such file"):
        Spec.from_toml(spec_path.read_text(encoding="utf-8"), source="<stdin>")
    monkeypatch.chdir(tmp_path / "specs")
    assert Spec.from_toml(spec_path.read_text(encoding="utf-8")).targets == [[y] for y in Y]


def test_blank_lines_a_byte_order_mark_and_spaces_are_read_as_a_spreadsheet_writes_them(tmp_path):
    text = "\ufeffx1, x2 ,y\r\n\r\n 1.5 ,2,3\r\n-4e-1,+5,.5\r\n\r\n"
    spec = load(write(tmp_path, csv=text))
    assert (spec.inputs, spec.targets) == ([[1.5, 2.0], [-0.4, 5.0]], [[3.0], [0.5]])


def test_the_toml_holds_the_data_inline_and_round_trips(tmp_path):
    spec = load(write(tmp_path, LABELLED, outputs=3))
    text = spec.to_toml()
    assert "file =" not in text and "x1" not in text
    assert 'labels = ["setosa", "versicolor", "virginica"]' in text
    # the label column's name stays, as the Data sheet's header for the labels
    assert 'label = "species"' in text and spec.label == "species"
    (tmp_path / "data.csv").unlink()
    assert Spec.from_toml(text) == spec
    numeric = load(write(tmp_path))
    assert "labels" not in numeric.to_toml()
    assert Spec.from_toml(numeric.to_toml()) == numeric


@pytest.mark.parametrize("data, outputs", [(NUMERIC, 1), (LABELLED, 3)], ids=["targets", "label"])
def test_the_workbook_verifies_and_regenerates_without_the_csv(tmp_path, capsys, data, outputs):
    spec_path = write(tmp_path, data, outputs=outputs)
    out = tmp_path / "out.xlsx"
    assert main(["generate", str(spec_path), "-o", str(out)]) == 0
    assert main(["verify", str(out)]) == 0
    (tmp_path / "data.csv").unlink()
    assert main(["regenerate", str(out), "--steps", "6"]) == 0
    assert main(["verify", str(out)]) == 0
    capsys.readouterr()


# name: ([data] lines, the CSV (text, bytes, or None for no file), output width, words of the line)
BAD = {
    "missing file": (NUMERIC, None, 1, "data.csv: no such file"),
    "a folder": (NUMERIC, "folder", 1, "data.csv: is a folder"),
    "not text": (NUMERIC, b"\x89PNG\r\n\x1a\n\x00\x00\xff\xfe", 1, "data.csv: not UTF-8 text"),
    "a NUL character": (NUMERIC, b"x1,x2,y\n1,\x002,3\n", 1, "data.csv: line 2: holds a NUL"),
    "UTF-16 without a byte order mark": (NUMERIC, "x1,x2,y\n1,2,3\n".encode("utf-16-le"), 1,
                                         "data.csv: line 1: holds a NUL"),
    "empty": (NUMERIC, "", 1, "data.csv: is empty"),
    "blank lines only": (NUMERIC, "\n\n  \n", 1, "data.csv: is empty"),
    "a header without rows": (NUMERIC, "x1,x2,y\n", 1, "data.csv: has a header but no rows"),
    "a missing input column": (NUMERIC, "x1,y\n1,2\n", 1,
                               "data.csv: has no column named 'x2' (columns: 'x1', 'y')"),
    "a missing target column": (NUMERIC, "x1,x2,z\n1,2,3\n", 1,
                                "data.csv: has no column named 'y' (columns: 'x1', 'x2', 'z')"),
    "a missing label column": (LABELLED, "x1,x2,y\n1,2,3\n", 3, "data.csv: has no column named "
                               "'species' (columns: 'x1', 'x2', 'y')"),
    "many columns": (NUMERIC, ",".join(f"c{k}" for k in range(100)) + "\n" + "1," * 99 + "1\n", 1,
                     "has no column named 'x1' (columns: 'c0', 'c1', 'c2', 'c3', 'c4', 'c5', "
                     "'c6', 'c7', 'c8', 'c9', 'c10', 'c11', 'c12', 'c13', 'c14', 'c15', 'c16', "
                     "'c17', 'c18', 'c19' and 80 more)"),
    "a column named twice": (NUMERIC, "x1,x2,y,x1\n1,2,3,4\n", 1,
                             "data.csv: has 2 columns named 'x1'"),
    "a word in an input": (NUMERIC, "x1,x2,y\n1,2,3\n4,abc,6\n", 1,
                           "data.csv: line 3, column 'x2': 'abc' is not a number"),
    "a word in a target": (NUMERIC, "x1,x2,y\n1,2,3\n\n4,5,six\n", 1,
                           "data.csv: line 4, column 'y': 'six' is not a number"),
    "an empty field": (NUMERIC, "x1,x2,y\n1,,3\n", 1, "data.csv: line 2, column 'x2': is empty"),
    "nan": (NUMERIC, "x1,x2,y\n1,2,nan\n", 1,
            "data.csv: line 2, column 'y': 'nan' is not a finite number"),
    "inf": (NUMERIC, "x1,x2,y\n-inf,2,3\n", 1,
            "data.csv: line 2, column 'x1': '-inf' is not a finite number"),
    "a number too large": (NUMERIC, "x1,x2,y\n1,2,3\n1e999,2,3\n", 1,
                           "data.csv: line 3, column 'x1': '1e999' is too large"),
    "a ragged row, short": (NUMERIC, "x1,x2,y\n1,2,3\n4,5\n", 1,
                            "data.csv: line 3 has 2 field(s), the header 3"),
    "a ragged row, long": (NUMERIC, "x1,x2,y\n1,2,3,4\n", 1,
                           "data.csv: line 2 has 4 field(s), the header 3"),
    "too many rows for a sheet": (NUMERIC, "x1,x2,y\n" + "1,2,0.5\n" * (MAX_STEPS + 1), 1,
                                  f"data.csv: line {MAX_STEPS + 2}: more than 1,048,575 samples"),
    "one label": (LABELLED, "x1,x2,species\n1,2,setosa\n3,4,setosa\n", 1,
                  "data.csv: column 'species' holds 1 distinct label(s) ('setosa'); a "
                  "classifier needs at least 2"),
    "an empty label": (LABELLED, "x1,x2,species\n1,2,setosa\n3,4,\n", 3,
                       "data.csv: line 3, column 'species': is empty"),
    "more labels than outputs": (LABELLED, GOOD_CSV, 2, "data.csv: column 'species' holds 3 "
                                 "labels ('setosa', 'versicolor', 'virginica'), one output each"),
    "label and targets": (LABELLED + '\ntargets = ["y"]', GOOD_CSV, 3,
                          "data.label: give targets (numeric columns) or label"),
    "neither label nor targets": ('file = "data.csv"\ninputs = ["x1", "x2"]', GOOD_CSV, 1,
                                  "data.targets: is missing"),
    "file and inline inputs": ('file = "data.csv"\ninputs = [[1.0, 2.0]]\ntargets = ["y"]',
                               GOOD_CSV, 1, "data.inputs: with file, name the CSV file's columns"),
    "file and inline targets": ('file = "data.csv"\ninputs = ["x1", "x2"]\ntargets = [[0.5]]',
                                GOOD_CSV, 1, "data.targets: with file, name the CSV file's columns"),
    "file and labels": (LABELLED + '\nlabels = ["a", "b", "c"]', GOOD_CSV, 3,
                        "data.labels: come from the label column"),
    "label without file": ('inputs = [[1.0, 2.0]]\nlabel = "species"', None, 3,
                           "data.label: names a column of a CSV file"),
    "a column too many for the inputs": ('file = "data.csv"\ninputs = ["x1", "x2", "y"]\n'
                                         'targets = ["y"]', GOOD_CSV, 1,
                                         "data.inputs: names 3 column(s); layers = [2, 3, 1] takes "
                                         "2 input(s)"),
}


@pytest.mark.parametrize("data, csv, outputs, words", BAD.values(), ids=BAD.keys())
def test_a_bad_csv_is_refused_in_one_line_writing_nothing(tmp_path, capsys, data, csv, outputs,
                                                          words):
    if csv == "folder":
        (tmp_path / "data.csv").mkdir()
        csv = None
    spec_path = write(tmp_path, data, csv, outputs)
    assert_refused(tmp_path, capsys, ["generate", str(spec_path), "-o", str(tmp_path / "out.xlsx")],
                   words)
    if len(csv or "") < 2**20:  # the big file once is enough: reading it takes seconds
        assert_refused(tmp_path, capsys, ["spec", str(spec_path)], words)


def test_a_workbook_whose_embedded_spec_names_a_file_is_refused_not_read(tmp_path, capsys):
    # A workbook's spec holds its data inline (to_toml writes it so): one edited to name a file
    # (any file on the machine) must not make regenerate or verify read it.
    book = tmp_path / "seed.xlsx"
    assert main(["generate", "seed", "-o", str(book)]) == 0
    capsys.readouterr()
    workbook = openpyxl.load_workbook(book)
    sheet = workbook[SPEC_SHEET]
    for row in sheet.iter_rows():
        if isinstance(row[0].value, str) and row[0].value.startswith("inputs = "):
            row[0].value = f'file = "{tmp_path / "secret.csv"}"'
    workbook.save(book)
    (tmp_path / "secret.csv").write_text("x,y\nsecret,1\n")
    for command in (["verify", str(book)], ["regenerate", str(book), "--force"]):
        assert_refused(tmp_path, capsys, command, "data.file: a workbook's spec holds its data "
                                                  "inline")
