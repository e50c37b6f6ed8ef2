"""verify's independent evaluator, recalc.formulas_rows: the `formulas` package's values of chosen
rows, each formula text compiled once and run on all rows together, give what `formulas` gives
recalculating the whole workbook; what it runs on all rows at once gives each row what that row
alone gets; a reference it cannot follow reads as an error. Without `formulas` (the lean install)
verify does its other checks and says in one line what it skipped."""

import sys

import pytest
from xlsxwriter.utility import xl_rowcol_to_cell

from backprop_xl import reader, recalc, verify, workbook
from backprop_xl.layout import HEADER_ROW, SHEET, Layout
from helpers import disagrees, run, tamper
from kinds import KINDS
from recalc import formulas_recalc

pytest.importorskip("formulas")


def every_row(path):
    """The workbook's layout, its named values, and every step row as formulas_rows takes them
    (the table's columns alone, as verify passes them)."""
    with reader.streamed(path) as book:
        layout = Layout(reader.current_spec(book, str(path)))
        names = verify._named_values(verify._named_cells(book, layout, SHEET))
        width, rows, previous = len(layout.columns), [], {}
        for number, cells in reader.sheet_rows(book, SHEET, str(path)):
            cells = {index: cell for index, cell in cells.items() if index < width}
            if HEADER_ROW + 1 < number <= HEADER_ROW + 1 + layout.spec.steps:
                rows.append((number, previous, cells))
                previous = cells
    return layout, names, rows


@pytest.mark.parametrize("kind", KINDS)
def test_every_row_of_every_kind_recomputed_agrees_with_its_cached_values(tmp_path, kind):
    path = tmp_path / f"{kind}.xlsx"
    workbook.write(KINDS[kind], path)
    layout, names, rows = every_row(path)
    rules = verify.rules(layout)
    for (number, _, cells), values in zip(rows, recalc.formulas_rows(rows, names, SHEET)):
        assert set(values) == {index for index, (text, _) in cells.items() if text is not None}
        for index, value in values.items():
            assert verify.close(rules[index].kind, cells[index][1], value,
                                verify._inputs(cells, rules[index].compared)), (
                xl_rowcol_to_cell(number - 1, index), cells[index][1], value)


@pytest.mark.parametrize("kind", ["seed-video", "stochastic-biases-tanh", "cross-entropy"])
def test_every_row_recomputed_gives_what_formulas_gives_for_the_whole_workbook(tmp_path, kind):
    path = tmp_path / f"{kind}.xlsx"
    workbook.write(KINDS[kind], path)
    layout, names, rows = every_row(path)
    whole = formulas_recalc(path)  # `formulas`' own graph of every cell
    rules = verify.rules(layout)
    for (number, _, cells), values in zip(rows, recalc.formulas_rows(rows, names, SHEET)):
        for index, value in values.items():
            address = xl_rowcol_to_cell(number - 1, index)
            # the whole workbook runs on from the parameters, the rows from the cached row
            # before: the same numbers, but for the last digits
            assert verify.close(rules[index].kind, whole[address], value,
                                verify._inputs(cells, rules[index].compared)), (
                address, whole[address], value)


# What each operator and function meets in column A of a row and B of the row before: numbers
# small and huge (1e200 ^ 2 overflows), zero, an error cached where a number overflowed, an
# empty cell, text.
A = [1.5, -2.0, 0.0, 1e200, "#NUM!", None, 700.0, "text", 3.0]
B = [0.5, 2.0, 0.0, 2.0, 1.0, 4.0, -1.0, 2.0, None]


@pytest.mark.parametrize("text", [
    "=A2+B1", "=A2-B1", "=A2*B1", "=A2/B1", "=A2^B1", "=-A2", "=+A2", "=A2%", "=A2>B1", "=A2<B1",
    "=A2=B1", "=A2<=B1", "=A2>=B1", "=A2<>B1", "=ABS(A2)", "=EXP(A2)", "=LN(A2)", "=TANH(A2)",
    "=MOD(A2,B1)", "=IF(A2>B1,A2,B1)", "=(A2)*(A2)", "=MIN(A2,0)", "=MAX(ABS(A2),B1)",
    "=AVERAGE(A2,B1)", "=INDEX(data,MOD(B1,3)+1)", "=A2*INDEX(data,2)"])
