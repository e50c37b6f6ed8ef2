"""The generated workbook: live formulas recomputed by an independent evaluator (`formulas`) agree
with their cached values and with the engine, for every kind of run; layout, names, chart and
reproducibility of the seed lesson's workbook."""

import math
import zipfile

import openpyxl
import pytest

from backprop_xl import engine, workbook
from backprop_xl.presets import preset
from backprop_xl.spec import Spec
from kinds import KINDS
from recalc import cells, formula_cells, formulas_recalc

STEPS = 50


@pytest.fixture(scope="module")
def book(tmp_path_factory):
    spec = preset("seed").with_overrides(steps=STEPS)
    path = tmp_path_factory.mktemp("book") / "seed50.xlsx"
    workbook.write(spec, path)
    return spec, path


def machine_names(path):
    """Column letter -> the machine name shown under each header, read back from the sheet."""
    sheet = openpyxl.load_workbook(path)["Steps"]
    names = {}
    for cell in sheet[1]:
        if not cell.value:  # the table ends at the first empty header
            break
        names[cell.column_letter] = cell.value.split("\n")[-1].split(" = ")[0]
    return names


def engine_values(spec, path):
    """Address -> the engine's value, placed by the headers the workbook itself shows."""
    names = machine_names(path)
    trace = engine.trace(spec, gradient_check=any(n.startswith("fd_") for n in names.values()))
    return {f"{letter}{step + 1}": (name, trace[name][step - 1])
            for letter, name in names.items() for step in range(1, spec.steps + 1)}


def assert_close(actual, expected, where, name=""):
    """Agreement to relative 1e-9. A finite difference divides rounding noise by 2h, so its
    columns agree to 1e-6 relative, and their relative differences, which divide that noise again
    by the gradient, to 1e-4 absolute: still far apart from a wrong gradient's (about 0.3)."""
    assert isinstance(actual, (int, float)), f"{where}: {actual!r} is not a number"
    if name.startswith("fd_"):
        tolerance = {"rel": 1e-6, "abs": 1e-10}
    elif name.startswith("reldiff_"):
        tolerance = {"abs": 1e-4}
    else:
        tolerance = {"rel": 1e-9, "abs": 1e-13}
    assert actual == pytest.approx(expected, **tolerance), where


def assert_matches_engine(recomputed, spec, path):
    formulas = formula_cells(path)
    expected = engine_values(spec, path)
    assert formulas, "no formulas"
    for address in formulas:
        name, value = expected[address]
        assert_close(recomputed[address], value, f"{address} ({name})", name)
    return formulas


# --- every kind of workbook, recomputed by `formulas` --------------------------------------

@pytest.fixture(scope="module")
def kind_books(tmp_path_factory):
    folder = tmp_path_factory.mktemp("kinds")
    paths = {}
    for name, spec in KINDS.items():
        paths[name] = folder / f"{name}.xlsx"
        workbook.write(spec, paths[name])
    return paths


@pytest.mark.parametrize("kind", KINDS)
def test_formulas_recompute_every_kind_to_cached_and_engine_values(kind_books, kind):
    spec, path = KINDS[kind], kind_books[kind]
    recomputed = formulas_recalc(path)
    formulas = assert_matches_engine(recomputed, spec, path)
    cached, expected = cells(path), engine_values(spec, path)
    for address in formulas:
        assert_close(recomputed[address], cached[address], f"{address} against cached",
                     expected[address][0])


@pytest.mark.parametrize("kind", KINDS)
def test_every_kind_has_one_formula_per_computed_cell(kind_books, kind):
    spec, path = KINDS[kind], kind_books[kind]
    formulas = formula_cells(path)
    names = machine_names(path)
    assert len(set(names.values())) == len(names), "a machine name appears twice"
    for letter, name in names.items():
        for row in range(2, spec.steps + 2):
            assert (f"{letter}{row}" in formulas) == (name != "step"), f"{letter}{row} ({name})"


def test_batch_mode_has_a_group_per_sample_and_averages():
    names = set(machine_names_of("xor-batch"))
    for sample in range(1, 5):
        assert {f"z1_1_s{sample}", f"a2_1_s{sample}", f"C_s{sample}", f"grad_w1_1_1_s{sample}",
                f"grad_b2_1_s{sample}"} <= names
    assert {"C", "grad_w1_1_1", "grad_b1_1", "new_b2_1", "fd_b2_1", "reldiff_w2_1_2"} <= names


def test_stochastic_mode_looks_up_its_sample(tmp_path):
    spec = KINDS["stochastic-biases-tanh"]
    path = tmp_path / "stochastic.xlsx"
    workbook.write(spec, path)
    formulas = formula_cells(path)
    names = {name: letter for letter, name in machine_names(path).items()}
    assert formulas[names["sample"] + "2"] == "=MOD(A2-1,3)+1"
    assert formulas[names["x1"] + "2"] == f"=INDEX(input_1,{names['sample']}2)"
    recomputed = formulas_recalc(path)
    assert [recomputed[f"{names['sample']}{row}"] for row in range(2, 9)] == [1, 2, 3, 1, 2, 3, 1]
    assert recomputed[names["x2"] + "3"] == 1  # sample 2 is (0, 1)


