"""The two spellings of the BP_ functions in a workbook's formulas, and turning one into the other.

Excel (the BP_ functions through xlwings, and xlwings-setup's demo workbook) stores a call by the
function's name: BP_STEP(1.5,0.8,0.5,0.1). LibreOffice Calc stores an add-in's function by its
programmatic name, the add-in's implementation name and the method, upper-cased:
BACKPROP_XL.BP_STEP(1.5,0.8,0.5,0.1), and reads that back. Each shows #NAME? for the other's.

convert() writes a copy of an .xlsx or .xlsm workbook in the other spelling. Only function names
in the cells' formulas change (the <f> elements of the worksheet parts: plain, shared and array
formulas), edited where they stand in the XML text: the XML is parsed to find them, never written
out again from the parse. Every other part is copied byte for byte, in the same order, with the
same names and compression. So converting there and back gives every part's original bytes.
openpyxl's formula tokenizer finds the calls: a "BP_STEP(" inside a string is text, and stays.

The workbook is opened through reader.open_workbook's guards (sizes, zip bombs, damage, entity
declarations) and the copy is written atomically (files.atomic_output).
"""

from __future__ import annotations

import io
import re
import zipfile
import zlib
from collections import Counter
from pathlib import Path
from typing import Iterator, NamedTuple
from xml.etree import ElementTree

from defusedxml import DefusedXmlException
from defusedxml import ElementTree as defused
from openpyxl.formula.tokenizer import Token, Tokenizer, TokenizerError
from openpyxl.utils.cell import range_boundaries

from . import reader, udfs
from .errors import UserError
from .files import atomic_output, check_writable
from .libreoffice_setup import IMPLEMENTATION

SUFFIXES = (".xlsx", ".xlsm")  # a workbook's zip; .xltx templates, .ods, .xls are not converted
APPLICATION = {False: "Excel", True: "LibreOffice"}  # by `libreoffice`, for messages

# <f> (or <x:f>, any namespace prefix) with its text, or empty (<f t="shared" si="0"/>)
FORMULA_ELEMENT = re.compile(rb"<(?:[\w.-]+:)?f(?=[\s/>])[^>]*?(?:/>|>(.*?)</(?:[\w.-]+:)?f\s*>)",
                             re.S)
# One character of an element's text as the XML holds it: a reference, or the character itself
XML_CHARACTER = re.compile(r"&(?:#x[0-9a-fA-F]+|#[0-9]+|quot|amp|lt|gt|apos);|.", re.S)
NAMED_CHARACTERS = {"quot": '"', "amp": "&", "lt": "<", "gt": ">", "apos": "'"}


def libreoffice_name(name: str) -> str:
    """How LibreOffice stores a call of the add-in's function `name`: BACKPROP_XL.BP_STEP."""
    return f"{IMPLEMENTATION}.{name}".upper()


def spelled(name: str, libreoffice: bool) -> str:
    """The BP_ function `name` as a formula calls it in LibreOffice's spelling or Excel's."""
    return libreoffice_name(name) if libreoffice else name


class Converted(NamedTuple):
    formulas: int  # formulas (<f> texts) whose BP_ calls were respelled
    cells: int  # the cells they fill: an array formula's range, a shared formula's cells


