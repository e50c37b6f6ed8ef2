"""The generated workbook: live formulas recomputed by an independent evaluator (`formulas`) agree
with their cached values and with the engine, for every kind of run; layout, names, charts, number
and conditional formats, notes, and reproducibility of the seed lesson's workbook."""

import itertools
import math
import re
import zipfile
from dataclasses import dataclass
from xml.etree import ElementTree

import openpyxl
import pytest

from backprop_xl import workbook
from backprop_xl.layout import CURVE_TITLE
from backprop_xl.network_picture import NETWORK_SHEET, PICTURE_TITLE
from backprop_xl.presets import preset
from backprop_xl.spec import Spec
from helpers import (MAZUR_PUBLISHED_AFTER_ONE_STEP, assert_close, assert_matches_engine,
                     defined_names, engine_values, machine_names, reference_names)
from kinds import KINDS
from recalc import cells, formula_cells, formulas_recalc

STEPS = 50


@pytest.fixture(scope="module")
def book(tmp_path_factory):
    spec = preset("seed").with_overrides(steps=STEPS)
    path = tmp_path_factory.mktemp("book") / "seed50.xlsx"
    workbook.write(spec, path)
    return spec, path


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
        name, _, scale = expected[address]
        assert_close(recomputed[address], cached[address], f"{address} against cached", name,
                     scale)


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
    assert book.sheetnames == ["Overview", "Steps", "backprop_xl", NETWORK_SHEET]
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
    for address, (name, expected, scale) in engine_values(spec, path).items():
        assert_close(cached[address], expected, address, name, scale)


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


def test_parameter_cells_are_named_and_hold_the_spec(book):
    spec, path = book
    values = cells(path)
    assert {name: values[address] for name, (sheet, address) in defined_names(path).items()} == {
        "input": 1.5, "target": 0.5, "learning_rate": 0.1, "init_w1_1_1": 0.8, "fd_step": 1e-5,
        "gradient_check_threshold": 1e-4, "picture_step": STEPS}  # the network's picture's step


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
        for sheet in openpyxl.load_workbook(path, read_only=True).sheetnames:
            for formula in formula_cells(path, sheet).values():
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


# --- what the workbook shows: formats, the gradient check's colours, charts, headers, notes ----

def parameter_cell(path, name):
    """The openpyxl cell a defined name points at."""
    sheet, address = defined_names(path)[name]
    return openpyxl.load_workbook(path)[sheet][address]


def rules(path):
    """Column letter -> the conditional format rules over its cells, read by openpyxl, each with
    the cells it covers and the differential style it applies."""
    book = openpyxl.load_workbook(path)
    found = {}
    for formatting in book["Steps"].conditional_formatting:
        for rule in formatting.rules:
            style = rule.dxf or book._differential_styles[rule.dxfId]
            for cells_range in formatting.sqref.ranges:
                letter = re.match(r"[A-Z]+", cells_range.coord).group()
                found.setdefault(letter, []).append((cells_range.coord, rule, style))
    return found


def fill(style):
    return style.fill.bgColor.rgb[-6:].upper() if style.fill else None


def test_small_numbers_switch_to_scientific_notation(kind_books):
    import formulas  # an independent evaluator of the rules' formulas
    for kind, path in kind_books.items():
        spec, found = KINDS[kind], rules(path)
        sheet = openpyxl.load_workbook(path)["Steps"]
        for letter, name in machine_names(path).items():
            if name.startswith("reldiff_"):
                continue
            if name in ("step", "sample", "batch") or name.startswith("correct"):
                assert letter not in found, (kind, name)  # whole numbers, shown whole
                continue
            if name == "accuracy":  # a share of the step's samples, or one sample's 1 or 0
                assert sheet[f"{letter}2"].number_format == (
                    "0.0%" if spec.step_samples > 1 else "0"), kind
                assert letter not in found, kind
                continue
            assert sheet[f"{letter}2"].number_format == "0.000000", (kind, name)
            [(coord, rule, style)] = found[letter]
            assert coord == f"{letter}2:{letter}{spec.steps + 1}" and rule.type == "expression"
            assert style.numFmt.formatCode == "0.000E+00", (kind, name)
            applies = formulas.Parser().ast("=" + rule.formula[0])[1].compile()
            for value, small in ((0.0, False), (5e-4, True), (-5e-4, True), (2.5e-17, True),
                                 (0.001, False), (-0.002, False), (0.768525, False)):
                assert bool(applies(value)) == small, (kind, name, value)


