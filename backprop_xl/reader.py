"""Reads back a workbook backprop_xl wrote: the embedded spec, and the parameter and data cells as
the user left them, turned into the spec of the run they now describe.

Anything else is refused with one clear line: a file that is not an xlsx, a damaged one, one that
another program made. Zip members are sized by what they declare before anything inflates them,
then inflated once in small pieces, kept nowhere, to hold them to it; openpyxl parses the XML
through defusedxml (installed with backprop_xl), which refuses entity declarations.

A sheet of any size generate writes (up to 1,048,575 steps, gigabytes of XML) is read as a stream,
a row at a time (sheet_rows), from a workbook opened read-only.
"""

from __future__ import annotations

import contextlib
import math
import re
import struct
import warnings
import zipfile
import zlib
from dataclasses import replace
from pathlib import Path
from typing import Iterator, NamedTuple
from xml.etree import ElementTree

import numpy as np
import openpyxl
from defusedxml import DefusedXmlException
from defusedxml import ElementTree as defused
from openpyxl.formula.translate import Translator
from openpyxl.utils.cell import column_index_from_string, get_column_letter, range_boundaries
from openpyxl.worksheet._read_only import ReadOnlyWorksheet
from openpyxl.worksheet.worksheet import Worksheet

from .errors import SpecError, UserError
from . import names
from .layout import (COMPARE_SHEET, HYPERPARAMETERS, RUN_SPEC_SHEET, SPEC_MARKER, SPEC_SHEET,
                     THRESHOLD_NAME, Layout, run_sheet)
from .names import EXCEL_COLUMNS, bias_name, initial_name, weight_name
from .network_picture import PICTURE_STEP_NAME
from .spec import EXCEL_ROWS, Spec

# Inflated sizes. A part read whole (the workbook part, styles, strings, properties; and every
# sheet unless the workbook is opened read-only) is held in memory, many times over once parsed:
MAX_MEMBER_BYTES = 512 * 1024 * 1024
# A worksheet read-only is streamed, a row at a time, never held: its size costs time, not memory,
# so it may be as large as generate writes. The largest: 1,048,575 steps of the seed run are some
# 1.1 GB, of mazur's 60 columns (their gradient check's formulas are long) some 13 GB; a wide
# network more. Bombs stay refused: a part over 1 MiB may not inflate more than MAX_RATIO times
# its deflated size (so 64 GiB takes a file of 320 MB or more), and every part is inflated once,
# in pieces kept nowhere, and refused the moment it passes the size it declares.
MAX_STREAMED_MEMBER_BYTES = 64 * 1024 ** 3
MAX_TOTAL_BYTES = MAX_STREAMED_MEMBER_BYTES + MAX_MEMBER_BYTES
STREAMED_PARTS = re.compile(r"xl/worksheets/[^/]+\.xml")  # where every xlsx keeps its sheets
MAX_RATIO = 200  # inflated / compressed; our sheets deflate about 10:1
LOCAL_HEADER_BYTES = 30  # a zip part's local header before its name and extra field
INFLATE_PIECE_BYTES = 64 * 1024


def open_workbook(path: Path, data_only: bool = True, read_only: bool = False):
    """The workbook at `path`, opened with openpyxl once its zip has been checked. `read_only`
    streams its sheets (openpyxl's read-only mode; see sheet_rows): a sheet of any size
    generate writes is admitted then, and the caller closes the workbook."""
    path = Path(path)
    if path.is_dir():
        raise UserError(f"{path}: is a folder, not a workbook")
    if not path.exists():
        raise UserError(f"{path}: no such file")
    try:
        with zipfile.ZipFile(path) as package:
            members = package.infolist()
    except (zipfile.BadZipFile, OSError) as error:
        raise UserError(f"{path}: not an xlsx workbook ({error})") from None
    total = 0
    for member in members:
        total += member.file_size
        ratio = member.file_size / max(member.compress_size, 1)
        streamed = read_only and STREAMED_PARTS.fullmatch(member.filename)
        limit = MAX_STREAMED_MEMBER_BYTES if streamed else MAX_MEMBER_BYTES
        if member.file_size > limit or total > MAX_TOTAL_BYTES or (
                member.file_size > 1024 * 1024 and ratio > MAX_RATIO):
            raise UserError(f"{path}: refused, part {member.filename} would inflate to "
                            f"{member.file_size:,} bytes")
    # zipfile cuts a part at its declared size only after inflating all of a read: a part that
    # declares little and holds a bomb would inflate in full. So every part is first inflated
    # here in small pieces, kept nowhere, and refused the moment it passes its declared size.
    with path.open("rb") as handle:
        for member in members:
            problem = _inflation_problem(handle, member)
            if problem:
                raise UserError(f"{path}: refused, part {member.filename} {problem}")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # openpyxl's notes on unsupported extensions
            return openpyxl.load_workbook(path, data_only=data_only, read_only=read_only)
    except Exception as error:  # a damaged package fails in many ways inside openpyxl
        raise refusal(path, error) from None