def convert(book: Path, output: Path, libreoffice: bool, force: bool = False) -> Converted:
    """Write `book` to `output` with every BP_ call in LibreOffice's spelling (`libreoffice`) or
    Excel's. Refused, writing nothing: a book that is not an .xlsx or .xlsm workbook, damaged, or
    holding no BP_ call in the other spelling; a formula the tokenizer cannot read; an `output`
    that is `book`, of another type, or exists (unless `force`)."""
    book, output = Path(book), Path(output)
    if book.suffix.lower() not in SUFFIXES:
        raise UserError(f"{book}: not an .xlsx or .xlsm workbook")
    if output.suffix.lower() != book.suffix.lower():
        raise UserError(f"{output}: must end in {book.suffix}, as {book.name} does")
    if output.resolve() == book.resolve():
        raise UserError(f"{output}: is the workbook being converted; name another output")
    with reader.streamed(book) as workbook:  # refuses what is not a workbook
        sheets = {sheet._worksheet_path: sheet.title for sheet in workbook.worksheets}
    check_writable(output, force)
    renames = {spelled(name, not libreoffice).upper(): spelled(name, libreoffice)
               for name in udfs.FUNCTIONS}
    respelled = {name.upper() for name in renames.values()}
    changed, formulas, cells, already = {}, 0, 0, 0
    with zipfile.ZipFile(book) as source:
        for member in source.infolist():
            if member.filename not in sheets:
                continue
            where = f"{book}: sheet {sheets[member.filename]!r}"
            if member.file_size > reader.MAX_MEMBER_BYTES:  # held whole in memory, as it is edited
                raise UserError(f"{where} is too large to convert ({member.file_size:,} bytes)")
            data, counts, kept = _respell_sheet(_read(source, member, book), renames, respelled,
                                                where)
            if counts.formulas:
                changed[member.filename] = data
            formulas, cells, already = (formulas + counts.formulas, cells + counts.cells,
                                        already + kept)
    if not changed:
        there = (f"; its {already:,} call(s) are in {APPLICATION[libreoffice]}'s already"
                 if already else "")
        raise UserError(f"{book}: no BP_ function call in {APPLICATION[not libreoffice]}'s "
                        f"spelling ({spelled('BP_STEP', not libreoffice)}(...)) to convert{there}")
    with atomic_output(output, force) as temporary:
        with zipfile.ZipFile(book) as source, zipfile.ZipFile(temporary, "w") as target:
            for member in source.infolist():
                copy = zipfile.ZipInfo(member.filename, member.date_time)
                copy.compress_type, copy.external_attr = member.compress_type, member.external_attr
                target.writestr(copy, changed.get(member.filename) or _read(source, member, book))
    return Converted(formulas, cells)


def _read(source: zipfile.ZipFile, member: zipfile.ZipInfo, book: Path) -> bytes:
    """A part's bytes; reader.open_workbook has checked its size and that it inflates, not its
    checksum."""
    try:
        return source.read(member)
    except (zipfile.BadZipFile, zlib.error) as error:
        raise UserError(f"{book}: not a readable xlsx workbook, part {member.filename} is "
                        f"damaged ({error})") from None


class Formula(NamedTuple):
    """An element named f in a sheet's XML, as the XML parser reads it."""
    cell: str | None  # the cell whose formula it is; None outside cells (an extension's xm:f)
    text: str
    kind: str | None  # t: None for a plain formula, "array", "shared"
    ref: str | None  # an array formula's range, a shared formula's cells
    shared_index: str | None  # si: the cells of one shared formula have the same


def _respell_sheet(data: bytes, renames: dict[str, str], respelled: set[str],
                   where: str) -> tuple[bytes, Converted, int]:
    """The sheet's XML with its cells' BP_ calls renamed; how many formulas and cells changed;
    how many calls were in the target spelling already. The parser says which element is which,
    the regular expression where each stands in the text: they go through the sheet together."""
    elements = FORMULA_ELEMENT.finditer(data)
    pieces, start, formulas, cells, already = [], 0, 0, 0, 0
    shared_cells, respelled_shared = Counter(), []  # cells by shared formula; those respelled
    for formula in _formulas(data, where):
        element = next(elements, None)
        if element is None:
            raise _unmatched(where)
        if formula.kind == "shared":
            shared_cells[formula.shared_index] += 1
        # A formula that does not mention BP_ calls no BP_ function: left as it is, unread.
        if formula.cell is None or "BP_" not in formula.text.upper():
            continue
        text_start, text_end = element.span(1)
        raw = data[text_start:text_end].decode("utf-8")
        new, calls, kept = _respell(raw, formula, renames, respelled, where)
        already += kept
        if calls:
            pieces += [data[start:text_start], new.encode("utf-8")]
            start, formulas = text_end, formulas + 1
            if formula.kind == "shared":
                respelled_shared.append(formula.shared_index)
            else:
                cells += _area(formula.ref) if formula.kind == "array" else 1
    if next(elements, None) is not None:
        raise _unmatched(where)
    cells += sum(shared_cells[index] for index in respelled_shared)
    return b"".join(pieces) + data[start:], Converted(formulas, cells), already


