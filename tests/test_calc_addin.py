"""The BP_ functions in LibreOffice Calc: installed by `backprop-xl libreoffice-setup` into a
throwaway profile, typed into cells as a user types them (numbers, cell references, ranges,
optional arguments left out, tables as array formulas, every bad argument of helpers.cases()
that a cell can hold), recalculated by LibreOffice with and without its multi-threaded
calculation, and each result compared exactly with udfs.py called on the values LibreOffice
passes. Then live: an input cell changed, the results follow (an optimizer's setting too); saved
and reopened as .ods and .xlsx; the extension removed, the cells fail as unknown functions.

What LibreOffice passes differs from Excel in two ways, both written out in lo_value: a logical
value is the number 1 or 0 (an argument taking TRUE or FALSE reads it as such), and an empty
cell in a range is "". A function that raised inside LibreOffice shows as #VALUE! (Err:519),
never equal to udfs' result, so it fails these tests."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import zipfile

import numpy as np
import pytest
from xlsxwriter.utility import xl_rowcol_to_cell as address

from backprop_xl import libreoffice_setup, udfs
from backprop_xl.workbook import OVERFLOW
from calc import Calc, setup
from helpers import VALID, cases

pytestmark = pytest.mark.libreoffice

NUM, VALUE, NAME = 503, 519, 525  # Calc's error codes: #NUM!, #VALUE!, #NAME?
RESULT_COLUMN = 40  # results go right of every input block


@pytest.fixture(scope="module")
def profile(tmp_path_factory):
    """A LibreOffice profile with the extension installed by the command, as a user would."""
    folder = tmp_path_factory.mktemp("profile")
    done = setup(profile=folder)
    assert done.returncode == 0, done.stderr
    assert "installed backprop_xl's functions" in done.stderr
    assert "warning" not in done.stderr
    return folder


# --- what LibreOffice passes, and what it shows -------------------------------------------------


def arguments_of(name):
    return {argument.name: argument for argument in udfs.FUNCTIONS[name].arguments}


def lo_value(value, argument: udfs.Argument):
    """The value udfs.py receives in LibreOffice for `value` typed into cells."""
    if isinstance(value, np.ndarray):
        return tuple(tuple(lo_value(item, argument) if not _is_nan(item) else "" for item in row)
                     for row in value.reshape(-1, value.shape[-1]).tolist())
    if isinstance(value, (bool, int, float)):
        if argument.is_flag and value in (0, 1):  # TRUE is 1 in Calc: either reads as TRUE
            return bool(value)
        return float(value)
    return value


def _is_nan(item):
    return isinstance(item, float) and item != item


def shown(result):
    """udfs' result as Calc shows it: rows of cells, the overflow marker as #NUM!."""
    rows = result if isinstance(result, list) else [[result]]
    return [[{"error": NUM} if value == OVERFLOW else value for value in row] for row in rows]


# --- laying calls out on a sheet ----------------------------------------------------------------


