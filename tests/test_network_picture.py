"""The picture of the network (network_picture.py): a scatter chart whose edges are the weights,
two series each (drawn blue where the weight is 0 or more, red where negative), labelled by cells
of a live table on the sheet Network that takes each weight from its column of the steps table at
the step of the yellow cell picture_step. Its cached values are the engine's at that step; the
`formulas` evaluator and LibreOffice (threaded and single-threaded) recompute them, and an edited
picture_step moves every label to that step's weights; regenerate keeps it; a network too large
to draw, and a comparison, have no picture."""

import re
import zipfile
from xml.etree import ElementTree

import openpyxl
import pytest

from backprop_xl import engine, names, verify, workbook
from backprop_xl.cli import main
from backprop_xl.comparison import write as write_comparison
from backprop_xl.layout import SHEET, Layout
from backprop_xl.network_picture import (MAX_WEIGHTS, NETWORK_SHEET, PICTURE_STEP_NAME,
                                         PICTURE_TITLE, STEP_ROW, TABLE_ROW)
from backprop_xl.presets import preset
from backprop_xl.spec import Spec
from helpers import defined_names, machine_names, set_named
from recalc import cells, formula_cells, formulas_recalc, libreoffice_recalc_many

C = "{http://schemas.openxmlformats.org/drawingml/2006/chart}"
A = "{http://schemas.openxmlformats.org/drawingml/2006/main}"
STEPS = 12
PRESETS = {name: preset(name).with_overrides(steps=STEPS) for name in ("seed", "mazur", "xor")}
CHOSEN = 5  # a step the tests pick, not the last
STEP_CELL = f"$B${STEP_ROW + 1}"


@pytest.fixture(scope="module")
def books(tmp_path_factory):
    """Each preset's workbook as generated (the last step shown), and with step CHOSEN."""
    folder = tmp_path_factory.mktemp("pictures")
    paths = {}
    for name, spec in PRESETS.items():
        paths[name] = folder / f"{name}.xlsx"
        workbook.write(spec, paths[name])
        paths[name, CHOSEN] = folder / f"{name}-step{CHOSEN}.xlsx"
        workbook.write(spec, paths[name, CHOSEN], picture_step=CHOSEN)
    return paths


def weights(spec):
    return [p.name for p in names.parameters(spec.layers, False)]


def picture(path) -> ElementTree.Element:
    """The chart part of the network's picture."""
    with zipfile.ZipFile(path) as package:
        for part in package.namelist():
            if re.fullmatch(r"xl/charts/chart\d+\.xml", part):
                root = ElementTree.fromstring(package.read(part))
                title = "".join(t.text for t in root.find(f"{C}chart/{C}title").iter(f"{A}t"))
                if title == PICTURE_TITLE:
                    return root
    raise AssertionError(f"{path.name} has no picture of its network")


def edge_rows(path, spec) -> dict[str, int]:
    """Each weight's row of the picture's table (Excel's numbers), by its machine name."""
    table = cells(path, NETWORK_SHEET)
    first = TABLE_ROW + 2  # under the header, TABLE_ROW (0-based)
    rows = {table[f"A{row}"]: row for row in range(first, first + len(weights(spec)))}
    assert sorted(rows) == sorted(weights(spec))
    return rows


@pytest.mark.parametrize("name", PRESETS)
def test_every_weight_is_an_edge_of_two_series_one_drawn(books, name):
    spec, path = PRESETS[name], books[name]
    series = list(picture(path).iter(f"{C}ser"))
    edges = [s for s in series if s.find(f"{C}spPr/{A}ln/{A}solidFill") is not None]
    assert len(edges) == 2 * len(weights(spec))  # where the weight is >= 0, and where < 0
    trace = engine.trace(spec)
    rows = edge_rows(path, spec)
    for parameter, row in rows.items():
        label = f"{NETWORK_SHEET}!$C${row}"
        pair = [s for s in edges if s.find(f"{C}tx/{C}strRef/{C}f").text == label]
        assert len(pair) == 2, parameter
        positive, negative = pair
        assert positive.find(f"{C}spPr/{A}ln/{A}solidFill/{A}srgbClr").get("val") == "0072B2"
        assert negative.find(f"{C}spPr/{A}ln/{A}solidFill/{A}srgbClr").get("val") == "C00000"
        for one, columns in ((positive, "G:I"), (negative, "J:L")):
            first, last = columns.split(":")
            assert one.find(f"{C}yVal//{C}f").text == \
                f"{NETWORK_SHEET}!${first}${row}:${last}${row}"
            assert one.find(f"{C}xVal//{C}f").text == f"{NETWORK_SHEET}!$D${row}:$F${row}"
            # the label: the middle point's, its label cell (Excel), and the series' name
            # (LibreOffice); the ends' deleted
            labels = one.find(f"{C}dLbls")
            [middle] = [d for d in labels.iter(f"{C}dLbl") if d.find(f"{C}delete") is None]
            assert middle.find(f"{C}idx").get("val") == "1"
            assert middle.find(f"{C}tx/{C}strRef/{C}f").text == label
            assert middle.find(f"{C}showSerName").get("val") == "1"
        # the chart caches the points of the series that draws the edge, and none of the other
        value = trace[parameter][-1]
        drawn, hidden = (positive, negative) if value >= 0 else (negative, positive)
        assert len(list(drawn.find(f"{C}yVal").iter(f"{C}pt"))) == 3
        assert not list(hidden.find(f"{C}yVal").iter(f"{C}pt"))
    nodes = [s for s in series if s.find(f"{C}marker/{C}symbol") is not None
             and s.find(f"{C}marker/{C}symbol").get("val") == "circle"]
    assert sum(len(list(s.find(f"{C}xVal").iter(f"{C}pt"))) for s in nodes) == sum(spec.layers)


