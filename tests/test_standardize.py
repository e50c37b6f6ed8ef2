"""Standardized inputs (`[data] standardize = true`) and the labels of a label column on the Data
sheet (issue 17, part 4): the numbers trained on are each input column's (x - mean) / sd with the
population standard deviation, as numpy computes them here independently; the Data sheet keeps the
numbers as given, computes the means, deviations and standardized columns by formulas, and
`formulas` and LibreOffice (threaded and single-threaded) recalculating it from scratch arrive at
the engine's numbers; verify passes; regenerate works without the CSV and reads the numbers as
given back; the labels show beside the samples; a non-boolean, and a column that cannot be
standardized, are refused in one line."""

from pathlib import Path

import numpy as np
import openpyxl
import pytest

from backprop_xl import engine, regenerate, workbook
from backprop_xl.cli import main
from backprop_xl.errors import SpecError
from backprop_xl.spec import Spec
from helpers import assert_matches_engine, assert_refused, defined_names, tamper
from recalc import cells, formulas_recalc, libreoffice_convert

# The test's own samples: two inputs of different scales and centres, a label, a numeric target.
X1 = [5.1, 4.9, 6.2, 5.9, 6.5, 5.5]
X2 = [350.0, 300.0, 290.0, 300.0, 320.0, 240.0]
SPECIES = ["setosa", "setosa", "versicolor", "virginica", "virginica", "versicolor"]
CLASSES = ["setosa", "versicolor", "virginica"]
Y = [0.1, 0.2, 0.5, 0.9, 0.8, 0.4]
LONG = 150  # samples: a Data sheet column of 100 or more formulas, which LibreOffice threads


def csv_text(columns: dict[str, list]) -> str:
    rows = [",".join(map(str, row)) for row in zip(*columns.values())]
    return "\n".join([",".join(columns), *rows]) + "\n"


def long_columns() -> dict[str, list]:
    rng = np.random.default_rng(17)
    return {"x1": [round(v, 3) for v in rng.normal(5.8, 0.8, LONG)],
            "x2": [round(v, 1) for v in rng.normal(300, 40, LONG)],
            "species": [CLASSES[k % 3] for k in range(LONG)],
            "y": [round(v, 3) for v in rng.uniform(0, 1, LONG)]}


def write_spec(folder: Path, data: str, columns: dict | None = None, outputs: int = 3,
               steps: int = 5, mode: str = "batch", gradient_check: bool | None = None) -> Path:
    columns = columns or {"x1": X1, "x2": X2, "species": SPECIES, "y": Y}
    (folder / "data.csv").write_text(csv_text(columns), encoding="utf-8")
    spec_path = folder / "run.toml"
    check = "" if gradient_check is None else f"gradient_check = {str(gradient_check).lower()}\n"
    spec_path.write_text(
        f'title = "standardized"\nsteps = {steps}\nlearning_rate = 0.5\nmode = "{mode}"\n{check}'
        f"[network]\nlayers = [2, 2, {outputs}]\nactivation = \"sigmoid\"\n"
        f"init = {{ seed = 5, biases = true }}\n[data]\n{data}\n", encoding="utf-8")
    return spec_path


LABELLED = 'file = "data.csv"\ninputs = ["x1", "x2"]\nlabel = "species"\nstandardize = true'
NUMERIC = 'file = "data.csv"\ninputs = ["x1", "x2"]\ntargets = ["y"]\nstandardize = true'


def load(spec_path: Path) -> Spec:
    return Spec.from_toml(spec_path.read_text(encoding="utf-8"), source=str(spec_path))