class Sheet:
    """Calls laid out one below the other: each argument's cells from column A, its result from
    RESULT_COLUMN, as a plain formula for one cell, an array formula over a table."""

    def __init__(self):
        self.cells, self.arrays, self.calls, self.row = {}, [], [], 0

    def call(self, name, typed: dict, expected):
        """typed: argument -> a value to put in cells, or ("literal", text) typed in the formula
        (as is "", the empty text), or None to leave the argument out."""
        parameters = [argument.name for argument in udfs.FUNCTIONS[name].arguments]
        texts, column, height = [], 0, 1
        for parameter in parameters:
            value = typed.get(parameter)
            if value is None:
                texts.append("")
            elif isinstance(value, tuple) and value[0] == "literal":
                texts.append(value[1])
            elif isinstance(value, str) and value == "":  # a cell holding "" is an empty cell
                texts.append('""')
            else:
                block = np.array(value, dtype=object).reshape(
                    (1,) * (2 - np.ndim(value)) + np.shape(value))
                rows, columns = block.shape
                for (r, c), item in np.ndenumerate(block):
                    self.cells[address(self.row + r, column + c)] = self._cell(item)
                texts.append(f"{address(self.row, column)}:"
                             f"{address(self.row + rows - 1, column + columns - 1)}"
                             if block.size > 1 else address(self.row, column))
                column += columns
                height = max(height, rows)
        while texts and texts[-1] == "":  # optional arguments left out at the end
            texts.pop()
        formula = f"={name}({';'.join(texts)})"
        rows = shown(expected)
        result = (address(self.row, RESULT_COLUMN),
                  address(self.row + len(rows) - 1, RESULT_COLUMN + len(rows[0]) - 1))
        if len(rows) == 1 and len(rows[0]) == 1:
            self.cells[result[0]] = formula
        else:
            self.arrays.append((":".join(result), formula))
        self.calls.append((formula, ":".join(result), rows))
        self.row += max(height, len(rows)) + 1

    @staticmethod
    def _cell(item):
        if isinstance(item, bool):
            return "=TRUE()" if item else "=FALSE()"
        if _is_nan(item):
            return None
        return item

    def type_into(self, calc):
        calc("cells", cells=self.cells)
        for where, formula in self.arrays:
            calc("array", range=where, formula=formula)

    def check(self, calc):
        for formula, where, expected in self.calls:
            assert calc("read", range=where) == expected, formula


# --- every function, every argument ---------------------------------------------------------------


def valid_calls(sheet):
    """VALID's calls with every argument in cells, then the same with literals and with the
    optional arguments left out."""
    for name, values in VALID.items():
        arguments = arguments_of(name)
        sheet.call(name, values, udfs.FUNCTIONS[name].call(
            **{key: lo_value(value, arguments[key]) for key, value in values.items()}))
    sheet.call("BP_STEP", {key: ("literal", text) for key, text in zip(
        ("x", "weight", "target", "learning_rate"), ("1.5", "0.8", "0.5", "0.1"))},
        udfs.BP_STEP(1.5, 0.8, 0.5, 0.1))
    sheet.call("BP_TRAIN", {"x": 1.5, "weight": 0.8, "target": 0.5, "learning_rate": 0.1,
                            "steps": ("literal", "12"), "columns": ("literal", '"all"')},
               udfs.BP_TRAIN(1.5, 0.8, 0.5, 0.1, 12, columns="all"))
    sheet.call("BP_ACTIVATE", {"z": ("literal", "-0.5"), "activation": ("literal", '"tanh"')},
               udfs.BP_ACTIVATE(-0.5, "tanh"))
    network = {key: VALID["BP_GRADCHECK"][key] for key in udfs.NETWORK_RANGES}
    sheet.call("BP_GRADCHECK", network, udfs.BP_GRADCHECK(
        **{key: lo_value(value, arguments_of("BP_GRADCHECK")[key])
           for key, value in network.items()}))


def typeable(value):
    """Whether a cell can hold it: no NaN or infinity typed as such, no range of no cells."""
    if isinstance(value, np.ndarray):
        return value.size > 0 and all(isinstance(item, str) or not np.isinf(item)
                                      for item in value.ravel())
    return not (isinstance(value, float) and (value != value or abs(value) == float("inf")))


def bad_calls(sheet):
    """Each bad argument of test_udf_errors that a cell can hold (an empty cell: the argument
    left out, since a reference to an empty cell is 0 in LibreOffice)."""
    count = 0
    for case in cases():
        name, argument, value, _ = case.values
        if callable(value):
            value = value(VALID[name][argument])
        if not typeable(value):
            continue
        typed = dict(VALID[name])
        typed[argument] = value
        passed = {key: lo_value(item, arguments_of(name)[key]) for key, item in typed.items()}
        sheet.call(name, typed, udfs.FUNCTIONS[name].call(**passed))
        count += 1
    return count


@pytest.mark.parametrize("threaded", [False, True], ids=["single-threaded", "multi-threaded"])
def test_every_function_and_bad_argument_computes_as_udfs(profile, threaded):
    sheet = Sheet()
    valid_calls(sheet)
    assert bad_calls(sheet) > 150
    with Calc(profile, threaded=threaded) as calc:
        calc("new")
        sheet.type_into(calc)
        calc("calculate")
        sheet.check(calc)