def test_what_runs_on_all_rows_at_once_gives_each_row_what_it_gives_that_row_alone(text):
    names = {"data": [[10.0], [20.0], [30.0]]}
    rows = [(number, {1: (None, b)}, {0: (None, a), 2: (at(text, number), None)})
            for number, (a, b) in enumerate(zip(A, B), start=2)]
    together = recalc.formulas_rows(rows, names)
    alone = [recalc.formulas_rows([row], names)[0] for row in rows]
    assert together == alone
    assert len({str(values[2]) for values in together}) > 1  # not one value for all rows


def at(text: str, number: int) -> str:
    """A formula written for row 2 (A2: the row's first cell, B1: the second cell of the row
    before) as it stands on row `number`."""
    return text.replace("A2", f"A{number}").replace("B1", f"B{number - 1}")


@pytest.mark.parametrize("row, text, later, moved", [
    (5, "=B5*input", "=B25*input", "=B2*input"),
    (5, "=J4", "=J24", "=J1"),
    (5, "=$B$5+B$4", "=$B$25+B$24", "=$B$2+B$1"),
    (7, "=LOG10(B7)+init_w1_1_1", "=LOG10(B27)+init_w1_1_1", "=LOG10(B2)+init_w1_1_1"),
    (9, '=B9&"B9"', '=B29&"B9"', '=B2&"B9"'),  # text is no reference
    (9, "='Q1 data'!B9+Data!C9", "='Q1 data'!B29+Data!C29", "='Q1 data'!B2+Data!C2"),
    (12, "=INDEX(input_1,D12)", "=INDEX(input_1,D32)", "=INDEX(input_1,D2)"),
    (5, "=J3+J4", "=J23+J24", "=#REF!+J1"),  # two rows up: formulas_rows has no such row
])
def test_a_formula_moves_to_the_row_formulas_rows_compiles_as_excel_copies_it(row, text, later,
                                                                              moved):
    mover = recalc._Mover()
    assert mover(0, text, row) == moved
    assert mover(0, later, row + 20) == moved  # the same formula on another row
    assert len(mover.templates[0]) == ("#REF!" not in moved)  # recognised by its template


def test_a_reference_it_cannot_follow_reads_as_an_error():
    rows = [(5, {0: (None, 1.0)}, {
        0: ("=A3", 1.0),  # another row
        1: ("=D5+1", 1.0), 3: ("=B5*2", 1.0),  # round in a circle
        2: ("=Data!B5", 1.0),  # another sheet's cell, not named
        4: ("=nowhere", 1.0),  # a name the workbook does not define
        5: ("=A4*3", 3.0),  # the row before, as cached
        6: ("=NOSUCHFUNCTION(A4)", 1.0),  # a function Excel does not have
    })]
    values = recalc.formulas_rows(rows, {})[0]
    assert {index: str(value) for index, value in values.items()} == {
        0: "#REF!", 1: "#REF!", 2: "#REF!", 3: "#REF!", 4: "#NAME?", 5: "3.0", 6: "#NAME?"}


def test_without_formulas_verify_checks_the_rest_and_says_what_it_skipped(tmp_path, capsys,
                                                                          monkeypatch):
    book = tmp_path / "seed.xlsx"
    assert run(capsys, "generate", "-o", str(book), "--steps", "20")[0] == 0
    monkeypatch.setitem(sys.modules, "formulas", None)  # as if not installed: its import fails
    report = verify.verify(book)
    assert report.agrees and report.skipped == [verify.FORMULAS_SKIPPED]
    assert report.sampled == 0 and report.steps == 20
    status, out, err = run(capsys, "verify", str(book))
    assert status == 0 and out == ""
    assert [line for line in err.splitlines() if "skipped" in line] == [
        f"{book}: {verify.FORMULAS_SKIPPED}"]
    assert "pip install 'backprop_xl[verify]'" in verify.FORMULAS_SKIPPED

    tamper(book, "E5", rb"<v>[^<]*</v>", b"<v>0.5</v>")
    tamper(book, "I7", rb"<f>[^<]*</f>", b"<f>F7*G7</f>")
    status, out, err = run(capsys, "verify", str(book))
    assert status == 1 and disagrees(out, "E5", "engine") and disagrees(out, "I7", "layout")
    assert ", formulas " not in out


@pytest.mark.parametrize("text, enclosed", [
    ("=(B2*input)", "=B2*input"),  # as the layout writes every 50th row
    ("=((A2))", "=(A2)"),
    ("=(A2)+(B2)", None),  # two pairs, not one around the whole
    ('=("a)"&B2)', '="a)"&B2'),  # a parenthesis in text pairs with nothing
    ("=A2", None),
])
def test_a_formula_whole_in_parentheses_is_compiled_as_what_they_enclose(text, enclosed):
    assert recalc._enclosed(text) == enclosed