@pytest.mark.parametrize("kind", ["seed", "seed-video", "mazur", "xor-batch"])
def test_the_gradient_check_is_red_past_its_threshold_cell_green_below(kind_books, kind):
    path, spec = kind_books[kind], KINDS[kind]
    threshold = parameter_cell(path, "gradient_check_threshold")
    # a yellow parameter cell like the others, holding the default of 1e-4
    assert threshold.value == 1e-4
    assert threshold.fill.fgColor.rgb == parameter_cell(path, "learning_rate").fill.fgColor.rgb
    found, cached = rules(path), cells(path)
    colours = []
    for letter, name in machine_names(path).items():
        if not name.startswith("reldiff_"):
            continue
        compare = {"greaterThan": lambda a, b: a > b, "lessThanOrEqual": lambda a, b: a <= b}
        by_fill = {fill(style): (rule.operator, rule.formula) for _, rule, style in found[letter]}
        assert by_fill == {"FFC7CE": ("greaterThan", ["gradient_check_threshold"]),
                           "C6EFCE": ("lessThanOrEqual", ["gradient_check_threshold"])}
        for row in range(2, spec.steps + 2):
            [shown] = [colour for colour, (operator, _) in by_fill.items()
                       if compare[operator](cached[f"{letter}{row}"], threshold.value)]
            colours.append(shown)
    # seed-video's gradient leaves out dz/dw: it lights up on every row; right gradients do not
    assert set(colours) == ({"FFC7CE"} if kind == "seed-video" else {"C6EFCE"})


@dataclass(frozen=True)
class Line:
    name: str  # in the legend
    values: str  # the reference it plots
    colour: str
    dash: str | None


def charts(path) -> list[tuple[str, list[Line]]]:
    """Every chart's title and lines, in order, read from the package's chart XML."""
    c, a = "{http://schemas.openxmlformats.org/drawingml/2006/chart}", \
        "{http://schemas.openxmlformats.org/drawingml/2006/main}"
    found = []
    with zipfile.ZipFile(path) as package:
        parts = [n for n in package.namelist() if re.fullmatch(r"xl/charts/chart\d+\.xml", n)]
        for part in sorted(parts, key=lambda n: int(re.search(r"\d+", n).group())):
            root = ElementTree.fromstring(package.read(part))
            title = "".join(t.text for t in root.find(f"{c}chart/{c}title").iter(f"{a}t"))
            if title == PICTURE_TITLE:  # the network's picture: test_network_picture.py
                continue
            lines = []
            for series in root.iter(f"{c}ser"):
                line = series.find(f"{c}spPr/{a}ln")
                dash = line.find(f"{a}prstDash")
                lines.append(Line(series.find(f"{c}tx//{c}v").text,
                                  series.find(f"{c}yVal//{c}f").text,
                                  line.find(f"{a}solidFill/{a}srgbClr").get("val"),
                                  None if dash is None else dash.get("val")))
            found.append((title, lines))
    return found


def lab(colour):
    """CIE L*a*b* (D65) of an sRGB colour "RRGGBB", for telling colours apart (CIE76 distance)."""
    def linear(channel):
        return ((channel + 0.055) / 1.055) ** 2.4 if channel > 0.04045 else channel / 12.92

    r, g, b = (linear(int(colour[i:i + 2], 16) / 255) for i in (0, 2, 4))
    x = (0.4124 * r + 0.3576 * g + 0.1805 * b) / 0.95047
    y = 0.2126 * r + 0.7152 * g + 0.0722 * b
    z = (0.0193 * r + 0.1192 * g + 0.9505 * b) / 1.08883

    def f(t):
        return t ** (1 / 3) if t > 0.008856 else 7.787 * t + 16 / 116

    return 116 * f(y) - 16, 500 * (f(x) - f(y)), 200 * (f(y) - f(z))


@pytest.mark.parametrize("kind", KINDS)
def test_every_trained_parameter_is_on_a_chart_in_a_colour_of_its_own(kind_books, kind):
    path, spec = kind_books[kind], KINDS[kind]
    letters = {name: letter for letter, name in machine_names(path).items()}
    charted = []
    for title, lines in charts(path):
        if title == CURVE_TITLE:  # the cost curve's chart: test_cost_curve.py
            continue
        if title == "Cost and accuracy, step by step":  # a classifier's: test_iris.py
            assert spec.classifies and [line.name for line in lines] == ["cost C", "accuracy"]
            continue
        cost, *parameters = lines
        assert cost.values == f"Steps!${letters['C']}$2:${letters['C']}${spec.steps + 1}", title
        charted += [line.values for line in parameters]
        for one, other in itertools.combinations(lines, 2):
            distance = math.dist(lab(one.colour), lab(other.colour))
            assert distance > 20, f"{title}: {one.name} and {other.name} look alike"
    assert sorted(charted) == sorted(f"Steps!${letters[name]}$2:${letters[name]}${spec.steps + 1}"
                                     for name in reference_names(spec))


MAZUR_BEFORE = {"w1": 0.15, "w2": 0.20, "w3": 0.25, "w4": 0.30,
                "w5": 0.40, "w6": 0.45, "w7": 0.50, "w8": 0.55}  # his network, as he draws it
MAZUR_BIASES = {"b1": 0.35, "b2": 0.60}


