"""`backprop-xl convert-functions` and `libreoffice-setup --demo`: the BP_ functions spelled for
Excel, BP_STEP(...), or for LibreOffice, BACKPROP_XL.BP_STEP(...), in a workbook's formulas.

Converting renames the function calls in cell formulas and nothing else: string literals and other
functions stay, every other part keeps its bytes, and converting back gives every part's bytes
again. Bad input gets one line and exit status 2, and nothing is written. LibreOffice, with the
add-in installed in a throwaway profile, recalculates the converted xlwings demo workbook and the
--demo one to the values backprop_xl stored (udfs called in Python), and shows #NAME? for Excel's
spelling; what LibreOffice itself saves converts to Excel's spelling."""

import io
import re
import zipfile
import zlib
from pathlib import Path

import openpyxl
import pytest
import xlsxwriter
from openpyxl.utils import get_column_letter
from openpyxl.worksheet.cell_range import CellRange
from openpyxl.worksheet.formula import ArrayFormula

from backprop_xl import demo, udfs, xlwings_setup
from calc import Calc, setup
from helpers import BAD_BOOKS, assert_refused, formulas_of, handmade_zip, put, rewritten, run

NAME = 525  # Calc's error code for #NAME?: a function it does not know


def excel_demo(folder: Path) -> Path:
    """xlwings-setup's demo workbook, in Excel's spelling."""
    return xlwings_setup.write(folder / "excel")[1]


def parts(path: Path) -> list[tuple[str, int, bytes]]:
    """Every zip member in order: its name, compression and inflated bytes."""
    with zipfile.ZipFile(path) as archive:
        return [(m.filename, m.compress_type, archive.read(m)) for m in archive.infolist()]


def formula_cells(path: Path):
    """Every cell holding a formula, sheet by sheet, with its text as openpyxl reads it (a shared
    formula as each cell's own; an array formula's as its anchor's)."""
    for sheet in openpyxl.load_workbook(path).worksheets:
        for row in sheet.iter_rows():
            for cell in row:
                text = getattr(cell.value, "text", cell.value)  # array formulas come as objects
                if isinstance(text, str) and text.startswith("="):
                    yield sheet.title, cell, text


def cell_formulas(path: Path) -> dict[tuple[str, str], str]:
    return {(sheet, cell.coordinate): text for sheet, cell, text in formula_cells(path)}


def bp_cells(path: Path) -> list[str]:
    """The cells the BP_ formulas of the demo sheet fill: each formula's own, an array's range."""
    return [f"{get_column_letter(c)}{r}" for sheet, cell, text in formula_cells(path)
            if sheet == demo.SHEET and "BP_" in text
            for r, c in CellRange(getattr(cell.value, "ref", cell.coordinate)).cells]


def excel_to_libreoffice(text: str) -> str:
    """The demo's formula in LibreOffice's spelling: it holds BP_ only in calls."""
    return text.replace("BP_", "BACKPROP_XL.BP_")


# --- converting, without LibreOffice ------------------------------------------------------------


def test_the_xlwings_demo_converts_to_libreoffice_and_back_to_the_same_bytes(tmp_path, capsys):
    book = excel_demo(tmp_path)
    status, out, err = run(capsys, "convert-functions", str(book), "--to", "libreoffice")
    converted = book.with_name("backprop_xl-libreoffice.xlsm")
    assert (status, out) == (0, "") and len(err.splitlines()) == 1 and str(converted) in err

    original = cell_formulas(book)
    called = {name for text in original.values() for name in re.findall(r"(BP_\w+)\(", text)}
    assert called == set(udfs.FUNCTIONS)
    assert cell_formulas(converted) == {key: excel_to_libreoffice(text)
                                        for key, text in original.items()}
    bp_formulas = [text for text in original.values() if "BP_" in text]
    assert f"converted {len(bp_formulas)} formula(s) in {len(bp_cells(book))} cell(s)" in err
    # Only the sheet calling the functions changed; all else is the same, in the same order.
    changed = [name for (name, kind, data), (_, _, before) in zip(parts(converted), parts(book))
               if data != before]
    assert changed == ["xl/worksheets/sheet1.xml"]
    assert [part[:2] for part in parts(converted)] == [part[:2] for part in parts(book)]

    back = tmp_path / "back.xlsm"
    status, _, err = run(capsys, "convert-functions", str(converted), "--to", "excel",
                         "-o", str(back))
    assert status == 0 and str(back) in err
    assert parts(back) == parts(book)


