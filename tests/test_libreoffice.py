"""LibreOffice Calc, a real spreadsheet application, recalculates generated workbooks from scratch
and must arrive at the engine's numbers: single-threaded, and with its default multi-threaded
calculation, which computes formula groups of 100 rows or more in threads (and once left
thousands of cells of the steps table Err:522, see layout.GROUP_BREAK_STEPS); by a forced
recalculation on load, and by a hard recalculation (calculateAll, twice) of a loaded workbook,
then after the learning rate is edited. And it shows the workbooks as they ask: small numbers in
scientific notation, the gradient check red or green, headers whole."""

import re
import shutil
import subprocess
from pathlib import Path

import openpyxl
import pytest

from backprop_xl import engine, workbook
from backprop_xl.presets import preset
from backprop_xl.spec import Spec
from calc import Calc
from kinds import KINDS
from recalc import cells, formula_cells, libreoffice_convert, libreoffice_recalc_many
from helpers import assert_matches_engine, defined_names, machine_names

pytestmark = pytest.mark.libreoffice

# Longer than the 100-row formula groups LibreOffice computes in threads: before the workbook
# broke its formula groups, every kind of this length came out with thousands of Err:522 cells.
LONG_STEPS = 150
EDITED_RATE = 0.35
EXAMPLES = sorted((Path(__file__).resolve().parent.parent / "workbooks").glob("*.xlsx"))


def large(weight):
    return Spec(layers=[1, 1], weights=[[[weight]]], inputs=[[1.5]], targets=[[0.5]], steps=5)


SPECS = {**{f"kind-{name}": spec for name, spec in KINDS.items()},
         **{f"long-{name}": spec.with_overrides(steps=LONG_STEPS) for name, spec in KINDS.items()},
         "large-minus-800": large(-800.0), "large-1e6": large(1e6)}
EDITED = "edited-in-openpyxl"  # parameters edited and saved by openpyxl, with no cached values
BOOKS = [*SPECS, EDITED, *(f"example-{path.stem}" for path in EXAMPLES)]
ON_LOAD_SINGLE = "single-threaded, recalculated on load"
ON_LOAD_THREADED = "threaded, recalculated on load"
HARD_THREADED = "threaded, calculated hard twice"
RECALCULATIONS = [ON_LOAD_SINGLE, ON_LOAD_THREADED, HARD_THREADED]


@pytest.fixture(scope="module")
def books(tmp_path_factory) -> dict[str, tuple[Path, Spec]]:
    """Every book the tests recalculate: its file and the spec of the run it describes."""
    folder = tmp_path_factory.mktemp("books")
    books = {}
    for name, spec in SPECS.items():
        books[name] = (folder / f"{name}.xlsx", spec)
        workbook.write(spec, books[name][0])
    spec = preset("seed").with_overrides(steps=50)
    path = folder / f"{EDITED}.xlsx"
    workbook.write(spec, path)
    names = defined_names(path)
    book = openpyxl.load_workbook(path)  # saving with openpyxl also drops every cached value
    for name, value in (("learning_rate", EDITED_RATE), ("init_w1_1_1", -1.25)):
        sheet, address = names[name]
        book[sheet][address] = value
    book.save(path)
    assert len(formula_cells(path)) == 11 * spec.steps
    books[EDITED] = (path, spec.with_overrides(learning_rate=EDITED_RATE, weights=[[[-1.25]]]))
    for path in EXAMPLES:
        toml = path.with_suffix(".toml")  # iris.toml names its CSV file relative to itself
        spec = Spec.from_toml(toml.read_text(), source=str(toml))
        books[f"example-{path.stem}"] = (path, spec)
    return books


def calculated_hard(books: dict, folder: Path, threaded: bool) -> tuple[dict, dict]:
    """Each book loaded in one LibreOffice (which keeps the values it finds), every formula
    computed again twice (calculateAll, as Data > Calculate > Recalculate Hard), saved and read
    back; then its learning rate typed in, saved and read back. Returns both, by book."""
    hard, edited = {}, {}
    with Calc(folder / "profile", threaded=threaded) as calc:
        for name, (path, spec) in books.items():
            calc("load", path=str(path))
            calc("calculate")
            calc("calculate")
            saved = folder / f"{name}-hard.xlsx"
            calc("store", path=str(saved), filter="Calc Office Open XML")
            hard[name] = cells(saved)
            sheet, address = defined_names(path)["learning_rate"]
            # the driver types into the first sheet, which holds the parameters
            assert openpyxl.load_workbook(path, read_only=True).sheetnames[0] == sheet
            calc("cells", cells={address: EDITED_RATE})
            saved = folder / f"{name}-edited.xlsx"
            calc("store", path=str(saved), filter="Calc Office Open XML")
            edited[name] = cells(saved)
            calc("close")
    return hard, edited


@pytest.fixture(scope="module")
def recalculated(books, tmp_path_factory):
    """How LibreOffice recalculates -> book -> its cells' values; three LibreOffice runs in all."""
    paths = [path for path, _ in books.values()]
    hard, edited = calculated_hard(books, tmp_path_factory.mktemp("hard"), threaded=True)
    return {ON_LOAD_SINGLE: dict(zip(books, libreoffice_recalc_many(paths, threaded=False))),
            ON_LOAD_THREADED: dict(zip(books, libreoffice_recalc_many(paths, threaded=True))),
            HARD_THREADED: hard, "edited": edited}