def test_the_issues_cell_shows_the_lessons_first_step(profile):
    with Calc(profile) as calc:
        calc("new")
        calc("array", range="A1:H1", formula="=BP_STEP(1.5; 0.8; 0.5; 0.1)")
        calc("calculate")
        row = calc("read", range="A1:H1")[0]
    assert [round(value, 6) for value in row] == [
        1.2, 0.768525, 0.072106, 0.537050, 0.177894, 1.5, 0.143307, 0.785669]


def test_overflow_shows_as_num_and_the_rest_stays(profile):
    with Calc(profile) as calc:
        calc("new")
        calc("array", range="A1:H1", formula="=BP_STEP(1.5;0.8;1E308;0.1)")
        calc("cells", cells={"A3": '=BP_LOSS(1E308;-1E308;"squared_error")'})
        calc("calculate")
        assert calc("read", range="A1:H1") == shown(udfs.BP_STEP(1.5, 0.8, 1e308, 0.1))
        assert calc("read", range="A3") == [[{"error": NUM}]]


# --- live, saved, removed -----------------------------------------------------------------------


LESSON = {"A1": 1.5, "B1": 0.8, "C1": 0.5, "D1": 0.1}


def test_results_follow_an_edited_cell_and_survive_saving(profile, tmp_path):
    with Calc(profile) as calc:
        calc("new")
        calc("cells", cells=LESSON)
        calc("array", range="A3:H3", formula="=BP_STEP(A1;B1;C1;D1)")
        calc("array", range="A5:D9", formula="=BP_TRAIN(A1;B1;C1;D1;4)")
        calc("calculate")
        assert calc("read", range="A3:H3") == udfs.BP_STEP(1.5, 0.8, 0.5, 0.1)
        calc("cells", cells={"D1": 0.35})  # no recalculation asked: Calc's own, as a user sees
        assert calc("read", range="A3:H3") == udfs.BP_STEP(1.5, 0.8, 0.5, 0.35)
        assert calc("read", range="A5:D9") == udfs.BP_TRAIN(1.5, 0.8, 0.5, 0.35, 4)
        for suffix, kind in (("ods", "calc8"), ("xlsx", "Calc Office Open XML")):
            calc("store", path=str(tmp_path / f"saved.{suffix}"), filter=kind)
        calc("close")
        for suffix in ("ods", "xlsx"):
            calc("load", path=str(tmp_path / f"saved.{suffix}"))
            assert calc("formulas", range="A3")[0][0] == "{=BACKPROP_XL.BP_STEP(A1;B1;C1;D1)}"
            calc("cells", cells={"B1": -0.4})
            calc("calculate")
            assert calc("read", range="A3:H3") == udfs.BP_STEP(1.5, -0.4, 0.5, 0.35), suffix
            assert calc("read", range="A5:D9") == udfs.BP_TRAIN(1.5, -0.4, 0.5, 0.35, 4)
            calc("close")
    with zipfile.ZipFile(tmp_path / "saved.xlsx") as book:
        sheet = book.read("xl/worksheets/sheet1.xml").decode()
    assert "BACKPROP_XL.BP_STEP(A1,B1,C1,D1)" in sheet


# Mazur's network, its biases fixed, in cells; in A7:D7 an optimizer and settings of it
OPTIMIZED = {"A1": 2, "B1": 2, "C1": 2,
             **{f"{column}2": value for column, value in zip(
                 "ABCDEFGH", [0.15, 0.20, 0.25, 0.30, 0.40, 0.45, 0.50, 0.55])},
             "A3": 0.35, "B3": 0.35, "C3": 0.60, "D3": 0.60, "A4": 0.05, "B4": 0.10,
             "A5": 0.01, "B5": 0.99, "A7": "adam", "B7": 0.8, "C7": 0.99, "D7": 1e-6}