# cell: (its formula in Excel's spelling, in LibreOffice's)
FORMULAS = {
    "A1": ("=BP_STEP(1.5,0.8,0.5,0.1)", "=BACKPROP_XL.BP_STEP(1.5,0.8,0.5,0.1)"),
    "A2": ('=IF(A1="BP_STEP(",1,2)', '=IF(A1="BP_STEP(",1,2)'),  # a string, not a call
    "A3": ('=SUM(BP_ACTIVATE(B1:B3,"tanh"))', '=SUM(BACKPROP_XL.BP_ACTIVATE(B1:B3,"tanh"))'),
    "A4": ("=bp_loss(B1,B2)", "=BACKPROP_XL.BP_LOSS(B1,B2)"),  # Excel ignores case
    "A5": ('=IF(B1<2,"a&b",BP_LOSS(B1,B2))', '=IF(B1<2,"a&b",BACKPROP_XL.BP_LOSS(B1,B2))'),
    "A6": ('=IF(B1>0,"σ → a",BP_LOSS(B1,B2))', '=IF(B1>0,"σ → a",BACKPROP_XL.BP_LOSS(B1,B2))'),
    "A7": ("=BP_STEPS(1)+MY.BP_STEP(1)", "=BP_STEPS(1)+MY.BP_STEP(1)"),  # other functions
}
ARRAY = ("C1:J1", "=BP_STEP(B1,B2,B3,B4)", "=BACKPROP_XL.BP_STEP(B1,B2,B3,B4)")
SHARED = ("D3:D5", '=BP_ACTIVATE(B{},"sigmoid")', '=BACKPROP_XL.BP_ACTIVATE(B{},"sigmoid")')


def shared_and_quoted(xml: bytes) -> bytes:
    """Sheet XML as Excel writes it, where XlsxWriter does not: D3:D5 as one shared formula,
    quotes in A5 as &quot;."""
    first, *others = (b'<f>BP_ACTIVATE(B%d,"sigmoid")</f>' % row for row in (1, 2, 3))
    xml = xml.replace(first, b'<f t="shared" ref="%s" si="0">%s</f>' % (SHARED[0].encode(),
                                                                          first[3:-4]))
    for other in others:
        xml = xml.replace(other, b'<f t="shared" si="0"/>')
    return xml.replace(b'"a&amp;b"', b"&quot;a&amp;b&quot;")


def handmade_book(path: Path, formulas: dict[str, str], arrays: dict[str, str] | None = None,
                  sheets: int = 1) -> Path:
    """An .xlsx of `formulas` and array formulas (range: formula) on its first sheet, and empty
    sheets up to `sheets`."""
    with xlsxwriter.Workbook(str(path)) as book:
        sheet = book.add_worksheet()
        for cell, text in formulas.items():
            sheet.write_formula(cell, text)
        for cells, text in (arrays or {}).items():
            sheet.write_array_formula(cells, "{" + text + "}")
        for _ in range(sheets - 1):
            book.add_worksheet()
    return path


