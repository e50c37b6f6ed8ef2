"""Runs side by side (`backprop-xl compare`): one workbook that trains the same network under every
combination of learning rates and optimizers asked for, each run a full live steps sheet of its
own, and a first sheet with one chart overlaying every run's cost by step and a table of each
run's settings and final cost.

Each run's steps sheet holds exactly the formulas a workbook of that run alone holds: its
formulas name learning_rate, beta1, ... and those names are the sheet's own (Excel's sheet-scoped
defined names), each pointing at the run's yellow cell in the table on the first sheet. What the
runs share (the initial weights, the data, the gradient check's step) is one yellow cell each,
named for the whole workbook. So editing one run's learning rate recomputes its sheet and redraws
its curve, and editing an initial weight restarts every run from it.
"""

from __future__ import annotations

import os
from pathlib import Path

from xlsxwriter.exceptions import XlsxWriterException
from xlsxwriter.utility import quote_sheetname, xl_rowcol_to_cell

from . import engine, names
from .errors import SpecError, UserError
from .files import atomic_output, cannot_write
from .layout import COMPARE_SHEET, HEADER_ROW, HYPERPARAMETERS, RUN_SPEC_SHEET, Layout, run_sheet
from .spec import OPTIMIZERS, Optimizer, Spec
from .workbook import (HEADER_LINE_POINTS, PARAMETER_LINES, PlainFormulaWorksheet, Walk,
                       add_conditional_formats, add_styles, check, curve_chart, landscape,
                       new_book, set_up_steps_page, write_cost_curve_sheet, write_data_sheet,
                       write_header, write_spec_sheet, write_steps)

MOMENTUM = 0.9  # the momentum optimizer's, when the spec has none to give it (torch's examples')
MAX_RUNS = 36  # sheets, and lines on the chart past telling apart
TITLE_ROW, TABLE_ROW = 1, 4
RUN_SETTINGS = ["learning_rate", *HYPERPARAMETERS]  # a run's own named cells, the rest shared
# The chart's lines: the parameter charts' colours (workbook.PARAMETER_LINES), one per learning
# rate, and a dash per optimizer
RUN_COLOURS = list(dict.fromkeys(line["color"] for line in PARAMETER_LINES))
RUN_DASHES = ["solid", "dash", "round_dot", "long_dash", "dash_dot"]
RUN_MARKERS = ["circle", "square", "diamond", "triangle", "x"]  # on the cost curve, likewise
CURVE_CHART_ROWS = 24  # the cost curve's chart, below the costs' (1.6 times a chart's height)


def runs(spec: Spec, learning_rates: list[float], optimizers: list[str]) -> list[Spec]:
    """Every combination, optimizer by optimizer. An optimizer the spec names keeps the spec's
    settings; any other takes torch.optim's defaults (momentum: MOMENTUM)."""
    for name in optimizers:
        if name not in OPTIMIZERS:
            raise UserError(f"--optimizers: unknown optimizer {name!r} "
                            f"(known: {', '.join(OPTIMIZERS)})")
    for values, option in ((learning_rates, "--learning-rates"), (optimizers, "--optimizers")):
        repeated = sorted({str(v) for v in values if values.count(v) > 1})
        if repeated:
            raise UserError(f"{option}: {', '.join(repeated)} given twice")
    if len(learning_rates) * len(optimizers) > MAX_RUNS:
        raise UserError(f"--learning-rates, --optimizers: {len(learning_rates)} x "
                        f"{len(optimizers)} runs, more than {MAX_RUNS}; compare fewer")
    chosen = []
    for name in optimizers:
        optimizer = (spec.optimizer if spec.optimizer.name == name else
                     Optimizer(name, momentum=MOMENTUM) if name == "momentum" else Optimizer(name))
        for rate in learning_rates:
            try:
                run_spec = spec.with_overrides(optimizer=optimizer, learning_rate=rate)
            except SpecError as error:
                raise UserError(f"--learning-rates: {error.why}") from None
            chosen.append(run_spec)
    return chosen