NETWORK_CELLS = 'A1:C1;A2:H2;A3:D3;A4:B4;A5:B5;0.5;6;"sigmoid";"half_squared_error";;FALSE()'


def optimized(columns, *optimizer):
    """udfs' BP_TRAIN_NETWORK over OPTIMIZED's network as LibreOffice passes it, then `columns`
    and the optimizer's arguments."""
    return udfs.BP_TRAIN_NETWORK(
        ((2.0, 2.0, 2.0),), ((0.15, 0.20, 0.25, 0.30, 0.40, 0.45, 0.50, 0.55),),
        ((0.35, 0.35, 0.60, 0.60),), ((0.05, 0.10),), ((0.01, 0.99),), 0.5, 6.0, "sigmoid",
        "half_squared_error", None, False, columns, *optimizer)


def spanned(table, top=0):
    """The range a table fills from column A, row top + 1."""
    return f"A{top + 1}:{address(top + len(table) - 1, len(table[0]) - 1)}"


def test_bp_train_network_takes_an_optimizer_from_cells_and_follows_it(profile):
    """Adam with its settings in cells: every column (the optimizer's state among them) as udfs
    computes it; beta1 edited, the table follows; the momentum optimizer with TRUE for nesterov;
    a setting the optimizer does not take and one out of range, one line naming each."""
    adam = optimized("all", "adam", None, None, None, 0.8, 0.99, 1e-6)
    assert {"m_w1_1_1", "vhat_w2_2_2"} <= set(adam[0]) and len(adam) == 7
    first = dict(zip(adam[0], adam[1]))  # Adam's first step: m^ = g, v^ = g^2, so r g/(|g| + eps)
    for weight in ("w1_1_1", "w1_2_2", "w2_1_2", "w2_2_1"):
        gradient = first["grad_" + weight]
        assert first["new_" + weight] == pytest.approx(
            first[weight] - 0.5 * gradient / (abs(gradient) + 1e-6), rel=1e-12)
    nesterov = optimized(None, "Momentum", 0.9, True)
    assert nesterov[0][-1] == "grad_w2_2_2" and len(nesterov) == 7
    with Calc(profile) as calc:
        calc("new")
        calc("cells", cells=OPTIMIZED)
        calc("array", range=spanned(adam, 9),
             formula=f'=BP_TRAIN_NETWORK({NETWORK_CELLS};"all";A7;;;;B7;C7;D7)')
        calc("array", range=spanned(nesterov, 19),
             formula=f'=BP_TRAIN_NETWORK({NETWORK_CELLS};;"Momentum";0.9;TRUE())')
        calc("cells", cells={"A30": f"=BP_TRAIN_NETWORK({NETWORK_CELLS};;A7;0.9)",
                             "A31": f'=BP_TRAIN_NETWORK({NETWORK_CELLS};;"rmsprop";;;1)'})
        calc("calculate")
        assert calc("read", range=spanned(adam, 9)) == adam
        assert calc("read", range=spanned(nesterov, 19)) == nesterov
        assert calc("read", range="A30:A31") == [
            [udfs.ERROR_PREFIX + "momentum: does not apply to the adam optimizer (it takes: "
                                 "beta1, beta2, eps)"],
            [udfs.ERROR_PREFIX + "alpha: must be in [0, 1), got 1.0"]]
        calc("cells", cells={"B7": 0.5})  # no recalculation asked: Calc's own, as a user sees
        edited = optimized("all", "adam", None, None, None, 0.5, 0.99, 1e-6)
        assert calc("read", range=spanned(adam, 9)) == edited != adam