def test_only_the_calls_change_in_every_kind_of_formula(tmp_path, capsys):
    plain = handmade_book(tmp_path / "plain.xlsx", {
        **{cell: excel for cell, (excel, _) in FORMULAS.items()},
        **{f"D{row}": SHARED[1].format(row - 2) for row in (3, 4, 5)}}, {ARRAY[0]: ARRAY[1]})
    book_path = put(tmp_path / "book.xlsx", rewritten(
        plain.read_bytes(), "xl/worksheets/sheet1.xml", shared_and_quoted))
    plain.unlink()
    with zipfile.ZipFile(book_path) as archive:
        sheet_xml = archive.read("xl/worksheets/sheet1.xml")
    assert sheet_xml.count(b't="shared"') == 3 and b"&quot;a&amp;b&quot;" in sheet_xml
    status, _, err = run(capsys, "convert-functions", str(book_path), "--to", "libreoffice")
    converted = tmp_path / "book-libreoffice.xlsx"
    assert status == 0, err

    expected = {("Sheet1", cell): lo for cell, (_, lo) in FORMULAS.items()}
    expected["Sheet1", ARRAY[0].split(":")[0]] = ARRAY[2]
    expected.update({("Sheet1", f"D{row}"): SHARED[2].format(row - 2) for row in (3, 4, 5)})
    assert cell_formulas(converted) == expected
    respelled = [cell for cell, (excel, lo) in FORMULAS.items() if excel != lo]
    array_cells, shared_cells = (len(list(CellRange(kind[0]).cells)) for kind in (ARRAY, SHARED))
    assert (f"converted {len(respelled) + 2} formula(s) in "
            f"{len(respelled) + array_cells + shared_cells} cell(s)") in err

    back = tmp_path / "back.xlsx"
    status, _, err = run(capsys, "convert-functions", str(converted), "--to", "excel",
                         "-o", str(back))
    assert status == 0, err
    # Back in Excel's spelling, as Excel writes it: the lower-case name as the function's own.
    assert parts(back) == [(name, kind, data.replace(b"bp_loss(", b"BP_LOSS("))
                           for name, kind, data in parts(book_path)]


def test_a_converted_book_says_it_is_converted_already(tmp_path, capsys):
    book = handmade_book(tmp_path / "book.xlsx", {"A1": FORMULAS["A1"][0]})
    assert run(capsys, "convert-functions", str(book), "--to", "libreoffice")[0] == 0
    converted = tmp_path / "book-libreoffice.xlsx"
    assert_refused(tmp_path, capsys, ["convert-functions", str(converted), "--to", "libreoffice"],
                   "its 1 call(s) are in LibreOffice's already")


# --- refused: one line, status 2, nothing written ----------------------------------------------


@pytest.fixture(scope="module")
def small_book(tmp_path_factory) -> bytes:
    """The bytes of a workbook calling BP_STEP on the first of its two sheets."""
    path = tmp_path_factory.mktemp("book") / "book.xlsx"
    return handmade_book(path, {"A1": FORMULAS["A1"][0]}, sheets=2).read_bytes()


def ods(path: Path) -> Path:
    """A LibreOffice spreadsheet (.ods): a zip too, but of other parts."""
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("mimetype", "application/vnd.oasis.opendocument.spreadsheet")
        archive.writestr("content.xml", '<?xml version="1.0"?><office:document-content '
                         'xmlns:office="urn:oasis:names:tc:opendocument:xmlns:office:1.0"/>')
    return path


XLS = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + bytes(504)  # an old .xls: an OLE2 compound file


def wrong_checksum(book: bytes, part: str) -> bytes:
    """`book` whose `part` no longer matches the CRC-32 its zip records."""
    members = []
    with zipfile.ZipFile(io.BytesIO(book)) as source:
        for name in source.namelist():
            data = source.read(name)
            compressor = zlib.compressobj(9, zlib.DEFLATED, -15)
            crc = zlib.crc32(data) ^ (name == part)
            members.append((name, compressor.compress(data) + compressor.flush(), crc, len(data)))
    return handmade_zip(members)


