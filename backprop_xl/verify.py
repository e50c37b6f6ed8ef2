"""Recomputes a workbook independently and reports every cell that disagrees: each formula cell's
text against the layout of its embedded spec, its cached value against the engine rerun from the
parameter cells as they stand, and against the `formulas` evaluator (and LibreOffice, if asked).
"""

from __future__ import annotations

import contextlib
import io
import math
from dataclasses import dataclass
from pathlib import Path

from xlsxwriter.utility import xl_rowcol_to_cell

from . import engine, progress, reader, recalc
from .errors import UserError
from .layout import HEADER_ROW, SHEET, Layout
from .workbook import OVERFLOW


@dataclass(frozen=True)
class Disagreement:
    sheet: str
    address: str
    quantity: str  # the machine name of the column
    cached: object
    recomputed: object
    by: str  # what recomputed it: engine, formulas, libreoffice, layout (a formula's text)

    def __str__(self) -> str:
        return (f"{self.sheet}!{self.address} ({self.quantity}): cached {self.cached!r}, "
                f"{self.by} {self.recomputed!r}")


def close(quantity: str, cached, recomputed) -> bool:
    """Agreement to relative 1e-9. A finite difference divides rounding noise by 2h, so it agrees
    to 1e-6; its relative difference divides that noise again by the gradient: 1e-4 absolute."""
    if isinstance(recomputed, float) and not math.isfinite(recomputed):
        return cached == OVERFLOW  # what a cell caches where the engine overflows
    if not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in (cached, recomputed)):
        return cached == recomputed
    if quantity.startswith("fd_"):
        return math.isclose(cached, recomputed, rel_tol=1e-6, abs_tol=1e-10)
    if quantity.startswith("reldiff_"):
        return math.isclose(cached, recomputed, rel_tol=0, abs_tol=1e-4)
    return math.isclose(cached, recomputed, rel_tol=1e-9, abs_tol=1e-13)


def verify(path: Path, libreoffice: bool = False) -> list[Disagreement]:
    """Every disagreeing cell of the workbook at `path` (an empty list: it verifies)."""
    path = Path(path)
    source = str(path)
    book = reader.open_workbook(path, data_only=False)
    spec = reader.edited_spec(book, reader.embedded_spec(book, source), source)
    cached_book = reader.open_workbook(path, data_only=True)
    layout = Layout(spec)
    columns = layout.columns
    formulas_sheet, cached_sheet = book[SHEET], cached_book[SHEET]
    found: list[Disagreement] = []
    expected: dict[str, tuple[str, float]] = {}

    templates = layout.formulas()
    steps = engine.rows(spec, [column.key for column in columns], layout.gradient_check)
    for number, values in enumerate(progress.watched(steps, spec.steps, "engine"), start=1):
        row = HEADER_ROW + number
        numbers = {"r": row + 1, "p": row}
        for index, (column, engine_value) in enumerate(zip(columns, values)):
            address = xl_rowcol_to_cell(row, index)
            text = formulas_sheet[address].value
            wanted = templates[index] and templates[index][number > 1].format_map(numbers)
            if wanted and text != wanted:
                found.append(Disagreement(SHEET, address, column.key, text, wanted, "layout"))
            value = cached_sheet[address].value
            expected[address] = (column.key, engine_value)
            if not close(column.key, value, engine_value):
                found.append(Disagreement(SHEET, address, column.key, value, engine_value,
                                          "engine"))

    cached = {address: cached_sheet[address].value for address in expected}
    with contextlib.redirect_stderr(io.StringIO()):  # the evaluator's own progress bars
        recomputed = recalc.formulas_recalc(path)
    found += _compare(expected, cached, recomputed, "formulas")
    if libreoffice:
        if not recalc.soffice():
            raise UserError("--libreoffice: LibreOffice (soffice) is not installed")
        found += _compare(expected, cached, recalc.libreoffice_recalc(path), "libreoffice")
    return found


def _compare(expected, cached, recomputed, by: str) -> list[Disagreement]:
    return [Disagreement(SHEET, address, quantity, cached[address], recomputed.get(address), by)
            for address, (quantity, _) in expected.items()
            if quantity != "step" and not close(quantity, cached[address], recomputed.get(address))]
