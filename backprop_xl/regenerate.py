"""Rebuilds workbooks from what they carry: the embedded spec with the parameter and data cells as
the user left them. Nothing the user added is lost silently: content outside the generated ranges
is named and refused unless forced, and the old file is kept as a backup unless told not to.
"""

from __future__ import annotations

import math
import os
import re
import shutil
import tempfile
import zipfile
from pathlib import Path
from typing import Callable, NamedTuple

from openpyxl.utils import get_column_letter
from xlsxwriter.utility import xl_col_to_name

from . import comparison, reader, workbook
from .errors import UserError
from .files import atomic_output, check_writable
from .layout import Layout, is_spec_sheet
from .tolerances import ACROSS_MACHINES_ABSOLUTE, RELATIVE, RELATIVE_DIFFERENCE_ABSOLUTE
from .spec import Spec

BACKUP_SUFFIX = ".backup.xlsx"
# Parts of the package that only a person adds: charts and pictures beyond ours, comments.
ADDED_PARTS = ("xl/charts/", "xl/drawings/", "xl/media/", "xl/comments", "xl/vbaProject", "xl/tables/")
# The last digits of exp and log differ between CPUs and numpy builds (their SIMD paths). So a
# workbook is current when its cached values agree as tolerances.py says and all else is byte for
# byte. A gradient check's relative difference divides the noise of two nearly equal losses by a
# gradient that may be tiny: those cells agree when they differ by less than the smallest
# difference the check reports as a disagreement (tolerances.RELATIVE_DIFFERENCE_ABSOLUTE).
CACHED_VALUE = re.compile(rb"<v>([^<]*)</v>")
CELL_COLUMN = re.compile(rb'<c r="([A-Z]+)[0-9]+"')  # XlsxWriter's cell element, before its value


def backup_path(path: Path) -> Path:
    return path.with_name(path.stem + BACKUP_SUFFIX)


def current(path: Path) -> reader.Contents:
    """The run (or comparison) the workbook now describes: embedded spec, cells as edited."""
    with reader.streamed(path) as book:
        return reader.contents(book, str(path))


def write(contents: reader.Contents, path: Path, force: bool = False,
          unchanged_since: os.stat_result | None = None) -> None:
    """The workbook of a run, or of a comparison (unchanged_since: files.atomic_output's)."""
    if contents.runs is None:
        workbook.write(contents.spec, path, force=force, picture_step=contents.picture_step,
                       unchanged_since=unchanged_since)
    else:
        comparison.write(contents.spec, contents.runs, path, force=force,
                         unchanged_since=unchanged_since)


class Plan(NamedTuple):
    """A rewrite prepared: what to write, and the workbook as it was when read, so that an edit
    saved meanwhile by another program is not lost (files.atomic_output)."""

    contents: reader.Contents
    seen: os.stat_result | None


def would_lose(path: Path, contents: reader.Contents) -> list[str]:
    """What rewriting `path` would drop: cells that differ from what `spec` generates (formulas
    compared as text, so values recalculated by Excel do not count), added sheets and parts.
    Both workbooks are streamed a row at a time, so a sheet of any size generate writes will do."""
    with tempfile.TemporaryDirectory() as scratch:
        fresh = Path(scratch) / "fresh.xlsx"
        write(contents, fresh)
        with reader.streamed(path, data_only=False) as theirs, \
                reader.streamed(fresh, data_only=False) as ours:
            lost = [f"sheet {name!r}" for name in theirs.sheetnames
                    if name not in ours.sheetnames]
            for name in theirs.sheetnames:
                # the spec sheets record edits
                if name in ours.sheetnames and not is_spec_sheet(name):
                    lost += _changed_cells(theirs, ours, name, str(path))
        lost += [f"{part}" for part in sorted(_parts(path) - _parts(fresh))]
    return lost


def _changed_cells(theirs, ours, sheet: str, source: str) -> list[str]:
    """The cells of `sheet` in theirs whose content (a formula's text, or a constant) differs
    from the same cell in ours: both sheets streamed side by side, row by row."""
    fresh = reader.sheet_rows(ours, sheet, "a fresh workbook")
    number, cells = next(fresh, (math.inf, {}))
    changed = []
    for row, their_cells in reader.sheet_rows(theirs, sheet, source):
        while number < row:
            number, cells = next(fresh, (math.inf, {}))
        own = cells if number == row else {}
        for column, cell in their_cells.items():
            content = _content(cell)
            if content is not None and content != _content(own.get(column, (None, None))):
                changed.append(f"{sheet}!{get_column_letter(column + 1)}{row} ({_short(content)})")
    return changed