# name: (makes BOOK in a folder from a good workbook's bytes, words the error line names)
BAD_BOOKS_TO_CONVERT = {
    **{case: made for case, made in BAD_BOOKS.items() if case != "made by another program"},
    "an .ods": (lambda d, book: ods(d / "book.ods"), "not an .xlsx or .xlsm"),
    "an .ods named .xlsx": (lambda d, book: ods(d / "book.xlsx"), "not a readable xlsx"),
    "an .xls": (lambda d, book: put(d / "book.xls", XLS), "not an .xlsx or .xlsm"),
    "an .xls named .xlsx": (lambda d, book: put(d / "book.xlsx", XLS), "not an xlsx"),
    "a damaged sheet": (lambda d, book: put(d / "book.xlsx", wrong_checksum(
        book, "xl/worksheets/sheet1.xml")), "Bad CRC-32 for file 'xl/worksheets/sheet1.xml'"),
    "a damaged part openpyxl leaves unread": (lambda d, book: put(d / "book.xlsx", wrong_checksum(
        book, "docProps/app.xml")), "part docProps/app.xml is damaged"),
    "a formula the tokenizer cannot read": (lambda d, book: handmade_book(
        d / "book.xlsx", {"A1": FORMULAS["A1"][0], "C7": '=BP_STEP("1.5'}),
        "sheet 'Sheet1', cell C7: cannot read the formula"),
    "no BP_ call": (lambda d, book: handmade_book(d / "book.xlsx", {"A1": FORMULAS["A2"][0]}),
                    "no BP_ function call in Excel's spelling"),
}


@pytest.mark.parametrize("case", list(BAD_BOOKS_TO_CONVERT))
def test_a_bad_book_is_refused(tmp_path, capsys, small_book, case):
    make, words = BAD_BOOKS_TO_CONVERT[case]
    book = make(tmp_path, small_book)
    assert_refused(tmp_path, capsys, ["convert-functions", str(book), "--to", "libreoffice"], words)


# name: (the arguments after the good BOOK, words the error line names)
BAD_OUTPUTS = {
    "OUT is BOOK": (["--to", "excel", "-o", "{book}"], "is the workbook being converted"),
    "OUT exists": (["--to", "libreoffice", "-o", "{folder}/there.xlsx"], "already exists"),
    "OUT of another type": (["--to", "libreoffice", "-o", "{folder}/out.ods"], "must end in .xlsx"),
    "OUT in a missing folder": (["--to", "libreoffice", "-o", "{folder}/missing/out.xlsx"],
                                "does not exist"),
    "no --to": ([], "needs --to libreoffice or --to excel"),
    "another --to": (["--to", "numbers"], "Invalid value for '--to'"),
}


@pytest.mark.parametrize("case", list(BAD_OUTPUTS))
def test_a_bad_output_or_option_is_refused(tmp_path, capsys, small_book, case):
    book = put(tmp_path / "book.xlsx", small_book)
    put(tmp_path / "there.xlsx", b"precious")
    arguments, words = BAD_OUTPUTS[case]
    assert_refused(tmp_path, capsys, ["convert-functions", str(book)] + [
        argument.format(book=book, folder=tmp_path) for argument in arguments], words)


def test_force_replaces_an_existing_output(tmp_path, capsys, small_book):
    book = put(tmp_path / "book.xlsx", small_book)
    there = put(tmp_path / "there.xlsx", b"precious")
    assert run(capsys, "convert-functions", str(book), "--to", "libreoffice", "-o", str(there),
               "--force")[0] == 0
    assert cell_formulas(there) == {("Sheet1", "A1"): FORMULAS["A1"][1]}


# --- libreoffice-setup --demo -------------------------------------------------------------------