@contextlib.contextmanager
def streamed(path: Path, data_only: bool = True):
    """open_workbook read-only, its sheets streamed (see sheet_rows), closed after the block."""
    book = open_workbook(path, data_only=data_only, read_only=True)
    try:
        yield book
    finally:
        book.close()


def refusal(path, error: Exception) -> UserError:
    """The one line that says why a workbook whose XML failed to parse is refused."""
    refused = _defused(error)
    if refused is not None:
        name = getattr(refused, "name", None) or getattr(refused, "sysid", None)
        return UserError(f"{path}: refused, its XML declares entities"
                         f"{f' ({name})' if name else ''}, which could expand without bound "
                         f"or read other files")
    return UserError(f"{path}: not a readable xlsx workbook ({type(error).__name__}: "
                     f"{str(error).splitlines()[0] if str(error) else 'damaged'})")


def _inflation_problem(handle, member: zipfile.ZipInfo) -> str | None:
    """Why the part's data does not inflate to exactly the size it declares (None: it does)."""
    if member.header_offset < 0:  # zipfile shifts offsets by the bytes it finds before the zip
        return "is damaged (it would start before the file does)"
    handle.seek(member.header_offset)
    header = handle.read(LOCAL_HEADER_BYTES)
    if len(header) != LOCAL_HEADER_BYTES or not header.startswith(b"PK\x03\x04"):
        return "is damaged (no local header)"
    name_bytes, extra_bytes = struct.unpack("<HH", header[26:30])
    handle.seek(member.header_offset + LOCAL_HEADER_BYTES + name_bytes + extra_bytes)
    if member.compress_type == zipfile.ZIP_STORED:
        return None if member.compress_size == member.file_size else "is damaged (sizes differ)"
    if member.compress_type != zipfile.ZIP_DEFLATED:
        return f"uses compression method {member.compress_type}, which no xlsx uses"
    inflater = zlib.decompressobj(-zlib.MAX_WBITS)
    inflated, left, pending = 0, member.compress_size, b""
    try:
        while not inflater.eof:
            if not pending:
                pending = handle.read(min(INFLATE_PIECE_BYTES, left))
                if not pending:
                    return "is damaged (its data ends early)"
                left -= len(pending)
            inflated += len(inflater.decompress(pending, INFLATE_PIECE_BYTES))
            pending = inflater.unconsumed_tail
            if inflated > member.file_size:
                return f"inflates past the {member.file_size:,} bytes it declares"
    except zlib.error as error:
        return f"is damaged ({error})"
    return None if inflated == member.file_size else "is damaged (shorter than it declares)"


def _defused(error: BaseException | None) -> DefusedXmlException | None:
    """The entity declaration defusedxml refused, wherever openpyxl wrapped it."""
    while error is not None and not isinstance(error, DefusedXmlException):
        error = error.__cause__ or error.__context__
    return error


def embedded_spec(book, source: str, sheet: str = SPEC_SHEET) -> Spec:
    """The spec the workbook was made from, as written on its hidden spec sheet (`sheet`: a
    comparison's run's)."""
    if sheet not in book.sheetnames or book[sheet]["A1"].value != SPEC_MARKER:
        raise UserError(f"{source}: not a workbook made by backprop_xl (it has no embedded spec)")
    lines = []
    for row in book[sheet].iter_rows(min_row=2, values_only=True):
        lines.append("".join(value for value in row if isinstance(value, str)))
    try:
        return Spec.from_toml("\n".join(lines) + "\n", read_files=False)
    except SpecError as error:
        raise UserError(f"{source}: its embedded spec is damaged ({error})") from None


