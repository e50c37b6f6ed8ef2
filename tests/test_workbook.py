"""The generated workbook: live formulas recomputed by an independent evaluator (`formulas`) agree
with their cached values and with the engine; layout, names, chart and reproducibility."""

import math
import zipfile

import numpy as np
import openpyxl
import pytest

from backprop_xl import engine, workbook
from backprop_xl.spec import Spec
from recalc import cells, formula_cells, formulas_recalc

STEPS = 50


@pytest.fixture(scope="module")
def book(tmp_path_factory):
    from backprop_xl.presets import preset

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
    trace = engine.trace(spec)
    return {f"{letter}{step + 1}": trace[name][step - 1]
            for letter, name in machine_names(path).items() for step in range(1, spec.steps + 1)}


def assert_close(actual, expected, where):
    assert isinstance(actual, (int, float)), f"{where}: {actual!r} is not a number"
    assert actual == pytest.approx(expected, rel=1e-9, abs=1e-300), where


def test_headers_name_every_quantity(book):
    spec, path = book
    assert list(machine_names(path).values()) == [
        "step", "w1_1_1", "z1_1", "a1_1", "C", "dC_da1_1", "da_dz1_1", "dz_dw1_1_1", "grad_w1_1_1",
        "new_w1_1_1"]


def test_every_computed_cell_is_a_formula(book):
    spec, path = book
    formulas = formula_cells(path)
    for letter in "BCDEFGHIJ":
        for row in range(2, STEPS + 2):
            assert f"{letter}{row}" in formulas, f"{letter}{row} is not a formula"
    assert formulas["B2"] == "=initial_weight"
    assert formulas["B3"] == "=J2"  # w of step n + 1 is w' of step n
    assert formulas["J2"] == "=B2-learning_rate*I2"
    assert formulas["I2"] == "=F2*G2*H2"
    assert "A2" not in formulas


def test_cached_values_are_the_engines(book):
    spec, path = book
    cached = cells(path)
    for address, expected in engine_values(spec, path).items():
        assert_close(cached[address], expected, address)


def test_formulas_recompute_to_cached_and_engine_values(book):
    spec, path = book
    recomputed = formulas_recalc(path)
    cached = cells(path)
    expected = engine_values(spec, path)
    assert len(formula_cells(path)) == 9 * STEPS
    for address in formula_cells(path):
        assert_close(recomputed[address], cached[address], f"{address} against cached")
        assert_close(recomputed[address], expected[address], f"{address} against engine")


def test_first_step_reads_the_lessons_numbers(book):
    spec, path = book
    first = [round(formulas_recalc(path)[f"{letter}2"], 6) for letter in "BCDEFGHIJ"]
    assert first == [0.8, 1.2, 0.768525, 0.072106, 0.537050, 0.177894, 1.5, 0.143307, 0.785669]


def test_changing_the_learning_rate_cell_recomputes_the_whole_table(book):
    spec, path = book
    rate_cell = defined_names(path)["learning_rate"]
    recomputed = formulas_recalc(path, inputs={rate_cell: 0.7})
    expected = engine_values(spec.with_overrides(learning_rate=0.7), path)
    for address in formula_cells(path):
        assert_close(recomputed[address], expected[address], address)
    # and it really changed: the last weight differs from the one at rate 0.1
    assert not math.isclose(recomputed[f"J{STEPS + 1}"], cells(path)[f"J{STEPS + 1}"], rel_tol=1e-3)


def defined_names(path):
    book = openpyxl.load_workbook(path)
    names = {}
    for name, definition in book.defined_names.items():
        sheet, address = definition.attr_text.split("!")
        assert sheet == "Steps"
        names[name] = address.replace("$", "")
    return names


def test_parameter_cells_are_named_and_hold_the_spec(book):
    spec, path = book
    names = defined_names(path)
    values = cells(path)
    assert {name: values[address] for name, address in names.items()} == {
        "input": 1.5, "target": 0.5, "learning_rate": 0.1, "initial_weight": 0.8}


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
    recomputed = formulas_recalc(path)
    expected = engine_values(spec, path)
    for address in formula_cells(path):
        assert_close(recomputed[address], expected[address], address)


def test_title_is_text_never_a_formula(tmp_path, seed):
    path = tmp_path / "title.xlsx"
    workbook.write(seed.with_overrides(title="=1+1", steps=2), path)
    [address] = [a for a, v in cells(path).items() if v == "=1+1"]
    assert address not in formula_cells(path)
