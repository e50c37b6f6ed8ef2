"""Writes a run as an .xlsx workbook (XlsxWriter): the steps table, every computed cell a live formula
stored with the engine's value; the named cells those formulas use (parameters beside a narrow
table or on an Overview sheet before a wide one, several samples on a Data sheet); the table's
number formats and conditional formats (small numbers, the gradient check's red and green);
charts of the cost and the parameters; notes. A run of one trained parameter (the seed lesson) also
gets its cost curve C(w), a live table on a sheet of its own, charted with the steps on it.

Rows go out in order in XlsxWriter's constant-memory mode, so a side block beside the table
(parameters, chart, notes) is written row by row alongside it.

The pieces without a leading underscore (new_book, add_styles, set_up_steps_page, write_header,
write_steps, add_conditional_formats, write_data_sheet, write_spec_sheet, the cost curve's Walk,
write_cost_curve_sheet and curve_chart, check) are comparison.py's too: it writes several runs'
steps sheets into one book with them.
"""

from __future__ import annotations

import datetime
import math
import os
import textwrap
from pathlib import Path

import numpy as np
import xlsxwriter
from xlsxwriter.exceptions import XlsxWriterException
from xlsxwriter.worksheet import Worksheet
from xlsxwriter.utility import quote_sheetname, xl_col_to_name, xl_rowcol_to_cell

from . import __version__, datasheet, engine, names, progress
from .datasheet import DataSheet
from .errors import UserError
from .files import atomic_output, cannot_write
from .kernels import batches
from .layout import (ACCURACY_FORMAT, DATA_SHEET, HEADER_ROW, OVERVIEW_SHEET, QUANTITY_FORMAT,
                     SHEET, SPEC_MARKER, SPEC_SHEET, THRESHOLD_NAME, Layout)
from .layout import COST_CURVE_SHEET, CURVE_POINTS, CURVE_TITLE
from .network_picture import PICTURE_STEP_NAME, Picture, drawn
from .names import OVERFLOW
from .spec import Spec

# A fixed creation date makes the same spec give the same bytes.
CREATED = datetime.datetime(2026, 1, 1)

# The side block sits right of the table after a narrow gap, and starts on row 2 so that the
# header row, repeated on every printed page, holds only the table's headers.
TITLE_ROW = 1
PARAMETER_ROW = TITLE_ROW + 2
CHART_ROWS = 19
NOTES_WIDTH = 62  # characters: wrapped to stay within the side block, which printing scales to fit

SIDE_BY_SIDE_COLUMNS = 16  # up to this many table columns, the side block sits beside the table
COLUMN_WIDTH = 14  # characters, the table's columns but the step's; wider for a longer header
HEADER_LINE_POINTS = 15  # the header row's height per line of its tallest header
BOLD_WIDTH = 1.15  # a bold header's character, in widths of the column's character ("0")

# A quantity's cells show six decimals (0.768525), and those smaller than SMALL in size but not 0
# (a cost near its minimum, a tiny gradient), which would show as 0.000000, switch to scientific
# notation (2.345E-07) by a conditional format, whose sign every application gets right. A
# conditional number format ([>=0.001]0.000000;[<=-0.001]-0.000000;0.000E+00) cannot: Excel drops
# the minus in a section whose condition admits only negative numbers (the format writes its own),
# LibreOffice in the second and third sections whatever they admit, so small negative numbers
# lose their sign in one or the other.
SMALL = 1e-3
SMALL_FORMAT = "0.000E+00"

SPEC_CELL_CHARACTERS = 32_000

# The gradient check's relative differences above the threshold cell (THRESHOLD_NAME), and at or
# below it: Excel's own light red and green fills with dark text.
DISAGREE = {"bg_color": "#FFC7CE", "font_color": "#9C0006"}
AGREE = {"bg_color": "#C6EFCE", "font_color": "#006100"}

# A chart's lines: the cost thick and dark red, on the left axis; the parameters on the right, in
# colours that tell apart (Okabe and Ito's, yellow made darker to show on white), the last four
# dashed as well, for readers who tell fewer colours apart and for grey print.
COST_LINE = {"color": "#C00000", "width": 2.25}
ACCURACY_LINE = {"color": "#009E73", "width": 1.5}
PARAMETER_LINES = [{"color": colour, "width": 1.5, **({"dash_type": "dash"} if dashed else {})}
                   for colour, dashed in (("#0072B2", False), ("#E69F00", False),
                                          ("#009E73", False), ("#CC79A7", False),
                                          ("#56B4E9", True), ("#000000", True),
                                          ("#8C8C8C", True), ("#9E9A00", True))]

