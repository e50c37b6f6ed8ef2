"""`backprop-xl xlwings-setup DIR`: what Excel needs to call backprop_xl's functions (udfs.py).

Writes two files, as xlwings' own `xlwings quickstart --standalone` does for a new project:

    DIR/xlwings.conf       the settings xlwings' VBA reads from the workbook's folder: the UDF
                           module (backprop_xl.udfs) and, when run on Windows, this Python
    DIR/backprop_xl.xlsm   a macro-enabled workbook holding xlwings' standalone VBA project, with a
                           sheet that calls every BP_ function on the seed lesson's numbers

The VBA project is copied, at run time, from the quickstart_standalone.xlsm inside the installed
xlwings package, so it always matches the xlwings version (and the xlwings DLL) of the interpreter
that will serve the functions; backprop_xl ships no copy of it. xlwings is BSD 3-clause licensed,
Copyright (C) 2014 - present, Zoomer Analytics GmbH; the workbook says so too.

Every formula is stored with the value the function returns when called here, in Python, so the
sheet shows the engine's numbers in any viewer; Excel recomputes them once the functions are
imported.
"""

from __future__ import annotations

import datetime
import io
import sys
import zipfile
from dataclasses import dataclass
from pathlib import Path

import xlsxwriter
import xlwings
from xlsxwriter.exceptions import XlsxWriterException
from xlsxwriter.utility import xl_rowcol_to_cell

from . import __version__, udfs
from .engine import bias_name, parameter_names
from .errors import UserError
from .files import atomic_output, check_folder, check_writable
from .presets import preset

UDF_MODULE = "backprop_xl.udfs"
WORKBOOK_NAME = "backprop_xl.xlsm"
CONF_NAME = "xlwings.conf"
SHEET = "BP functions"
CONF_SHEET = "_xlwings.conf"  # inactive, as in xlwings' quickstart: rename it to use it
XLWINGS_SOURCE = "quickstart_standalone.xlsm"
VBA_PART = "xl/vbaProject.bin"
CREATED = datetime.datetime(2026, 1, 1)  # a fixed date: the same versions give the same bytes
LICENSE_NOTE = (f"The macros (VBA project) of this workbook are xlwings' standalone VBA project, "
                f"copied from xlwings {xlwings.__version__}'s {XLWINGS_SOURCE}: Copyright (C) "
                "2014 - present, Zoomer Analytics GmbH, BSD 3-clause license "
                "(https://github.com/xlwings/xlwings/blob/main/LICENSE.txt).")

SEED_STEPS = 5  # BP_TRAIN rows on the sheet: enough to see w fall, small enough to read
MAZUR_STEPS = 3


def write(directory: Path, force: bool = False, interpreter: str | None = None) -> list[Path]:
    """Write DIR/xlwings.conf and DIR/backprop_xl.xlsm; refuse existing files unless `force`, and
    a DIR that is a file or whose parent folder is missing. `interpreter` (default: this Python on
    Windows, none elsewhere) goes into the conf as INTERPRETER_WIN. Returns the paths written."""
    directory = Path(directory)
    if directory.exists() and not directory.is_dir():
        raise UserError(f"{directory}: is a file, not a folder")
    if not directory.exists():
        check_folder(directory)
    conf, book = directory / CONF_NAME, directory / WORKBOOK_NAME
    if directory.exists():
        for path in (conf, book):
            check_writable(path, force)
    if interpreter is None and sys.platform == "win32":
        interpreter = sys.executable
    vba_project = xlwings_vba_project()
    created = not directory.exists()
    if created:
        try:
            directory.mkdir()
        except OSError as error:
            raise UserError(f"cannot create {directory}: {error.strerror or error}") from None
    try:
        # Both files are written in full before either is renamed into place: on a failure,
        # neither appears.
        with (atomic_output(conf, force) as conf_temporary,
              atomic_output(book, force) as book_temporary):
            conf_temporary.write_bytes(conf_text(interpreter).encode("utf-8"))
            try:
                write_workbook(book_temporary, vba_project, interpreter)
            except XlsxWriterException as error:
                raise UserError(f"cannot write {book}: {error}") from None
    except BaseException:
        if created:  # leave no trace of a folder this call made
            for path in (conf, book):
                path.unlink(missing_ok=True)
            try:
                directory.rmdir()
            except OSError:
                pass
        raise
    return [conf, book]


