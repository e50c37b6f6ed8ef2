"""The seed's picture of gradient descent: a run of one trained parameter gets a chart of its cost
curve C(w), drawn from a live table of formulas on a sheet of its own, with the steps' (w, C)
walking down it. The table's costs, recomputed by the `formulas` evaluator and by LibreOffice
(threaded and single-threaded), are the lesson's cost worked out here by hand with math.exp; its
range of w holds every step's w, also after the learning rate is edited; the chart plots the
table and the steps' columns; other networks get neither."""

import math
import posixpath
import re
import zipfile
from pathlib import Path
from xml.etree import ElementTree

import openpyxl
import pytest

from backprop_xl import verify, workbook
from backprop_xl.network_picture import NETWORK_SHEET, PICTURE_TITLE
from backprop_xl.presets import preset
from backprop_xl.spec import Spec
from helpers import assert_close, defined_names, machine_names
from recalc import cells, formula_cells, formulas_recalc, libreoffice_convert

SHEET = "Cost curve"  # where the table sits, as the workbook's reader sees it
TITLE = "Gradient descent on the cost curve C(w)"
POINTS = 41
STEPS = 60
I, Y, W, R = 1.5, 0.5, 0.8, 0.1  # the seed lesson: input, target, initial weight, learning rate
EDITED_RATE = 5.0  # overshoots w = 0, where C is least: the walk leaves the first run's range

SEED = preset("seed").with_overrides(steps=STEPS)
SAMPLES = dict(layers=[1, 1], weights=[[[W]]], inputs=[[1.5], [-0.5], [2.0]],
               targets=[[0.5], [0.2], [0.9]], steps=40, learning_rate=0.5)
# a batch run of three samples is too wide for the side block beside its table: Overview holds it
BATCH = Spec(**SAMPLES)
STOCHASTIC = Spec(**SAMPLES, mode="stochastic")


# --- the lesson by hand --------------------------------------------------------------------------

def sigmoid(z):
    return 1 / (1 + math.exp(-z))


def cost(w, samples=((I, Y),)):
    """C(w): (σ(i·w) − y)², the mean over the samples where there are several."""
    return sum((sigmoid(i * w) - y) ** 2 for i, y in samples) / len(samples)


def walk(rate=R, steps=STEPS):
    """Every step's w of the seed lesson: w' = w − r·2(a − y)·a(1 − a)·i."""
    ws = [W]
    for _ in range(steps - 1):
        a = sigmoid(I * ws[-1])
        ws.append(ws[-1] - rate * 2 * (a - Y) * a * (1 - a) * I)
    return ws


def pairs(spec):
    return tuple((inputs[0], targets[0]) for inputs, targets in zip(spec.inputs, spec.targets))


# --- reading the table and the chart back ---------------------------------------------------------

def table(values: dict) -> list[tuple[float, float]]:
    """The table's (w, C(w)) rows, found below its header "w" in a sheet's cells."""
    [header] = [address for address, value in values.items()
                if value == "w" and address.startswith("A")]
    top = int(header[1:]) + 1
    return [(values[f"A{row}"], values[f"B{row}"]) for row in range(top, top + POINTS)]


def steps_column(values: dict, letter: str, steps: int) -> list:
    return [values[f"{letter}{row}"] for row in range(2, steps + 2)]


def assert_grid_holds(grid: list[tuple[float, float]], ws: list[float]) -> None:
    """Evenly spaced w from below every step's w to above it, with a margin on either side."""
    xs = [w for w, _ in grid]
    assert xs[0] < min(ws) and xs[-1] > max(ws)
    spacing = (xs[-1] - xs[0]) / (POINTS - 1)
    for before, after in zip(xs, xs[1:]):
        assert after - before == pytest.approx(spacing, rel=1e-9)