PHASE_COLOURS = {"step": "#D9D9D9", "parameters": "#BDD7EE", "forward": "#E2EFDA",
                 "loss": "#F8CBAD", "backward": "#FCE4D6", "update": "#DDEBF7", "check": "#E4DFEC"}


# The only functions our formulas call. None is one of the newer Excel functions that XlsxWriter
# rewrites with an _xlfn. prefix, so its search for them, some 29 regular expressions run on every
# formula and most of the writing time (docs/performance.md), can be skipped; tests hold the
# bytes equal. (AVERAGE and STDEVP, not the newer STDEV.P, also compute standardized inputs on
# the Data sheet: datasheet.py; INT, NA and TEXT draw the Network sheet: network_picture.py.)
FORMULA_FUNCTIONS = ("ABS", "AVERAGE", "EXP", "IF", "INDEX", "INT", "LN", "MAX", "MIN", "MOD",
                     "NA", "SQRT", "STDEVP", "TANH", "TEXT")


class PlainFormulaWorksheet(Worksheet):
    """A worksheet that stores formulas as given, without searching them for newer functions."""

    def _prepare_formula(self, formula, expand_future_functions=False):
        return formula[1:] if formula.startswith("=") else formula


def write(spec: Spec, path: Path, force: bool = False, plain_formulas: bool = True,
          picture_step: float | None = None,
          unchanged_since: os.stat_result | None = None) -> int | None:
    """Write `spec`'s run to `path`, atomically; refuse an existing file unless `force`.
    `plain_formulas=False` lets XlsxWriter prepare every formula itself (for comparison).
    `picture_step`: the yellow cell of the network's picture (network_picture.py), as the user
    left it (regenerate keeps it); None: the last step. `unchanged_since`: for a rewrite, the
    file as it was read (files.atomic_output).
    Returns the first step whose numbers overflow to inf or NaN, None if none does."""
    layout = Layout(spec)  # refuses what a sheet cannot hold, before touching files
    with atomic_output(Path(path), force, unchanged_since) as temporary:
        try:
            return _write(layout, temporary, PlainFormulaWorksheet if plain_formulas else None,
                          picture_step)
        except XlsxWriterException as error:
            raise cannot_write(path, error) from None


# Excel has no infinity or NaN: a formula whose value overflows shows #NUM!, so that is the value
# a cell caches where the engine's number is not finite.


def overflow_note(step: int) -> str:
    return (f"step {step} is the first whose numbers overflow (inf or NaN in the engine, "
            f"{OVERFLOW} in Excel): the learning rate or the inputs are too large for this run")


def _write(layout: Layout, path: Path, worksheet_class=None,
           picture_step: float | None = None) -> int | None:
    """The workbook of `layout` at `path`; returns the first step whose numbers overflow, if one.
    XlsxWriter's constant_memory mode writes each sheet row by row, top down, once: so the side
    block beside the table is written row by row along with it."""
    book = new_book(layout.spec, path)
    styles = add_styles(book)
    # A narrow table keeps parameters, chart and notes beside it, in view; a wide one would push
    # them far off to the right, so they get a first sheet of their own.
    beside = len(layout.columns) <= SIDE_BY_SIDE_COLUMNS
    overview = None if beside else book.add_worksheet(OVERVIEW_SHEET)
    sheet = book.add_worksheet(SHEET, worksheet_class=worksheet_class)
    side_sheet = sheet if beside else overview
    label_column = len(layout.columns) + 1 if beside else 0
    positions = {column.key: index for index, column in enumerate(layout.columns)}
    # the network's picture, first of the charts; none for a network too large to draw legibly
    picture = Picture(layout, positions, picture_step) if drawn(layout) else None
    side, chart_row, picture_row = _side_block(layout, book, styles, label_column, picture)
    _side_columns(side_sheet, label_column)
    set_up_steps_page(sheet, layout, beside, max(side), label_column)
    if overview:
        _overview_page(overview, side)
    write_header(sheet, layout, styles)
    walk = Walk(layout, positions) if layout.cost_curve else None
    first_overflow = write_steps(sheet, layout, styles, side if beside else None,
                                 Watchers(each for each in (walk, picture) if each is not None))

    for row, cell in enumerate(layout.parameter_cells(), start=PARAMETER_ROW):
        address = xl_rowcol_to_cell(row, label_column + 1, row_abs=True, col_abs=True)
        book.define_name(cell.name, f"={side_sheet.name}!{address}")
    if layout.data_on_sheet:
        write_data_sheet(book, layout.spec, styles)
    add_conditional_formats(sheet, layout, styles)
    charts = [_chart(book, layout, positions, group) for group in layout.chart_groups()]
    if layout.spec.classifies:  # a classifier's cost and accuracy first
        charts.insert(0, accuracy_chart(book, layout, positions))
    if walk is not None:  # below the others
        charts.append(curve_chart(book, layout, positions))
    for offset, chart in enumerate(charts):
        side_sheet.insert_chart(chart_row + offset * CHART_ROWS, label_column, chart,
                                {"x_scale": 1.0, "y_scale": 1.2})
    if picture is not None:  # its yellow cell and under it the picture, above the other charts
        # but made after them, so that they keep their numbers
        address = xl_rowcol_to_cell(picture_row, label_column + 1, row_abs=True, col_abs=True)
        book.define_name(PICTURE_STEP_NAME, f"={side_sheet.name}!{address}")
        side_sheet.insert_chart(picture_row + 1, label_column, picture.chart(book))
    write_spec_sheet(book, layout.spec)
    if walk is not None:  # after the spec sheet, so that every other sheet keeps its number
        write_cost_curve_sheet(book, layout, styles, [walk])
    if picture is not None:  # last, likewise
        picture.write_sheet(book, styles, check)
    book.close()
    return first_overflow