def definition(book, name: str, scope: str | None = None):
    """The defined name `name` as the formulas of sheet `scope` see it: the sheet's own name if
    it has one (a comparison's runs do), else the workbook's; None if neither."""
    if scope is not None and scope in book.sheetnames and name in book[scope].defined_names:
        return book[scope].defined_names[name]
    return book.defined_names.get(name)


def named_value(book, name: str, source: str, scope: str | None = None) -> float:
    """The number in the cell a defined name points at (as sheet `scope` sees the name)."""
    return named_values(book, name, source, 1, scope)[0]


def named_values(book, name: str, source: str, count: int, scope: str | None = None
                 ) -> list[float]:
    """The numbers in the `count` cells a defined name points at, row by row. Where it points is
    checked before any cell is read: a name edited to cover a whole sheet would otherwise make
    openpyxl create its 17 billion cells."""
    defined = definition(book, name, scope)
    if defined is None:
        raise UserError(f"{source}: the defined name {name} is missing")
    try:
        destinations = list(defined.destinations)
    except Exception:  # openpyxl's formula tokenizer fails in many ways on a damaged reference
        destinations = []
    if not destinations:
        raise UserError(f"{source}: the name {name} should point at cells, it holds "
                        f"{defined.value or ''!r}")
    blocks = []
    for sheet, reference in destinations:
        if sheet not in book.sheetnames or not isinstance(book[sheet],
                                                          (Worksheet, ReadOnlyWorksheet)):
            raise UserError(f"{source}: the name {name} points at a missing sheet {sheet!r}")
        blocks.append((book[sheet], _bounds(reference, name, source)))
    held = sum((right - left + 1) * (bottom - top + 1) for _, (left, top, right, bottom) in blocks)
    if held != count:
        raise UserError(f"{source}: the name {name} should hold {_cell_count(count)}, "
                        f"it holds {_cell_count(held)}")
    values = []
    for sheet, (left, top, right, bottom) in blocks:
        for row in sheet.iter_rows(min_row=top, max_row=bottom, min_col=left, max_col=right):
            for cell in row:
                value = cell.value
                if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
                    raise UserError(f"{source}: {name} ({sheet.title}!{cell.coordinate}) must be a "
                                    f"number, got {value!r}")
                values.append(float(value))
    return values


def _bounds(reference: str, name: str, source: str) -> tuple[int, int, int, int]:
    """The first and last column and row of a reference such as $A$1 or $A$1:$B$4, refusing
    whole columns and rows and cells off the sheet."""
    try:
        left, top, right, bottom = range_boundaries(reference)
    except ValueError:
        left = top = right = bottom = None
    if None in (left, top, right, bottom) or not (
            1 <= min(left, right) and max(left, right) <= EXCEL_COLUMNS
            and 1 <= min(top, bottom) and max(top, bottom) <= EXCEL_ROWS):
        raise UserError(f"{source}: the name {name} points at {reference!r}, not a block of cells")
    return min(left, right), min(top, bottom), max(left, right), max(top, bottom)


def _cell_count(count: int) -> str:
    return "one cell" if count == 1 else f"{count:,} cells"


def current_spec(book, source: str) -> Spec:
    """The spec of the run the workbook now describes: embedded spec, cells as edited."""
    if is_comparison(book):
        raise UserError(f"{source}: is a comparison of several runs (backprop-xl compare), "
                        "not one run")
    return edited_spec(book, embedded_spec(book, source), source)


class Contents(NamedTuple):
    """What a workbook describes now: one run (runs None); or a comparison, the spec `compare`
    was given (its title) and its runs. `picture_step`: the step of a run's network picture
    (picture_step below), None for the last."""

    spec: Spec
    runs: list[Spec] | None = None
    picture_step: float | None = None


def contents(book, source: str) -> Contents:
    """The run, or the comparison, the workbook now describes: embedded, cells as edited."""
    if is_comparison(book):
        return Contents(embedded_spec(book, source),
                        [spec for _, spec in comparison_runs(book, source)])
    spec = current_spec(book, source)
    return Contents(spec, picture_step=picture_step(book, spec, source))


def picture_step(book, spec: Spec, source: str) -> float | None:
    """The yellow cell of the network's picture (network_picture.py) as the user left it, kept
    as typed (its formulas take the step from it); None where it holds the run's last step, the
    default, so that a run made longer or shorter shows its new last step, and where it is
    missing (a workbook made before it, or of a network too large to draw) or holds no number
    (regenerate then names it as a cell it would lose)."""
    if definition(book, PICTURE_STEP_NAME) is None:
        return None
    try:
        value = named_value(book, PICTURE_STEP_NAME, source)
    except UserError:
        return None
    return None if value == spec.steps else value


