"""LibreOffice Calc, a real spreadsheet application, recalculates generated workbooks from scratch
(forced full recalculation on load) and must arrive at the engine's numbers."""

import openpyxl
import pytest

from backprop_xl import workbook
from backprop_xl.spec import Spec
from recalc import formula_cells, libreoffice_recalc
from test_workbook import assert_close, defined_names, engine_values

pytestmark = pytest.mark.libreoffice


def assert_recalculates_to_engine(path, spec):
    recomputed = libreoffice_recalc(path)
    expected = engine_values(spec, path)
    formulas = formula_cells(path)
    assert len(formulas) == 9 * spec.steps
    for address in formulas:
        assert_close(recomputed[address], expected[address], address)


def test_default_seed_workbook(tmp_path, seed):
    # 300 rows: long enough to trip LibreOffice's threaded calculation if it were on.
    path = tmp_path / "seed.xlsx"
    workbook.write(seed, path)
    assert_recalculates_to_engine(path, seed)


def test_edited_parameters_recompute_the_table(tmp_path, seed):
    spec = seed.with_overrides(steps=50)
    path = tmp_path / "edited.xlsx"
    workbook.write(spec, path)
    names = defined_names(path)
    book = openpyxl.load_workbook(path)  # saving with openpyxl also drops every cached value
    book["Steps"][names["learning_rate"]] = 0.35
    book["Steps"][names["initial_weight"]] = -1.25
    book.save(path)
    edited = spec.with_overrides(learning_rate=0.35, weights=[[[-1.25]]])
    assert_recalculates_to_engine(path, edited)


@pytest.mark.parametrize("weight", [-800.0, 1e6])
def test_large_sums_stay_finite(tmp_path, weight):
    spec = Spec(layers=[1, 1], weights=[[[weight]]], inputs=[[1.5]], targets=[[0.5]], steps=5)
    path = tmp_path / "large.xlsx"
    workbook.write(spec, path)
    assert_recalculates_to_engine(path, spec)