class Watchers(list):
    """What sees every row write_steps writes (the cost curve's Walk, the network's Picture),
    as one."""

    def see(self, values) -> None:
        for watcher in self:
            watcher.see(values)


def new_book(spec: Spec, path: Path, title: str | None = None,
          subject: str = "gradient descent, one row per step"):
    # A sheet past 4 GB (mazur's 66 columns reach it near 300,000 steps) needs the zip's ZIP64
    # records; Python's zipfile writes them only for a part that large, so smaller books keep
    # their bytes.
    book = xlsxwriter.Workbook(str(path), {"constant_memory": True, "use_zip64": True})
    book.set_properties({
        "title": title or spec.title,
        "subject": subject,
        "author": f"backprop_xl {__version__}",
        "created": CREATED,
    })
    return book


def set_up_steps_page(sheet, layout: Layout, beside: bool, last_side_row: int,
                      label_column: int):
    """The steps sheet's columns, frozen header and printed pages."""
    columns = layout.columns
    sheet.set_row(HEADER_ROW, HEADER_LINE_POINTS * max(len(c.heading) for c in columns) + 4)
    sheet.set_column(0, 0, 7)
    for index, column in enumerate(columns[1:], start=1):
        longest = max(len(line) for line in column.heading)
        sheet.set_column(index, index, max(COLUMN_WIDTH, math.ceil(longest * BOLD_WIDTH) + 1))
    sheet.freeze_panes(HEADER_ROW + 1, 1)
    sheet.repeat_rows(HEADER_ROW)
    landscape(sheet)
    if beside:  # fit the table and its side block to the page width; a wide table spans pages
        sheet.set_column(len(columns), len(columns), 2)
        sheet.fit_to_pages(1, 0)
        sheet.print_area(0, 0, max(HEADER_ROW + layout.spec.steps, last_side_row),
                         label_column + 2)


def _overview_page(overview, side: dict) -> None:
    """The first sheet of a wide table's workbook: the side block alone."""
    landscape(overview)
    overview.activate()
    overview.fit_to_pages(1, 0)
    for row in range(max(side) + 1):
        _write_side(overview, side, row)


def landscape(page) -> None:
    page.set_landscape()
    page.set_margins(left=0.3, right=0.3, top=0.4, bottom=0.4)


def write_header(sheet, layout: Layout, styles) -> None:
    """The table's header row: each column's heading, and Mazur's name where he has one."""
    for index, column in enumerate(layout.columns):
        check(sheet.write_string(HEADER_ROW, index, "\n".join(column.heading),
                                  styles["header:" + column.phase]))
        mazur = layout.mazur_names.get(column.parameter)
        if mazur:
            check(sheet.write_comment(HEADER_ROW, index, f"{column.parameter} is {mazur} in "
                                       f"Mazur's \"A Step by Step Backpropagation Example\""))


def write_steps(sheet, layout: Layout, styles, side: dict | None,
           walk: Walk | None = None) -> int | None:
    """Every step's row: each column's formula with the engine's value cached (a number for the
    step column), and beside it, when given, the side block's row; `walk`, when given, sees every
    row's values. Returns the first step whose numbers overflow, which caches #NUM! and gets a
    comment, if one does."""
    spec, columns = layout.spec, layout.columns
    if side is not None:
        _write_side(sheet, side, HEADER_ROW)
    number_styles = [styles[column.number_format] for column in columns]
    templates = layout.formulas()
    steps = engine.rows(spec, [column.key for column in columns], layout.gradient_check)
    first_overflow = None
    for number, values in enumerate(progress.watched(steps, spec.steps, "writing"), start=1):
        row = HEADER_ROW + number
        numbers = {"r": row + 1, "p": row}
        for index, value in enumerate(values):
            if not math.isfinite(value):
                value = OVERFLOW
                if first_overflow is None:
                    first_overflow = number
                    check(sheet.write_comment(row, 0, overflow_note(number)))
            if templates[index] is None:
                check(sheet.write_number(row, index, value, number_styles[index]))
            else:
                formula = templates[index][number > 1].format_map(numbers)
                check(sheet.write_formula(row, index, formula, number_styles[index], value))
        if walk is not None:
            walk.see(values)
        if side is not None:
            _write_side(sheet, side, row)
    if side is not None:
        for row in sorted(r for r in side if r > HEADER_ROW + spec.steps):
            _write_side(sheet, side, row)
    return first_overflow