def test_the_libreoffice_demo_is_the_excel_sheet_in_libreoffices_spelling(tmp_path, capsys):
    book = tmp_path / "demo.xlsx"
    status, out, err = run(capsys, "libreoffice-setup", "--demo", str(book))
    assert (status, out) == (0, "") and len(err.splitlines()) == 1 and str(book) in err
    excel = excel_demo(tmp_path)

    with zipfile.ZipFile(book) as archive:
        names = archive.namelist()
        sheet_xml = archive.read("xl/worksheets/sheet1.xml")
    assert "xl/vbaProject.bin" not in names and "xl/metadata.xml" not in names
    assert b' cm="1"' not in sheet_xml  # no dynamic arrays: LibreOffice 7.4 has none
    assert openpyxl.load_workbook(book).sheetnames == [demo.SHEET]
    words = notes(book)
    assert "backprop-xl libreoffice-setup" in words and "Ctrl+Shift+Enter" in words
    assert "macro" not in words.lower() and "xlwings" not in words.lower()

    # The same cells as Excel's demo: its formulas in LibreOffice's spelling, every result an array
    # formula over the range Excel spills it to, every cached value; only the notes differ.
    ours, theirs = (openpyxl.load_workbook(path)[demo.SHEET] for path in (book, excel))
    ours_values, theirs_values = (openpyxl.load_workbook(path, data_only=True)[demo.SHEET]
                                  for path in (book, excel))
    for row in theirs.iter_rows(min_col=2):
        for cell in row:
            mine = ours[cell.coordinate].value
            if isinstance(cell.value, ArrayFormula):
                assert (mine.ref, mine.text) == (cell.value.ref,
                                                 excel_to_libreoffice(cell.value.text))
            elif isinstance(cell.value, str) and cell.value.startswith("="):
                assert mine == excel_to_libreoffice(cell.value)
            else:
                assert mine == cell.value, cell.coordinate
            assert ours_values[cell.coordinate].value == theirs_values[cell.coordinate].value
    assert len(cell_formulas(book)) == len(cell_formulas(excel))

    again = tmp_path / "again.xlsx"
    assert run(capsys, "libreoffice-setup", "--demo", str(again))[0] == 0
    assert again.read_bytes() == book.read_bytes()


@pytest.mark.parametrize("arguments, words", [
    (["--demo", "demo.xlsx", "--output", "x.oxt"], "--demo only writes the demo workbook"),
    (["--demo", "demo.xlsx", "--remove"], "--demo only writes the demo workbook"),
    (["--demo", "demo.xlsx", "--profile", "p"], "--demo only writes the demo workbook"),
    (["--demo", "there.xlsx"], "there.xlsx already exists"),
    (["--demo", "demo.ods"], "the demo workbook is an .xlsx file"),
])
def test_the_demo_is_refused_with_other_options_or_over_a_file(tmp_path, capsys, monkeypatch,
                                                               arguments, words):
    monkeypatch.chdir(tmp_path)
    put(tmp_path / "there.xlsx", b"precious")
    assert_refused(tmp_path, capsys, ["libreoffice-setup", *arguments], words)


# --- in LibreOffice -----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def calc(tmp_path_factory):
    """One LibreOffice for the module, on a throwaway profile with the add-in installed by the
    command, as a user installs it."""
    profile = tmp_path_factory.mktemp("profile")
    done = setup(profile=profile)
    assert done.returncode == 0, done.stderr
    with Calc(profile) as session:
        yield session


def recalculated(calc, path: Path) -> tuple[dict, dict]:
    """The demo sheet of `path` as LibreOffice shows it once it has recalculated every formula,
    and as the file stores it, cell by cell."""
    stored = openpyxl.load_workbook(path, data_only=True)[demo.SHEET]
    calc("load", path=str(path))
    calc("calculate")
    shown = calc("read", range=f"A1:{get_column_letter(stored.max_column)}{stored.max_row}")
    calc("close")
    cells = [cell for row in stored.iter_rows() for cell in row]
    return ({cell.coordinate: shown[cell.row - 1][cell.column - 1] for cell in cells},
            {cell.coordinate: cell.value for cell in cells})


def assert_recomputed_as_stored(calc, path: Path) -> None:
    """LibreOffice shows no error on the demo sheet of `path`, and in every cell a BP_ formula
    fills the value stored there (shows_stored)."""
    shown, stored = recalculated(calc, path)
    assert not [cell for cell, value in shown.items() if isinstance(value, dict)]
    cells = bp_cells(path)
    assert len(cells) > len(udfs.FUNCTIONS)  # results of many cells among them
    for cell in cells:
        assert shows_stored(shown[cell], stored[cell]), (cell, shown[cell], stored[cell])