def conf_text(interpreter: str | None) -> str:
    """xlwings.conf: one "KEY","value" line per setting, as xlwings' VBA reads it (CRLF, for VBA's
    Input # on Windows). Without an interpreter, xlwings falls back to `pythonw` on the PATH."""
    lines = [f'"UDF MODULES","{UDF_MODULE}"']
    if interpreter:
        lines.append(f'"INTERPRETER_WIN","{interpreter}"')
    return "".join(line + "\r\n" for line in lines)


def xlwings_vba_project() -> bytes:
    """The vbaProject.bin of the installed xlwings' standalone quickstart workbook."""
    source = Path(xlwings.__file__).parent / XLWINGS_SOURCE
    try:
        with zipfile.ZipFile(source) as archive:
            return archive.read(VBA_PART)
    except (OSError, KeyError, zipfile.BadZipFile) as error:
        raise UserError(f"cannot read xlwings' VBA project from {source} ({error}); reinstall "
                        f"xlwings (pip install --force-reinstall xlwings)") from None


# --- the workbook --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Arg:
    """One argument of a formula: its text in the formula and the value Python passes for it."""

    text: str
    value: object


def literal(value) -> Arg:
    if isinstance(value, str):
        return Arg(f'"{value}"', value)
    if isinstance(value, bool):
        return Arg("TRUE" if value else "FALSE", value)
    if isinstance(value, list):  # a row as an array constant
        return Arg("{" + ",".join(repr(v) for v in value) + "}", [value])
    return Arg(repr(value), value)


class Sheet:
    """Writes labels, input cells and BP_ formulas top to bottom, each formula with its value."""

    def __init__(self, book, sheet):
        self.sheet, self.row = sheet, 0
        self.bold = book.add_format({"bold": True})
        self.title = book.add_format({"bold": True, "font_size": 14})
        self.header = book.add_format({"bold": True, "bg_color": "#D9D9D9", "border": 1})
        self.names = book.add_format({"italic": True, "font_color": "#595959"})
        self.given = book.add_format({"bg_color": "#FFF2CC", "border": 1})
        self.result = book.add_format({"bg_color": "#E2EFDA"})
        self.formulas: list[str] = []

    def text(self, text, style=None, column=0):
        self.sheet.write_string(self.row, column, text, style)
        self.row += 1

    def skip(self, rows=1):
        self.row += rows

    def given_row(self, label, values, names=None) -> Arg:
        """A row of yellow input cells (with their machine names above, if given)."""
        if names:
            for column, name in enumerate(names, start=1):
                self.sheet.write_string(self.row, column, name, self.names)
            self.row += 1
        self.sheet.write_string(self.row, 0, label)
        for column, value in enumerate(values, start=1):
            self.sheet.write(self.row, column, value, self.given)
        first = xl_rowcol_to_cell(self.row, 1)
        last = xl_rowcol_to_cell(self.row, len(values))
        self.row += 1
        return Arg(first if len(values) == 1 else f"{first}:{last}",
                   values[0] if len(values) == 1 else [list(values)])

    def formula(self, label, text, value) -> Arg:
        """A plain Excel formula (not a BP_ function) and its value."""
        self.sheet.write_string(self.row, 0, label)
        self.sheet.write_formula(self.row, 1, text, self.result, value)
        cell = xl_rowcol_to_cell(self.row, 1)
        self.row += 1
        return Arg(cell, value)

    def call(self, label, name, *args, note=None, header=None) -> Arg:
        """=NAME(args) in column B beside a short label, stored with the function's value and
        spilling right and down when it returns rows. A `note` goes on its own row above (where
        it can run across the empty cells), `header` labels a one-row result's columns."""
        value = getattr(udfs, name)(*(arg.value for arg in args))
        if isinstance(value, str) and value.startswith(udfs.ERROR_PREFIX):
            raise AssertionError(f"{name} on the sheet returns {value}")  # a bug, not user input
        if note:
            self.text(note, self.names)
        if header:
            for column, text in enumerate(header, start=1):
                self.sheet.write_string(self.row, column, text, self.header)
            self.row += 1
        text = f"={name}({','.join(arg.text for arg in args)})"
        self.formulas.append(text)
        self.sheet.write_string(self.row, 0, label)
        anchor = xl_rowcol_to_cell(self.row, 1)
        if isinstance(value, list):
            rows, columns = len(value), len(value[0])
            self.sheet.write_dynamic_array_formula(self.row, 1, self.row + rows - 1, columns,
                                                   text, self.result, value[0][0])
            # The spilled cells hold plain values, as Excel itself stores them.
            for r, row in enumerate(value):
                for c, item in enumerate(row):
                    if r or c:
                        self.sheet.write(self.row + r, 1 + c, item, self.result)
            self.row += rows
        else:
            self.sheet.write_formula(self.row, 1, text, self.result, value)
            self.row += 1
        return Arg(anchor, value)


