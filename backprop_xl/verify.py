"""Recomputes a workbook independently and reports every cell that disagrees: each formula cell's
text against the layout of its embedded spec, its cached value against the engine rerun from the
parameter cells as they stand, and sampled rows against the `formulas` evaluator (and LibreOffice,
if asked). It works at every size a workbook comes in (up to 1,048,575 steps) in bounded memory.

Every row: one pass streams the steps sheet (reader.sheet_rows, formula and cached value of each
cell together) beside the engine's rerun (engine.rows). Each formula's text must be the layout's
template for its row ("layout"), each cached value the engine's number ("engine"). Nothing of a row
is kept once it is checked, but for sampled rows.

Sampled rows: all of a short run, else the first and last EDGE_ROWS and the rest spread evenly
between, SAMPLED_ROWS in all, are recomputed by an independent evaluator, `formulas`, which knows
nothing of the engine or the layout: it reads the formula texts the workbook holds. Row r is
recomputed from row r - 1's cached values, which the engine has just checked, and the named cells'
values as the workbook holds them; within the row each formula reads what the evaluator computed
for the cells it refers to, so a wrong formula also shows in the cells computed from it.
recalc.formulas_rows has `formulas` compile each formula text once (moved to one row, as Excel
copies a formula) and run it on all sampled rows at once: under a second for mazur's 200, where
building `formulas`' graph of every cell of them took minutes. Not every row: `formulas` computes
element by element in Python, and all 10,000 rows of mazur's took it 25 s, three times as long as
writing them. The evaluator's results are compared with row r's cached values and reported at the
user's addresses.

Without `formulas` (the lean install) the other checks still run, and Report.skipped says what was
left out and how to add it (FORMULAS_SKIPPED).

LibreOffice (--libreoffice) recomputes the same rows in one small workbook (XlsxWriter, in a
temporary folder) with the same sheet names and defined names, the named cells' values at their
own addresses, and per sample a pair of rows: row r - 1's cached values, then row r's formulas.
The pairs are packed from the top, one after the other, and each formula moved to its pair's row
as Excel moves a copied formula (openpyxl's Translator: references to its own and the previous row
move along, names stay). Packed, so that the book is small whatever rows are sampled, and a row
that one sample needs as values and the next as formulas is simply written twice.

The Data sheet's formulas, where a run's inputs are standardized (datasheet.py), are checked the
same way: each formula's text against the sheet's layout, its cached value against Python's
number (the means, deviations and standardized inputs the engine trains on), and the means and
deviations and sampled samples' rows recomputed by `formulas` from the cached values of the cells
and names they read (not by LibreOffice, which recomputes the steps' rows only).

Disagreements are kept up to SHOWN of each kind (layout, engine, formulas, libreoffice) and all
are counted: a stale workbook of a million rows may disagree everywhere.

A workbook saved by a program that writes formulas without calculating them (openpyxl, some
converters) holds no computed values: not one formula cell of the steps table has a cached value.
That is reported as such (Report.computed), not as every formula cell disagreeing, and the
evaluators do not run, as each sampled row would start from the previous row's missing values.
A workbook where only some formula cells lack their values disagrees in those cells.
"""

from __future__ import annotations

import math
import tempfile
from collections import Counter
from dataclasses import dataclass, field
from itertools import groupby
from pathlib import Path
from typing import NamedTuple

import xlsxwriter
from openpyxl.formula.translate import Translator
from openpyxl.utils.cell import range_boundaries
from xlsxwriter.utility import quote_sheetname, xl_rowcol_to_cell

from . import datasheet, engine, names, progress, reader, recalc, tolerances
from .datasheet import DataSheet
from .errors import UserError
from .layout import DATA_SHEET, HEADER_ROW, SHEET, Layout, is_spec_sheet
from .names import OVERFLOW

