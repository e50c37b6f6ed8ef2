"""LibreOffice Calc, a real spreadsheet application, recalculates generated workbooks from scratch
(forced full recalculation on load) and must arrive at the engine's numbers."""

from pathlib import Path

import openpyxl
import pytest

from backprop_xl import workbook
from backprop_xl.spec import Spec
from kinds import KINDS
from recalc import formula_cells, libreoffice_recalc, libreoffice_recalc_many
from test_workbook import assert_matches_engine, defined_names

pytestmark = pytest.mark.libreoffice


@pytest.fixture(scope="module")
def recalculated(tmp_path_factory):
    """Every kind of workbook, written and then recalculated by LibreOffice in one run."""
    folder = tmp_path_factory.mktemp("kinds")
    paths = {name: folder / f"{name}.xlsx" for name in KINDS}
    for name, path in paths.items():
        workbook.write(KINDS[name], path)
    results = libreoffice_recalc_many(list(paths.values()))
    return {name: (paths[name], values) for name, values in zip(paths, results)}


@pytest.mark.parametrize("kind", KINDS)
def test_every_kind_recalculates_to_the_engine(recalculated, kind):
    path, values = recalculated[kind]
    assert_matches_engine(values, KINDS[kind], path)


def test_default_seed_workbook(tmp_path, seed):
    # 300 rows: long enough to trip LibreOffice's threaded calculation if it were on.
    path = tmp_path / "seed.xlsx"
    workbook.write(seed, path)
    assert_matches_engine(libreoffice_recalc(path), seed, path)


def test_edited_parameters_recompute_the_table(tmp_path, seed):
    spec = seed.with_overrides(steps=50)
    path = tmp_path / "edited.xlsx"
    workbook.write(spec, path)
    names = defined_names(path)
    book = openpyxl.load_workbook(path)  # saving with openpyxl also drops every cached value
    for name, value in (("learning_rate", 0.35), ("init_w1_1_1", -1.25)):
        sheet, address = names[name]
        book[sheet][address] = value
    book.save(path)
    edited = spec.with_overrides(learning_rate=0.35, weights=[[[-1.25]]])
    assert len(formula_cells(path)) == 11 * spec.steps
    assert_matches_engine(libreoffice_recalc(path), edited, path)


@pytest.mark.parametrize("weight", [-800.0, 1e6])
def test_large_sums_stay_finite(tmp_path, weight):
    spec = Spec(layers=[1, 1], weights=[[[weight]]], inputs=[[1.5]], targets=[[0.5]], steps=5)
    path = tmp_path / "large.xlsx"
    workbook.write(spec, path)
    assert_matches_engine(libreoffice_recalc(path), spec, path)


EXAMPLES = sorted((Path(__file__).resolve().parent.parent / "workbooks").glob("*.xlsx"))


@pytest.fixture(scope="module")
def examples_recalculated():
    return dict(zip(EXAMPLES, libreoffice_recalc_many(EXAMPLES)))


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.stem)
def test_every_example_workbook_recalculates_to_the_engine(examples_recalculated, path):
    spec = Spec.from_toml(path.with_suffix(".toml").read_text())
    assert_matches_engine(examples_recalculated[path], spec, path)