def write_spec_sheet(book, spec: Spec, name: str = SPEC_SHEET) -> None:
    """The workbook's memory of how it was made: the spec as TOML, one line per row, and the
    version that wrote it, on a very hidden, protected sheet (see reader.py)."""
    sheet = book.add_worksheet(name)
    sheet.very_hidden()
    sheet.protect()
    check(sheet.write_string(0, 0, SPEC_MARKER))
    check(sheet.write_string(0, 1, __version__))
    for row, line in enumerate(spec.to_toml().splitlines(), start=1):
        # A cell holds at most 32,767 characters: a longer line continues in the next cells.
        for column, start in enumerate(range(0, len(line), SPEC_CELL_CHARACTERS)):
            check(sheet.write_string(row, column, line[start:start + SPEC_CELL_CHARACTERS]))


def _side_columns(sheet, label_column: int) -> None:
    sheet.set_column(label_column, label_column, 24)
    sheet.set_column(label_column + 1, label_column + 1, 14)
    sheet.set_column(label_column + 2, label_column + 2, 42)


def add_styles(book) -> dict:
    styles = {
        "0": book.add_format({"num_format": "0"}),
        QUANTITY_FORMAT: book.add_format({"num_format": QUANTITY_FORMAT}),
        "0.00E+00": book.add_format({"num_format": "0.00E+00"}),
        ACCURACY_FORMAT: book.add_format({"num_format": ACCURACY_FORMAT}),
        "title": book.add_format({"bold": True, "font_size": 14}),
        "bold": book.add_format({"bold": True}),
        "input": book.add_format({"bg_color": "#FFF2CC", "border": 1, "font_color": "#1F4E79",
                                  "num_format": "General"}),
        "hint": book.add_format({"italic": True, "font_color": "#7F7F7F", "indent": 1}),
        "text": book.add_format({}),
        "small": book.add_format({"num_format": SMALL_FORMAT}),
        "disagree": book.add_format(DISAGREE),
        "agree": book.add_format(AGREE),
    }
    for phase, colour in PHASE_COLOURS.items():
        styles["header:" + phase] = book.add_format({
            "bold": True, "text_wrap": True, "align": "center", "valign": "vcenter", "bottom": 1,
            "bg_color": colour})
    return styles


def _side_block(layout: Layout, book, styles, label_column: int, picture: Picture | None = None):
    """Cells to the right of the table, by row: (column, value, style); the first row of the
    charts but the network's picture; and the row of the picture's yellow cell, which has the
    picture right under it (None without a picture)."""
    spec = layout.spec
    side: dict[int, list] = {}

    def put(row, column, value, style):
        side.setdefault(row, []).append((label_column + column, value, style))

    put(TITLE_ROW, 0, spec.title, styles["title"])
    charts = "charts" if layout.chart_count() + (picture is not None) > 1 else "chart"
    put(TITLE_ROW + 1, 0, f"Parameters: edit a yellow cell and the table and {charts} recalculate.",
        styles["hint"])
    row = PARAMETER_ROW
    for row, cell in enumerate(layout.parameter_cells(), start=PARAMETER_ROW):
        put(row, 0, cell.label, styles["bold"])
        put(row, 1, float(cell.value), styles["input"])
        put(row, 2, f"defined name: {cell.name}", styles["hint"])
    row += 1
    put(row, 0, "steps", styles["bold"])
    put(row, 1, spec.steps, styles["0"])
    put(row, 2, "backprop-xl regenerate BOOK.xlsx --steps N", styles["hint"])
    activations = ", ".join(spec.activations)
    put(row + 1, 0, f"layers {spec.layers}, activation {activations}, loss {spec.loss}, "
        f"{spec.mode} mode" + (f", {spec.n_samples} samples on the Data sheet"
                               if layout.data_on_sheet else ""), styles["hint"])
    chart_row = row + 3
    picture_row = None
    if picture is not None:
        picture_row = chart_row
        put(picture_row, 0, "the network at step", styles["bold"])
        put(picture_row, 1, picture.step_value, styles["input"])
        put(picture_row, 2, f"defined name: {PICTURE_STEP_NAME}", styles["hint"])
        chart_row += 1 + picture.rows
    notes_row = chart_row + CHART_ROWS * layout.chart_count()
    notes = layout.notes() + (["", picture.notes()] if picture is not None else [])
    lines = [part for paragraph in notes
             for part in textwrap.wrap(paragraph, NOTES_WIDTH) or [""]]
    for offset, line in enumerate(lines):
        put(notes_row + offset, 0, line, styles["bold"] if offset == 0 else styles["text"])
    return side, chart_row, picture_row