def machine_names_of(kind):
    import tempfile
    from pathlib import Path
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "book.xlsx"
        workbook.write(KINDS[kind], path)
        return list(machine_names(path).values())


def test_data_sheet_names_the_samples(kind_books):
    path = kind_books["xor-batch"]
    names = defined_names(path)
    assert names["input_1"] == ("Data", "B2:B5")
    assert names["target"] == ("Data", "D2:D5")
    data = openpyxl.load_workbook(path)["Data"]
    assert [[c.value for c in row] for row in data.iter_rows(min_row=2)] == [
        [1, 0, 0, 0], [2, 0, 1, 1], [3, 1, 0, 1], [4, 1, 1, 0]]


def test_gradient_check_is_on_up_to_twenty_parameters(kind_books):
    assert any(n.startswith("fd_") for n in machine_names(kind_books["xor-batch"]).values())
    assert not any(n.startswith("fd_") for n in machine_names(kind_books["no-gradient-check"]).values())


def test_seed_video_gradient_check_exposes_the_mistake(kind_books):
    path = kind_books["seed-video"]
    names = {name: letter for letter, name in machine_names(path).items()}
    recomputed = formulas_recalc(path)
    assert round(recomputed[names["grad_w1_1_1"] + "2"], 6) == 0.095538
    assert round(recomputed[names["fd_w1_1_1"] + "2"], 6) == 0.143307
    assert recomputed[names["reldiff_w1_1_1"] + "2"] == pytest.approx(1 / 3, abs=1e-6)
    notes = " ".join(v for v in cells(path).values() if isinstance(v, str))
    assert "exposes the mistake" in notes


def test_mazur_workbook_opens_to_mazurs_numbers(kind_books):
    path = kind_books["mazur"]
    names = {name: letter for letter, name in machine_names(path).items()}
    values = cells(path)
    assert values[names["C"] + "2"] == pytest.approx(0.298371109, abs=1e-9)
    assert values[names["new_w2_1_1"] + "2"] == pytest.approx(0.35891648, abs=1e-8)
    assert values[names["new_w1_1_1"] + "2"] == pytest.approx(0.149780716, abs=1e-9)
    # fixed biases are named cells, not columns
    assert "b1_1" not in names and "init_b1_1" in defined_names(path)
    # a table this wide leaves its parameters, chart and notes to a first sheet, in view
    book = openpyxl.load_workbook(path)
    assert book.sheetnames == ["Overview", "Steps", "backprop_xl"]
    assert book["backprop_xl"].sheet_state == "veryHidden"  # the embedded spec


def test_a_network_too_wide_for_excel_is_refused_before_writing(tmp_path):
    from backprop_xl.errors import SpecError
    spec = Spec(layers=[1, 5000], init_seed=1, inputs=[[1.0]], targets=[[0.5] * 5000], steps=2)
    with pytest.raises(SpecError, match="16,384"):
        workbook.write(spec, tmp_path / "wide.xlsx")
    assert list(tmp_path.iterdir()) == []


# --- the seed lesson's workbook -----------------------------------------------------------

def test_headers_name_every_quantity(book):
    spec, path = book
    assert list(machine_names(path).values()) == [
        "step", "w1_1_1", "z1_1", "a1_1", "C", "dC_da1_1", "da_dz1_1", "dz_dw1_1_1", "grad_w1_1_1",
        "new_w1_1_1", "fd_w1_1_1", "reldiff_w1_1_1"]


def test_every_computed_cell_is_a_formula(book):
    spec, path = book
    formulas = formula_cells(path)
    for letter in "BCDEFGHIJKL":
        for row in range(2, STEPS + 2):
            assert f"{letter}{row}" in formulas, f"{letter}{row} is not a formula"
    assert formulas["B2"] == "=init_w1_1_1"
    assert formulas["B3"] == "=J2"  # w of step n + 1 is w' of step n
    assert formulas["C2"] == "=B2*input"
    assert formulas["J2"] == "=B2-learning_rate*I2"
    assert formulas["I2"] == "=F2*G2*H2"
    assert "A2" not in formulas


def test_cached_values_are_the_engines(book):
    spec, path = book
    cached = cells(path)
    for address, (name, expected) in engine_values(spec, path).items():
        assert_close(cached[address], expected, address, name)


def test_first_step_reads_the_lessons_numbers(book):
    spec, path = book
    first = [round(formulas_recalc(path)[f"{letter}2"], 6) for letter in "BCDEFGHIJK"]
    assert first == [0.8, 1.2, 0.768525, 0.072106, 0.537050, 0.177894, 1.5, 0.143307, 0.785669,
                     0.143307]