SAMPLED_ROWS = 200  # rows the evaluators recompute; a run of at most this many steps, every row
EDGE_ROWS = 20  # of them, the first and the last rows of a longer run
SHOWN = 100  # disagreements kept of each kind; the rest are counted
# What an evaluator gives where arithmetic overflows: #NUM!, or #VALUE! or #DIV/0! from what
# follows an overflow (the `formulas` evaluator and LibreOffice differ).
OVERFLOW_ERRORS = (OVERFLOW, "#VALUE!", "#DIV/0!")
EMPTY = (None, None)  # a cell the sheet lacks: no formula, no value
# How a column's cached values agree with recomputed ones (see close and tolerances.py)
QUANTITY = "quantity"
FINITE_DIFFERENCE = "finite difference"
RELATIVE_DIFFERENCE = "relative difference"
# What verify says when the `formulas` evaluator is not installed (the lean install)
FORMULAS_SKIPPED = ("skipped the independent formula evaluator (`formulas` is not installed; "
                    "pip install 'backprop_xl[verify]' adds it)")


@dataclass(frozen=True)
class Disagreement:
    sheet: str
    address: str
    quantity: str  # the machine name of the column
    cached: object
    recomputed: object
    by: str  # what recomputed it: engine, formulas, libreoffice, layout (a formula's text)

    def __str__(self) -> str:
        return (f"{quote_sheetname(self.sheet)}!{self.address} ({self.quantity}): cached "
                f"{self.cached!r}, "
                f"{self.by} {self.recomputed!r}")


@dataclass
class Report:
    """What verify found: the first SHOWN disagreements of each kind, and how many in all."""

    steps: int = 0  # rows checked against the layout and the engine
    sampled: int = 0  # rows recomputed by the evaluators
    shown: list[Disagreement] = field(default_factory=list)
    count: int = 0
    kinds: Counter = field(default_factory=Counter)
    formulas: int = 0  # formula cells of the steps table
    cached: int = 0  # of them, those holding a computed (cached) value
    skipped: list[str] = field(default_factory=list)  # checks not run: what, and how to add it

    def add(self, disagreement: Disagreement) -> None:
        self.count += 1
        self.kinds[disagreement.by] += 1
        if self.kinds[disagreement.by] <= SHOWN:
            self.shown.append(disagreement)

    @property
    def unshown(self) -> int:
        return self.count - len(self.shown)

    @property
    def computed(self) -> bool:
        """False when the table has formulas but not one computed value: nothing to verify yet."""
        return self.cached > 0 or not self.formulas

    @property
    def agrees(self) -> bool:
        return self.computed and not self.count

    def summary(self) -> str:
        if not self.computed:
            return (f"holds no computed values: none of its {self.formulas:,} formulas has one (a "
                    f"program saved it without calculating); open and save it in Excel or "
                    f"LibreOffice Calc (or: soffice --headless --convert-to xlsx --outdir OUT "
                    f"BOOK.xlsx), then verify what they save")
        checked = (f"{self.steps:,} rows against the layout and the engine, {self.sampled:,} "
                   f"recomputed")
        if not self.count:
            return f"all cells agree ({checked})"
        kinds = ", ".join(f"{count:,} by {by}" for by, count in self.kinds.items())
        return f"{self.count:,} disagreement(s): {kinds} ({checked})"


class Rule(NamedTuple):
    """How a column's values agree: as a quantity, a finite difference or a relative difference
    (which also needs the columns of the gradient and the finite difference it compares)."""

    kind: str
    compared: tuple[int, ...] = ()


def rules(layout: Layout) -> list[Rule]:
    """Each column's Rule, in table order."""
    relative = layout.relative_differences()
    finite = {fd for _, fd in relative.values()}
    return [Rule(RELATIVE_DIFFERENCE, relative[index]) if index in relative else
            Rule(FINITE_DIFFERENCE if index in finite else QUANTITY)
            for index in range(len(layout.columns))]