def write(spec: Spec, chosen: list[Spec], path: Path, force: bool = False,
          unchanged_since: os.stat_result | None = None) -> list[int | None]:
    """The comparison workbook of `chosen` (runs of `spec`, which gives the title and is kept on
    the spec sheet) at `path`, atomically; refuses an existing file unless `force`, and before
    touching files what a workbook cannot hold. `unchanged_since` as workbook.write's. Returns
    each run's first overflowing step, or None."""
    sheets = [run_sheet(run) for run in chosen]
    for sheet in sheets:
        if sheets.count(sheet) > 1:
            raise UserError(f"two runs would be {sheet!r}: give each run its own learning rate "
                            "or optimizer")
    layouts = [Layout(run) for run in chosen]  # refuses what a sheet cannot hold
    with atomic_output(Path(path), force, unchanged_since) as temporary:
        try:
            return _write(spec, chosen, layouts, temporary)
        except XlsxWriterException as error:
            raise cannot_write(path, error) from None


def _write(spec: Spec, chosen: list[Spec], layouts: list[Layout], path: Path) -> list:
    book = new_book(spec, path, f"Comparison: {spec.title}", "gradient descent, runs side by side")
    styles = add_styles(book)
    first = layouts[0]
    compare = book.add_worksheet(COMPARE_SHEET)
    compare.activate()
    landscape(compare)
    compare.fit_to_pages(1, 1)
    settings = [key for key in RUN_SETTINGS
                if any(key in _named(layout) for layout in layouts)]
    shared = [cell for cell in first.parameter_cells() if cell.name not in RUN_SETTINGS]
    finals = [_final_cost(run) for run in chosen]
    local_names = []  # (sheet, name, target): defined once the sheet exists

    check(compare.write_string(TITLE_ROW, 0, f"Comparison: {spec.title}", styles["title"]))
    check(compare.write_string(TITLE_ROW + 1, 0, "One steps sheet per run. Edit a yellow cell: "
                                "its run's sheet and curve recalculate; a shared one restarts "
                                "every run.", styles["hint"]))
    headers = ["run (its sheet)", "optimizer", *(_label(key) for key in settings), "final cost"]
    for column, text in enumerate(headers):
        check(compare.write_string(TABLE_ROW, column, text, styles["header:parameters"]))
    compare.set_row(TABLE_ROW, 2 * HEADER_LINE_POINTS + 4)
    compare.set_column(0, 0, 24)
    compare.set_column(1, len(headers) - 1, 13)
    for index, (run, layout) in enumerate(zip(chosen, layouts)):
        row = TABLE_ROW + 1 + index
        sheet = run_sheet(run)
        check(compare.write_url(row, 0, f"internal:{quote_sheetname(sheet)}!A1", string=sheet))
        optimizer = run.optimizer
        check(compare.write_string(row, 1, optimizer.name + (" (nesterov)" if optimizer.nesterov
                                                              else "")))
        own = _named(layout)
        for column, key in enumerate(settings, start=2):
            if key in own:
                check(compare.write_number(row, column, float(own[key]), styles["input"]))
                address = xl_rowcol_to_cell(row, column, row_abs=True, col_abs=True)
                local_names.append((sheet, key, f"={COMPARE_SHEET}!{address}"))
        cost = xl_rowcol_to_cell(HEADER_ROW + run.steps, _position(layout, names.cost_key()),
                                 row_abs=True, col_abs=True)
        check(compare.write_formula(row, len(headers) - 1, f"={quote_sheetname(sheet)}!{cost}",
                                     styles["0.00E+00"], finals[index]))

    row = TABLE_ROW + len(chosen) + 2
    check(compare.write_string(row, 0, "Shared by every run", styles["bold"]))
    for row, cell in enumerate(shared, start=row + 1):
        check(compare.write_string(row, 0, cell.label, styles["bold"]))
        check(compare.write_number(row, 1, float(cell.value), styles["input"]))
        check(compare.write_string(row, 2, f"defined name: {cell.name}", styles["hint"]))
        address = xl_rowcol_to_cell(row, 1, row_abs=True, col_abs=True)
        book.define_name(cell.name, f"={COMPARE_SHEET}!{address}")
    compare.insert_chart(TITLE_ROW, len(headers) + 1, _chart(book, chosen, layouts),
                         {"x_scale": 1.6, "y_scale": 1.6})
    # Runs of one trained parameter (the seed's) walk down one cost curve, the runs' shared
    # data's: charted below the costs, each run's steps in its colour
    curve = all(layout.cost_curve for layout in layouts)
    positions = {column.key: index for index, column in enumerate(first.columns)}
    if curve:
        compare.insert_chart(TITLE_ROW + CURVE_CHART_ROWS, len(headers) + 1,
                             curve_chart(book, first, positions,
                                          [(run_sheet(run), _colour(run, chosen),
                                            _marker(run, chosen)) for run in chosen]),
                             {"x_scale": 1.6, "y_scale": 1.6})

    overflows, walks = [], []
    for run, layout in zip(chosen, layouts):
        sheet = book.add_worksheet(run_sheet(run), worksheet_class=PlainFormulaWorksheet)
        set_up_steps_page(sheet, layout, False, 0, 0)
        write_header(sheet, layout, styles)
        walk = Walk(layout, positions, run_sheet(run)) if curve else None
        overflows.append(write_steps(sheet, layout, styles, None, walk))
        walks.append(walk)
        add_conditional_formats(sheet, layout, styles)
    for sheet, name, target in local_names:
        book.define_name(f"{quote_sheetname(sheet)}!{name}", target)
    if first.data_on_sheet:  # the runs' data, which they share (spec's may be older)
        write_data_sheet(book, chosen[0], styles)
    write_spec_sheet(book, spec)
    for number, run in enumerate(chosen, start=1):
        write_spec_sheet(book, run, RUN_SPEC_SHEET.format(number=number))
    if curve:
        write_cost_curve_sheet(book, first, styles, walks)
    book.close()
    return overflows