@pytest.mark.parametrize("name", PRESETS)
@pytest.mark.parametrize("step", [None, CHOSEN], ids=["last", "chosen"])
def test_each_label_reads_its_weights_column_at_the_step(books, name, step):
    spec = PRESETS[name]
    path = books[name] if step is None else books[name, step]
    shown = spec.steps if step is None else step
    letters = {key: letter for letter, key in machine_names(path).items()}
    formulas, cached = formula_cells(path, NETWORK_SHEET), cells(path, NETWORK_SHEET)
    trace = engine.trace(spec)
    mazur = Layout(spec).mazur_names
    sheet, address = defined_names(path)[PICTURE_STEP_NAME]
    assert openpyxl.load_workbook(path)[sheet][address].value == shown
    assert formulas[STEP_CELL.replace("$", "")] == \
        f"=MIN(MAX(1,INT({PICTURE_STEP_NAME})),{spec.steps})"
    assert cached[STEP_CELL.replace("$", "")] == shown
    for parameter, row in edge_rows(path, spec).items():
        column = letters[parameter]
        assert formulas[f"B{row}"] == \
            f"=INDEX({SHEET}!${column}$2:${column}${spec.steps + 1},{STEP_CELL})"
        value = trace[parameter][shown - 1]
        assert cached[f"B{row}"] == pytest.approx(value, rel=1e-12, abs=1e-15)
        name_shown = mazur.get(parameter, "w" if spec.layers == [1, 1] else parameter)
        assert formulas[f"C{row}"] == f'="{name_shown} = "&TEXT(B{row},"0.000")'
        assert cached[f"C{row}"] == f"{name_shown} = {value:.3f}"
        # the y's of the series that draws it, and #N/A in the other's
        drawn, hidden = ("GHI", "JKL") if value >= 0 else ("JKL", "GHI")
        assert all(isinstance(cached[f"{c}{row}"], float) for c in drawn)
        assert all(cached[f"{c}{row}"] == "#N/A" for c in hidden)
    # and Steps holds the same number on that step's row
    steps = cells(path)
    for parameter, row in edge_rows(path, spec).items():
        assert cached[f"B{row}"] == steps[f"{letters[parameter]}{shown + 1}"]


def test_the_formulas_evaluator_recomputes_the_table_to_its_cached_values(books):
    path = books["mazur", CHOSEN]
    recomputed = formulas_recalc(path, sheet=NETWORK_SHEET)
    cached = cells(path, NETWORK_SHEET)
    for address in formula_cells(path, NETWORK_SHEET):
        value = recomputed[address]
        if cached[address] == "#N/A":
            assert str(value) == "#N/A", address
        elif isinstance(cached[address], str):
            assert value == cached[address], address
        else:
            assert value == pytest.approx(cached[address], rel=1e-12), address


def test_mazurs_picture_reads_as_his_diagram(books):
    """Inputs left, hidden in the middle, outputs right, first neurons on top; his names."""
    path = books["mazur"]
    table = cells(path, NETWORK_SHEET)
    nodes = {table[f"A{row}"]: (table[f"D{row}"], table[f"E{row}"]) for row in range(1, 200)
             if table.get(f"A{row}") in ("i1", "i2", "h1", "h2", "o1", "o2")}
    assert nodes == {"i1": (0, 0.5), "i2": (0, -0.5), "h1": (1, 0.5), "h2": (1, -0.5),
                     "o1": (2, 0.5), "o2": (2, -0.5)}
    labels = sorted(v.split(" = ")[0] for v in table.values()
                    if isinstance(v, str) and re.fullmatch(r"[wb]\d = -?\d\.\d{3}", v))
    assert labels == ["b1", "b1", "b2", "b2", "w1", "w2", "w3", "w4", "w5", "w6", "w7", "w8"]


