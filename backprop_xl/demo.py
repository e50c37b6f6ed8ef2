"""The demo sheet "BP functions": every BP_ function called on the seed lesson's numbers and on
Mazur's network, beside yellow input cells, each formula stored with the value the function returns
when called here, in Python, so the sheet shows the engine's numbers in a program that does not
recompute them. Excel recomputes every formula on opening, LibreOffice 7.4 every array formula:
without the functions those show #NAME?, and the notes on top of the sheet say so.

One writer for both applications, which differ in two ways: how a formula spells the call
(spelling.py), and how a result of more than one cell is stored: Excel spills it from one formula
as a dynamic array; LibreOffice Calc 7.4 has no dynamic arrays, so there it is a legacy array
formula over exactly the result's range. xlwings_setup.py puts the sheet in Excel's macro-enabled
workbook; write_libreoffice() writes LibreOffice's, a plain .xlsx
(`backprop-xl libreoffice-setup --demo FILE.xlsx`).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import xlsxwriter
from xlsxwriter.exceptions import XlsxWriterException
from xlsxwriter.utility import xl_rowcol_to_cell

from . import __version__, names, udfs
from .errors import UserError
from .files import atomic_output, cannot_write
from .presets import preset
from .workbook import CREATED
from .spelling import APPLICATION, spelled

SHEET = "BP functions"
SEED_STEPS = 5  # BP_TRAIN rows on the sheet: enough to see w fall, small enough to read
MAZUR_STEPS = 3
LIBREOFFICE_TITLE = "backprop_xl in LibreOffice Calc: the engine as functions (an add-in)"
STORED_VALUES = ("The values stored here were computed by backprop_xl when it wrote the file: "
                 "programs that show it without recalculating show them.")  # a line of both intros
LIBREOFFICE_INTRO = (  # as many lines as Excel's: the two sheets have the same cells
    "Every green cell calls a BP_ function: backprop_xl's engine, which runs in LibreOffice Calc "
    "through backprop_xl's add-in.",
    "Install the add-in: run `backprop-xl libreoffice-setup` and restart LibreOffice "
    "(docs/libreoffice.md in backprop_xl has the steps).",
    STORED_VALUES,
    "With the add-in, Calc recomputes them live: change a yellow cell and watch. In Excel these "
    "cells show #NAME? (docs/excel.md says what to do).",
    "Without the add-in, every result of more than one cell shows #NAME?, and the others do once "
    "Calc recalculates.",
    "A result of more than one cell is an array formula: to enter one, select its whole result "
    "range, type the formula and press Ctrl+Shift+Enter.",
    'A bad argument shows "#backprop_xl: ..." saying what is wrong; try '
    '=BP_ACTIVATE(1; "sigmod") in an empty cell.')


def write_libreoffice(path: Path, force: bool = False) -> None:
    """The demo for LibreOffice Calc: the sheet alone, in LibreOffice's spelling, as a plain
    .xlsx at `path`, written atomically; an existing file only with `force`."""
    path = Path(path)
    if path.suffix.lower() != ".xlsx":
        raise UserError(f"{path}: the demo workbook is an .xlsx file: name it so")
    with atomic_output(path, force) as temporary:
        book = workbook(temporary, "backprop_xl functions in LibreOffice Calc",
                        "a LibreOffice Calc add-in over the backprop_xl engine")
        sheet = write_sheet(book, LIBREOFFICE_TITLE, LIBREOFFICE_INTRO, libreoffice=True)
        # printed (and pictured: scripts/render_picture.sh) a page wide, the seed lesson's tables
        # on the first page; Mazur's wider ones follow
        sheet.sheet.set_landscape()
        sheet.sheet.print_area(0, 0, sheet.row, PRINTED_COLUMNS - 1)
        sheet.sheet.fit_to_pages(1, 0)
        try:
            book.close()
        except XlsxWriterException as error:
            raise cannot_write(path, error) from None


def workbook(path: Path, title: str, subject: str) -> xlsxwriter.Workbook:
    """A new XlsxWriter workbook at `path` with a demo's document properties."""
    book = xlsxwriter.Workbook(str(path))
    book.set_properties({"title": title, "subject": subject,
                         "author": f"backprop_xl {__version__}", "created": CREATED})
    return book