def is_comparison(book) -> bool:
    return COMPARE_SHEET in book.sheetnames and RUN_SPEC_SHEET.format(number=1) in book.sheetnames


def comparison_runs(book, source: str) -> list[tuple[str, Spec]]:
    """A comparison's runs as the workbook now describes them: each run's steps sheet and its
    spec, embedded with its cells as edited (the sheet's own names, then the shared ones)."""
    runs = []
    while RUN_SPEC_SHEET.format(number=len(runs) + 1) in book.sheetnames:
        spec = embedded_spec(book, source, RUN_SPEC_SHEET.format(number=len(runs) + 1))
        sheet = run_sheet(spec)  # as generated: the cells may since say otherwise
        if sheet not in book.sheetnames:
            raise UserError(f"{source}: the steps sheet {sheet!r} of a run is missing")
        runs.append((sheet, edited_spec(book, spec, source, sheet)))
    return runs


def edited_spec(book, spec: Spec, source: str, scope: str | None = None) -> Spec:
    """`spec` with every parameter and data cell as the workbook now holds it, each name as the
    sheet `scope` sees it (a comparison's run's). Values left as generated keep the spec's own
    form (an init seed stays a seed)."""
    layout = Layout(spec)
    named = {cell.name for cell in layout.named_cells()}
    changes: dict = {"learning_rate": named_value(book, "learning_rate", source, scope)}
    if "fd_step" in named:
        changes["fd_step"] = named_value(book, "fd_step", source, scope)
    if "leaky_slope" in named:
        changes["leaky_slope"] = named_value(book, "leaky_slope", source, scope)
    optimizer = {key: named_value(book, key, source, scope)
                 for key in named if key in HYPERPARAMETERS}
    if any(value != getattr(spec.optimizer, key) for key, value in optimizer.items()):
        try:
            changes["optimizer"] = replace(spec.optimizer, **optimizer)
        except SpecError as error:
            raise UserError(f"{source}: {error}") from None
    # no formula reads it (only the conditional formats), and a workbook made before it has none
    if layout.gradient_check and definition(book, THRESHOLD_NAME, scope) is not None:
        changes["gradient_check_threshold"] = named_value(book, THRESHOLD_NAME, source, scope)

    n_in, n_out = spec.layers[0], spec.layers[-1]
    if layout.data_on_sheet:
        # standardized inputs: the numbers as given, not the standardized ones the steps read
        given = names.raw_input_names(n_in) if spec.standardize else names.input_names(n_in)
        inputs = [named_values(book, name, source, spec.n_samples, scope) for name in given]
        targets = [named_values(book, name, source, spec.n_samples, scope)
                   for name in names.target_names(n_out)]
    else:
        inputs = [[named_value(book, name, source, scope)] for name in names.input_names(n_in)]
        targets = [[named_value(book, name, source, scope)] for name in names.target_names(n_out)]
    changes["inputs"] = [list(row) for row in zip(*inputs)]
    changes["targets"] = [list(row) for row in zip(*targets)]

    weights = [[[named_value(book, initial_name(weight_name(layer.number, j, k)), source,
                             scope)
                 for k in range(1, layer.inputs + 1)] for j in range(1, layer.neurons + 1)]
               for layer in names.layers(spec.layers)]
    if not _same(weights, spec.initial_weights()):
        changes.update(weights=weights, init_seed=None)
    if spec.has_biases:
        biases = [[named_value(book, initial_name(bias_name(layer.number, j)), source, scope)
                   for j in range(1, layer.neurons + 1)] for layer in names.layers(spec.layers)]
        if not _same(biases, spec.initial_biases()):
            changes.update(biases=biases, init_biases=False)
    if changes.get("init_seed", spec.init_seed) is None and spec.weights is None:
        changes.setdefault("weights", [w.tolist() for w in spec.initial_weights()])
    if spec.init_biases and "biases" not in changes and changes.get("init_seed", 0) is None:
        changes.update(biases=[b.tolist() for b in spec.initial_biases()], init_biases=False)
    # Values the user left alone keep the spec's own form (1 stays 1, not 1.0), so an untouched
    # workbook regenerates to the same bytes.
    changes = {key: value for key, value in changes.items()
               if key not in ("learning_rate", "fd_step", "gradient_check_threshold", "leaky_slope",
                              "inputs", "targets")
               or not _same([value], [np.array(getattr(spec, key), dtype=float)])}
    try:
        return replace(spec, **changes)
    except SpecError as error:
        raise UserError(f"{source}: {error}") from None