def test_verify_passes_and_the_notes_say_what_the_picture_shows(books):
    for name in PRESETS:
        report = verify.verify(books[name, CHOSEN])
        assert report.agrees, [str(d) for d in report.shown]
    path = books["mazur"]
    notes = " ".join(v for v in cells(path, "Overview").values() if isinstance(v, str))
    assert f'The chart "{PICTURE_TITLE}" draws the network' in notes
    assert PICTURE_STEP_NAME in notes


def test_regenerate_keeps_an_edited_step_and_follows_the_last_one(tmp_path, capsys):
    book = tmp_path / "seed.xlsx"
    assert main(["generate", "-o", str(book), "--steps", "20"]) == 0
    assert main(["regenerate", str(book), "--steps", "30", "--no-backup"]) == 0
    sheet, address = defined_names(book)[PICTURE_STEP_NAME]
    assert openpyxl.load_workbook(book)[sheet][address].value == 30  # the new last step
    set_named(book, **{PICTURE_STEP_NAME: 7})
    assert main(["regenerate", str(book), "--steps", "40", "--no-backup"]) == 0
    assert openpyxl.load_workbook(book)[sheet][address].value == 7
    cached = cells(book, NETWORK_SHEET)
    assert cached[STEP_CELL.replace("$", "")] == 7
    w = engine.trace(preset("seed").with_overrides(steps=40))["w1_1_1"]
    assert cached[f"B{TABLE_ROW + 2}"] == pytest.approx(w[6], rel=1e-12)
    assert main(["regenerate", str(book), "--check"]) == 0
    assert main(["verify", str(book)]) == 0
    capsys.readouterr()


def test_no_picture_for_a_network_too_large_or_a_comparison(tmp_path):
    spec = Spec(layers=[8, 8], activations=["sigmoid"], init_seed=1, inputs=[[0.5] * 8],
                targets=[[0.5] * 8], steps=2, gradient_check=False)
    assert 64 > MAX_WEIGHTS
    path = tmp_path / "large.xlsx"
    workbook.write(spec, path)
    assert NETWORK_SHEET not in openpyxl.load_workbook(path).sheetnames
    assert PICTURE_STEP_NAME not in defined_names(path)
    tall = Spec(layers=[1, 20], activations=["sigmoid"], init_seed=1, inputs=[[0.5]],
                targets=[[0.5] * 20], steps=2, gradient_check=False)  # 20 weights, one layer of 20
    workbook.write(tall, path, force=True)
    assert NETWORK_SHEET not in openpyxl.load_workbook(path).sheetnames
    seed = preset("seed").with_overrides(steps=5)
    compared = tmp_path / "compare.xlsx"
    write_comparison(seed, [seed, seed.with_overrides(learning_rate=0.5)], compared)
    assert NETWORK_SHEET not in openpyxl.load_workbook(compared).sheetnames


# --- LibreOffice ---------------------------------------------------------------------------------

@pytest.mark.libreoffice
@pytest.mark.parametrize("threaded", [True, False], ids=["threaded", "single-threaded"])
def test_libreoffice_moves_the_labels_to_an_edited_step(tmp_path, threaded):
    """The step typed into picture_step (openpyxl saves no cached values): LibreOffice computes
    every label from that step's weights, and the sign's y's from them."""
    spec = PRESETS["mazur"]
    path = tmp_path / "mazur.xlsx"
    workbook.write(spec, path)
    set_named(path, **{PICTURE_STEP_NAME: CHOSEN})
    [recomputed] = libreoffice_recalc_many([path], NETWORK_SHEET, threaded)
    trace = engine.trace(spec)
    mazur = Layout(spec).mazur_names
    assert recomputed[STEP_CELL.replace("$", "")] == CHOSEN
    assert recomputed["B5"] == f"step {CHOSEN}"  # the caption
    for parameter, row in edge_rows(path, spec).items():
        value = trace[parameter][CHOSEN - 1]
        assert value != pytest.approx(trace[parameter][-1])  # the step shown did change
        assert recomputed[f"B{row}"] == pytest.approx(value, rel=1e-9)
        assert recomputed[f"C{row}"] == f"{mazur[parameter]} = {value:.3f}"
        drawn, hidden = ("GHI", "JKL") if value >= 0 else ("JKL", "GHI")
        assert all(isinstance(recomputed[f"{c}{row}"], (int, float)) for c in drawn)
        assert all(recomputed[f"{c}{row}"] == "#N/A" for c in hidden)