def chart_parts(path) -> dict[str, list[dict]]:
    """Each sheet's charts, top down: title, where it is anchored (column, row) and its series
    (name, and the references of its x and y values), read from the package's workbook, drawing
    and chart XML by their relationships."""
    main = "{http://schemas.openxmlformats.org/spreadsheetml/2006/main}"
    relation = "{http://schemas.openxmlformats.org/officeDocument/2006/relationships}"
    c = "{http://schemas.openxmlformats.org/drawingml/2006/chart}"
    a = "{http://schemas.openxmlformats.org/drawingml/2006/main}"
    drawing = "{http://schemas.openxmlformats.org/drawingml/2006/spreadsheetDrawing}"
    with zipfile.ZipFile(path) as package:
        def xml(part):
            return ElementTree.fromstring(package.read(part))

        def targets(part):  # relationship id -> the part it names
            folder, name = posixpath.split(part)
            rels = f"{folder}/_rels/{name}.rels"
            if rels not in package.namelist():
                return {}
            return {rel.get("Id"): posixpath.normpath(posixpath.join(folder, rel.get("Target")))
                    for rel in xml(rels)}

        sheets = {}
        book = targets("xl/workbook.xml")
        for sheet in xml("xl/workbook.xml").iter(main + "sheet"):
            found = []
            for target in targets(book[sheet.get(relation + "id")]).values():
                if "/drawings/" not in target:
                    continue
                charts = targets(target)
                for anchor in xml(target).iter(drawing + "twoCellAnchor"):
                    start = anchor.find(drawing + "from")
                    root = xml(charts[anchor.find(f".//{c}chart").get(relation + "id")])
                    found.append({
                        "title": "".join(t.text for t in root.find(f"{c}chart/{c}title")
                                         .iter(f"{a}t")),
                        "at": (int(start.find(drawing + "col").text),
                               int(start.find(drawing + "row").text)),
                        "series": [(ser.find(f"{c}tx//{c}v").text,
                                    ser.find(f"{c}xVal//{c}f").text,
                                    ser.find(f"{c}yVal//{c}f").text)
                                   for ser in root.iter(f"{c}ser")]})
            sheets[sheet.get("name")] = sorted(found, key=lambda chart: chart["at"][1])
    return sheets


# --- the workbooks --------------------------------------------------------------------------

