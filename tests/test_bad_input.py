"""Bad input and extreme numbers: one clear line and exit status 2 for what makes no sense (bad
specs, spec files, workbooks, bombs among them, and output folders, command by command), a warning
and a marked workbook for runs that overflow, and nothing written or changed on refusal; user text
that looks like a formula stays text."""

import os
import re
import subprocess
import tracemalloc
import math
import zipfile
from pathlib import Path

import openpyxl
import pytest
from defusedxml import ElementTree
from xlsxwriter.exceptions import XlsxWriterException

from backprop_xl import xlwings_setup
from backprop_xl.cli import main
from backprop_xl.presets import preset
from helpers import BAD_BOOKS, CELL, assert_refused, formulas_of, put, tamper

SEED = '''title = "One sigmoid neuron"
steps = 30
learning_rate = 0.1
loss = "squared_error"

[network]
layers = [1, 1]
activation = "sigmoid"
weights = [[[0.8]]]

[data]
inputs = [[1.5]]
targets = [[0.5]]
'''

# name: (text to replace in SEED, its replacement, words the error line must contain)
BAD_SPECS = {
    "malformed TOML": ("steps = 30", "steps = ", "TOML"),
    "unknown key": ("steps = 30", "steps = 30\nstepz = 3", "stepz: unknown key"),
    "wrong type": ("steps = 30", 'steps = "many"', "steps: must be a whole number"),
    "NaN rate": ("learning_rate = 0.1", "learning_rate = nan", "learning_rate: must be a finite"),
    "infinite rate": ("learning_rate = 0.1", "learning_rate = inf", "learning_rate: must be a finite"),
    "negative rate": ("learning_rate = 0.1", "learning_rate = -0.1", "learning_rate: must be greater"),
    "no steps": ("steps = 30", "steps = 0", "steps: must be at least 1"),
    "negative steps": ("steps = 30", "steps = -4", "steps: must be at least 1"),
    "beyond Excel's rows": ("steps = 30", "steps = 2000000", "1,048,575"),
    "weights against layers": ("[[[0.8]]]", "[[[0.8, 0.2]]]", "network.weights"),
    "inputs against width": ("inputs = [[1.5]]", "inputs = [[1.5, 2.0]]", "data.inputs"),
    "targets against width": ("targets = [[0.5]]", "targets = [[0.5, 0.1]]", "data.targets"),
    "cross-entropy target": ('loss = "squared_error"\n', 'loss = "binary_cross_entropy"\n',
                             None),  # with the target below
    "NaN input": ("inputs = [[1.5]]", "inputs = [[nan]]", "data.inputs: must be a finite"),
    "unknown activation": ('"sigmoid"', '"swish"', "unknown activation 'swish'"),
    "unknown loss": ('"squared_error"', '"hinge"', "unknown loss 'hinge'"),
    "control character in title": ('"One sigmoid neuron"', '"a\\u0000b"', "title: must not"),
    "title too long": ('"One sigmoid neuron"', '"' + "x" * 300 + '"', "title: at most 255"),
}


def spec_text(case: str) -> str:
    old, new, _ = BAD_SPECS[case]
    text = SEED.replace(old, new, 1)
    if case == "cross-entropy target":
        text = text.replace("targets = [[0.5]]", "targets = [[1.5]]")
    return text


@pytest.mark.parametrize("command", ["generate", "trace", "spec"])
@pytest.mark.parametrize("case", list(BAD_SPECS))
def test_a_bad_spec_gets_one_line_and_status_2_and_writes_nothing(tmp_path, capsys, command, case):
    spec = tmp_path / "bad.toml"
    spec.write_text(spec_text(case))
    assert_refused(tmp_path, capsys, [command, str(spec), "-o", str(tmp_path / "out")],
                   BAD_SPECS[case][2] or "targets between 0 and 1")