def test_changing_the_learning_rate_cell_recomputes_the_whole_table(book):
    spec, path = book
    sheet, rate_cell = defined_names(path)["learning_rate"]
    recomputed = formulas_recalc(path, inputs={rate_cell: 0.7})
    assert_matches_engine(recomputed, spec.with_overrides(learning_rate=0.7), path)
    # and it really changed: the last weight differs from the one at rate 0.1
    assert not math.isclose(recomputed[f"J{STEPS + 1}"], cells(path)[f"J{STEPS + 1}"], rel_tol=1e-3)


def defined_names(path):
    """Defined name -> (sheet, address without $)."""
    book = openpyxl.load_workbook(path)
    names = {}
    for name, definition in book.defined_names.items():
        sheet, address = definition.attr_text.split("!")
        names[name] = (sheet, address.replace("$", ""))
    return names


def test_parameter_cells_are_named_and_hold_the_spec(book):
    spec, path = book
    values = cells(path)
    assert {name: values[address] for name, (sheet, address) in defined_names(path).items()} == {
        "input": 1.5, "target": 0.5, "learning_rate": 0.1, "init_w1_1_1": 0.8, "fd_step": 1e-5}


def test_sheet_is_readable(book):
    spec, path = book
    sheet = openpyxl.load_workbook(path)["Steps"]
    assert sheet.freeze_panes == "B2"
    assert sheet["D2"].number_format == "0.000000"
    assert sheet.column_dimensions["B"].width > 10
    notes = " ".join(str(v) for v in cells(path).values() if isinstance(v, str))
    assert "dz/dw = i" in notes and "leaves out" in notes


def test_chart_plots_cost_and_weight(book):
    spec, path = book
    with zipfile.ZipFile(path) as package:
        chart = package.read("xl/charts/chart1.xml").decode()
    assert "<c:scatterChart>" in chart  # lines over a numeric step axis
    assert f"Steps!$E$2:$E${STEPS + 1}" in chart  # C
    assert f"Steps!$B$2:$B${STEPS + 1}" in chart  # w


def test_same_spec_gives_the_same_bytes(book, tmp_path):
    spec, path = book
    again = tmp_path / "again.xlsx"
    workbook.write(spec, again)
    assert again.read_bytes() == path.read_bytes()


@pytest.mark.parametrize("weight", [-800.0, 800.0, 1e6])
def test_no_overflow_in_the_sheet_for_large_sums(tmp_path, weight):
    spec = Spec(layers=[1, 1], weights=[[[weight]]], inputs=[[1.5]], targets=[[0.5]], steps=3)
    path = tmp_path / "large.xlsx"
    workbook.write(spec, path)
    assert_matches_engine(formulas_recalc(path), spec, path)


def test_title_is_text_never_a_formula(tmp_path, seed):
    path = tmp_path / "title.xlsx"
    workbook.write(seed.with_overrides(title="=1+1", steps=2), path)
    [address] = [a for a, v in cells(path).items() if v == "=1+1"]
    assert address not in formula_cells(path)


@pytest.mark.parametrize("kind", KINDS)
def test_plain_formula_writing_gives_xlsxwriters_own_bytes(kind_books, tmp_path, kind):
    """Skipping XlsxWriter's search for newer Excel functions changes nothing in the file..."""
    own = tmp_path / "own.xlsx"
    workbook.write(KINDS[kind], own, plain_formulas=False)
    assert own.read_bytes() == kind_books[kind].read_bytes()


def test_formulas_call_only_functions_that_need_no_prefix(kind_books):
    """...because no formula calls a function that XlsxWriter would rewrite."""
    import re
    called = set()
    for path in kind_books.values():
        for formula in formula_cells(path).values():
            called |= set(re.findall(r"([A-Z][A-Z0-9._]*)\(", formula))
    assert called and called <= set(workbook.FORMULA_FUNCTIONS)


def test_a_sheet_past_the_zip_limit_is_written_with_zip64_and_reads_back(tmp_path, monkeypatch):
    """A mazur run of Excel's last row has a sheet of some 13 GB, past the 4 GB a zip part may
    hold without ZIP64 records. Lowering the limit lets a small book take that path."""
    from backprop_xl.cli import main
    book = tmp_path / "seed.xlsx"
    monkeypatch.setattr(zipfile, "ZIP64_LIMIT", 4096)
    assert main(["generate", "seed", "--steps", "200", "-o", str(book)]) == 0
    monkeypatch.undo()
    with zipfile.ZipFile(book) as package:
        sheet = package.getinfo("xl/worksheets/sheet1.xml")
        assert sheet.file_size > 4096 and sheet.extra[:2] == b"\x01\x00"  # the ZIP64 record
    assert main(["verify", str(book)]) == 0