def numpy_standardized(columns: list[list[float]]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The oracle: numpy's mean and population standard deviation (ddof=0, as scikit-learn's
    StandardScaler), and each input standardized with them."""
    x = np.array(columns, dtype=float).T
    mean, sd = x.mean(axis=0), x.std(axis=0, ddof=0)
    return mean, sd, (x - mean) / sd


def generate(spec_path: Path, out: Path) -> Path:
    assert main(["generate", str(spec_path), "-o", str(out)]) == 0
    return out


# --- the numbers trained on -------------------------------------------------------------------

def test_the_inputs_trained_on_are_standardized_as_numpy_computes_them(tmp_path):
    spec = load(write_spec(tmp_path, LABELLED))
    mean, sd, expected = numpy_standardized([X1, X2])
    assert spec.inputs == [[a, b] for a, b in zip(X1, X2)]  # the spec keeps the numbers given
    assert [s.mean for s in spec.input_statistics] == pytest.approx(mean, rel=1e-14)
    assert [s.sd for s in spec.input_statistics] == pytest.approx(sd, rel=1e-14)
    assert np.array(spec.training_inputs) == pytest.approx(expected, rel=1e-13, abs=1e-14)
    # standardized columns have mean 0 and deviation 1
    assert np.array(spec.training_inputs).mean(axis=0) == pytest.approx([0, 0], abs=1e-14)
    assert np.array(spec.training_inputs).std(axis=0) == pytest.approx([1, 1], rel=1e-14)
    plain = spec.with_overrides(standardize=False)
    assert plain.training_inputs == plain.inputs and plain.input_statistics is None


@pytest.mark.parametrize("mode", ["batch", "stochastic"])
def test_the_engine_trains_on_the_standardized_inputs(tmp_path, mode):
    """A standardized run is the run of the same spec given numpy's standardized numbers."""
    spec = load(write_spec(tmp_path, LABELLED, mode=mode, steps=7))
    _, _, expected = numpy_standardized([X1, X2])
    given = spec.with_overrides(standardize=False, inputs=expected.tolist())
    keys = ["C", "w1_1_1", "grad_w1_2_2", "new_b2_3"]
    ours, theirs = list(engine.rows(spec, keys)), list(engine.rows(given, keys))
    assert np.array(ours) == pytest.approx(np.array(theirs), rel=1e-11, abs=1e-13)
    assert np.array(ours) != pytest.approx(np.array(list(engine.rows(
        spec.with_overrides(standardize=False), keys))), rel=1e-3)


def test_the_toml_keeps_the_numbers_given_and_standardize(tmp_path):
    spec = load(write_spec(tmp_path, NUMERIC, outputs=1))
    text = spec.to_toml()
    assert "standardize = true" in text and "5.1, 350.0" in text
    (tmp_path / "data.csv").unlink()
    again = Spec.from_toml(text)
    assert again == spec and again.training_inputs == spec.training_inputs
    assert "standardize =" not in spec.with_overrides(standardize=False).to_toml()


def test_inline_data_may_be_standardized_too():
    spec = Spec(layers=[2, 1], weights=[[[0.1, -0.2]]], inputs=[[1.0, 10.0], [3.0, 30.0]],
                targets=[[0.0], [1.0]], standardize=True)
    assert spec.training_inputs == [[-1.0, -1.0], [1.0, 1.0]]


# --- the workbook -----------------------------------------------------------------------------

def data_sheet(path: Path) -> list[tuple]:
    return list(openpyxl.load_workbook(path)["Data"].iter_rows(values_only=True))


def test_the_data_sheet_keeps_the_numbers_given_and_standardizes_them_by_formulas(tmp_path):
    path = generate(write_spec(tmp_path, LABELLED), tmp_path / "out.xlsx")
    rows = data_sheet(path)
    assert rows[0] == ("sample", "input_1_raw", "input_2_raw", "input_1 (standardized)",
                       "input_2 (standardized)", "target_1 (setosa)", "target_2 (versicolor)",
                       "target_3 (virginica)", "species")
    n = len(X1)
    for sample, row in enumerate(rows[1:n + 1], start=1):
        r = sample + 1
        assert row == (sample, X1[sample - 1], X2[sample - 1], f"=(B{r}-input_1_mean)/input_1_sd",
                       f"=(C{r}-input_2_mean)/input_2_sd",
                       *[1 if name == SPECIES[sample - 1] else 0 for name in CLASSES],
                       SPECIES[sample - 1])
    assert rows[n + 2][:3] == ("mean", "=AVERAGE(input_1_raw)", "=AVERAGE(input_2_raw)")
    assert rows[n + 3][:3] == ("standard deviation", "=STDEVP(input_1_raw)",
                               "=STDEVP(input_2_raw)")
    names = defined_names(path)
    assert names["input_1_raw"] == ("Data", "B2:B7") and names["input_2_raw"] == ("Data", "C2:C7")
    assert names["input_1"] == ("Data", "D2:D7") and names["input_2"] == ("Data", "E2:E7")
    assert names["target_1"] == ("Data", "F2:F7") and names["target_3"] == ("Data", "H2:H7")
    assert names["input_1_mean"] == ("Data", "B9") and names["input_2_sd"] == ("Data", "C10")
    # the cached values, for a viewer that does not recalculate: Python's numbers
    mean, sd, expected = numpy_standardized([X1, X2])
    values = cells(path, "Data")
    assert [values["B9"], values["C9"]] == pytest.approx(mean, rel=1e-14)
    assert [values["B10"], values["C10"]] == pytest.approx(sd, rel=1e-14)
    assert np.array([[values[f"{c}{r}"] for c in "DE"] for r in range(2, n + 2)]) == (
        pytest.approx(expected, rel=1e-13, abs=1e-14))