@pytest.fixture(scope="module")
def books(tmp_path_factory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("curves")
    paths = {}
    for name, spec in (("seed", SEED), ("batch", BATCH), ("stochastic", STOCHASTIC)):
        paths[name] = folder / f"{name}.xlsx"
        workbook.write(spec, paths[name])
    # the learning rate typed in with openpyxl, which saves no computed value
    paths["edited"] = folder / "edited.xlsx"
    workbook.write(SEED, paths["edited"])
    sheet, address = defined_names(paths["edited"])["learning_rate"]
    book = openpyxl.load_workbook(paths["edited"])
    book[sheet][address] = EDITED_RATE
    book.save(paths["edited"])
    return paths


def test_the_cached_costs_are_the_lessons_by_hand(books):
    grid = table(cells(books["seed"], SHEET))
    assert len(grid) == POINTS
    for w, c in grid:
        assert_close(c, cost(w), f"C({w})")
    assert_grid_holds(grid, walk())


def test_formulas_recomputes_the_table_to_the_lessons_costs(books):
    recomputed = formulas_recalc(books["seed"], sheet=SHEET)
    grid = table({**cells(books["seed"], SHEET), **recomputed})
    for (w, c), (cached_w, _) in zip(grid, table(cells(books["seed"], SHEET))):
        assert_close(w, cached_w, "w recomputed")
        assert_close(c, cost(w), f"C({w}) recomputed")
    assert_grid_holds(grid, walk())
    formulas = formula_cells(books["seed"], SHEET)
    assert len(formulas) == 4 + 2 * POINTS and set(formulas) <= set(recomputed)


@pytest.mark.parametrize("name, spec", [("batch", BATCH), ("stochastic", STOCHASTIC)])
def test_with_several_samples_the_curve_is_their_mean_cost(books, name, spec):
    """Batch mode: the step's own cost, the mean over the samples. Stochastic mode, where each
    step's C is one sample's: the mean over all of them, said so."""
    path = books[name]
    recomputed = formulas_recalc(path, sheet=SHEET)
    values = cells(path, SHEET)
    grid = table({**values, **recomputed})
    for w, c in grid:
        assert_close(c, cost(w, pairs(spec)), f"{name}: C({w})")
    for (w, c), (cached_w, cached_c) in zip(grid, table(values)):
        assert_close(cached_c, c, f"{name}: cached C({w})")
    letters = {key: letter for letter, key in machine_names(path).items()}
    steps = cells(path)
    ws = steps_column(steps, letters["w1_1_1"], spec.steps)
    assert_grid_holds(grid, ws)
    if spec.mode == "stochastic":
        assert any("the mean cost over the 3 samples" in str(v) for v in values.values())


def test_the_chart_draws_the_table_and_the_steps_below_the_cost_chart(books):
    path = books["seed"]
    letters = {key: letter for letter, key in machine_names(path).items()}
    w, c, last = letters["w1_1_1"], letters["C"], STEPS + 1
    charts = chart_parts(path)
    assert [chart["title"] for chart in charts["Steps"]] == [
        PICTURE_TITLE, "Cost and weight, step by step", TITLE]
    _, cost_chart, curve = charts["Steps"]
    assert curve["at"][0] == cost_chart["at"][0] and curve["at"][1] > cost_chart["at"][1]
    [line, dots, *ends] = curve["series"]
    rows = sorted(int(a[1:]) for a in formula_cells(path, SHEET) if a.startswith("A"))
    assert rows == list(range(rows[0], rows[0] + POINTS))  # the table's w, under its header
    top, bottom = rows[0], rows[-1]
    assert line[1:] == (f"'{SHEET}'!$A${top}:$A${bottom}", f"'{SHEET}'!$B${top}:$B${bottom}")
    assert dots[1:] == (f"Steps!${w}$2:${w}${last}", f"Steps!${c}$2:${c}${last}")
    assert [end[0] for end in ends] == ["step 1", f"step {STEPS}"]
    assert [end[1:] for end in ends] == [(f"Steps!${w}$2", f"Steps!${c}$2"),
                                         (f"Steps!${w}${last}", f"Steps!${c}${last}")]


def test_a_wide_table_keeps_the_curve_on_its_overview(books):
    charts = chart_parts(books["batch"])
    assert "Steps" not in charts or not charts["Steps"]
    assert [chart["title"] for chart in charts["Overview"]][-1] == TITLE
    assert openpyxl.load_workbook(books["batch"]).sheetnames == [
        "Overview", "Steps", "Data", "backprop_xl", SHEET, NETWORK_SHEET]


def test_the_notes_say_what_the_chart_shows(books):
    for name in ("seed", "batch", "stochastic"):
        path = books[name]
        notes = " ".join(v for v in cells(path, openpyxl.load_workbook(path).sheetnames[0])
                         .values() if isinstance(v, str))
        assert f'The chart "{TITLE}"' in notes and "a ball rolling down a curve" in notes
        assert "Edit a yellow cell and the whole table and the charts recalculate" in notes
    assert "the dots lie off the line" in " ".join(
        v for v in cells(books["stochastic"]).values() if isinstance(v, str))


def test_every_formula_of_the_table_caches_a_value(books):
    with zipfile.ZipFile(books["seed"]) as package:
        names = {sheet.get("name"): index for index, sheet in enumerate(ElementTree.fromstring(
            package.read("xl/workbook.xml")).iter(
                "{http://schemas.openxmlformats.org/spreadsheetml/2006/main}sheet"), start=1)}
        xml = package.read(f"xl/worksheets/sheet{names[SHEET]}.xml").decode()
    formulas = re.findall(r"<c [^>]*>(<f>.*?</f>.*?)</c>", xml)
    assert len(formulas) == 4 + 2 * POINTS
    assert all(re.search(r"<v>[^<]+</v>", cell) for cell in formulas)


def test_verify_passes_and_reads_the_steps_alone(books):
    report = verify.verify(books["seed"])
    assert report.agrees, [str(d) for d in report.shown]
    assert report.formulas == 11 * STEPS  # the steps table's formulas, none of the curve's


@pytest.mark.parametrize("steps", [100, 200])
def test_an_overflowing_run_caches_what_excel_computes(tmp_path, steps):
    """A linear neuron whose learning rate is far too large: its cost overflows from step 80,
    and its w from step 160, where the range's MIN and MAX, and so every cell of the table, are
    #NUM!. Before that the range holds numbers, and the costs past Excel's largest are #NUM!."""
    spec = Spec(layers=[1, 1], activations=["linear"], weights=[[[0.8]]], inputs=[[3.0]],
                targets=[[0.5]], steps=steps, learning_rate=5.0)
    path = tmp_path / "overflow.xlsx"
    assert workbook.write(spec, path) == 80
    cached = cells(path, SHEET)
    recomputed = formulas_recalc(path, sheet=SHEET)
    formulas = formula_cells(path, SHEET)
    for address in formulas:
        if cached[address] == "#NUM!":  # the evaluator may say so otherwise (verify.close)
            assert str(recomputed[address]) in verify.OVERFLOW_ERRORS, address
        else:
            assert_close(recomputed[address], cached[address], address)
    overflowing = [address for address in formulas if cached[address] == "#NUM!"]
    if steps == 100:
        assert "B4" not in overflowing and any(a.startswith("B") for a in overflowing)
    else:
        assert overflowing == list(formulas)


@pytest.mark.parametrize("spec", [preset("chain"), preset("mazur"), preset("xor"),
                                  SEED.with_overrides(init_biases=True)],
                         ids=["chain", "mazur", "xor", "seed with a bias"])
def test_runs_of_more_parameters_have_no_cost_curve(tmp_path, spec):
    path = tmp_path / "book.xlsx"
    workbook.write(spec.with_overrides(steps=5), path)
    assert SHEET not in openpyxl.load_workbook(path).sheetnames
    assert TITLE not in str(chart_parts(path))


# --- LibreOffice ---------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def recalculated(books, tmp_path_factory) -> dict[bool, dict[str, tuple[dict, dict]]]:
    """threaded -> book -> (its steps' cells, its cost curve's cells) as LibreOffice computes
    them, every formula recalculated on loading; one LibreOffice run each way."""
    folder = tmp_path_factory.mktemp("libreoffice")
    names = ["seed", "edited"]
    found = {}
    for threaded in (True, False):
        saved = libreoffice_convert([books[name] for name in names],
                                    folder / ("threaded" if threaded else "single"), "xlsx",
                                    threaded)
        found[threaded] = {name: (cells(path), cells(path, SHEET))
                           for name, path in zip(names, saved)}
    return found


@pytest.mark.libreoffice
@pytest.mark.parametrize("threaded", [True, False], ids=["threaded", "single-threaded"])
def test_libreoffice_recomputes_the_table_to_the_lessons_costs(recalculated, threaded):
    steps, curve = recalculated[threaded]["seed"]
    grid = table(curve)
    for w, c in grid:
        assert_close(c, cost(w), f"C({w}) in LibreOffice")
    ws = steps_column(steps, "B", STEPS)
    for got, expected in zip(ws, walk()):
        assert_close(got, expected, "w in LibreOffice")
    assert_grid_holds(grid, ws)


@pytest.mark.libreoffice
@pytest.mark.parametrize("threaded", [True, False], ids=["threaded", "single-threaded"])
def test_an_edited_learning_rate_moves_the_range_with_the_steps(books, recalculated, threaded):
    steps, curve = recalculated[threaded]["edited"]
    ws = steps_column(steps, "B", STEPS)
    for got, expected in zip(ws, walk(EDITED_RATE)):
        assert_close(got, expected, "w at the edited rate in LibreOffice")
    grid = table(curve)
    assert_grid_holds(grid, ws)
    for w, c in grid:
        assert_close(c, cost(w), f"C({w}) at the edited rate in LibreOffice")
    # the first run's range would not have held the new walk: the table moved with it
    first = table(cells(books["seed"], SHEET))
    assert min(ws) < first[0][0]
