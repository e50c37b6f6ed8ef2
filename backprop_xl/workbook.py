"""Writes a run as an .xlsx workbook (XlsxWriter): the steps table, every computed cell a live formula
stored with the engine's value; the named parameter cells those formulas use; a chart; notes.

Rows go out in order in XlsxWriter's constant-memory mode, so the side block (parameters, chart,
notes) is written row by row alongside the table.
"""

from __future__ import annotations

import datetime
import textwrap
from pathlib import Path

import xlsxwriter
from xlsxwriter.exceptions import XlsxWriterException
from xlsxwriter.utility import xl_rowcol_to_cell

from . import __version__, engine, layout
from .errors import UserError
from .files import atomic_output
from .spec import Spec

# A fixed creation date makes the same spec give the same bytes.
CREATED = datetime.datetime(2026, 1, 1)

# The side block sits right of the table after a narrow gap, and starts on row 2 so that the
# header row, repeated on every printed page, holds only the table's headers.
LABEL_COLUMN = 11  # L
VALUE_COLUMN = LABEL_COLUMN + 1
HINT_COLUMN = LABEL_COLUMN + 2
TITLE_ROW = 1
PARAMETER_ROW = TITLE_ROW + 2
CHART_ROW = 11
NOTES_ROW = 30
NOTES_WIDTH = 62  # characters: wrapped to stay within L:N, which printing scales to fit


def write(spec: Spec, path: Path, force: bool = False) -> None:
    """Write `spec`'s run to `path`, atomically; refuse an existing file unless `force`."""
    columns = layout.columns(spec)  # refuses what the layout cannot show, before touching files
    with atomic_output(Path(path), force) as temporary:
        try:
            _write(spec, columns, temporary)
        except XlsxWriterException as error:
            raise UserError(f"cannot write {path}: {error}") from None


def _write(spec: Spec, columns: list[layout.Column], path: Path) -> None:
    book = xlsxwriter.Workbook(str(path), {"constant_memory": True})
    book.set_properties({
        "title": spec.title,
        "subject": "gradient descent, one row per step",
        "author": f"backprop_xl {__version__}",
        "created": CREATED,
    })
    styles = _styles(book)
    sheet = book.add_worksheet(layout.SHEET)
    side = _side_block(spec, book, styles)

    sheet.set_row(layout.HEADER_ROW, 58)
    sheet.set_column(0, 0, 7)
    sheet.set_column(1, len(columns) - 1, 14)
    sheet.set_column(len(columns), LABEL_COLUMN - 1, 2)
    sheet.set_column(LABEL_COLUMN, LABEL_COLUMN, 18)
    sheet.set_column(VALUE_COLUMN, VALUE_COLUMN, 12)
    sheet.set_column(HINT_COLUMN, HINT_COLUMN, 34)
    sheet.freeze_panes(layout.HEADER_ROW + 1, 1)
    sheet.set_landscape()
    sheet.set_margins(left=0.3, right=0.3, top=0.4, bottom=0.4)
    sheet.fit_to_pages(1, 0)
    sheet.repeat_rows(layout.HEADER_ROW)
    sheet.print_area(0, 0, max(layout.HEADER_ROW + spec.steps, max(side)), HINT_COLUMN)

    for index, column in enumerate(columns):
        _check(sheet.write_string(layout.HEADER_ROW, index, column.heading, styles["header"]))
    _write_side(sheet, side, layout.HEADER_ROW)

    positions = {column.key: index for index, column in enumerate(columns)}
    number_styles = [styles[column.number_format] for column in columns]
    for step in engine.run(spec):
        row = layout.HEADER_ROW + step.number
        record = step.record()
        cells = layout.Row(row, positions)
        for index, column in enumerate(columns):
            if column.formula is None:
                _check(sheet.write_number(row, index, record[column.key], number_styles[index]))
            else:
                _check(sheet.write_formula(row, index, "=" + column.formula(cells),
                                           number_styles[index], record[column.key]))
        _write_side(sheet, side, row)
    for row in sorted(r for r in side if r > layout.HEADER_ROW + spec.steps):
        _write_side(sheet, side, row)

    for row, parameter in enumerate(layout.parameters(spec), start=PARAMETER_ROW):
        cell = xl_rowcol_to_cell(row, VALUE_COLUMN, row_abs=True, col_abs=True)
        book.define_name(parameter.name, f"={layout.SHEET}!{cell}")
    sheet.insert_chart(CHART_ROW, LABEL_COLUMN, _chart(book, spec, positions),
                       {"x_scale": 0.96, "y_scale": 1.2})
    book.close()