@pytest.mark.parametrize("data, outputs", [(LABELLED.replace("\nstandardize = true", ""), 3),
                                           (LABELLED, 3)], ids=["given", "standardized"])
def test_the_labels_show_beside_the_samples(tmp_path, data, outputs):
    path = generate(write_spec(tmp_path, data, outputs=outputs), tmp_path / "out.xlsx")
    rows = data_sheet(path)
    header = rows[0]
    assert header[-4:] == ("target_1 (setosa)", "target_2 (versicolor)", "target_3 (virginica)",
                           "species")
    assert [row[-1] for row in rows[1:len(SPECIES) + 1]] == SPECIES
    names = defined_names(path)
    first = "D" if "standardize" not in data else "F"
    assert names["target_1"] == ("Data", f"{first}2:{first}7")
    assert main(["verify", str(path)]) == 0


def test_labels_without_their_columns_name_are_headed_label(tmp_path):
    """A spec written before the label column's name was kept (labels alone), or by hand."""
    spec = Spec(layers=[1, 2], weights=[[[0.5], [-0.5]]], inputs=[[1.0], [2.0], [3.0]],
                targets=[[0.0, 1.0], [1.0, 0.0], [0.5, 0.5]], labels=["no", "yes"])
    path = tmp_path / "labels.xlsx"
    workbook.write(spec, path)
    rows = data_sheet(path)
    assert rows[0] == ("sample", "input", "target_1 (no)", "target_2 (yes)", "label")
    # a sample whose targets are not one-hot (typed in) has no label
    assert [row[-1] for row in rows[1:]] == ["yes", "no", None]


def test_numeric_targets_have_no_label_column(tmp_path):
    path = generate(write_spec(tmp_path, NUMERIC, outputs=1), tmp_path / "out.xlsx")
    assert data_sheet(path)[0] == ("sample", "input_1_raw", "input_2_raw", "input_1 (standardized)",
                                   "input_2 (standardized)", "target")


@pytest.mark.parametrize("mode", ["batch", "stochastic"])
def test_the_formulas_evaluator_recomputes_the_engines_numbers(tmp_path, mode):
    # without the gradient check, whose long formulas take `formulas` most of its time
    spec_path = write_spec(tmp_path, LABELLED, mode=mode, steps=8, gradient_check=False)
    path = generate(spec_path, tmp_path / "out.xlsx")
    spec = load(spec_path)
    assert_matches_engine(formulas_recalc(path), spec, path)
    mean, sd, expected = numpy_standardized([X1, X2])
    data = formulas_recalc(path, sheet="Data")
    assert [data["B9"], data["C9"], data["B10"], data["C10"]] == pytest.approx(
        [*mean, *sd], rel=1e-13)
    assert np.array([[data[f"{c}{r}"] for c in "DE"] for r in range(2, len(X1) + 2)]) == (
        pytest.approx(expected, rel=1e-12, abs=1e-13))


def test_an_edited_number_is_recomputed_by_the_formulas_evaluator(tmp_path):
    """Typing a number as given recomputes the mean, the deviation, every standardized input and
    the steps: the workbook is the spec with that number."""
    spec_path = write_spec(tmp_path, LABELLED, steps=4, gradient_check=False)
    path = generate(spec_path, tmp_path / "out.xlsx")
    spec = load(spec_path)
    edited = [row[:] for row in spec.inputs]
    edited[2][1] = 410.0
    book = openpyxl.load_workbook(path)  # saving with openpyxl also drops every cached value
    book["Data"]["C4"] = 410.0  # sample 3's x2
    book.save(path)
    assert_matches_engine(formulas_recalc(path), spec.with_overrides(inputs=edited), path)