def _unmatched(where: str) -> UserError:
    return UserError(f"{where}: cannot tell where its formulas stand in its XML")


def _formulas(data: bytes, where: str) -> Iterator[Formula]:
    """Every element named f in the sheet's XML, in order, read by defusedxml (which refuses
    entity declarations), a row at a time."""
    cell, sheet_data = None, None
    try:
        for event, element in defused.iterparse(io.BytesIO(data), events=("start", "end")):
            if event == "start":
                if element.tag == reader.CELL:
                    cell = element.get("r", "?")
                elif element.tag == reader.SHEET_DATA:
                    sheet_data = element
            elif element.tag.rpartition("}")[2] == "f":
                yield Formula(cell if element.tag == reader.FORMULA else None, element.text or "",
                              element.get("t"), element.get("ref"), element.get("si"))
            elif element.tag == reader.CELL:
                cell = None
            elif element.tag == reader.ROW:
                element.clear()
                if sheet_data is not None:
                    sheet_data.clear()  # the rows read so far, emptied: let them go
    except (ElementTree.ParseError, DefusedXmlException) as error:
        raise reader.refusal(where, error) from None


def _respell(raw: str, formula: Formula, renames: dict[str, str], respelled: set[str],
             where: str) -> tuple[str, int, int]:
    """A formula's text as the XML holds it (&quot; for ", ...) with its calls of the functions
    `renames` names renamed; how many it renamed, and how many calls were spelled as the targets
    (`respelled`) already."""
    characters = XML_CHARACTER.findall(raw)  # one a character of the formula, as the XML has it
    if "".join(map(_character, characters)) != formula.text:  # not the element the parser read
        raise _unmatched(where)
    try:
        tokens = _tokens(formula.text)
    except TokenizerError as error:
        raise UserError(f"{where}, cell {formula.cell}: cannot read the formula "
                        f"={formula.text} ({error})") from None
    written, start, calls, already = [], 0, 0, 0
    for token in tokens:
        end = start + len(token.value)
        piece = "".join(characters[start:end])
        if token.type == Token.FUNC and token.subtype == Token.OPEN:
            name = token.value[:-1].upper()  # a call's token ends with its "("
            if name in renames:  # letters, digits, "_" and ".": the XML writes them as they are
                piece, calls = renames[name] + characters[end - 1], calls + 1
            already += name in respelled
        written.append(piece)
        start = end
    return "".join(written), calls, already


def _tokens(text: str) -> list[Token]:
    """openpyxl's tokens of a formula's text (without its "="), which together spell it."""
    tokens = Tokenizer("=" + text).items
    if "".join(token.value for token in tokens) != text:  # then a token's place is unknown
        raise TokenizerError("its tokens leave out part of it")
    return tokens


def _character(reference: str) -> str:
    """The character an XML character (or a reference to one) stands for."""
    if len(reference) == 1:
        return reference
    name = reference[1:-1]
    if name.startswith("#x"):
        return chr(int(name[2:], 16))
    if name.startswith("#"):
        return chr(int(name[1:]))
    return NAMED_CHARACTERS[name]


def _area(reference: str | None) -> int:
    """How many cells a range such as B20:I20 holds (none given: the formula's own cell)."""
    try:
        left, top, right, bottom = range_boundaries(reference or "")
    except ValueError:  # none given, or damaged: count the formula's own cell
        return 1
    return (right - left + 1) * (bottom - top + 1)