def test_removed_the_cells_fail_as_unknown_functions(tmp_path):
    own = tmp_path / "profile"
    assert setup(profile=own).returncode == 0
    assert setup(profile=own).returncode == 0  # again: replaced, not doubled
    with Calc(own) as calc:
        calc("new")
        calc("cells", cells={"A1": "=BP_ACTIVATE(0;\"sigmoid\")"})
        calc("calculate")
        assert calc("read", range="A1") == [[0.5]]
        calc("store", path=str(tmp_path / "saved.ods"), filter="calc8")
    done = setup("--remove", profile=own)
    assert done.returncode == 0 and "removed" in done.stderr
    done = setup("--remove", profile=own)
    assert done.returncode == 0 and "were not installed" in done.stderr
    with Calc(own) as calc:
        calc("load", path=str(tmp_path / "saved.ods"))
        calc("calculate")
        assert calc("read", range="A1") == [[{"error": NAME}]]
        calc("close")
        calc("new")
        calc("cells", cells={"A1": "=BP_ACTIVATE(0;\"sigmoid\")"})
        calc("calculate")
        assert calc("read", range="A1") == [[{"error": NAME}]]


def test_the_function_wizard_shows_udfs_docs(profile):
    with Calc(profile) as calc:
        shown_texts = calc("functions")
    assert sorted(shown_texts) == sorted(udfs.FUNCTIONS)
    for name, function in udfs.FUNCTIONS.items():
        assert shown_texts[name]["description"] == function.doc
        assert shown_texts[name]["arguments"] == [
            [argument.name, argument.doc, True] for argument in function.arguments]


def installed_elsewhere(tmp_path, python):
    """A profile with the extension pointing at an environment that is gone, of `python`."""
    oxt = tmp_path / "elsewhere.oxt"
    libreoffice_setup.write(oxt)
    with zipfile.ZipFile(oxt) as source:
        members = {name: source.read(name) for name in source.namelist()}
    environment = json.loads(members["environment.json"])
    environment.update(paths=[str(tmp_path / "gone")], environment=str(tmp_path / "gone"),
                       python=python)
    members["environment.json"] = json.dumps(environment).encode()
    with zipfile.ZipFile(oxt, "w") as target:
        for name, data in members.items():
            target.writestr(name, data)
    with Calc(tmp_path / "profile") as calc:
        calc("install", path=str(oxt))
    with Calc(tmp_path / "profile") as calc:
        calc("new")
        calc("cells", cells={"A1": "=BP_ACTIVATE(0;\"sigmoid\")"})
        calc("calculate")
        return calc("read", range="A1")[0][0]


def test_a_cell_says_what_is_missing_when_backprop_xl_cannot_be_imported(tmp_path):
    message = installed_elsewhere(tmp_path, list(libreoffice_setup.environment()["python"]))
    # LibreOffice's import hook (pyuno) turns ModuleNotFoundError into ImportError
    assert message == (f"{udfs.ERROR_PREFIX}cannot load backprop_xl from {tmp_path / 'gone'} "
                       f"(ImportError: No module named 'backprop_xl' (or 'backprop_xl.calc' is "
                       f"unknown)); run backprop-xl libreoffice-setup from an environment where "
                       f"it is installed")


def test_a_cell_names_the_pythons_when_they_differ(tmp_path):
    message = installed_elsewhere(tmp_path, [3, 99])
    office = subprocess.run([libreoffice_setup.office_python(libreoffice_setup.soffice()), "-c",
                             "import sys; print('%d.%d' % sys.version_info[:2])"],
                            capture_output=True, text=True).stdout.strip()
    assert message.startswith(
        f"{udfs.ERROR_PREFIX}cannot load backprop_xl: LibreOffice runs Python {office}, the "
        f"environment {tmp_path / 'gone'} is Python 3.99; run backprop-xl libreoffice-setup from "
        f"a Python {office} environment (ImportError: No module named 'backprop_xl'")


# --- the command and the extension file ----------------------------------------------------------


def test_output_writes_the_same_extension_each_time(tmp_path):
    first, second = tmp_path / "a.oxt", tmp_path / "b.oxt"
    for path in (first, second):
        assert setup_output(path).returncode == 0
    assert first.read_bytes() == second.read_bytes()
    with zipfile.ZipFile(first) as oxt:
        assert sorted(oxt.namelist()) == sorted([
            "META-INF/manifest.xml", "description.xml", "types.rdb", "CalcAddIns.xcu",
            "component.py", "environment.json"])
        environment = json.loads(oxt.read("environment.json"))
    assert environment["functions"] == list(udfs.FUNCTIONS)
    done = setup_output(first)
    assert done.returncode == 2 and done.stderr.count("\n") == 1 and "exists" in done.stderr
    assert setup_output(first, "--force").returncode == 0