def write_workbook(path: Path, vba_project: bytes, interpreter: str | None = None) -> list[str]:
    """The .xlsm: the BP functions sheet and an inactive _xlwings.conf sheet, with xlwings' VBA
    project. Returns the BP_ formulas written."""
    book = xlsxwriter.Workbook(str(path))
    book.set_properties({"title": "backprop_xl functions in Excel",
                         "subject": "xlwings user-defined functions over the backprop_xl engine",
                         "author": f"backprop_xl {__version__}", "created": CREATED})
    # The code names must match the document modules of xlwings' VBA project.
    book.set_vba_name("ThisWorkbook")
    book.add_vba_project(io.BytesIO(vba_project), is_stream=True)
    worksheet = book.add_worksheet(SHEET)
    worksheet.set_vba_name("Sheet1")
    worksheet.set_column(0, 0, 48)
    worksheet.set_column(1, 18, 12)
    sheet = Sheet(book, worksheet)
    _seed_section(sheet)
    sheet.skip()
    _mazur_section(sheet)
    sheet.skip()
    sheet.text(LICENSE_NOTE, sheet.names)
    worksheet.activate()

    conf_sheet = book.add_worksheet(CONF_SHEET)
    conf_sheet.set_vba_name("Sheet2")
    conf_sheet.set_column(0, 0, 16)
    settings = [("UDF Modules", UDF_MODULE)]
    if interpreter:
        settings.insert(0, ("Interpreter_Win", interpreter))
    for row, (key, value) in enumerate(settings):
        conf_sheet.write_string(row, 0, key)
        conf_sheet.write_string(row, 1, value)
    for row, line in enumerate((
            "Instructions:",
            f"This sheet is not in use: the file {CONF_NAME} beside this workbook holds the "
            f"settings xlwings reads.",
            f'To keep the settings inside the workbook instead, rename this sheet to "{CONF_NAME}" '
            f"(without the leading underscore); its settings then override the file's.",
            "The settings have to start in cell A1, one per row, with no empty row between.",
            LICENSE_NOTE), start=len(settings) + 3):
        conf_sheet.write_string(row, 0, line, sheet.bold if line == "Instructions:" else None)
    book.close()
    return sheet.formulas