def _named(layout: Layout) -> dict[str, float]:
    return {cell.name: cell.value for cell in layout.parameter_cells()}


def _label(key: str) -> str:
    return "learning rate r" if key == "learning_rate" else HYPERPARAMETERS[key][0]


def _position(layout: Layout, key: str) -> int:
    return [column.key for column in layout.columns].index(key)


def _final_cost(spec: Spec) -> float:
    """The engine's cost of the run's last step, which the table caches."""
    cost = None
    for (cost,) in engine.rows(spec, [names.cost_key()]):
        pass
    return cost


def _colour(run: Spec, chosen: list[Spec]) -> str:
    """A run's colour in the charts: its learning rate's."""
    rates = list(dict.fromkeys(each.learning_rate for each in chosen))
    return RUN_COLOURS[rates.index(run.learning_rate) % len(RUN_COLOURS)]


def _marker(run: Spec, chosen: list[Spec]) -> str:
    """A run's marker on the cost curve: its optimizer's."""
    optimizers = list(dict.fromkeys(each.optimizer for each in chosen))
    return RUN_MARKERS[optimizers.index(run.optimizer) % len(RUN_MARKERS)]


def _chart(book, chosen: list[Spec], layouts: list[Layout]):
    """Every run's cost by step, one line each: a colour per learning rate, a dash per
    optimizer, so a reader finds a run by either."""
    chart = book.add_chart({"type": "scatter", "subtype": "straight"})
    optimizers = list(dict.fromkeys(run.optimizer for run in chosen))
    for run, layout in zip(chosen, layouts):
        sheet, first, last = run_sheet(run), HEADER_ROW + 1, HEADER_ROW + run.steps
        step, cost = _position(layout, "step"), _position(layout, names.cost_key())
        colour = _colour(run, chosen)
        dash = RUN_DASHES[optimizers.index(run.optimizer) % len(RUN_DASHES)]
        chart.add_series({"name": sheet, "categories": [sheet, first, step, last, step],
                          "values": [sheet, first, cost, last, cost],
                          "line": {"color": colour, "width": 1.75, "dash_type": dash},
                          "marker": {"type": "none"}})
    steps = max(run.steps for run in chosen)
    chart.set_title({"name": "Cost by step, every run", "name_font": {"size": 12}})
    chart.set_x_axis({"name": "step", "min": 0, "max": steps, "major_unit": max(1, steps // 10)})
    # a linear axis: a cost of exactly 0 (a run that lands on its target) leaves a logarithmic one
    # empty in LibreOffice and makes Excel warn
    chart.set_y_axis({"name": "C", "num_format": "0.000", "major_gridlines": {"visible": True}})
    chart.set_legend({"position": "right"})
    return chart