def close(kind: str, cached, recomputed, inputs: tuple = ()) -> bool:
    """Whether a cached value agrees with a recomputed one (the engine's number or an evaluator's),
    as tolerances.py says for its kind (QUANTITY, FINITE_DIFFERENCE, RELATIVE_DIFFERENCE).
    `inputs`: for a relative difference, the cached gradient and finite difference it compares,
    whose larger size is its scale.

    Excel has no inf or NaN. Where the engine's number is not finite the cell caches #NUM!
    (OVERFLOW), and an evaluator gives an error value there: #NUM!, or #VALUE! or #DIV/0! from
    what follows an overflow (OVERFLOW_ERRORS). Each agrees with a cached #NUM!, and with nothing
    else. That holds for the relative difference too: where the gradient or its finite
    difference is inf or NaN, so is the engine's relative difference (never a 0 that would read
    as agreement), as Excel's formula over an error is that error; no quantity is finite in the
    engine where Excel's is an error. The errors of a broken formula (#REF!, #NAME?) never agree
    with a number."""
    if isinstance(recomputed, float) and not math.isfinite(recomputed):
        return cached == OVERFLOW  # what a cell caches where the engine overflows
    if _is_overflow_error(recomputed):
        return cached == OVERFLOW
    if not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in (cached, recomputed)):
        return cached == recomputed
    if kind == FINITE_DIFFERENCE:
        return math.isclose(cached, recomputed, rel_tol=tolerances.FINITE_DIFFERENCE_RELATIVE,
                            abs_tol=tolerances.FINITE_DIFFERENCE_ABSOLUTE)
    if kind == RELATIVE_DIFFERENCE:
        scale = max((abs(v) for v in inputs if isinstance(v, (int, float))), default=0.0)
        return math.isclose(cached, recomputed, rel_tol=0,
                            abs_tol=tolerances.relative_difference_tolerance(scale))
    return math.isclose(cached, recomputed, rel_tol=tolerances.RELATIVE,
                        abs_tol=tolerances.ABSOLUTE)


def _is_overflow_error(value) -> bool:
    # The `formulas` evaluator's errors are XlError objects, LibreOffice's read back as text.
    return value is not None and not isinstance(value, (int, float)) and (
        str(value) in OVERFLOW_ERRORS)