def test_a_network_too_wide_for_excel_is_refused_by_generate_only(tmp_path, capsys):
    spec = tmp_path / "wide.toml"
    spec.write_text(SEED.replace("layers = [1, 1]", "layers = [1, 300, 300, 1]")
                    .replace("weights = [[[0.8]]]", "init = { seed = 1 }").replace("steps = 30", "steps = 2"))
    assert main(["generate", str(spec), "-o", str(tmp_path / "wide.xlsx")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "16,384" in err and not (tmp_path / "wide.xlsx").exists()
    assert main(["trace", str(spec), "-o", str(tmp_path / "wide.csv")]) == 0  # no sheet, no limit


DIVERGING = SEED.replace("learning_rate = 0.1", "learning_rate = 5.0").replace(
    '"sigmoid"', '"linear"').replace("inputs = [[1.5]]", "inputs = [[3.0]]").replace(
    "steps = 30", "steps = 200")


def test_a_run_that_overflows_warns_and_marks_its_first_step(tmp_path, capsys):
    spec = tmp_path / "diverging.toml"
    spec.write_text(DIVERGING)
    book, trace = tmp_path / "diverging.xlsx", tmp_path / "diverging.csv"
    assert main(["generate", str(spec), "-o", str(book)]) == 0
    generate_err = capsys.readouterr().err
    assert main(["trace", str(spec), "-o", str(trace)]) == 0
    trace_err = capsys.readouterr().err
    for err in (generate_err, trace_err):
        assert "warning: step 80 is the first whose numbers overflow" in err
    rows = [line.split(",") for line in trace.read_text().splitlines()[1:]]
    first = next(int(row[0]) for row in rows if any(v in ("inf", "-inf", "nan") for v in row))
    assert first == 80
    # Excel has no inf or NaN: those cells cache the error a formula shows on overflow, and the
    # first such step's number carries a comment saying so.
    sheet = openpyxl.load_workbook(book, data_only=True)["Steps"]
    assert sheet.cell(1 + 80, 1).comment is not None and "overflow" in sheet.cell(81, 1).comment.text
    values = [cell.value for row in sheet.iter_rows(min_row=2, max_row=201) for cell in row]
    assert "#NUM!" in values and not any(isinstance(v, float) and v != v for v in values)
    with zipfile.ZipFile(book) as package:
        xml = package.read("xl/worksheets/sheet1.xml")
    assert b"<v>inf</v>" not in xml and b"<v>nan</v>" not in xml


@pytest.mark.parametrize("evaluators", [[], pytest.param(["--libreoffice"],
                                                         marks=pytest.mark.libreoffice)],
                         ids=["formulas", "libreoffice"])
def test_a_run_that_overflows_verifies(tmp_path, capsys, evaluators):
    """From step 80 the cost, the finite difference and their relative difference overflow: the
    engine has inf or NaN, the cells cache #NUM!, the evaluators give #NUM! or #VALUE!. All that
    agrees; a number cached where the engine overflowed does not."""
    spec, book = tmp_path / "diverging.toml", tmp_path / "diverging.xlsx"
    spec.write_text(DIVERGING)
    assert main(["generate", str(spec), "-o", str(book)]) == 0
    capsys.readouterr()
    assert main(["verify", str(book), *evaluators]) == 0, capsys.readouterr().out
    assert "all cells agree" in capsys.readouterr().err
    tamper(book, "E150", rb' t="e"(.*)<v>#NUM!</v>', rb"\1<v>1.5</v>")
    assert main(["verify", str(book), *evaluators]) == 1
    out = capsys.readouterr().out
    by = ["engine", "formulas"] + (["libreoffice"] if evaluators else [])
    assert [(line.split(" ")[0], line.rsplit(", ", 1)[1].split(" ")[0])
            for line in out.splitlines()] == [("Steps!E150", what) for what in by], out


@pytest.mark.parametrize("inputs", ["1e6", "-1e6"])
def test_saturating_inputs_stay_finite_and_quiet(tmp_path, capsys, inputs):
    spec = tmp_path / "big.toml"
    spec.write_text(SEED.replace("inputs = [[1.5]]", f"inputs = [[{inputs}]]"))
    assert main(["generate", str(spec), "-o", str(tmp_path / "big.xlsx")]) == 0
    assert "warning" not in capsys.readouterr().err


# --- bad files: specs, workbooks, output folders -------------------------------------------------


@pytest.fixture(scope="module")
def small_book(tmp_path_factory) -> bytes:
    """The bytes of a small workbook backprop_xl made: the seed lesson, 5 steps."""
    path = tmp_path_factory.mktemp("book") / "seed.xlsx"
    assert main(["generate", "-o", str(path), "--steps", "5"]) == 0
    return path.read_bytes()


# name: (makes the SPEC argument in a folder, words the error line must contain)
BAD_SPEC_FILES = {
    "missing file": (lambda d, book: d / "missing.toml", "no such spec file or preset"),
    "a folder": (lambda d, book: d, "is a folder"),
    "a workbook, not TOML": (lambda d, book: put(d / "seed.xlsx", book), "cannot read it as a spec"),
    "unknown preset": (lambda d, book: "sed", "no such spec file or preset"),
}


@pytest.mark.parametrize("command", ["generate", "trace", "spec"])
@pytest.mark.parametrize("case", list(BAD_SPEC_FILES))
def test_a_bad_spec_file_or_preset_is_refused(tmp_path, capsys, monkeypatch, small_book, command,
                                              case):
    monkeypatch.chdir(tmp_path)
    make, words = BAD_SPEC_FILES[case]
    assert_refused(tmp_path, capsys, [command, str(make(tmp_path, small_book)), "-o", "out"], words)


def test_presets_takes_no_preset_name(tmp_path, capsys):
    assert_refused(tmp_path, capsys, ["presets", "sed"], "unexpected extra argument (sed)")


BOOK_COMMANDS = {
    "regenerate": lambda book: ["regenerate", str(book)],
    "regenerate --check": lambda book: ["regenerate", str(book), "--check"],
    "verify": lambda book: ["verify", str(book)],
}


@pytest.mark.parametrize("command", list(BOOK_COMMANDS))
@pytest.mark.parametrize("case", list(BAD_BOOKS))
def test_a_bad_workbook_is_refused_without_inflating_it(tmp_path_factory, tmp_path, capsys,
                                                        small_book, command, case):
    # The baseline: the same command on the good workbook the bad ones are made from, once to
    # import what it needs, then measured the same way. A bomb inflated would take 100 MiB more
    # (the smallest) or gigabytes; the allowance is half the smallest.
    good = put(tmp_path_factory.mktemp("good") / "book.xlsx", small_book)
    for measured in (False, True):
        if measured:
            tracemalloc.start()
        try:
            assert main(BOOK_COMMANDS[command](good)) == 0
            baseline = tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()
    capsys.readouterr()
    make, words = BAD_BOOKS[case]
    args = BOOK_COMMANDS[command](make(tmp_path, small_book))
    assert max((path.stat().st_size for path in tmp_path.rglob("*")), default=0) < 3 * 2**20
    tracemalloc.start()
    try:
        assert_refused(tmp_path, capsys, args, words)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < baseline + 50 * 2**20, (baseline, peak)


@pytest.mark.parametrize("case", [case for case in BAD_BOOKS if case != "missing file"])
def test_regenerating_a_folder_with_one_bad_workbook_changes_none(tmp_path, capsys, small_book,
                                                                  case):
    put(tmp_path / "a.xlsx", small_book)  # a good one, first in line
    make, words = BAD_BOOKS[case]
    make(tmp_path, small_book)
    assert_refused(tmp_path, capsys, ["regenerate", str(tmp_path)], words)


def test_regenerating_a_folder_without_workbooks_is_refused(tmp_path, capsys):
    put(tmp_path / "notes.txt", "no workbooks here")
    assert_refused(tmp_path, capsys, ["regenerate", str(tmp_path)], "no workbooks")


@pytest.fixture
def lock():
    """Makes a folder unwritable: by its mode, or for root, whom modes do not stop, by marking it
    immutable (chattr +i). Unlocked after the test."""
    root = os.geteuid() == 0
    locked = []

    def make(folder: Path) -> Path:
        folder.chmod(0o500)
        locked.append(folder)
        if root and subprocess.run(["chattr", "+i", str(folder)], capture_output=True).returncode:
            pytest.skip("running as root, and chattr +i cannot lock a folder here")
        assert not os.access(folder, os.W_OK)
        return folder

    yield make
    for folder in locked:
        if root:
            subprocess.run(["chattr", "-i", str(folder)], check=True)
        folder.chmod(0o700)


# name: the command's arguments, given a locked folder that holds a good workbook, book.xlsx
UNWRITABLE = {
    "generate -o": lambda d: ["generate", "-o", str(d / "seed.xlsx")],
    "trace -o": lambda d: ["trace", "-o", str(d / "seed.csv")],
    "spec -o": lambda d: ["spec", "-o", str(d / "seed.toml")],
    "regenerate": lambda d: ["regenerate", str(d / "book.xlsx")],
    "regenerate --no-backup": lambda d: ["regenerate", str(d / "book.xlsx"), "--no-backup"],
    "regenerate FOLDER": lambda d: ["regenerate", str(d)],
    "xlwings-setup DIR": lambda d: ["xlwings-setup", str(d)],
    "xlwings-setup DIR/new": lambda d: ["xlwings-setup", str(d / "new")],
}


@pytest.mark.parametrize("case", list(UNWRITABLE))
def test_an_unwritable_folder_is_refused(tmp_path, capsys, small_book, lock, case):
    folder = tmp_path / "locked"
    folder.mkdir()
    put(folder / "book.xlsx", small_book)
    assert_refused(tmp_path, capsys, UNWRITABLE[case](lock(folder)), "locked")


# name: (makes DIR in a folder, words the error line must contain)
XLWINGS_TARGETS = {
    "a file": (lambda d: put(d / "notes.txt", "x"), "notes.txt: is a file, not a folder"),
    "under a file": (lambda d: put(d / "notes.txt", "x") / "excel", "notes.txt' is a file"),
    "under a missing folder": (lambda d: d / "nope" / "excel", "nope' does not exist"),
    "its workbook a folder": (lambda d: (d / "backprop_xl.xlsm").mkdir() or d, "is a folder"),
    "its files there already": (lambda d: put(d / "xlwings.conf", "mine") and d, "--force"),
}


@pytest.mark.parametrize("case", list(XLWINGS_TARGETS))
def test_xlwings_setup_refuses_a_bad_folder(tmp_path, capsys, case):
    make, words = XLWINGS_TARGETS[case]
    assert_refused(tmp_path, capsys, ["xlwings-setup", str(make(tmp_path))], words)


@pytest.mark.parametrize("existing", [True, False], ids=["DIR there", "DIR new"])
def test_xlwings_setup_failing_half_way_writes_neither_file(tmp_path, capsys, monkeypatch,
                                                            existing):
    def broken(path, *args):
        path.write_bytes(b"half a workbook")
        raise XlsxWriterException("disk full")

    monkeypatch.setattr(xlwings_setup, "write_workbook", broken)
    folder = tmp_path / "excel"
    if existing:
        folder.mkdir()
    assert_refused(tmp_path, capsys, ["xlwings-setup", str(folder)], "disk full")
    assert folder.exists() == existing  # a DIR it made is gone again


# --- user text is never a formula, nor a sheet name ----------------------------------------------


def text_cells(path: Path) -> list[tuple[str, str, bool]]:
    """Every cell of the workbook's sheets that holds text: (its type, its text, whether it has a
    formula), read from the XML as Excel reads it."""
    cells = []
    with zipfile.ZipFile(path) as package:
        names = package.namelist()
        shared = ["".join(item.itertext()) for item in ElementTree.fromstring(
            package.read("xl/sharedStrings.xml"))] if "xl/sharedStrings.xml" in names else []
        for name in names:
            if not name.startswith("xl/worksheets/sheet"):
                continue
            for cell in ElementTree.fromstring(package.read(name)).iter(CELL + "c"):
                kind = cell.get("t")
                text = ("".join(cell.find(CELL + "is").itertext()) if kind == "inlineStr" else
                        shared[int(cell.findtext(CELL + "v"))] if kind == "s" else
                        cell.findtext(CELL + "v") if kind == "str" else None)
                if text is not None:
                    cells.append((kind, text, cell.find(CELL + "f") is not None))
    return cells


def generated(folder: Path, name: str, **overrides) -> Path:
    """A workbook generated from preset `name` with spec keys overridden, as a user would."""
    spec, book = folder / f"{name}.toml", folder / f"{name}.xlsx"
    spec.write_text(preset(name).with_overrides(steps=3, **overrides).to_toml())
    assert main(["generate", str(spec), "-o", str(book), "--force"]) == 0
    return book


# The title is the one piece of free text a spec puts in a cell; each of these would run as a
# formula in Excel if written as one (the last is the classic DDE attack).
FORMULA_TITLES = ['=HYPERLINK("https://example.com","click me")', "+7*191", "-7*191",
                  "@SUM(7,191)", "=cmd|' /C calc'!A0"]


@pytest.mark.parametrize("name", ["seed", "xor"])  # the title beside the table; on an Overview
@pytest.mark.parametrize("title", FORMULA_TITLES)
def test_a_title_that_looks_like_a_formula_is_written_as_text(tmp_path, capsys, name, title):
    book = generated(tmp_path, name, title=title)
    holding = [(kind, text, formula) for kind, text, formula in text_cells(book) if title in text]
    assert any(text == title for _, text, _ in holding)
    assert all(kind in ("inlineStr", "s") and not formula for kind, _, formula in holding), holding
    assert not any(title[1:] in formula for formula in formulas_of(book))


EXCEL_SHEET_NAME = re.compile(r"[^\[\]:*?/\\']([^\[\]:*?/\\]{0,29}[^\[\]:*?/\\'])?")


@pytest.mark.parametrize("name", ["seed", "xor"])  # one sheet and the spec's; Overview and Data too
def test_sheet_names_never_come_from_the_spec(tmp_path, capsys, name):
    """Excel's rules for a sheet name: 1 to 31 characters, none of []:*?/\\, no apostrophe first or
    last, not History. The names are fixed, whatever the title says."""
    names = openpyxl.load_workbook(generated(tmp_path, name, title="'History' [Q1]: a/b\\c*?'"),
                                   read_only=True).sheetnames
    assert names == openpyxl.load_workbook(generated(tmp_path, name), read_only=True).sheetnames
    assert all(EXCEL_SHEET_NAME.fullmatch(sheet) and sheet.lower() != "history" for sheet in names)


# Weights so large that every activation saturates: a sigmoid or tanh of exactly 1, a ReLU of
# thousands; binary cross-entropy on an output of exactly 0 or 1. The engine stays finite, and the
# workbook's formulas agree with it cell by cell (verify recomputes them with `formulas`).
SATURATED = {activation: ("squared_error", "[[[60.0]]]") for activation in
             ("sigmoid", "tanh", "relu", "leaky_relu", "linear", "softplus")}
SATURATED["sigmoid, cross-entropy towards 0"] = ("binary_cross_entropy", "[[[60.0]]]")
SATURATED["sigmoid, cross-entropy towards 1"] = ("binary_cross_entropy", "[[[-60.0]]]")


@pytest.mark.parametrize("case", list(SATURATED))
def test_saturated_activations_stay_finite_and_the_formulas_agree(tmp_path, capsys, case):
    loss, weights = SATURATED[case]
    activation = case.split(",")[0]
    target = "1.0" if case.endswith("towards 1") else "0.0"
    spec = tmp_path / "saturated.toml"
    spec.write_text(SEED.replace('"sigmoid"', f'"{activation}"')
                    .replace('"squared_error"', f'"{loss}"').replace("[[[0.8]]]", weights)
                    .replace("targets = [[0.5]]", f"targets = [[{target}]]")
                    .replace("steps = 30", "steps = 5\ngradient_check = true"))
    book = tmp_path / "saturated.xlsx"
    assert main(["generate", str(spec), "-o", str(book)]) == 0
    assert "warning" not in capsys.readouterr().err
    sheet = openpyxl.load_workbook(book, data_only=True)["Steps"]
    values = [cell.value for row in sheet.iter_rows(min_row=2, max_row=6) for cell in row]
    assert not any(isinstance(v, str) and v.startswith("#") for v in values), values
    assert main(["verify", str(book)]) == 0, capsys.readouterr().out


def test_a_gradient_check_of_overflowed_numbers_never_reads_as_agreement():
    from backprop_xl.functions import relative_difference
    for analytic, numeric in [(math.inf, math.nan), (math.inf, math.inf), (math.nan, 1.0),
                              (-math.inf, 2.0)]:
        assert math.isnan(relative_difference(analytic, numeric)), (analytic, numeric)
    assert relative_difference(0.0, 0.0) == 0.0 and relative_difference(2.0, 1.0) == 0.5