def _styles(book) -> dict:
    return {
        "header": book.add_format({"bold": True, "text_wrap": True, "align": "center",
                                   "valign": "vcenter", "bottom": 1, "bg_color": "#DDEBF7"}),
        "0": book.add_format({"num_format": "0"}),
        "0.000000": book.add_format({"num_format": "0.000000"}),
        "title": book.add_format({"bold": True, "font_size": 14}),
        "bold": book.add_format({"bold": True}),
        "input": book.add_format({"bg_color": "#FFF2CC", "border": 1, "font_color": "#1F4E79",
                                  "num_format": "General"}),
        "hint": book.add_format({"italic": True, "font_color": "#7F7F7F", "indent": 1}),
        "text": book.add_format({}),
    }


def _side_block(spec: Spec, book, styles) -> dict[int, list[tuple[int, object, object]]]:
    """Cells to the right of the table, by row: (column, value, style)."""
    side: dict[int, list] = {}

    def put(row, column, value, style):
        side.setdefault(row, []).append((column, value, style))

    put(TITLE_ROW, LABEL_COLUMN, spec.title, styles["title"])
    put(TITLE_ROW + 1, LABEL_COLUMN, "Parameters: edit a yellow cell and the table and chart recalculate.",
        styles["hint"])
    for row, parameter in enumerate(layout.parameters(spec), start=PARAMETER_ROW):
        put(row, LABEL_COLUMN, parameter.label, styles["bold"])
        put(row, VALUE_COLUMN, float(parameter.value), styles["input"])
        put(row, HINT_COLUMN, f"defined name: {parameter.name}", styles["hint"])
    row = PARAMETER_ROW + len(layout.parameters(spec))
    put(row, LABEL_COLUMN, "steps", styles["bold"])
    put(row, VALUE_COLUMN, spec.steps, styles["0"])
    put(row, HINT_COLUMN, "backprop-xl generate --steps N", styles["hint"])
    put(row + 1, LABEL_COLUMN, f"activation {spec.activation}, loss {spec.loss}", styles["hint"])
    lines = [part for paragraph in layout.notes(spec)
             for part in textwrap.wrap(paragraph, NOTES_WIDTH) or [""]]
    for offset, line in enumerate(lines):
        put(NOTES_ROW + offset, LABEL_COLUMN, line, styles["bold"] if offset == 0 else styles["text"])
    return side


def _write_side(sheet, side: dict, row: int) -> None:
    for column, value, style in side.get(row, ()):
        if isinstance(value, str):  # always text: a title such as "=1+1" must not become a formula
            _check(sheet.write_string(row, column, value, style))
        else:
            _check(sheet.write_number(row, column, value, style))


def _chart(book, spec: Spec, positions: dict[str, int]):
    first, last = layout.HEADER_ROW + 1, layout.HEADER_ROW + spec.steps
    steps = [layout.SHEET, first, positions["step"], last, positions["step"]]
    # A scatter chart with straight lines: its x axis is the step as a number, which every
    # application labels sparsely (LibreOffice ignores a line chart's label interval).
    chart = book.add_chart({"type": "scatter", "subtype": "straight"})
    cost, weight = positions["C"], positions[engine.weight_name(1, 1, 1)]
    chart.add_series({"name": "cost C", "categories": steps,
                      "values": [layout.SHEET, first, cost, last, cost],
                      "line": {"color": "#C00000", "width": 2}, "marker": {"type": "none"}})
    chart.add_series({"name": "weight w (right axis)", "categories": steps,
                      "values": [layout.SHEET, first, weight, last, weight],
                      "line": {"color": "#2F5597", "width": 2}, "marker": {"type": "none"},
                      "y2_axis": True})
    chart.set_title({"name": "Cost and weight, step by step"})
    chart.set_x_axis({"name": "step", "min": 0, "max": spec.steps,
                      "major_unit": max(1, spec.steps // 10)})
    chart.set_y_axis({"name": "C", "num_format": "0.000", "major_gridlines": {"visible": True}})
    chart.set_y2_axis({"name": "w", "num_format": "0.00"})
    chart.set_legend({"position": "bottom"})
    return chart


def _check(code: int) -> None:
    # XlsxWriter signals a cell it cannot place with a return code, not an exception.
    if code not in (0, None):
        raise UserError(f"Excel cannot hold a cell of this workbook (XlsxWriter code {code})")