def sampled_steps(steps: int) -> list[int]:
    """The steps the evaluators recompute: every one of a short run; else the first and last
    EDGE_ROWS and the rest spread evenly between, always the same for the same run length."""
    if steps <= SAMPLED_ROWS:
        return list(range(1, steps + 1))
    first, last = EDGE_ROWS + 1, steps - EDGE_ROWS
    between = SAMPLED_ROWS - 2 * EDGE_ROWS
    chosen = {first + (last - first) * i // (between - 1) for i in range(between)}
    return sorted(chosen | set(range(1, first)) | set(range(last + 1, steps + 1)))


def verify(path: Path, libreoffice: bool = False) -> Report:
    """Every disagreeing cell of the workbook at `path` (of each run's steps sheet, for a
    comparison), or that it has no computed values to check; `agrees` on the report when it
    verifies."""
    path = Path(path)
    source = str(path)
    if libreoffice and not recalc.soffice():
        raise UserError("--libreoffice: LibreOffice (soffice) is not installed")
    report = Report()
    tables = []  # per steps sheet: its name, layout, sampled rows and the names its formulas use
    with reader.streamed(path) as book:
        runs = (reader.comparison_runs(book, source) if reader.is_comparison(book)
                else [(SHEET, reader.current_spec(book, source))])
        for sheet, spec in runs:
            layout = Layout(spec)
            report.steps += spec.steps
            samples = _check_rows(book, layout, sheet, source, report)
            tables.append((sheet, layout, samples, _named_cells(book, layout, sheet)))
        # the runs of a comparison share one Data sheet
        data = _check_data_sheet(book, runs[0][1], source, report)
        sheets = [name for name in book.sheetnames if not is_spec_sheet(name)]
    if not report.computed:  # each sampled row would start from the row before's nothing
        return report
    for sheet, layout, samples, named in tables:
        _recompute(sheet, layout, samples, named, sheets, libreoffice, report)
    if data is not None:
        _recompute_data(*data, report)
    return report


def _check_data_sheet(book, spec, source: str, report: Report) -> tuple | None:
    """The Data sheet's formulas (standardized inputs: datasheet.py) against their layout and
    their cached values against Python's numbers, which the engine trains on ("engine"). Returns
    what _recompute_data needs: the rows the evaluator recomputes (the means and deviations, and
    sampled samples' rows) and the values of the names their formulas use; None when the sheet
    holds no formulas."""
    if not spec.standardize or DATA_SHEET not in book.sheetnames:
        return None
    layout = DataSheet(spec)
    raw = names.raw_input_names(spec.layers[0])
    sampled = set(sampled_steps(spec.n_samples))
    rows = reader.sheet_rows(book, DATA_SHEET, source)
    number, cells = next(rows, (math.inf, {}))
    chosen, columns = [], {name: [] for name in raw}  # each raw column's cached values
    computed = {}  # the means' and deviations' cached values, by name
    quantities = {}  # (row, column), 0-based -> what the formula there computes
    for row, wanted in layout.rows():
        while number < row + 1:
            number, cells = next(rows, (math.inf, {}))
        held = cells if number == row + 1 else {}
        statistics = row > spec.n_samples  # a mean's or deviation's row, or the note's
        recomputed = statistics or row in sampled
        for cell in wanted:
            text, value = held.get(cell.column, EMPTY)
            if cell.kind == datasheet.GIVEN and not statistics \
                    and cell.column < layout.input_column:
                columns[raw[cell.column - layout.raw_column]].append([value])
            if cell.formula is None:
                continue
            address = xl_rowcol_to_cell(row, cell.column)
            if recomputed:
                quantities[row, cell.column] = cell.quantity
            if text != cell.formula:
                report.add(Disagreement(DATA_SHEET, address, cell.quantity, text, cell.formula,
                                        "layout"))
            if not _same_number(value, cell.value) and not close(QUANTITY, value, cell.value):
                report.add(Disagreement(DATA_SHEET, address, cell.quantity, value, cell.value,
                                        "engine"))
            if statistics:
                computed[cell.quantity] = value
        if recomputed:
            chosen.append((row + 1, {}, {column: held.get(column, EMPTY)
                                         for column in {cell.column for cell in wanted}}))
    return chosen, {**columns, **computed}, quantities


def _recompute_data(rows: list, named: dict, quantities: dict, report: Report) -> None:
    """The Data sheet's formulas of `rows` recomputed by the `formulas` evaluator, each from the
    cached values of the cells and names it reads, against their cached values."""
    try:
        values = recalc.formulas_rows(rows, named, DATA_SHEET)
    except ImportError:  # the lean install: _recompute has said so
        return
    for (number, _, cells), recomputed in zip(rows, values):
        for index, value in recomputed.items():
            cached = cells[index][1]
            if not close(QUANTITY, cached, value):
                report.add(Disagreement(DATA_SHEET, xl_rowcol_to_cell(number - 1, index),
                                        quantities[number - 1, index], cached, value, "formulas"))


def _recompute(sheet: str, layout: Layout, samples: dict, named: list, sheets: list[str],
               libreoffice: bool, report: Report) -> None:
    """The sampled rows of one steps sheet recomputed by `formulas` (and LibreOffice)."""
    width = len(layout.columns)  # cells right of the table are the user's, not recomputed
    samples = {number: (_within(previous, width), _within(cells, width))
               for number, (previous, cells) in samples.items()}
    recomputed = False
    try:
        values = recalc.formulas_rows(
            [(HEADER_ROW + number + 1, previous, cells)
             for number, (previous, cells) in sorted(samples.items())],
            _named_values(named), sheet)
    except ImportError:  # the lean install
        if FORMULAS_SKIPPED not in report.skipped:
            report.skipped.append(FORMULAS_SKIPPED)
    else:
        _compare(layout, sheet, samples, dict(zip(sorted(samples), values)), "formulas", report)
        recomputed = True
    if libreoffice:
        _compare(layout, sheet, samples, _libreoffice(sheet, sheets, named, samples),
                 "libreoffice", report)
        recomputed = True
    if recomputed:
        report.sampled += len(samples)


def _within(cells: dict, width: int) -> dict:
    return {index: cell for index, cell in cells.items() if index < width}


def _check_rows(book, layout: Layout, sheet: str, source: str, report: Report
                ) -> dict[int, tuple]:
    """Every row's formulas against the layout and cached values against the engine; returns
    the sampled rows: step -> (the previous row's cells, the row's cells)."""
    spec, columns = layout.spec, layout.columns
    templates = layout.formulas()
    column_rules = rules(layout)
    sampled = set(sampled_steps(spec.steps))
    samples = {}
    steps = engine.rows(spec, [column.key for column in columns], layout.gradient_check)
    rows = _table_rows(reader.sheet_rows(book, sheet, source), spec.steps)
    previous: dict = {}
    formulas = cached = 0  # counted here, not on the report: this loop runs for every cell
    for number, (values, cells) in enumerate(
            progress.watched(zip(steps, rows), spec.steps, "verifying"), start=1):
        row = HEADER_ROW + number
        numbers = {"r": row + 1, "p": row}
        for index, (column, engine_value) in enumerate(zip(columns, values)):
            text, value = cells.get(index, EMPTY)
            if text is not None:
                formulas += 1
                cached += value is not None
            template = templates[index]
            if template:
                wanted = template[number > 1].format_map(numbers)
                if text != wanted:
                    report.add(Disagreement(sheet, xl_rowcol_to_cell(row, index), column.key,
                                            text, wanted, "layout"))
            if _same_number(value, engine_value):  # what close() says of it, at a glance
                continue
            rule = column_rules[index]
            if not close(rule.kind, value, engine_value, _inputs(cells, rule.compared)):
                report.add(Disagreement(sheet, xl_rowcol_to_cell(row, index), column.key, value,
                                        engine_value, "engine"))
        if number in sampled:
            samples[number] = (previous, cells)
        previous = cells
    report.formulas += formulas
    report.cached += cached
    return samples


def _same_number(cached, engine_value) -> bool:
    """Whether a cached value is the engine's very number: a fresh workbook's almost every cell.
    close() agrees with those, whatever the quantity; this asks less."""
    return type(cached) is float and cached == engine_value and math.isfinite(cached)


def _table_rows(rows, steps: int):
    """The cells of each step's row in order, step 1 first: {} for a row the sheet lacks."""
    wanted, last = HEADER_ROW + 2, HEADER_ROW + 1 + steps  # Excel's row numbers
    for number, cells in rows:
        if number > last:
            break
        if number < wanted:
            continue
        while wanted < number:
            yield {}
            wanted += 1
        yield cells
        wanted += 1
    while wanted <= last:
        yield {}
        wanted += 1


def _libreoffice(sheet: str, sheets: list[str], named: list[Named], samples: dict
                 ) -> dict[int, dict]:
    """LibreOffice's value of each formula cell of the sampled rows of steps sheet `sheet`:
    step -> column -> value."""
    with tempfile.TemporaryDirectory(prefix="backprop_xl-verify-") as scratch:
        path = Path(scratch) / "samples.xlsx"
        placed = _sample_book(path, sheet, sheets, named, samples)
        results = recalc.libreoffice_recalc(path, sheet)
    return {number: {index: results.get(xl_rowcol_to_cell(at, index)) for index in cells}
            for number, at, cells in placed}


def _sample_book(path: Path, sheet: str, sheets: list[str], named: list[Named],
                 samples: dict) -> list[tuple[int, int, dict]]:
    """Write the workbook LibreOffice recomputes; returns each sample's step, the row its
    formulas sit on there (0-based; the row before holds the previous row's values), its cells."""
    out = xlsxwriter.Workbook(str(path))
    sheets = {name: out.add_worksheet(name) for name in sheets}
    for each in named:
        for cell in each.cells:
            _put(sheets[cell.sheet], cell.row, cell.column, cell.value)
        out.define_name(each.name, "=" + each.reference)
    steps = sheets[sheet]
    placed = []
    for pair, number in enumerate(sorted(samples)):
        previous, cells = samples[number]
        row, at = HEADER_ROW + number, HEADER_ROW + 2 + 2 * pair
        for index, (_, value) in previous.items():
            _put(steps, at - 1, index, value)
        for index, (text, value) in cells.items():
            if text is None:
                _put(steps, at, index, value)
            else:  # moved as Excel moves a copied formula: its row references go along
                origin, target = xl_rowcol_to_cell(row, index), xl_rowcol_to_cell(at, index)
                steps.write_formula(at, index, Translator(text, origin).translate_formula(target))
        placed.append((number, at, cells))
    out.close()
    return placed


def _referenced_names(layout: Layout) -> list[str]:
    """The defined names the step formulas use: the named cells, and the Data sheet's columns."""
    referenced = [cell.name for cell in layout.named_cells()]
    if layout.data_on_sheet:
        n_in, n_out = layout.spec.layers[0], layout.spec.layers[-1]
        referenced += names.input_names(n_in) + names.target_names(n_out)
    return referenced


class NamedCell(NamedTuple):
    sheet: str
    row: int  # 0-based
    column: int
    value: object


class Named(NamedTuple):
    """A defined name the step formulas use, as the workbook holds it."""

    name: str
    reference: str  # as defined: Data!$B$2:$B$5
    cells: list[NamedCell]  # row by row


def _named_cells(book, layout: Layout, scope: str) -> list[Named]:
    """Every name the formulas of steps sheet `scope` use, as the workbook holds it (edited_spec
    has checked them all); each sheet read once."""
    wanted = {}  # sheet -> [(name, left, top, right, bottom)]
    definitions = {}
    for name in _referenced_names(layout):
        defined = reader.definition(book, name, scope)
        definitions[name] = defined.attr_text
        for sheet, reference in defined.destinations:
            wanted.setdefault(sheet, []).append((name, *range_boundaries(reference)))
    cells = {name: [] for name in definitions}
    for sheet, blocks in wanted.items():
        bottom = max(block[4] for block in blocks)
        for number, row in enumerate(book[sheet].iter_rows(max_row=bottom, values_only=True),
                                     start=1):
            for name, left, top, right, last in blocks:
                if top <= number <= last:
                    cells[name] += [NamedCell(sheet, number - 1, column - 1, row[column - 1]
                                              if column <= len(row) else None)
                                    for column in range(left, right + 1)]
    return [Named(name, definitions[name], cells[name]) for name in definitions]


def _named_values(named: list[Named]) -> dict[str, object]:
    """Each name's value, as the evaluator takes it: its cell's value, or its cells' values row
    by row."""
    values = {}
    for each in named:
        if len(each.cells) == 1:
            values[each.name] = each.cells[0].value
        else:
            rows = groupby(each.cells, key=lambda cell: (cell.sheet, cell.row))
            values[each.name] = [[cell.value for cell in row] for _, row in rows]
    return values


def _put(sheet, row: int, column: int, value) -> None:
    """A cached value, as a constant of its own kind; an error value as the error itself."""
    if isinstance(value, bool):
        sheet.write_boolean(row, column, value)
    elif isinstance(value, (int, float)):
        sheet.write_number(row, column, value)
    elif isinstance(value, str) and value in OVERFLOW_ERRORS:
        sheet.write_formula(row, column, "=" + value)  # a formula that is the error, =#NUM!
    elif value is not None:
        sheet.write_string(row, column, str(value))


def _compare(layout: Layout, sheet: str, samples: dict, recomputed: dict, by: str,
             report: Report) -> None:
    """Each formula cell of the sampled rows: its cached value against an evaluator's (recomputed:
    step -> column -> value), reported at its address in the user's workbook."""
    columns, column_rules = layout.columns, rules(layout)
    for number, (_, cells) in sorted(samples.items()):
        values = recomputed[number]
        for index, (text, cached) in cells.items():
            if text is None:
                continue
            value = values.get(index)
            rule = column_rules[index]
            if not close(rule.kind, cached, value, _inputs(cells, rule.compared)):
                report.add(Disagreement(sheet, xl_rowcol_to_cell(HEADER_ROW + number, index),
                                        columns[index].key, cached, value, by))


def _inputs(cells: dict, indexes: tuple[int, ...]) -> tuple:
    return tuple(cells.get(i, EMPTY)[1] for i in indexes)