def test_mazur_workbook_shows_mazurs_names_beside_ours(kind_books):
    path = kind_books["mazur"]
    names, values = machine_names(path), cells(path)
    letters = {name: letter for letter, name in names.items()}
    headers = openpyxl.load_workbook(path)["Steps"][1]
    legends = {}
    for _, lines in charts(path):
        for line in lines[1:]:
            [mazur] = re.findall(r"\((w\d)\)$", line.name)
            legends[mazur] = re.match(r"Steps!\$([A-Z]+)\$", line.values).group(1)
    assert sorted(legends) == sorted(MAZUR_BEFORE)
    for mazur, letter in legends.items():
        # the line his name labels is his weight: his value before the first step, and after
        assert values[f"{letter}2"] == MAZUR_BEFORE[mazur]
        after = letters["new_" + names[letter]]
        assert values[f"{after}2"] == pytest.approx(MAZUR_PUBLISHED_AFTER_ONE_STEP[mazur], abs=1e-8)
        # and the notes of its columns' headers say so
        for cell in headers:
            if cell.value and names.get(cell.column_letter, "").endswith(names[letter]):
                assert re.search(rf"\b{mazur}\b", cell.comment.text), cell.coordinate
    # the parameter cells' labels, the fixed biases' too
    sheet = parameter_cell(path, "learning_rate").parent
    labelled = {}
    for row in sheet.iter_rows(values_only=True):
        texts = [v for v in row if isinstance(v, str)]
        numbers = [v for v in row if isinstance(v, (int, float))]
        for label in texts:
            for mazur in re.findall(r"\((w\d|b\d)\b", label):
                labelled.setdefault(mazur, set()).update(numbers)
    assert labelled == {name: {value} for name, value in {**MAZUR_BEFORE, **MAZUR_BIASES}.items()}


def test_only_a_2_2_2_network_gets_mazurs_names(kind_books):
    for kind, path in kind_books.items():
        lines = [line for _, chart_lines in charts(path) for line in chart_lines]
        comments = [cell.comment for cell in openpyxl.load_workbook(path)["Steps"][1]
                    if cell.comment]
        shows = any(re.search(r"\(w\d\)", line.name) for line in lines) or bool(comments)
        assert shows == (KINDS[kind].layers == [2, 2, 2]), kind


@pytest.mark.parametrize("kind", KINDS)
def test_headers_fit_their_columns_and_break_outside_parentheses(kind_books, kind):
    sheet = openpyxl.load_workbook(kind_books[kind])["Steps"]
    lines = max(len(cell.value.split("\n")) for cell in sheet[1] if cell.value)
    assert sheet.row_dimensions[1].height >= 14 * lines
    for cell in sheet[1]:
        if not cell.value:
            continue
        width = sheet.column_dimensions[cell.column_letter].width
        for line in cell.value.split("\n"):
            assert len(line) <= width, f"{cell.coordinate}: {line!r} in {width}"
            depth = 0
            for character in line:
                depth += {"(": 1, ")": -1}.get(character, 0)
                assert depth >= 0, f"{cell.coordinate}: {line!r} breaks inside parentheses"
            assert depth == 0, f"{cell.coordinate}: {line!r} breaks inside parentheses"


def test_notes_say_how_to_change_the_steps_and_what_red_means(kind_books):
    for kind, path in kind_books.items():
        notes = " ".join(v for v in cells(path, openpyxl.load_workbook(path).sheetnames[0]).values()
                         if isinstance(v, str))
        assert "backprop-xl regenerate BOOK.xlsx --steps N" in notes
        assert "generate --steps" not in notes.replace("regenerate", "")
        checks = KINDS[kind].checks_gradient
        assert ("red above the threshold in the yellow cell gradient_check_threshold" in notes) \
            == checks, kind


def test_no_column_repeats_a_formula_on_100_rows(tmp_path):
    """LibreOffice computes a run of 100 or more like formulas down a column in threads, which
    breaks the row-to-row loop of the table (test_libreoffice.py): every column of the loop has
    no such run. The gradient check's columns are outside the loop: no formula reads them."""
    from openpyxl.formula.tokenizer import Tokenizer
    from openpyxl.formula.translate import Translator
    from openpyxl.utils.cell import coordinate_from_string
    for kind in ("seed", "mazur", "stochastic-biases-tanh"):
        path = tmp_path / f"{kind}.xlsx"
        workbook.write(KINDS[kind].with_overrides(steps=300), path)
        names = machine_names(path)
        check = {letter for letter, name in names.items() if name.startswith(("fd_", "reldiff_"))}
        by_column, read = {}, set()  # read: the columns the loop's formulas refer to
        for address, formula in formula_cells(path).items():
            letter, row = coordinate_from_string(address)
            # as LibreOffice compares formulas: moved to one row, references relative to the cell
            by_column.setdefault(letter, {})[row] = Translator(formula, address).translate_formula(
                f"{letter}1000")
            if letter not in check:
                read |= {coordinate_from_string(token.value.replace("$", ""))[0]
                         for token in Tokenizer(formula).items if token.subtype == "RANGE"
                         and re.fullmatch(r"\$?[A-Z]+\$?\d+", token.value)}
        assert read and not read & check
        for letter, formulas in by_column.items():
            column = [formulas[row] for row in sorted(formulas)]
            longest = max(len(list(run)) for _, run in itertools.groupby(column))
            assert longest < 100 or letter in check, (kind, names[letter], longest)