def _same(values, arrays) -> bool:
    return all(np.array_equal(np.array(v, dtype=float), a) for v, a in zip(values, arrays))


# --- streaming a sheet ------------------------------------------------------------------------

MAIN = "{http://schemas.openxmlformats.org/spreadsheetml/2006/main}"
SHEET_DATA, ROW, CELL = MAIN + "sheetData", MAIN + "row", MAIN + "c"
FORMULA, VALUE, INLINE, TEXT = MAIN + "f", MAIN + "v", MAIN + "is", MAIN + "t"

Cell = tuple  # (formula text with its "=", or None; cached value, or None)


def sheet_rows(book, sheet: str, source: str) -> Iterator[tuple[int, dict[int, Cell]]]:
    """Every row of `sheet` in a workbook opened read-only, in order: its number (1-based) and
    its cells, column index (0-based) -> (formula, cached value). One pass over the sheet's XML
    gives what openpyxl shows in two (formulas, and values with data_only), one row in memory at
    a time. Shared formulas (as Excel saves them) come out as each cell's own text.

    The XML is parsed by the standard library's C parser, twice as fast as defusedxml's: it is
    safe once defusedxml has read the prolog, where alone XML may declare entities."""
    worksheet = book[sheet]
    # openpyxl 3.1's read-only worksheet: its part, opened afresh, and the book's shared strings
    strings = worksheet._shared_strings
    try:
        with worksheet._get_source() as prolog:
            for _ in defused.iterparse(prolog, events=("start",)):
                break  # the root element: any declaration came before it
        with worksheet._get_source() as stream:
            yield from _rows(stream, strings)
    except (ElementTree.ParseError, DefusedXmlException, zipfile.BadZipFile, EOFError,
            zlib.error, ValueError, IndexError) as error:
        raise refusal(source, error) from None


def _rows(stream, strings) -> Iterator[tuple[int, dict[int, Cell]]]:
    shared: dict[str, tuple[str, str]] = {}  # a shared formula's id -> its first cell and text
    columns: dict[str, int] = {}  # column letters -> index, remembered
    sheet_data, number = None, 0
    for event, element in ElementTree.iterparse(stream, events=("start", "end")):
        if event == "start":
            if element.tag == SHEET_DATA:
                sheet_data = element
            continue
        if element.tag != ROW:
            continue
        number = int(element.get("r") or number + 1)
        cells, column = {}, -1
        for cell in element.iter(CELL):
            reference = cell.get("r")
            if reference:
                letters = reference.rstrip("0123456789")
                column = columns.get(letters)
                if column is None:
                    column = columns[letters] = column_index_from_string(letters) - 1
            else:
                column += 1
                reference = f"{get_column_letter(column + 1)}{number}"
            cells[column] = (_formula(cell, reference, shared), _value(cell, strings))
        yield number, cells
        element.clear()
        if sheet_data is not None:
            sheet_data.clear()  # the rows read so far: without this they pile up, emptied


def _formula(cell, reference: str, shared: dict) -> str | None:
    element = cell.find(FORMULA)
    if element is None:
        return None
    text = element.text or ""
    if element.get("t") == "shared":
        key = element.get("si")
        if text:
            shared[key] = (reference, text)
        elif key in shared:
            origin, first = shared[key]
            return Translator("=" + first, origin=origin).translate_formula(reference)
    return "=" + text


def _value(cell, strings):
    kind = cell.get("t", "n")
    if kind == "inlineStr":
        inline = cell.find(INLINE)
        return None if inline is None else "".join(t.text or "" for t in inline.iter(TEXT))
    text = cell.findtext(VALUE)
    if not text:  # no value, or an empty one (openpyxl saves formulas so)
        return None
    if kind == "n":
        return float(text) if any(c in text for c in ".eE") else int(text)
    if kind == "s":
        return strings[int(text)]
    if kind == "b":
        return text == "1"
    return text  # an error value (#NUM!), a formula's text (str), a date in ISO form