@pytest.mark.libreoffice
@pytest.mark.parametrize("threaded", [True, False], ids=["threaded", "single-threaded"])
def test_libreoffice_recomputes_the_engines_numbers(tmp_path, threaded):
    """LibreOffice recalculating on load, threaded (its default) and single-threaded
    (SC_NO_THREADED_CALCULATION=1), with a throwaway profile: a short batch run, and a
    stochastic run of 150 samples, whose Data sheet columns of formulas LibreOffice threads."""
    books = {}
    for name, columns, mode, steps in (("short", None, "batch", 6),
                                       ("long", long_columns(), "stochastic", LONG)):
        folder = tmp_path / name
        folder.mkdir()
        spec_path = write_spec(folder, LABELLED, columns, mode=mode, steps=steps)
        books[name] = (generate(spec_path, tmp_path / f"{name}.xlsx"), load(spec_path), columns)
    saved = libreoffice_convert([path for path, _, _ in books.values()], tmp_path / "saved",
                                "xlsx", threaded)
    for (path, spec, columns), recalculated in zip(books.values(), saved):
        assert_matches_engine(cells(recalculated, "Steps"), spec, path)
        columns = columns or {"x1": X1, "x2": X2}
        mean, sd, expected = numpy_standardized([columns["x1"], columns["x2"]])
        data, n = cells(recalculated, "Data"), spec.n_samples
        assert [data[f"B{n + 3}"], data[f"C{n + 3}"]] == pytest.approx(mean, rel=1e-13)
        assert [data[f"B{n + 4}"], data[f"C{n + 4}"]] == pytest.approx(sd, rel=1e-13)
        assert np.array([[data[f"{c}{r}"] for c in "DE"] for r in range(2, n + 2)]) == (
            pytest.approx(expected, rel=1e-12, abs=1e-13))


@pytest.mark.libreoffice
def test_a_number_edited_and_recalculated_by_libreoffice_verifies(tmp_path, capsys):
    """A number as given typed in (openpyxl drops every cached value), the workbook recalculated
    and saved by LibreOffice: verify reads the numbers as given back and agrees with all of it."""
    path = generate(write_spec(tmp_path, LABELLED), tmp_path / "edited.xlsx")
    book = openpyxl.load_workbook(path)
    book["Data"]["C5"] = 2.75  # sample 4's x2, far below the others
    book.save(path)
    [saved] = libreoffice_convert([path], tmp_path / "saved", "xlsx")
    assert cells(saved, "Data")["C9"] == pytest.approx(np.mean([*X2[:3], 2.75, *X2[4:]]),
                                                       rel=1e-14)
    assert main(["verify", str(saved), "--libreoffice"]) == 0
    assert "all cells agree" in capsys.readouterr().err


# --- verify, regenerate, and the numbers as given read back ------------------------------------

@pytest.mark.parametrize("data, outputs", [(NUMERIC, 1), (LABELLED, 3)], ids=["targets", "label"])
def test_verify_passes_and_regenerate_needs_no_csv(tmp_path, capsys, data, outputs):
    spec_path = write_spec(tmp_path, data, outputs=outputs)
    path = generate(spec_path, tmp_path / "out.xlsx")
    assert main(["verify", str(path)]) == 0
    (tmp_path / "data.csv").unlink()
    assert main(["regenerate", str(path), "--steps", "9"]) == 0
    assert main(["verify", str(path)]) == 0
    assert "all cells agree (9 rows" in capsys.readouterr().err
    rows = data_sheet(path)
    assert [row[1] for row in rows[1:len(X1) + 1]] == X1  # the numbers as given, still
    if outputs == 3:  # the labels too, under the label column's name the spec keeps
        assert rows[0][-1] == "species"
        assert [row[-1] for row in rows[1:len(X1) + 1]] == SPECIES


def test_a_number_edited_on_the_data_sheet_is_read_back_as_given(tmp_path, capsys):
    spec_path = write_spec(tmp_path, LABELLED)
    path = generate(spec_path, tmp_path / "out.xlsx")
    book = openpyxl.load_workbook(path)  # as a user types into the yellow cell
    book["Data"]["B3"] = 7.25
    book.save(path)
    assert main(["regenerate", str(path)]) == 0
    assert main(["verify", str(path)]) == 0
    capsys.readouterr()
    spec = regenerate.current(path).spec
    assert spec.standardize and spec.inputs[1] == [7.25, 300.0]
    mean, sd, expected = numpy_standardized([[7.25 if k == 1 else x for k, x in enumerate(X1)],
                                             X2])
    values = cells(path, "Data")
    assert values["B9"] == pytest.approx(mean[0], rel=1e-14)
    assert values["D3"] == pytest.approx(expected[1, 0], rel=1e-13)