@pytest.mark.libreoffice
def test_libreoffice_recomputes_the_converted_excel_demo_to_its_stored_values(tmp_path, capsys,
                                                                              calc):
    book = excel_demo(tmp_path)
    shown, _ = recalculated(calc, book)
    assert all(shown[cell] == {"error": NAME} for cell in bp_cells(book))  # Excel's spelling
    assert run(capsys, "convert-functions", str(book), "--to", "libreoffice")[0] == 0
    assert_recomputed_as_stored(calc, book.with_name("backprop_xl-libreoffice.xlsm"))


def notes(path: Path) -> str:
    """The text of column A of the demo sheet: its notes and labels."""
    return " ".join(cell.value for cell in openpyxl.load_workbook(path)[demo.SHEET]["A"]
                    if isinstance(cell.value, str))


def shows_stored(shown, stored) -> bool:
    """Whether LibreOffice shows a cell's stored value: a formula's own with every digit, a plain
    number cell (the rest of an array) with the 16 significant digits XlsxWriter writes."""
    return shown == stored or (isinstance(shown, float) and float(f"{shown:.16G}") == stored)


@pytest.mark.libreoffice
def test_libreoffice_opens_the_excel_demo_as_its_notes_say(tmp_path, capsys, calc):
    """LibreOffice 7.4 opening xlwings-setup's workbook, recalculating nothing by hand: every
    result of more than one cell shows #NAME?, as the notes say (it recalculates arrays on
    opening, and knows no function by Excel's name), every other one its stored value. The notes
    give the command that writes the copy LibreOffice computes (see the test above)."""
    book = excel_demo(tmp_path)
    stored = openpyxl.load_workbook(book, data_only=True)[demo.SHEET]
    calc("load", path=str(book))
    shown = calc("read", range=f"A1:{get_column_letter(stored.max_column)}{stored.max_row}")
    calc("close")
    results = [CellRange(getattr(cell.value, "ref", cell.coordinate))
               for sheet, cell, text in formula_cells(book) if "BP_" in text]
    assert {len(list(result.cells)) > 1 for result in results} == {True, False}
    for result in results:
        for row, column in result.cells:
            value = shown[row - 1][column - 1]
            if len(list(result.cells)) > 1:
                assert value == {"error": NAME}, result
            else:
                assert shows_stored(value, stored.cell(row, column).value), result
    words = notes(book)
    assert "every result of more than one cell shows #NAME?" in words
    assert (f"backprop-xl convert-functions {xlwings_setup.WORKBOOK_NAME} --to libreoffice"
            in words)


@pytest.mark.libreoffice
def test_libreoffice_recomputes_the_demo_to_its_stored_values(tmp_path, capsys, calc):
    book = tmp_path / "demo.xlsx"
    assert run(capsys, "libreoffice-setup", "--demo", str(book))[0] == 0
    assert_recomputed_as_stored(calc, book)


@pytest.mark.libreoffice
def test_what_libreoffice_saves_converts_to_excels_spelling(tmp_path, capsys, calc):
    saved = tmp_path / "saved.xlsx"
    calc("new")
    calc("cells", cells={"A1": 1.5, "B1": 0.8, "C1": 0.5, "D1": 0.1,
                         "A3": '=IF(A1>1;"BP_STEP(";BP_LOSS(A1;C1))'})
    calc("array", range="A2:H2", formula="=BP_STEP(A1;B1;C1;D1)")
    calc("store", path=str(saved), filter="Calc Office Open XML")
    calc("close")
    assert "BACKPROP_XL.BP_STEP(A1,B1,C1,D1)" in formulas_of(saved)  # how LibreOffice saves it

    status, _, err = run(capsys, "convert-functions", str(saved), "--to", "excel")
    assert status == 0 and "converted 2 formula(s) in 9 cell(s)" in err
    formulas = formulas_of(tmp_path / "saved-excel.xlsx")
    assert "BP_STEP(A1,B1,C1,D1)" in formulas
    assert 'IF(A1>1,"BP_STEP(",BP_LOSS(A1,C1))' in formulas
    assert not [text for text in formulas if "BACKPROP_XL." in text]
