"""Independent recalculation of a workbook, for `verify` and the tests: the `formulas` evaluator
and LibreOffice Calc. Neither shares code with backprop_xl's engine or layout; both read the .xlsx
(or the formula texts and values it holds) as any other program would. This module is only the
plumbing that runs them and reads results.

`formulas` recalculates a whole workbook (formulas_recalc, for the tests) by building a graph of
every cell: minutes and gigabytes for a long table. formulas_rows (for verify) recomputes chosen
rows of a table instead, from the row before each: a table's rows hold the same formulas but for
their row numbers, so it has `formulas` parse and compile each formula text once, written as if
on row ROW, and runs it on all the chosen rows at once.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import tempfile
import time
from pathlib import Path

import numpy as np
import openpyxl
from openpyxl.utils.cell import column_index_from_string

# Force LibreOffice to recalculate every formula on load instead of trusting cached values.
RECALC_PROFILE = """<?xml version="1.0" encoding="UTF-8"?>
<oor:items xmlns:oor="http://openoffice.org/2001/registry"
           xmlns:xs="http://www.w3.org/2001/XMLSchema"
           xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">
<item oor:path="/org.openoffice.Office.Calc/Formula/Load">
<prop oor:name="OOXMLRecalcMode" oor:op="fuse"><value>0</value></prop></item>
</oor:items>
"""


def soffice() -> str | None:
    return shutil.which("soffice") or shutil.which("libreoffice")


def cells(path: Path, sheet: str = "Steps", data_only: bool = True) -> dict[str, object]:
    """Every non-empty cell of `sheet` as address -> value (cached values) or formula text."""
    book = openpyxl.load_workbook(path, data_only=data_only)
    return {cell.coordinate: cell.value for row in book[sheet].iter_rows() for cell in row
            if cell.value is not None}


def formula_cells(path: Path, sheet: str = "Steps") -> dict[str, str]:
    """Address -> formula text of every formula cell (not of text that merely starts with "=")."""
    book = openpyxl.load_workbook(path)
    return {cell.coordinate: cell.value for row in book[sheet].iter_rows() for cell in row
            if cell.data_type == "f"}


def formulas_recalc(path: Path, inputs: dict[str, float] | None = None,
                    sheet: str = "Steps") -> dict[str, object]:
    """Recalculate with the `formulas` package; `inputs` sets cells (address -> value) first."""
    import formulas  # slow to import; only verify and the tests need it

    path = Path(path)
    prefix = f"'[{path.name}]{sheet.upper()}'!"
    model = formulas.ExcelModel().loads(str(path)).finish()
    solution = model.calculate(inputs={prefix + a: v for a, v in (inputs or {}).items()})
    values = {}
    for key, ranges in solution.items():
        if key.startswith(prefix) and ":" not in key:
            value = ranges.value[0][0]
            values[key[len(prefix):]] = value.item() if hasattr(value, "item") else value
    return values


# --- the formulas evaluator, row by row ---------------------------------------------------------

ROW, PREVIOUS = 2, 1  # where formulas_rows moves a row's formulas, and the row before them
# A string or a quoted sheet name in a formula's text, matched whole wherever the text is searched
# for references or parentheses: nothing inside it is either.
QUOTED = r"\"[^\"]*\"|'[^']*'"
# A cell reference: its column and row, each maybe absolute ($)
REFERENCE = re.compile(QUOTED + r"|(?<![\w.$])(\$?[A-Za-z]{1,3}\$?)([0-9]+)(?![\w(])")
PARENTHESIS = re.compile(QUOTED + r"|[()]")
# A cell as `formulas` names a formula's input: upper case, without $, maybe after a sheet and "!"
INPUT_CELL = re.compile(r"(?:(?P<sheet>.+)!)?(?P<column>[A-Z]{1,3})(?P<row>[0-9]+)")
# The operators and functions of `formulas` that work on an array element by element, as Excel
# applies them to each element: each runs once on all the rows' values. Any other (MIN, MAX,
# AVERAGE and INDEX among ours) would take such an array for one argument, so it runs row by row.
ELEMENTWISE_OPERATORS = ("+", "-", "U-", "U+", "*", "/", "^", "%", "<", ">", "=", "<=", ">=", "<>")
ELEMENTWISE_FUNCTIONS = ("ABS", "EXP", "LN", "TANH", "MOD", "IF", "SQRT")


def formulas_rows(rows: list[tuple[int, dict, dict]], names: dict[str, object],
                  sheet: str = "Steps") -> list[dict[int, object]]:
    """The `formulas` evaluator's value of every formula cell of some rows of `sheet`, each row
    recomputed from the cached values of the row before it and the values of the defined names.

    rows: (its row number, 1-based; the row before's cells; its cells), cells as column index
    (0-based) -> (formula text or None, cached value), as reader.sheet_rows gives them. names:
    name -> the value of its cell, or its cells' values row by row. A formula's reference into its
    own row reads what the evaluator computes there (the cached value of a cell without a
    formula); into the row before, that row's cached value. Any other cell (of another row or
    another sheet, or round in a circle through the formulas of these rows' columns) reads as
    #REF!, the error Excel gives for a cell that is not there; a name not in `names` as #NAME?.
    Raises ImportError when `formulas` is not installed."""
    evaluator = _Evaluator(names, sheet, rows)
    moved = _Mover()
    texts: dict[int, dict[str, list[int]]] = {}  # column -> its formulas, moved -> their rows
    for index, (row, _, cells) in enumerate(rows):
        for column, (text, _) in cells.items():
            if text is not None:
                texts.setdefault(column, {}).setdefault(moved(column, text, row), []).append(index)
    with np.errstate(all="ignore"):  # exp past 709 is inf, which `formulas` makes #NUM!
        computed = {column: evaluator.column(column, texts) for column in texts}
    return [{column: _plain(computed[column][index, 0]) for column, (text, _) in cells.items()
             if text is not None} for index, (_, _, cells) in enumerate(rows)]


class _Mover:
    """A formula of some row as Excel would copy it to row ROW; a reference it then makes to
    neither ROW nor PREVIOUS becomes #REF!, as formulas_rows has no other row. The moves it has
    made are kept, per column, as templates of the row number: the same formula of another row
    is recognised by filling one in (str.format), not by matching its every reference again."""

    def __init__(self):
        self.templates: dict[int, dict[str, str]] = {}  # column -> {"=B{r}*input": "=B2*input"}

    def __call__(self, column: int, text: str, row: int) -> str:
        templates = self.templates.setdefault(column, {})
        for template, moved in templates.items():
            if template.format(r=row, p=row - 1) == text:
                return moved
        moved, template = self._move(text, row)
        if template is not None:
            templates[template] = moved
        return moved

    @staticmethod
    def _move(text: str, row: int) -> tuple[str, str | None]:
        """The formula moved, and its template (None if it refers to another row: then no other
        row holds the same formula)."""
        rows, placeholders = {0: ROW, -1: PREVIOUS}, {0: "{r}", -1: "{p}"}  # by row offset
        moved, template, end, elsewhere = [], [], 0, False
        for reference in REFERENCE.finditer(text):
            column, number = reference.group(1), reference.group(2)
            if column is None:  # a string or a quoted sheet name
                continue
            between = text[end:reference.start()]
            end = reference.end()
            offset = int(number) - row
            elsewhere |= offset not in rows
            moved += [between, f"{column}{rows[offset]}" if offset in rows else "#REF!"]
            template += [_braced(between), column + placeholders.get(offset, "")]
        moved.append(text[end:])
        template.append(_braced(text[end:]))
        return "".join(moved), None if elsewhere else "".join(template)


def _enclosed(text: str) -> str | None:
    """The formula =(...) encloses, if those two parentheses pair with each other; else None."""
    if not (text.startswith("=(") and text.endswith(")")):
        return None
    depth = 0
    for match in PARENTHESIS.finditer(text, 1):
        depth += {"(": 1, ")": -1}.get(match.group(0), 0)
        if depth == 0:
            return "=" + text[2:-1] if match.end() == len(text) else None
    return None


def _braced(text: str) -> str:
    """Text as it stands in a str.format template."""
    return text.replace("{", "{{").replace("}", "}}")


class _Program:
    """One formula text as `formulas` parses it: its operations (its function, the names of its
    inputs and of its result), in an order that computes every input before it is used."""

    def __init__(self, text: str):
        import formulas
        from formulas.errors import BaseError

        try:
            builder = formulas.Parser().ast(text)[1]
        except (BaseError, NotImplementedError):  # Excel shows #NAME? for what it cannot read
            self.constants, self.steps, self.inputs = {"result": _error("#NAME?")}, [], []
            self.result = "result"
            return
        graph = builder.dsp  # schedula's dispatcher, filled in the order of the parse
        self.result = builder.get_node_id(builder[-1])
        self.constants = {name: default["value"] for name, default in graph.default_values.items()}
        self.steps = [(node["function"], node["inputs"], node["outputs"][0])
                      for node in graph.nodes.values() if node["type"] == "function"]
        computed = {output for _, _, output in self.steps}
        self.inputs = [name for name, node in graph.nodes.items() if node["type"] == "data"
                       and name not in self.constants and name not in computed]


class _Evaluator:
    """formulas_rows' evaluation: each column's values on all rows, computed once."""

    def __init__(self, names: dict[str, object], sheet: str, rows: list[tuple[int, dict, dict]]):
        from formulas import functions  # ImportError where it is not installed (lean install)
        from formulas.functions.operators import OPERATORS
        import schedula

        self.Array, self.empty = functions.Array, schedula.EMPTY
        table = functions.get_functions()  # imports them all: a missing part fails here
        elementwise = [OPERATORS[name] for name in ELEMENTWISE_OPERATORS] + [
            table[name]["function"] if isinstance(table[name], dict) else table[name]
            for name in ELEMENTWISE_FUNCTIONS]
        elementwise.append(schedula.bypass)  # how `formulas` reuses a subexpression it has seen
        self.elementwise = {id(function) for function in elementwise}
        self.names = {name.upper(): self._value(value) for name, value in names.items()}
        self.sheets = {sheet.upper(), f"'{sheet.upper()}'"}
        self.rows = rows
        self.programs: dict[str, _Program] = {}
        self.computed: dict[int, object] = {}  # column -> its values on all rows
        self.cached: dict[tuple[int, int], object] = {}  # (row, column) -> cached values
        self.started: set[int] = set()

    def column(self, column: int, texts: dict[int, dict[str, list[int]]]):
        """A column's values on all rows (a column array): its formulas' (texts[column]: moved
        text -> the rows that hold it), computed from the columns they refer to first, and the
        cached values of rows without a formula there."""
        if column in self.computed:
            return self.computed[column]
        self.started.add(column)
        values = self._cached(ROW, column).copy()
        for text, members in texts[column].items():
            program = self._program(text)
            inputs = {name: self._input(name, members, texts) for name in program.inputs}
            values[members] = self._run(program, inputs, len(members))
        self.computed[column] = values
        return values

    def _input(self, name: str, members: list[int], texts) -> tuple[object, bool]:
        """An input's value on the rows `members`, and whether it varies from row to row."""
        if name in self.names:
            return self.names[name], False
        cell = INPUT_CELL.fullmatch(name)
        if cell is None:
            return _error("#NAME?"), False
        if cell["sheet"] not in (None, *self.sheets) or int(cell["row"]) not in (ROW, PREVIOUS):
            return _error("#REF!"), False
        row, column = int(cell["row"]), column_index_from_string(cell["column"]) - 1
        if row == ROW and column in texts:
            if column in self.started and column not in self.computed:  # round in a circle
                return _error("#REF!"), False
            return self.column(column, texts)[members], True
        return self._cached(row, column)[members], True

    def _cached(self, row: int, column: int):
        """The cached values of a column, on ROW (each row's own) or PREVIOUS (the row before)."""
        if (row, column) not in self.cached:
            values = []
            for _, previous, own in self.rows:
                _, value = (previous if row == PREVIOUS else own).get(column, (None, None))
                values.append(self._value(value))
            self.cached[row, column] = self._column(values)
        return self.cached[row, column]

    def _program(self, text: str) -> _Program:
        """The text compiled. A formula whole in parentheses, =(...), computes what they enclose:
        compiled once for both (the layout writes every 50th row's formulas so)."""
        if text not in self.programs:
            enclosed = _enclosed(text)
            self.programs[text] = _Program(text) if enclosed is None else self._program(enclosed)
        return self.programs[text]

    def _run(self, program: _Program, inputs: dict[str, tuple[object, bool]], count: int):
        """The program's result on `count` rows, a column array: `inputs` maps each input to its
        value and whether that is a column of the rows' values."""
        values = dict(program.constants)
        varying = set()
        for name, (value, by_row) in inputs.items():
            values[name] = value
            if by_row:
                varying.add(name)
        for function, names, output in program.steps:
            arguments = [values[name] for name in names]
            by_row = [name in varying for name in names]
            if not any(by_row):
                values[output] = _call(function, arguments)
                continue
            varying.add(output)
            if id(function) in self.elementwise and all(
                    by or np.size(_unranged(argument)) == 1
                    for by, argument in zip(by_row, arguments)):
                values[output] = _call(function, arguments)
                # A Python exception in one element (1e200 ^ 2 overflows) makes `formulas` give
                # one #VALUE! for the whole call: then each row's own result is wanted.
                if np.shape(values[output]) == (count, 1):
                    continue
            values[output] = self._column([_first(_call(function, [  # row by row
                argument[row:row + 1] if by else argument
                for by, argument in zip(by_row, arguments)])) for row in range(count)])
        result = values[program.result]
        if program.result in varying:
            return result
        return self._column([_first(result)] * count)

    def _column(self, values: list):
        column = np.empty((len(values), 1), object)
        column[:, 0] = values
        return column.view(self.Array)

    def _value(self, value):
        """A cached value as `formulas` holds a cell's: empty, an error, or the value itself;
        a range's rows of values as an array."""
        if value is None:
            return self.empty
        if isinstance(value, str) and value in _errors():
            return _error(value)
        if isinstance(value, list):
            return np.array([[self._value(v) for v in row] for row in value], object)
        return value


def _call(function, arguments: list):
    """One of `formulas`' functions applied; where it raises, the error Excel would show."""
    from formulas.errors import BaseError

    try:
        return function(*arguments)
    except NotImplementedError:  # a function `formulas` does not know
        return _error("#NAME?")
    except BaseError:
        return _error("#VALUE!")


def _errors() -> dict:
    """Excel's error values as `formulas` holds them, by their text (#NUM!, #REF!...)."""
    from formulas.tokens.operand import Error
    return Error.errors


def _error(text: str):
    return _errors()[text]


def _first(value):
    """What a cell shows of a function's result: the value, or an array's first element."""
    from formulas.ranges import Ranges

    if isinstance(value, Ranges):
        value = value.value
    while isinstance(value, np.ndarray):
        value = value.flat[0]
    return value


def _unranged(value):
    from formulas.ranges import Ranges
    return value.value if isinstance(value, Ranges) else value


def _plain(value):
    """An evaluator's value as verify compares it: a Python number, an error value, or text; a
    formula that only refers to an empty cell shows 0, as in Excel."""
    import schedula

    value = _first(value)
    if value is schedula.EMPTY:
        return 0
    return value.item() if isinstance(value, np.generic) else value


def calculation_environment(threaded: bool) -> dict[str, str]:
    """This process's environment for starting LibreOffice with its default multi-threaded
    calculation (`threaded`) or single-threaded (SC_NO_THREADED_CALCULATION=1)."""
    environment = dict(os.environ)
    if threaded:
        environment.pop("SC_NO_THREADED_CALCULATION", None)
    else:
        environment["SC_NO_THREADED_CALCULATION"] = "1"
    return environment


def libreoffice_recalc(path: Path, sheet: str = "Steps", threaded: bool = True
                       ) -> dict[str, object]:
    """Open `path` in LibreOffice Calc headless, recalculate everything, and read the results."""
    return libreoffice_recalc_many([path], sheet, threaded)[0]


def libreoffice_recalc_many(paths: list[Path], sheet: str = "Steps", threaded: bool = True
                            ) -> list[dict[str, object]]:
    """The same for several workbooks in one LibreOffice run (it takes seconds to start)."""
    with tempfile.TemporaryDirectory() as scratch:
        return [cells(saved, sheet)
                for saved in libreoffice_convert(paths, Path(scratch), "xlsx", threaded)]


def libreoffice_convert(paths: list[Path], folder: Path, to: str, threaded: bool = True
                        ) -> list[Path]:
    """Each workbook opened by LibreOffice Calc headless, every formula recalculated on loading,
    and saved as `to` (xlsx, pdf, html) in `folder`, in one LibreOffice run; the files written.
    `threaded`: with LibreOffice's default multi-threaded calculation, as its users run it (and
    as `verify --libreoffice` does); False: single-threaded (SC_NO_THREADED_CALCULATION=1)."""
    if not soffice():
        raise RuntimeError("LibreOffice (soffice) is not installed")
    stems = [Path(p).stem for p in paths]
    assert len(set(stems)) == len(stems), "LibreOffice names each output after its input"
    with tempfile.TemporaryDirectory() as scratch:
        profile = Path(scratch) / "profile"
        (profile / "user").mkdir(parents=True)
        (profile / "user" / "registrymodifications.xcu").write_text(RECALC_PROFILE)
        env = calculation_environment(threaded)
        # and its own temporary files in the scratch folder, gone with it however LibreOffice ends
        env["TMPDIR"] = str(profile)
        arguments = [soffice(), f"-env:UserInstallation=file://{profile}", "--headless",
                     "--convert-to", to, "--outdir", str(folder), *map(str, paths)]
        # A session of its own: LibreOffice's launcher starts soffice.bin as its child, and on
        # any failure or interrupt here (Ctrl-C, SIGTERM, the timeout) the whole group is ended
        # before the profile folder is removed, so that nothing writes into it afterwards.
        process = subprocess.Popen(arguments, env=env, stdout=subprocess.DEVNULL,
                                   stderr=subprocess.DEVNULL, start_new_session=True)
        try:
            if process.wait(timeout=600):
                raise subprocess.CalledProcessError(process.returncode, arguments)
        except BaseException:
            _end_group(process)
            raise
    return [Path(folder) / f"{stem}.{to}" for stem in stems]


def _end_group(process: subprocess.Popen) -> None:
    """Kill the process and every process of its group, and wait until they are gone."""
    if not hasattr(os, "killpg"):  # Windows
        process.kill()
        process.wait()
        return
    try:
        os.killpg(process.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    process.wait()
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            os.killpg(process.pid, 0)  # is any process of the group left?
        except ProcessLookupError:
            return
        time.sleep(0.02)