def test_verify_finds_a_wrong_cached_mean_and_a_wrong_standardized_formula(tmp_path, capsys):
    path = generate(write_spec(tmp_path, NUMERIC, outputs=1), tmp_path / "out.xlsx")
    sheets = openpyxl.load_workbook(path).sheetnames
    data = sheets.index("Data") + 1
    tamper(path, "B9", rb"<v>[^<]*</v>", b"<v>5.7</v>", sheet=data)
    tamper(path, "D3", rb"/input_1_sd", b"*input_1_sd", sheet=data)
    assert main(["verify", str(path)]) == 1
    out = capsys.readouterr().out
    assert "Data!B9 (input_1_mean): cached 5.7, engine 5.68333" in out
    assert "Data!B9 (input_1_mean): cached 5.7, formulas 5.68333" in out
    assert "Data!D3 (input_1): cached '=(B3-input_1_mean)*input_1_sd', layout" in out


def test_a_comparison_of_standardized_runs_verifies(tmp_path, capsys):
    spec_path = write_spec(tmp_path, LABELLED)
    out = tmp_path / "compare.xlsx"
    assert main(["compare", str(spec_path), "--learning-rates", "0.1,0.5", "-o", str(out)]) == 0
    assert main(["verify", str(out)]) == 0
    capsys.readouterr()


# --- refusals ---------------------------------------------------------------------------------

@pytest.mark.parametrize("value, shown", [('"yes"', "'yes'"), ("1", "1"), ("0", "0"),
                                          ("[true]", "[True]")])
def test_a_non_boolean_standardize_is_refused(tmp_path, capsys, value, shown):
    inline = "inputs = [[1.0, 2.0], [3.0, 5.0]]\ntargets = [[0.5], [0.25]]\nstandardize = true"
    for data, outputs in ((LABELLED, 3), (inline, 1)):
        spec_path = write_spec(tmp_path, data.replace("true", value), outputs=outputs)
        for command in (["generate", str(spec_path), "-o", str(tmp_path / "out.xlsx")],
                        ["spec", str(spec_path)]):
            assert_refused(tmp_path, capsys, command,
                           f"data.standardize: must be true or false, got {shown}")


# name: (the CSV's columns; the line's key, then its words after the file's path)
UNSTANDARDIZABLE = {
    "a constant column": (
        {"x1": X1, "x2": [3.0] * 6, "species": SPECIES},
        "data.standardize: ", "data.csv: column 'x2' holds 3.0 in every sample: its standard "
                              "deviation is 0, and standardizing divides by it"),
    "numbers too large": (
        {"x1": [1e200, -1e200] * 3, "x2": X2, "species": SPECIES},
        "data.standardize: ", "data.csv: column 'x1' holds numbers too large to standardize"),
}


@pytest.mark.parametrize("columns, key, words", UNSTANDARDIZABLE.values(),
                         ids=UNSTANDARDIZABLE.keys())
def test_a_column_that_cannot_be_standardized_is_refused_naming_it(tmp_path, capsys, columns,
                                                                   key, words):
    spec_path = write_spec(tmp_path, LABELLED, columns)
    for command in (["generate", str(spec_path), "-o", str(tmp_path / "out.xlsx")],
                    ["spec", str(spec_path)]):
        assert_refused(tmp_path, capsys, command, key)
        assert_refused(tmp_path, capsys, command, words)


@pytest.mark.parametrize("inputs, words", [
    ("[[1.0, 2.0], [3.0, 2.0]]", "input 2 (column 2 of data.inputs) holds 2.0 in every sample"),
    ("[[1.0, 2.0]]", "input 1 (column 1 of data.inputs) holds one sample"),
], ids=["constant", "one sample"])
def test_inline_inputs_that_cannot_be_standardized_are_refused(tmp_path, capsys, inputs, words):
    targets = ", ".join(["[0.5]"] * (inputs.count("[") - 1))  # one per sample
    spec_path = write_spec(tmp_path, f"inputs = {inputs}\ntargets = [{targets}]\n"
                                     f"standardize = true", outputs=1)
    assert_refused(tmp_path, capsys, ["generate", str(spec_path), "-o",
                                      str(tmp_path / "out.xlsx")], "data.standardize: " + words)
    with pytest.raises(SpecError, match="data.standardize"):
        load(spec_path)