def write_sheet(book, title: str, intro: tuple[str, ...], libreoffice: bool) -> Sheet:
    """The BP functions sheet in `book`, made the active one: `title` and the `intro` notes, then
    the seed lesson and Mazur's network. Returns its writer, to add more below."""
    worksheet = book.add_worksheet(SHEET)
    worksheet.set_column(0, 0, 48)
    worksheet.set_column(1, 18, 12)
    sheet = Sheet(book, worksheet, libreoffice)
    sheet.text(title, sheet.title)
    for line in intro:
        sheet.text(line)
    sheet.skip()
    _seed_section(sheet)
    sheet.skip()
    _mazur_section(sheet)
    worksheet.activate()
    return sheet


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


PRINTED_COLUMNS = 12  # the label column and BP_TRAIN's "all" table of the seed lesson


class Sheet:
    """Writes labels, input cells and BP_ formulas top to bottom, each formula with its value, in
    LibreOffice's spelling and array formulas (`libreoffice`) or Excel's."""

    def __init__(self, book, sheet, libreoffice: bool):
        self.sheet, self.row, self.libreoffice = sheet, 0, libreoffice
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
        """A plain formula (not a BP_ function) and its value."""
        self.sheet.write_string(self.row, 0, label)
        self.sheet.write_formula(self.row, 1, text, self.result, value)
        cell = xl_rowcol_to_cell(self.row, 1)
        self.row += 1
        return Arg(cell, value)

    def call(self, label, name, *args, note=None, header=None) -> Arg:
        """=NAME(args) in column B beside a short label, stored with the function's value; one
        that returns rows fills them right and down (a dynamic array in Excel, an array formula
        over exactly its range in LibreOffice). A `note` goes on its own row above (where it can
        run across the empty cells), `header` labels a one-row result's columns."""
        value = getattr(udfs, name)(*(arg.value for arg in args))
        if isinstance(value, str) and value.startswith(udfs.ERROR_PREFIX):
            raise AssertionError(f"{name} on the sheet returns {value}")  # a bug, not user input
        if note:
            self.text(note, self.names)
        if header:
            for column, text in enumerate(header, start=1):
                self.sheet.write_string(self.row, column, text, self.header)
            self.row += 1
        text = f"={spelled(name, self.libreoffice)}({','.join(arg.text for arg in args)})"
        self.formulas.append(text)
        self.sheet.write_string(self.row, 0, label)
        anchor = xl_rowcol_to_cell(self.row, 1)
        if isinstance(value, list):
            rows, columns = len(value), len(value[0])
            write = (self.sheet.write_array_formula if self.libreoffice else
                     self.sheet.write_dynamic_array_formula)
            write(self.row, 1, self.row + rows - 1, columns, text, self.result, value[0][0])
            # The other cells of the result hold plain values, as Excel and LibreOffice store them.
            for r, row in enumerate(value):
                for c, item in enumerate(row):
                    if r or c:
                        self.sheet.write(self.row + r, 1 + c, item, self.result)
            self.row += rows
        else:
            self.sheet.write_formula(self.row, 1, text, self.result, value)
            self.row += 1
        return Arg(anchor, value)


def _seed_section(sheet: Sheet) -> None:
    seed = preset("seed")
    sheet.text("The seed lesson: one sigmoid neuron, cost C = (a − y)²", sheet.bold)
    i = sheet.given_row("i, the input", [seed.inputs[0][0]])
    w = sheet.given_row("w, the weight", [seed.weights[0][0][0]])
    y = sheet.given_row("y, the target", [seed.targets[0][0]])
    r = sheet.given_row("r, the learning rate", [seed.learning_rate])
    steps = sheet.given_row("steps, for BP_TRAIN", [SEED_STEPS])
    sheet.skip()
    z = sheet.formula(f"z = i·w (a plain {APPLICATION[sheet.libreoffice]} formula)",
                      f"={i.text}*{w.text}", i.value * w.value)
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
                              names=names.parameter_names(mazur.layers, trains_biases=False))
    biases = sheet.given_row("biases", [v for row in mazur.biases for v in row],
                             names=[names.bias_name(layer.number, j) for layer in names.layers(
                                 mazur.layers) for j in range(1, layer.neurons + 1)])
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