def _seed_section(sheet: Sheet) -> None:
    seed = preset("seed")
    sheet.text("backprop_xl in Excel: the engine as functions (xlwings UDFs)", sheet.title)
    sheet.text("Every green cell holds a BP_ formula. Until the functions are imported they show "
               "#NAME?: on Windows press Alt+F8 and run ImportPythonUDFs (docs/excel.md in "
               "backprop_xl has the steps).")
    sheet.text("The values stored in this file were computed by backprop_xl when it was written; "
               "once the functions are imported, Excel recomputes them live: change a yellow cell "
               "and watch.")
    sheet.text('A bad argument shows "#backprop_xl: ..." saying what is wrong; try '
               '=BP_ACTIVATE(1, "sigmod") in an empty cell.')
    sheet.skip()
    sheet.text("The seed lesson: one sigmoid neuron, cost C = (a − y)²", sheet.bold)
    i = sheet.given_row("i, the input", [seed.inputs[0][0]])
    w = sheet.given_row("w, the weight", [seed.weights[0][0][0]])
    y = sheet.given_row("y, the target", [seed.targets[0][0]])
    r = sheet.given_row("r, the learning rate", [seed.learning_rate])
    steps = sheet.given_row("steps, for BP_TRAIN", [SEED_STEPS])
    sheet.skip()
    z = sheet.formula("z = i·w (a plain Excel formula)", f"={i.text}*{w.text}", i.value * w.value)
    sigmoid, squared = literal("sigmoid"), literal("squared_error")
    a = sheet.call("BP_ACTIVATE: a = σ(z)", "BP_ACTIVATE", z, sigmoid,
                   note="BP_ACTIVATE(z, activation) and BP_DERIVATIVE(z, activation) work "
                        "elementwise: z may be a range, and the result is one of the same shape.")
    sheet.call("BP_DERIVATIVE: da/dz = a(1 − a)", "BP_DERIVATIVE", z, sigmoid)
    sheet.call("BP_LOSS: C = (a − y)²", "BP_LOSS", a, y, squared)
    sheet.skip()
    sheet.call("BP_STEP(i, w, y, r)", "BP_STEP", i, w, y, r,
               note="One training step, as one row: the lesson's first step, keeping the factor "
                    "dz/dw = i that the video left out.",
               header=[label for _, label in udfs.STEP_ROW])
    sheet.call("BP_STEP(1.5, 0.8, 0.5, 0.1)", "BP_STEP",
               *(literal(value) for value in (1.5, 0.8, 0.5, 0.1)))
    sheet.skip()
    sheet.call('BP_GRADCHECK({1,1}, w, "", i, y)', "BP_GRADCHECK",
               literal([1, 1]), w, literal(""), i, y,
               note="BP_GRADCHECK(layers, weights, biases, inputs, targets): dC/dw against the "
                    "central difference (C(w+h) − C(w−h))/2h. The neuron is the network of "
                    'layers {1, 1}; "" means no biases.')
    sheet.skip()
    sheet.call("BP_TRAIN(i, w, y, r, steps)", "BP_TRAIN", i, w, y, r, steps,
               note="The run, one row per step under a header of machine names: w falls toward "
                    "0, where a = y.")
    sheet.skip()
    sheet.call('BP_TRAIN(i, w, y, r, steps, , , "all")', "BP_TRAIN", i, w, y, r, steps,
               sigmoid, squared, literal("all"),
               note='columns "all": every quantity of each step, as in the workbooks '
                    "(z1_1 is z, a1_1 is a, grad_w1_1_1 is dC/dw, new_w1_1_1 is w').")
    sheet.skip()
    sheet.call("BP_TRAIN_NETWORK({1,1}, w, \"\", i, y, r, steps)", "BP_TRAIN_NETWORK",
               literal([1, 1]), w, literal(""), i, y, r, steps,
               note="The same neuron as a network of layers {1, 1}: the same numbers.")


def _mazur_section(sheet: Sheet) -> None:
    mazur = preset("mazur")
    sheet.text("A network from ranges: Mazur's 2-2-2 sigmoid network, biases fixed, "
               "C = ½ Σ (a − y)²", sheet.bold)
    sheet.text("weights: one range, layer 1 first, within a layer neuron by neuron, each "
               "neuron's weights from input 1, 2, ... (the names above the cells).", sheet.names)
    sheet.text("biases: one per neuron, layer by layer; inputs and targets: one row per sample.",
               sheet.names)
    layers = sheet.given_row("layers: the widths, inputs first", mazur.layers)
    weights = sheet.given_row("weights", [v for m in mazur.weights for row in m for v in row],
                              names=parameter_names(mazur))
    biases = sheet.given_row("biases", [v for row in mazur.biases for v in row],
                             names=[bias_name(layer, j) for layer, width in enumerate(
                                 mazur.layers[1:], start=1) for j in range(1, width + 1)])
    inputs = sheet.given_row("inputs: one row per sample", mazur.inputs[0])
    targets = sheet.given_row("targets: one row per sample", mazur.targets[0])
    rate = sheet.given_row("r, the learning rate", [mazur.learning_rate])
    steps = sheet.given_row("steps", [MAZUR_STEPS])
    sheet.skip()
    sigmoid, half = literal("sigmoid"), literal(mazur.loss)
    sheet.call("BP_TRAIN_NETWORK(layers, ..., FALSE)", "BP_TRAIN_NETWORK", layers, weights,
               biases, inputs, targets, rate, steps, sigmoid, half, literal("batch"),
               literal(False),
               note='BP_TRAIN_NETWORK(layers, weights, biases, inputs, targets, r, steps, '
                    '"sigmoid", "half_squared_error", "batch", FALSE): FALSE keeps the biases '
                    "fixed.")
    sheet.skip()
    sheet.call("BP_GRADCHECK(layers, ..., FALSE)", "BP_GRADCHECK", layers, weights, biases,
               inputs, targets, sigmoid, half, literal(False),
               note='BP_GRADCHECK(layers, weights, biases, inputs, targets, "sigmoid", '
                    '"half_squared_error", FALSE): one row per weight.')