@pytest.mark.parametrize("how", RECALCULATIONS)
@pytest.mark.parametrize("book", BOOKS)
def test_every_workbook_recalculates_to_the_engine(books, recalculated, book, how):
    path, spec = books[book]
    assert_matches_engine(recalculated[how][book], spec, path)


@pytest.mark.parametrize("book", [name for name in BOOKS if not name.startswith("kind-")])
def test_an_edited_learning_rate_recomputes_the_table_threaded(books, recalculated, book):
    path, spec = books[book]
    assert_matches_engine(recalculated["edited"][book], spec.with_overrides(
        learning_rate=EDITED_RATE), path)


# --- what LibreOffice shows -------------------------------------------------------------------

SHOWN = {"seed": preset("seed"), "seed-video": preset("seed-video"),
         "cross-entropy": KINDS["cross-entropy"], "mazur": preset("mazur").with_overrides(steps=60)}
DISAGREE_FILL, AGREE_FILL = "#FFC7CE", "#C6EFCE"


@pytest.fixture(scope="module")
def shown(tmp_path_factory):
    folder = tmp_path_factory.mktemp("shown")
    paths = []
    for name, spec in SHOWN.items():
        paths.append(folder / f"{name}.xlsx")
        workbook.write(spec, paths[-1])
    return folder, dict(zip(SHOWN, paths))


@pytest.fixture(scope="module")
def html(shown):
    folder, paths = shown
    return dict(zip(paths, (p.read_text() for p in libreoffice_convert(
        list(paths.values()), folder / "html", "html"))))


@pytest.fixture(scope="module")
def pdf_text(shown):
    if not shutil.which("pdftotext"):
        pytest.skip("pdftotext (poppler-utils) is not installed")
    folder, paths = shown
    pdfs = libreoffice_convert(list(paths.values()), folder / "pdf", "pdf")
    return {name: subprocess.run(["pdftotext", "-layout", str(pdf), "-"], check=True,
                                 capture_output=True, text=True).stdout
            for name, pdf in zip(paths, pdfs)}


def fills(html_text):
    """How many cells LibreOffice's HTML export shows on each background colour."""
    found = re.findall(r'<td[^>]*bgcolor="(#[0-9A-Fa-f]{6})"', html_text)
    return {colour.upper(): found.count(colour) for colour in set(found)}


def test_the_gradient_check_turns_red_where_it_disagrees(html):
    # seed-video leaves dz/dw out of the gradient: every row's relative difference is 1/3
    assert fills(html["seed-video"]).get(DISAGREE_FILL) == SHOWN["seed-video"].steps
    assert AGREE_FILL not in fills(html["seed-video"])
    assert fills(html["seed"]).get(AGREE_FILL) == SHOWN["seed"].steps
    assert DISAGREE_FILL not in fills(html["seed"])
    assert fills(html["mazur"]).get(AGREE_FILL) == 8 * SHOWN["mazur"].steps  # one per weight


def shown_number(value, number_format):
    """How a cell of `number_format` should read: six decimals, or scientific notation where
    that would hide a number that is not 0."""
    if number_format == "0":
        return f"{value:.0f}"
    if number_format == "0.00E+00":
        return f"{value:.2E}"
    return f"{value:.6f}" if value == 0 or abs(value) >= 1e-3 else f"{value:.3E}"


def test_every_number_reads_at_any_size(shown, pdf_text):
    _, paths = shown
    for name in ("seed", "seed-video"):
        spec, path = SHOWN[name], paths[name]
        names, sheet = machine_names(path), openpyxl.load_workbook(path)["Steps"]
        trace = engine.trace(spec, gradient_check=True)
        rows = {}  # step -> the words printed for its cells, as pdftotext reads the page
        for line in pdf_text[name].splitlines():
            words = line.split()
            if len(words) >= len(names) and words[0].isdigit():
                rows[int(words[0])] = words[:len(names)]
        assert sorted(rows) == list(range(1, spec.steps + 1))
        small = 0
        for step, words in rows.items():
            for (letter, key), word in zip(names.items(), words):
                value = step if key == "step" else trace[key][step - 1]
                expected = shown_number(value, sheet[f"{letter}{step + 1}"].number_format)
                assert word == expected, f"{name} {letter}{step + 1}: {word} for {value!r}"
                small += "E" in expected and not key.startswith("reldiff_")
        assert small > 100  # the falling cost from step 89 on, among others


def test_headers_show_whole(shown, pdf_text):
    """Every line of every header is one line on the printed page: none wraps inside."""
    _, paths = shown
    for name, path in paths.items():
        # pdftotext may space centred text its own way ("C=" for "C ="): compared without spaces
        printed = [line.replace(" ", "") for line in pdf_text[name].splitlines()]
        for cell in openpyxl.load_workbook(path)["Steps"][1]:
            for line in (cell.value or "").split("\n"):
                assert any(line.replace(" ", "") in text for text in printed), \
                    f"{name} {cell.coordinate}: {line!r} is not whole"