def _write_side(sheet, side: dict, row: int) -> None:
    for column, value, style in side.get(row, ()):
        if isinstance(value, str):  # always text: a title such as "=1+1" must not become a formula
            check(sheet.write_string(row, column, value, style))
        else:
            check(sheet.write_number(row, column, value, style))


def write_data_sheet(book, spec: Spec, styles) -> None:
    """The samples, one row each, every input and target column a defined name; the labels of a
    label column's samples; standardized inputs with their means and deviations (datasheet.py
    says where each goes)."""
    layout = DataSheet(spec)
    sheet = book.add_worksheet(DATA_SHEET)
    sheet.set_column(0, len(layout.columns) - 1, 12)
    sheet.freeze_panes(1, 1)
    for index, column in enumerate(layout.columns):
        check(sheet.write_string(0, index, column.header, styles["header:" + column.header_style]))
    kinds = {datasheet.SAMPLE: styles["0"], datasheet.GIVEN: styles["input"],
             datasheet.COMPUTED: styles[QUANTITY_FORMAT], datasheet.TEXT: styles["text"],
             datasheet.ROW_LABEL: styles["bold"], datasheet.HINT: styles["hint"]}
    for _, cells in layout.rows():
        for cell in cells:
            style = kinds[cell.kind]
            if cell.formula is not None:
                check(sheet.write_formula(cell.row, cell.column, cell.formula, style, cell.value))
            elif isinstance(cell.value, str):  # always text: a label such as "=1" stays one
                check(sheet.write_string(cell.row, cell.column, cell.value, style))
            else:
                check(sheet.write_number(cell.row, cell.column, cell.value, style))
    for name, reference in layout.names().items():
        book.define_name(name, reference)


def add_conditional_formats(sheet, layout: Layout, styles) -> None:
    """Small numbers in scientific notation (see SMALL); relative differences red above the
    gradient check's threshold cell, green at or below it."""
    first, last = HEADER_ROW + 1, HEADER_ROW + layout.spec.steps
    relative_differences = layout.relative_differences()
    for index, column in enumerate(layout.columns):
        if column.number_format == QUANTITY_FORMAT:
            top = xl_rowcol_to_cell(first, index)
            sheet.conditional_format(first, index, last, index, {
                "type": "formula", "criteria": f"=AND({top}<>0,ABS({top})<{SMALL})",
                "format": styles["small"]})
        elif index in relative_differences:
            for criteria, style in ((">", "disagree"), ("<=", "agree")):
                sheet.conditional_format(first, index, last, index, {
                    "type": "cell", "criteria": criteria, "value": THRESHOLD_NAME,
                    "format": styles[style]})