def _content(cell: reader.Cell):
    formula, value = cell
    return value if formula is None else formula


def _parts(path: Path) -> set[str]:
    with zipfile.ZipFile(path) as package:
        return {name for name in package.namelist() if name.startswith(ADDED_PARTS)}


def _short(value) -> str:
    text = str(value)
    return text if len(text) <= 30 else text[:27] + "..."


def prepare(path: Path, change: Callable[[Spec], Spec] = lambda spec: spec,
            force: bool = False, backup: bool = True) -> Plan:
    """What to rewrite the workbook at `path` with: its current run (or each run of a comparison)
    as `change` alters it, once everything that can refuse it has been checked (the workbook, the
    options, what would be lost, the folder), without writing anything. `rewrite` writes it."""
    path = Path(path)
    try:  # before reading: an edit saved while it is read counts too
        seen = os.stat(path)
    except OSError:
        seen = None
    now = current(path)  # refuses a missing or unreadable file in one line
    # bad options are refused before anything is compared or written
    new = reader.Contents(change(now.spec),
                          None if now.runs is None else [change(run) for run in now.runs],
                          now.picture_step)
    for target in (path, backup_path(path)) if backup else (path,):
        check_writable(target, force=True)
    lost = would_lose(path, now)
    if lost and not force:
        shown = ", ".join(lost[:5]) + (f" and {len(lost) - 5} more" if len(lost) > 5 else "")
        raise UserError(f"{path}: regenerating would lose {shown}; use --force "
                        f"(the backup keeps them)")
    return Plan(new, seen)


def rewrite(path: Path, plan: Plan, backup: bool = True) -> None:
    """Write the plan over the workbook at `path`, keeping the old file as a backup if asked;
    refused, nothing written, if another program has saved the workbook since it was read."""
    if backup:
        with atomic_output(backup_path(path), force=True) as temporary:
            shutil.copyfile(path, temporary)
    write(plan.contents, path, force=True, unchanged_since=plan.seen)


def workbooks_in(folder: Path) -> list[Path]:
    return sorted(p for p in Path(folder).glob("*.xlsx")
                  if not p.name.endswith(BACKUP_SUFFIX) and not p.name.startswith((".", "~$")))


def stale(path: Path) -> list[str]:
    """Why the workbook differs from what the current code writes for its spec (empty: current)."""
    now = current(path)
    reasons = []
    with tempfile.TemporaryDirectory() as scratch:
        fresh = Path(scratch) / path.name
        write(now, fresh)
        loose = {xl_col_to_name(index).encode() for run in now.runs or [now.spec]
                 for index in Layout(run).relative_differences()}
        if not same_package(fresh, path, loose):
            reasons.append(f"{path} differs from what backprop-xl writes for its spec")
    beside = path.with_suffix(".toml")
    if beside.exists():
        try:
            if Spec.from_toml(beside.read_text(encoding="utf-8"), str(beside)) != now.spec:
                reasons.append(f"{beside} differs from the spec inside {path.name}")
        except Exception as error:
            reasons.append(f"{beside}: {error}")
    return reasons


def same_package(ours: Path, theirs: Path, loose: set[bytes] = frozenset()) -> bool:
    """Whether two workbooks hold the same parts, equal but for the last digits of cached values;
    `loose`: the columns (letters) of relative differences, which agree more loosely."""
    with zipfile.ZipFile(ours) as mine, zipfile.ZipFile(theirs) as other:
        names = mine.namelist()
        return names == other.namelist() and all(
            _same_part(mine.read(name), other.read(name), loose) for name in names)


def _same_part(mine: bytes, other: bytes, loose: set[bytes]) -> bool:
    if mine == other:
        return True
    # split() alternates the text between cached values and the values themselves
    pieces, others = CACHED_VALUE.split(mine), CACHED_VALUE.split(other)
    return len(pieces) == len(others) and all(
        a == b or (i % 2 == 1 and _close(a, b, _column(pieces[i - 1]) in loose))
        for i, (a, b) in enumerate(zip(pieces, others)))


def _column(before: bytes) -> bytes | None:
    """The column letters of the cell whose value follows `before` (the XML up to it)."""
    cells = CELL_COLUMN.findall(before[before.rfind(b"<c "):])
    return cells[0] if cells else None


def _close(a: bytes, b: bytes, loose: bool) -> bool:
    """Whether two cached values agree; `loose` for a relative difference's."""
    try:
        return math.isclose(float(a), float(b), rel_tol=RELATIVE,
                            abs_tol=RELATIVE_DIFFERENCE_ABSOLUTE if loose else ACROSS_MACHINES_ABSOLUTE)
    except ValueError:  # an error value such as #NUM!, or text
        return False
