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

The sheet is demo.py's, in Excel's spelling, with dynamic arrays: every formula is stored with the
value the function returns when called here, in Python, for programs that show a file without
recalculating it; Excel recomputes them once the functions are imported. Its notes say what Excel
for Windows, Excel for Mac and LibreOffice Calc show, and how each gets the functions.
"""

from __future__ import annotations

import io
import sys
import zipfile
from pathlib import Path

from xlsxwriter.exceptions import XlsxWriterException

from . import demo
from .demo import SEED_STEPS, SHEET  # noqa: F401 (what the workbook holds, read by its tests)
from .errors import UserError
from .files import atomic_output, cannot_write, check_folder, check_writable

try:
    import xlwings
except ImportError:  # the extra "excel"; the command line imports this module only for the command
    raise UserError("xlwings-setup needs xlwings, which backprop_xl's extra installs: "
                    "pip install 'backprop_xl[excel]'") from None

UDF_MODULE = "backprop_xl.udfs"
WORKBOOK_NAME = "backprop_xl.xlsm"
CONF_NAME = "xlwings.conf"
CONF_SHEET = "_xlwings.conf"  # inactive, as in xlwings' quickstart: rename it to use it
XLWINGS_SOURCE = "quickstart_standalone.xlsm"
VBA_PART = "xl/vbaProject.bin"
LICENSE_NOTE = (f"The macros (VBA project) of this workbook are xlwings' standalone VBA project, "
                f"copied from xlwings {xlwings.__version__}'s {XLWINGS_SOURCE}: Copyright (C) "
                "2014 - present, Zoomer Analytics GmbH, BSD 3-clause license "
                "(https://github.com/xlwings/xlwings/blob/main/LICENSE.txt).")


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
                raise cannot_write(book, error) from None
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

EXCEL_TITLE = "backprop_xl in Excel: the engine as functions (xlwings UDFs)"
# The notes on top of the sheet, a short line a row (a long one runs off the screen), true in
# every program that opens the file (see demo.py; LibreOffice 7.4's view was looked at).
EXCEL_INTRO = (
    "Every green cell calls a BP_ function: backprop_xl's engine, which runs in Excel for Windows "
    "through xlwings.",
    "Until the functions are imported, the cells show #NAME?: press Alt+F8 and run "
    "ImportPythonUDFs (docs/excel.md in backprop_xl has the steps).",
    demo.STORED_VALUES,
    "Once the functions are imported, Excel recomputes them live: change a yellow cell and watch. "
    "Excel for Mac cannot run them (#NAME?).",
    "LibreOffice Calc runs them with backprop_xl's add-in (docs/libreoffice.md); without it, "
    "every result of more than one cell shows #NAME?.",
    "LibreOffice before version 25.2 runs them only in a copy with its own names for them: "
    f"backprop-xl convert-functions {WORKBOOK_NAME} --to libreoffice",
    'A bad argument shows "#backprop_xl: ..." saying what is wrong; try '
    '=BP_ACTIVATE(1, "sigmod") in an empty cell.')


def write_workbook(path: Path, vba_project: bytes, interpreter: str | None = None) -> list[str]:
    """The .xlsm: the BP functions sheet and an inactive _xlwings.conf sheet, with xlwings' VBA
    project. Returns the BP_ formulas written."""
    book = demo.workbook(path, "backprop_xl functions in Excel",
                         "xlwings user-defined functions over the backprop_xl engine")
    # The code names must match the document modules of xlwings' VBA project.
    book.set_vba_name("ThisWorkbook")
    book.add_vba_project(io.BytesIO(vba_project), is_stream=True)
    sheet = demo.write_sheet(book, EXCEL_TITLE, EXCEL_INTRO, libreoffice=False)
    sheet.sheet.set_vba_name("Sheet1")
    sheet.skip()
    sheet.text(LICENSE_NOTE, sheet.names)

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