def _chart(book, layout: Layout, positions: dict[str, int], group):
    """The cost and one ChartGroup's parameters, step by step."""
    spec = layout.spec
    first, last = HEADER_ROW + 1, HEADER_ROW + spec.steps
    steps = [SHEET, first, positions["step"], last, positions["step"]]
    # A scatter chart with straight lines: its x axis is the step as a number, which every
    # application labels sparsely (LibreOffice ignores a line chart's label interval).
    chart = book.add_chart({"type": "scatter", "subtype": "straight"})
    cost = positions["C"]
    chart.add_series({"name": "cost C", "categories": steps,
                      "values": [SHEET, first, cost, last, cost],
                      "line": COST_LINE, "marker": {"type": "none"}})
    for name, line in zip(group.parameters, PARAMETER_LINES):
        column = positions[name]
        chart.add_series({"name": "weight w" if layout.single_neuron else layout.shown_name(name),
                          "categories": steps, "values": [SHEET, first, column, last, column],
                          "line": line, "marker": {"type": "none"}, "y2_axis": True})
    groups = layout.chart_groups()
    charted = sum(len(g.parameters) for g in groups)
    if layout.single_neuron:
        title = "Cost and weight, step by step"
    elif len(groups) == 1:
        title = "Cost and parameters, step by step"
    else:
        title = f"Cost and layer {group.layer}'s parameters" + (
            f" ({group.part} of {group.parts})" if group.parts > 1 else "")
    chart.set_title({"name": title, "name_font": {"size": 12}})
    unshown = (f" (charts show the first {charted} of {len(layout.parameters)} parameters)"
               if charted < len(layout.parameters) and group == groups[-1] else "")
    chart.set_x_axis({"name": "step" + unshown, "min": 0, "max": spec.steps,
                      "major_unit": max(1, spec.steps // 10)})
    chart.set_y_axis({"name": "C", "num_format": "0.000", "major_gridlines": {"visible": True}})
    chart.set_y2_axis({"name": "w" if layout.single_neuron else "parameters", "num_format": "0.00"})
    chart.set_legend({"position": "bottom"})
    return chart


def accuracy_chart(book, layout: Layout, positions: dict[str, int]):
    """A classifier's cost and accuracy, step by step: the cost falls as the accuracy climbs."""
    first, last = HEADER_ROW + 1, HEADER_ROW + layout.spec.steps
    steps = [SHEET, first, positions["step"], last, positions["step"]]
    chart = book.add_chart({"type": "scatter", "subtype": "straight"})
    cost, accuracy = positions[names.cost_key()], positions[names.ACCURACY_KEY]
    # Where the steps take turns through the samples, each step's numbers are its batch's, and
    # the moving average over a pass through them (an epoch) shows the trend.
    spec = layout.spec
    epoch = batches(spec.n_samples, spec.step_samples)
    trend = 1 < epoch < spec.steps

    def average(name: str, line: dict) -> dict:
        return {"trendline": {"type": "moving_average", "period": epoch, "line": line,
                              "name": f"{name}, mean of {epoch} steps"}} if trend else {}

    def faint(line: dict) -> dict:  # the steps' own line, under the average
        return {**line, "transparency": 50} if trend else line
    chart.add_series({"name": "cost C", "categories": steps,
                      "values": [SHEET, first, cost, last, cost],
                      "line": faint(COST_LINE),
                      "marker": {"type": "none"}, **average("cost", COST_LINE)})
    chart.add_series({"name": "accuracy", "categories": steps,
                      "values": [SHEET, first, accuracy, last, accuracy],
                      "line": faint(ACCURACY_LINE),
                      "marker": {"type": "none"}, "y2_axis": True,
                      **average("accuracy", ACCURACY_LINE)})
    chart.set_title({"name": "Cost and accuracy, step by step", "name_font": {"size": 12}})
    chart.set_x_axis({"name": "step", "min": 0, "max": layout.spec.steps,
                      "major_unit": max(1, layout.spec.steps // 10)})
    chart.set_y_axis({"name": "C", "num_format": "0.000", "major_gridlines": {"visible": True}})
    chart.set_y2_axis({"name": "accuracy", "num_format": "0%", "min": 0, "max": 1})
    chart.set_legend({"position": "bottom"})
    return chart


# --- a one-parameter run's cost curve C(w) (Layout.cost_curve) --------------------------------

# The cost curve's table, on its own sheet (COST_CURVE_SHEET), not in the side block: the steps
# sheet holds no formula but the steps table's, as what reads it back counts on (the tests hold
# every formula there to the engine's steps). Its w spans every step's w with a margin of
# 1/CURVE_MARGIN_PARTS of that span on each side; where every step's w is the same, of
# 1/CURVE_MARGIN_PARTS of |w| or CURVE_LONE_MARGIN, the larger.
CURVE_RANGE_ROW = 3  # the range's four cells: lowest and highest w, margin, spacing
CURVE_TABLE_ROW = CURVE_RANGE_ROW + 5  # the table's header; its rows below
CURVE_MARGIN_PARTS = 4
CURVE_LONE_MARGIN = 0.25
CURVE_LINE = {"color": COST_LINE["color"], "width": 1.5}  # thinner than the cost's: dots show
CURVE_WALK = {"color": "#0072B2", "width": 0.5}
CURVE_POINT = {"type": "circle", "size": 5, "border": {"color": "#0072B2"},
               "fill": {"color": "#0072B2"}}
CURVE_START = {"type": "diamond", "size": 9, "border": {"color": "#E69F00"},
               "fill": {"color": "#E69F00"}}
CURVE_END = {"type": "square", "size": 7, "border": {"color": "#009E73"},
             "fill": {"color": "#009E73"}}


class Walk:
    """The lowest and highest w of the steps, as the cost curve's range formulas (MIN and MAX over
    the initial weight and the table's w column) compute them from the engine's numbers: both
    None (#NUM! in Excel) once a step's w is not finite."""

    def __init__(self, layout: Layout, positions: dict[str, int], sheet: str = SHEET):
        [parameter] = layout.parameters
        self.sheet, self.index = sheet, positions[parameter]
        self.low = self.high = float(layout.spec.initial_weights()[0][0, 0])

    def see(self, values) -> None:
        value = values[self.index]
        if self.low is None:
            return
        if not math.isfinite(value):
            self.low = self.high = None
        else:
            self.low, self.high = min(self.low, value), max(self.high, value)


def _curve_costs(layout: Layout, w: np.ndarray) -> np.ndarray:
    """The cost at each w as Layout.curve_cost's formula computes it, by functions.py's
    definitions as the engine runs them: each sample's z = w·i (+ its fixed bias), a, and cost,
    summed in order and averaged over the samples where there are several."""
    spec = layout.spec
    biases = spec.initial_biases()
    total = None
    for inputs, targets in zip(spec.training_inputs, spec.targets):  # standardized, if so
        z = w * float(inputs[0])
        if biases is not None:
            z = z + float(biases[0][0])
        cost = layout.loss.value(layout.activations[0].value(z), float(targets[0]))
        total = cost if total is None else total + cost
    return total if spec.n_samples == 1 else total / spec.n_samples


def write_cost_curve_sheet(book, layout: Layout, styles, walks: list[Walk]) -> None:
    """The cost curve's table: CURVE_POINTS values of w, spanning every step's w with a margin,
    and the cost at each (Layout.curve_cost), all live formulas, with the numbers of the engine's
    functions cached. Editing a yellow cell moves the range with the steps and recomputes C(w).
    `walks`: the steps tables whose w the range spans, one per run of a comparison."""
    spec = layout.spec
    [parameter] = layout.parameters
    sheet = book.add_worksheet(COST_CURVE_SHEET)
    sheet.set_column(0, 0, 24)
    sheet.set_column(1, 1, 14)
    sheet.set_column(2, 2, 70)
    first, last = HEADER_ROW + 2, HEADER_ROW + 1 + spec.steps  # Excel's row numbers
    columns = [(quote_sheetname(walk.sheet), xl_col_to_name(walk.index)) for walk in walks]
    steps = ",".join(f"{sheet}!${column}${first}:${column}${last}" for sheet, column in columns)
    shown = ", ".join(f"{sheet}!{column}{first}:{column}{last}" for sheet, column in columns)
    low, high, margin, spacing = (xl_rowcol_to_cell(row, 1, row_abs=True, col_abs=True)
                                  for row in range(CURVE_RANGE_ROW, CURVE_RANGE_ROW + 4))
    lows, highs = [walk.low for walk in walks], [walk.high for walk in walks]
    if None in lows:
        values = [OVERFLOW] * 4
    else:
        walk_low, walk_high = min(lows), max(highs)
        width = walk_high - walk_low
        lone = max(abs(walk_low) / CURVE_MARGIN_PARTS, CURVE_LONE_MARGIN)
        values = [walk_low, walk_high, width / CURVE_MARGIN_PARTS if walk_high > walk_low else lone]
        values.append((walk_high - walk_low + 2 * values[2]) / (CURVE_POINTS - 1))
    init = names.initial_name(parameter)
    cells = [
        ("lowest w", f"=MIN({steps},{init})",
         f"of the initial weight and every step's w ({shown})"),
        ("highest w", f"=MAX({steps},{init})", "likewise"),
        ("margin", f"=IF({high}>{low},({high}-{low})/{CURVE_MARGIN_PARTS},"
                   f"MAX(ABS({low})/{CURVE_MARGIN_PARTS},{CURVE_LONE_MARGIN}))",
         f"below the lowest and above the highest: 1/{CURVE_MARGIN_PARTS} of the steps' span"),
        ("spacing", f"=({high}-{low}+2*{margin})/{CURVE_POINTS - 1}",
         f"between the table's {CURVE_POINTS} values of w"),
    ]
    check(sheet.write_string(0, 0, f"The cost curve C(w) of the chart \"{CURVE_TITLE}\"",
                              styles["title"]))
    check(sheet.write_string(1, 0, "Live formulas: edit a yellow cell and the range of w and "
                              "the costs follow the steps.", styles["hint"]))
    for row, ((label, formula, words), value) in enumerate(zip(cells, values),
                                                           start=CURVE_RANGE_ROW):
        check(sheet.write_string(row, 0, label, styles["bold"]))
        check(sheet.write_formula(row, 1, formula, styles[QUANTITY_FORMAT], value))
        check(sheet.write_string(row, 2, words, styles["hint"]))
    if spec.cycles_samples:
        cost = f"C(w): the mean cost over the {spec.n_samples} samples"
    elif spec.n_samples > 1:
        cost = f"C(w): the step's cost, the mean over the {spec.n_samples} samples"
    else:
        cost = "C(w): the step's cost"
    check(sheet.write_string(CURVE_TABLE_ROW, 0, "w", styles["header:parameters"]))
    check(sheet.write_string(CURVE_TABLE_ROW, 1, "C(w)", styles["header:loss"]))
    check(sheet.write_string(CURVE_TABLE_ROW, 2, cost + f", {parameter} replaced by w",
                              styles["hint"]))
    if None in lows:
        ws = costs = [OVERFLOW] * CURVE_POINTS
    else:
        ws = [values[0] - values[2] + k * values[3] for k in range(CURVE_POINTS)]
        costs = [float(c) if math.isfinite(c) else OVERFLOW
                 for c in _curve_costs(layout, np.array(ws))]
    for k, (w, cost) in enumerate(zip(ws, costs)):
        row = CURVE_TABLE_ROW + 1 + k
        check(sheet.write_formula(row, 0, f"={low}-{margin}+{k}*{spacing}",
                                   styles[QUANTITY_FORMAT], w))
        check(sheet.write_formula(row, 1, "=" + layout.curve_cost(xl_rowcol_to_cell(row, 0)),
                                   styles[QUANTITY_FORMAT], cost))
    top, bottom = CURVE_TABLE_ROW + 1, CURVE_TABLE_ROW + CURVE_POINTS
    corner = xl_rowcol_to_cell(top, 1)
    sheet.conditional_format(top, 1, bottom, 1, {
        "type": "formula", "criteria": f"=AND({corner}<>0,ABS({corner})<{SMALL})",
        "format": styles["small"]})


def curve_chart(book, layout: Layout, positions: dict[str, int],
                 runs: list[tuple[str, str, str]] | None = None):
    """The cost curve C(w) as a line, with the steps' (w, C) as dots walking down it, joined in
    order by a thin line (where each step trains on another sample, it zigzags between them).
    `runs`: a comparison's, each run's steps sheet, colour and marker, a walk each."""
    spec = layout.spec
    [parameter] = layout.parameters
    first, last = HEADER_ROW + 1, HEADER_ROW + spec.steps
    top, bottom = CURVE_TABLE_ROW + 1, CURVE_TABLE_ROW + CURVE_POINTS
    # Straight lines: LibreOffice smooths every line of a chart or none, and would bend the
    # steps' into loops; CURVE_POINTS points make the curve's look smooth enough.
    chart = book.add_chart({"type": "scatter", "subtype": "straight"})
    chart.add_series({
        "name": "mean cost C(w) of the samples" if spec.cycles_samples else "cost curve C(w)",
        "categories": [COST_CURVE_SHEET, top, 0, bottom, 0],
        "values": [COST_CURVE_SHEET, top, 1, bottom, 1],
        "line": CURVE_LINE, "marker": {"type": "none"}})
    w, cost = positions[parameter], positions["C"]
    if runs is None:
        chart.add_series({
            "name": "the steps (w, C of its sample)" if spec.cycles_samples else "the steps (w, C)",
            "categories": [SHEET, first, w, last, w], "values": [SHEET, first, cost, last, cost],
            "line": CURVE_WALK, "marker": CURVE_POINT})
        # where the walk starts and ends, marked apart: hundreds of steps' dots run together
        for row, marker in ((first, CURVE_START), (last, CURVE_END))[:1 + (last > first)]:
            chart.add_series({
                "name": f"step {row - HEADER_ROW}", "categories": [SHEET, row, w, row, w],
                "values": [SHEET, row, cost, row, cost], "marker": marker,
                "line": {"color": marker["fill"]["color"], "width": CURVE_WALK["width"]}})
    for sheet, colour, marker in runs or []:
        chart.add_series({
            "name": sheet, "categories": [sheet, first, w, last, w],
            "values": [sheet, first, cost, last, cost],
            "line": {**CURVE_WALK, "color": colour},
            "marker": {**CURVE_POINT, "type": marker, "border": {"color": colour},
                       "fill": {"color": colour}}})
    chart.set_title({"name": CURVE_TITLE, "name_font": {"size": 12}})
    # the axes cross at the lowest w and C shown, so that neither runs through the curve
    chart.set_x_axis({"name": "w", "num_format": "0.00", "crossing": "min"})
    chart.set_y_axis({"name": "C", "num_format": "0.000", "major_gridlines": {"visible": True},
                      "crossing": "min"})
    chart.set_legend({"position": "bottom"})
    return chart


def check(code: int) -> None:
    # XlsxWriter signals a cell it cannot place with a return code, not an exception.
    if code not in (0, None):
        raise UserError(f"Excel cannot hold a cell of this workbook (XlsxWriter code {code})")