def setup_output(path, *more):
    return subprocess.run([sys.executable, "-m", "backprop_xl", "libreoffice-setup", "--output",
                           str(path), *more], capture_output=True, text=True)


def test_the_shipped_type_library_is_built_from_udfs(tmp_path):
    """types.rdb is what the SDK's unoidl-write makes of idl() now: no function or argument added
    to udfs.py without rebuilding it (`python -c "from backprop_xl import libreoffice_setup as l;
    l.build_types(l.TYPES)"`)."""
    sdk = libreoffice_setup.SDK / "unoidl-write"
    if not sdk.exists():
        pytest.skip("the LibreOffice SDK (Debian: libreoffice-dev) is not installed")
    rebuilt = tmp_path / "types.rdb"
    libreoffice_setup.build_types(rebuilt)
    assert rebuilt.read_bytes() == libreoffice_setup.TYPES.read_bytes()


def test_without_libreoffice_one_line_and_nothing_done(tmp_path):
    done = subprocess.run([sys.executable, "-m", "backprop_xl", "libreoffice-setup", "--profile",
                           str(tmp_path / "profile")], capture_output=True, text=True,
                          env={"PATH": str(tmp_path)})
    assert done.returncode == 2
    assert done.stderr == ("backprop-xl: LibreOffice is not installed (no soffice on the PATH); "
                           "install it (Debian, Ubuntu: apt-get install libreoffice-calc "
                           "python3-uno)\n")
    assert not (tmp_path / "profile").exists()


def test_the_adapter_needs_no_xlwings(tmp_path):
    """LibreOffice's Python on Windows has no pywin32 for xlwings: calc.py must not need it."""
    code = ("import sys; sys.modules['xlwings'] = None\n"
            "from backprop_xl import calc\n"
            "print(calc.call('BP_STEP', (1.5, 0.8, 0.5, 0.1, None, None)))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert done.stdout == f"{tuple(tuple(row) for row in udfs.BP_STEP(1.5, 0.8, 0.5, 0.1))}\n"


def test_a_running_libreoffice_gets_the_extension_and_keeps_running(tmp_path):
    """A user's LibreOffice open on the profile: setup hands the extension to it and leaves it
    (and its documents) alone."""
    own = tmp_path / "profile"
    running = subprocess.Popen([libreoffice_setup.soffice(),
                                f"-env:UserInstallation={own.as_uri()}", "--headless",
                                "--norestore", "--nologo"],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        for _ in range(600):  # until it has made the profile and locked it
            if (own / ".lock").exists() and (own / "user").is_dir() or running.poll() is not None:
                break
            time.sleep(0.1)
        done = setup(profile=own)
        assert done.returncode == 0, done.stderr
        assert running.poll() is None
    finally:
        running.terminate()
        running.wait(60)
    with Calc(own) as calc:
        calc("new")
        calc("cells", cells={"A1": "=BP_ACTIVATE(0;\"sigmoid\")"})
        calc("calculate")
        assert calc("read", range="A1") == [[0.5]]


def test_setup_from_an_activated_environment(tmp_path):
    """`source .venv/bin/activate` puts the environment's python3 first on PATH, which LibreOffice
    (Debian's) would take for its own Python's: every Python component then fails to load."""
    own = tmp_path / "profile"
    activated = dict(os.environ, VIRTUAL_ENV=sys.prefix,
                     PATH=os.pathsep.join([os.path.dirname(sys.executable), os.environ["PATH"]]))
    done = setup(profile=own, environment=activated)
    assert done.returncode == 0, done.stderr
    with Calc(own) as calc:
        calc("new")
        calc("cells", cells={"A1": "=BP_ACTIVATE(0;\"sigmoid\")"})
        calc("calculate")
        assert calc("read", range="A1") == [[0.5]]
