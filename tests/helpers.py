"""What more than one test module uses, so that no test module imports another:

- the command run in-process, folder snapshots that show it wrote nothing, the one-line refusal
  every bad input must get, and the peak memory of a command run in a fresh process;
- workbooks edited by hand or malformed (tampered cells, XML entity bombs, zip bombs, files that
  are no workbook) with the words each refusal must contain, and the cells verify lists;
- a workbook's machine names and defined names, and the engine's values placed by them;
- the parameter names of docs/design.md and Mazur's published numbers;
- the BP_ functions' valid calls and every kind of bad argument, by function and argument
  (test_udf_errors calls them in Python, test_calc_addin in LibreOffice).

Helpers that one module alone uses stay in it; tests/kinds.py holds the workbook kinds,
tests/recalc.py and tests/calc.py the recalculation by `formulas` and by LibreOffice."""

import functools
import hashlib
import inspect
import io
import re
import struct
import subprocess
import sys
import zipfile
import zlib
from pathlib import Path

import numpy as np
import openpyxl
import pytest
from defusedxml import ElementTree

from backprop_xl import engine, tolerances, udfs
from backprop_xl.cli import main
from backprop_xl.spec import Optimizer
from recalc import formula_cells



# --- the command, and what it leaves on disk ------------------------------------------------------

def run(capsys, *args):
    status = main(list(args))
    out, err = capsys.readouterr()
    return status, out, err


def snapshot(folder: Path) -> dict:
    """Every file below `folder` with its content hash and modification time."""
    return {str(path.relative_to(folder)): (hashlib.sha256(path.read_bytes()).hexdigest(),
                                            path.stat().st_mtime_ns)
            for path in sorted(folder.rglob("*")) if path.is_file()}


def assert_refused(folder: Path, capsys, args: list[str], words: str) -> None:
    """The command exits with status 2 and one line on stderr naming the problem (`words`),
    prints nothing on stdout, and leaves every file below `folder` as it was."""
    before = snapshot(folder)
    status = main(args)
    out, err = capsys.readouterr()
    assert (status, out) == (2, ""), (status, out, err)
    assert err.count("\n") == 1 and err.startswith("backprop-xl: ") and words in err, err
    assert "Traceback" not in err
    assert snapshot(folder) == before


def peak_megabytes(argv: list[str]) -> float:
    """Peak resident memory of the command `argv`, measured from a fresh parent so that no other
    child process of the test run counts; the command must succeed."""
    probe = ("import resource, subprocess, sys\n"
             f"status = subprocess.run({argv!r}, stdout=subprocess.DEVNULL).returncode\n"
             "print(status, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)\n")
    status, peak = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True,
                                  check=True).stdout.split()
    assert status == "0"
    return int(peak) / (2 ** 20 if sys.platform == "darwin" else 2 ** 10)  # bytes there, KiB here


# --- workbooks edited by hand, and bad ones -------------------------------------------------------

def put(path: Path, content: bytes | str) -> Path:
    if isinstance(content, str):
        content = content.encode()
    path.write_bytes(content)
    return path


def foreign(path: Path) -> Path:
    """A workbook another program (openpyxl) made."""
    book = openpyxl.Workbook()
    book.active["A1"] = 42
    book.save(path)
    return path


def tamper(path, address, pattern, replacement, sheet=1):
    """Rewrite one cell's XML inside the package, as a hand edit or a faulty tool would: of the
    `sheet`-th sheet."""
    temporary = path.with_suffix(".tmp")
    with zipfile.ZipFile(path) as source, zipfile.ZipFile(temporary, "w", zipfile.ZIP_DEFLATED) as target:
        for item in source.infolist():
            data = source.read(item.filename)
            if item.filename == f"xl/worksheets/sheet{sheet}.xml":
                cell = re.search(rf'<c r="{address}"[^>]*>.*?</c>'.encode(), data).group(0)
                data = data.replace(cell, re.sub(pattern, replacement, cell))
            target.writestr(item, data)
    temporary.replace(path)


def disagrees(out: str, address: str, by: str) -> bool:
    """Whether verify's output lists the cell at `address` as disagreeing by `by`."""
    return f"Steps!{address}" in listed(out, by)


def listed(out: str, by: str) -> list[str]:
    """The cells verify's output lists as disagreeing by `by`, in order."""
    return [line.split(" ")[0] for line in out.splitlines() if f", {by} " in line]


def rewritten(book: bytes, member: str, change) -> bytes:
    """`book` with one part's XML passed through `change`."""
    with zipfile.ZipFile(io.BytesIO(book)) as source:
        parts = {name: source.read(name) for name in source.namelist()}
    parts[member] = change(parts[member])
    result = io.BytesIO()
    with zipfile.ZipFile(result, "w", zipfile.ZIP_DEFLATED) as target:
        for name, data in parts.items():
            target.writestr(name, data)
    return result.getvalue()


# Billion laughs: each entity ten of the one before, 10**9 "lol"s once the last one expands.
LAUGHS = b"<!DOCTYPE lolz [<!ENTITY lol0 \"lol\">" + b"".join(
    b'<!ENTITY lol%d "%s">' % (i, b"&lol%d;" % (i - 1) * 10) for i in range(1, 10)) + b"]>"
EXTERNAL = b'<!DOCTYPE r [<!ENTITY secret SYSTEM "file:///etc/passwd">]>'


def declaring(doctype: bytes):
    """A change for `rewritten`: `doctype` right after the XML declaration, and its last entity
    used before the first closing tag."""
    def change(xml: bytes) -> bytes:
        declaration, end, rest = xml.partition(b"?>")
        name = doctype.rsplit(b"<!ENTITY ", 1)[1].split(b" ", 1)[0]
        return declaration + end + doctype + rest.replace(b"</", b"&%s;</" % name, 1)
    return change


def handmade_zip(members: list[tuple[str, bytes, int, int]]) -> bytes:
    """A zip written by hand from (name, deflated data, CRC-32, inflated size as declared), so a
    member may declare any size, true or not."""
    local, central = bytearray(), bytearray()
    for name, data, crc, size in members:
        encoded = name.encode()
        central += struct.pack("<IHHHHHHIIIHHHHHII", 0x02014B50, 20, 20, 0, 8, 0, 0x21, crc,
                               len(data), size, len(encoded), 0, 0, 0, 0, 0, len(local)) + encoded
        local += struct.pack("<IHHHHHIIIHH", 0x04034B50, 20, 0, 8, 0, 0x21, crc, len(data), size,
                             len(encoded), 0) + encoded + data
    return bytes(local + central + struct.pack("<IHHHHIIH", 0x06054B50, 0, 0, len(members),
                                               len(members), len(central), len(local), 0))


@functools.cache
def deflated_spaces(mebibytes: int) -> tuple[bytes, int]:
    """`mebibytes` MiB of spaces deflated to about a thousandth of that, and their CRC-32. Each MiB
    deflates on its own (a full flush), so one deflated MiB repeats and nothing big is built."""
    mebibyte = b" " * 2**20
    compressor = zlib.compressobj(9, zlib.DEFLATED, -15)
    block = compressor.compress(mebibyte) + compressor.flush(zlib.Z_FULL_FLUSH)
    crc = 0
    for _ in range(mebibytes):
        crc = zlib.crc32(mebibyte, crc)
    return block * mebibytes + compressor.flush(), crc


def bomb(book: bytes, mebibytes: int, declared: int | None = None) -> bytes:
    """`book` with its document properties (a part openpyxl reads whole) replaced by `mebibytes`
    MiB of spaces that declare `declared` bytes [default: the truth]."""
    members = []
    with zipfile.ZipFile(io.BytesIO(book)) as source:
        for name in source.namelist():
            data = source.read(name)
            if name == "docProps/core.xml":
                deflated, crc = deflated_spaces(mebibytes)
                members.append((name, deflated, crc, declared or mebibytes * 2**20))
            else:
                compressor = zlib.compressobj(9, zlib.DEFLATED, -15)
                members.append((name, compressor.compress(data) + compressor.flush(),
                                zlib.crc32(data), len(data)))
    return handmade_zip(members)


def book_folder(d: Path) -> Path:
    (d / "book.xlsx").mkdir()
    return d / "book.xlsx"


# name: (makes a bad BOOK.xlsx in a folder from a good workbook's bytes, words the error names)
BAD_BOOKS = {
    "missing file": (lambda d, book: d / "book.xlsx", "no such file"),
    "a folder": (lambda d, book: book_folder(d), "folder"),  # regenerate takes it for one
    "a text file named .xlsx": (lambda d, book: put(d / "book.xlsx", "a,b\n1,2\n"), "not an xlsx"),
    "truncated": (lambda d, book: put(d / "book.xlsx", book[: len(book) // 2]), "not an xlsx"),
    "made by another program": (lambda d, book: foreign(d / "book.xlsx"), "not a workbook made by"),
    "entity bomb in the workbook part": (lambda d, book: put(d / "book.xlsx", rewritten(
        book, "xl/workbook.xml", declaring(LAUGHS))), "declares entities (lol0)"),
    "entity bomb in the spec sheet": (lambda d, book: put(d / "book.xlsx", rewritten(
        book, "xl/worksheets/sheet2.xml", declaring(LAUGHS))), "declares entities (lol0)"),
    "external entity": (lambda d, book: put(d / "book.xlsx", rewritten(
        book, "xl/worksheets/sheet1.xml", declaring(EXTERNAL))), "declares entities (secret)"),
    "zip bomb, 2 GiB in one part": (lambda d, book: put(d / "book.xlsx", bomb(book, 2048)),
                                    "docProps/core.xml would inflate to 2,147,483,648 bytes"),
    "zip bomb, a part 1000 times its deflated size": (
        lambda d, book: put(d / "book.xlsx", bomb(book, 100)), "would inflate to 104,857,600"),
    "zip bomb, a part declaring 1 KiB": (lambda d, book: put(d / "book.xlsx", bomb(
        book, 2048, declared=1024)), "inflates past the 1,024 bytes it declares"),
}


CELL = "{http://schemas.openxmlformats.org/spreadsheetml/2006/main}"



def formulas_of(path: Path) -> list[str]:
    with zipfile.ZipFile(path) as package:
        return [formula.text or "" for name in package.namelist()
                if name.startswith("xl/worksheets/sheet")
                for formula in ElementTree.fromstring(package.read(name)).iter(CELL + "f")]


# --- a workbook's names and the engine's values ---------------------------------------------------

def machine_names(path, sheet="Steps"):
    """Column letter -> the machine name shown under each header, read back from the sheet."""
    book = openpyxl.load_workbook(path, read_only=True)  # streams: the header row alone is read
    names = {}
    for cell in next(book[sheet].iter_rows(max_row=1)):
        if not cell.value:  # the table ends at the first empty header
            break
        names[cell.column_letter] = cell.value.split("\n")[-1].split(" = ")[0]
    book.close()
    return names


def engine_values(spec, path, sheet="Steps"):
    """Address -> (machine name, the engine's value, its scale), placed by the headers the
    workbook itself shows. The scale of a relative difference is the larger of the gradient and
    the finite difference it compares (see assert_close); of anything else, None."""
    names = machine_names(path, sheet)
    trace = engine.trace(spec, gradient_check=any(n.startswith("fd_") for n in names.values()))

    def scale(name, step):
        if not name.startswith("reldiff_"):
            return None
        parameter = name.removeprefix("reldiff_")
        return max(abs(trace[kind + parameter][step - 1]) for kind in ("grad_", "fd_"))

    return {f"{letter}{step + 1}": (name, trace[name][step - 1], scale(name, step))
            for letter, name in names.items() for step in range(1, spec.steps + 1)}


def assert_close(actual, expected, where, name="", scale=None):
    """Agreement to relative 1e-9. A finite difference divides rounding noise by 2h, so its
    columns agree to 1e-6 relative or 1e-10 absolute, and their relative differences, which
    divide that noise again by the larger of the gradient and the finite difference (`scale`),
    to 1e-4 absolute and that noise: still far apart from a wrong gradient's (about 0.3), but
    where the gradient is near 0 anything, and where it is 0 (the noise unbounded) anything."""
    assert isinstance(actual, (int, float)), f"{where}: {actual!r} is not a number"
    if name.startswith("fd_"):
        tolerance = {"rel": tolerances.FINITE_DIFFERENCE_RELATIVE,
                     "abs": tolerances.FINITE_DIFFERENCE_ABSOLUTE}
    elif name.startswith("reldiff_"):
        tolerance = {"abs": tolerances.relative_difference_tolerance(scale or None)}
    else:
        tolerance = {"rel": tolerances.RELATIVE, "abs": tolerances.ABSOLUTE}
    assert actual == pytest.approx(expected, **tolerance), where


def assert_matches_engine(recomputed, spec, path, sheet="Steps"):
    formulas = formula_cells(path, sheet)
    expected = engine_values(spec, path, sheet)
    assert formulas, "no formulas"
    for address in formulas:
        name, value, scale = expected[address]
        assert_close(recomputed[address], value, f"{address} ({name})", name, scale)
    return formulas


def set_named(path, **values):
    """Type values into named cells, as a user would in Excel (openpyxl drops cached values)."""
    names = defined_names(path)
    book = openpyxl.load_workbook(path)
    for name, value in values.items():
        sheet, address = names[name]
        book[sheet][address] = value
    book.save(path)


def defined_names(path):
    """Defined name -> (sheet, address without $)."""
    book = openpyxl.load_workbook(path)
    names = {}
    for name, definition in book.defined_names.items():
        sheet, address = definition.attr_text.split("!")
        names[name] = (sheet, address.replace("$", ""))
    return names


# --- parameter names and Mazur's numbers ----------------------------------------------------------

def has_biases(spec):
    return spec.biases is not None or spec.init_biases


def trains_biases(spec):
    return has_biases(spec) and spec.update_biases


def reference_names(spec):
    """docs/design.md's names in table order: per layer, weights row-major, then biases if trained."""
    names = []
    for layer, (n_in, n_out) in enumerate(zip(spec.layers[:-1], spec.layers[1:]), start=1):
        names += [f"w{layer}_{j}_{k}" for j in range(1, n_out + 1) for k in range(1, n_in + 1)]
        if trains_biases(spec):
            names += [f"b{layer}_{j}" for j in range(1, n_out + 1)]
    return names


# Mazur's published weights after his first step, by his names w1..w8.
MAZUR_PUBLISHED_AFTER_ONE_STEP = {
    "w1": 0.149780716, "w2": 0.19956143, "w3": 0.24975114, "w4": 0.29950229,
    "w5": 0.35891648, "w6": 0.408666186, "w7": 0.511301270, "w8": 0.561370121,
}


# --- the BP_ functions: valid calls and every kind of bad argument --------------------------------

UDF_NAMES = sorted(name for name in dir(udfs) if name.startswith("BP_"))
ERROR = udfs.ERROR_PREFIX
nan, inf = float("nan"), float("inf")


def cells(*rows):
    """A range as xlwings' numpy converter passes it: a 2-D float array."""
    return np.array(rows, dtype=float)


# A 2-2-1 network with biases and two samples: every optional argument set to something other
# than its default, so that "the default" is told apart from "the value given".
NETWORK = dict(layers=cells([2, 2, 1]), weights=cells([0.1, -0.2, 0.3, 0.4, -0.5, 0.6]),
               biases=cells([0.1, 0.2, -0.1]), inputs=cells([0.5, -1.0], [1.0, 0.3]),
               targets=cells([0.3], [0.8]), activation=np.array([["tanh", "sigmoid"]]),
               loss="half_squared_error", update_biases=False)
# An optimizer and settings of its own: adam's, the one whose every setting may be left empty (the
# momentum optimizer's momentum may not). momentum, nesterov and alpha do not apply to it.
VALID_OPTIMIZER = dict(optimizer="adam", beta1=0.8, beta2=0.99, eps=1e-6)
VALID = {
    "BP_ACTIVATE": dict(z=cells([0.5, -1.0]), activation="leaky_relu", leaky_slope=0.05),
    "BP_DERIVATIVE": dict(z=cells([0.5, -1.0]), activation="leaky_relu", leaky_slope=0.05),
    "BP_LOSS": dict(a=cells([0.7, 0.2]), y=cells([0.5, 0.1]), loss="half_squared_error"),
    "BP_STEP": dict(x=1.5, weight=0.8, target=0.5, learning_rate=0.1, activation="tanh",
                    loss="half_squared_error"),
    "BP_TRAIN": dict(x=1.5, weight=0.8, target=0.5, learning_rate=0.1, steps=3,
                     activation="tanh", loss="half_squared_error", columns="all",
                     **VALID_OPTIMIZER),
    "BP_TRAIN_NETWORK": dict(NETWORK, learning_rate=0.5, steps=3, mode="stochastic",
                             columns="all", **VALID_OPTIMIZER),
    "BP_GRADCHECK": dict(NETWORK, h=1e-4),
}

# What a value other than the one given means. A pattern (re.match against the message after
# ERROR_PREFIX, "{arg}" the argument's name) is an error; DEFAULT is the argument's own default,
# and OrDefault(pattern) is the default for an optional argument, an error for a required one.
DEFAULT = "the argument's default"
NO_BIASES = "a network without biases"


class OrDefault(str):
    pass


def last_cell(value):
    """The valid range of the argument with its last cell replaced."""
    return lambda valid: np.concatenate([valid.ravel()[:-1], [value]]).reshape(valid.shape)


SEVERAL_CELLS = np.full((2, 2), nan)
NOT_ONE_CELL = [("an empty range", np.empty((0, 0)), "{arg}: must be a single cell, got an empty range$"),
                ("a range of empty cells", SEVERAL_CELLS,
                 "{arg}: must be a single cell, got a range of 4 cells$")]
NUMBER = [
    ("text", "abc", "{arg}: must be a number, got 'abc'$"),
    ("TRUE", True, "{arg}: must be a number, got TRUE$"),
    ("an empty cell", None, OrDefault("{arg}: must be a number, got an empty cell$")),
    ("blank text", " ", OrDefault("{arg}: must be a number, got an empty cell$")),
    ("NaN", nan, OrDefault("{arg}: must be a number, got an empty cell$")),
    ("inf", inf, "{arg}: must be a finite number, got inf$"),
    ("-inf", -inf, "{arg}: must be a finite number, got -inf$"),
    *NOT_ONE_CELL,
]
NAME = [
    ("an unknown name", "nonsense", r"unknown {arg} 'nonsense' \(known: "),
    ("a number", 3.0, r"unknown {arg} 3.0 \(known: "),
    ("TRUE", True, r"unknown {arg} TRUE \(known: "),
    ("inf", inf, r"unknown {arg} inf \(known: "),
]
RANGE = [
    ("text", "abc", "{arg}: the cell holds 'abc', not a number$"),
    ("TRUE", True, "{arg}: the cell holds TRUE, not a number$"),
    ("a text range", np.array([["1.5", "x"]]), "{arg}: cell 2 of the row holds 'x', not a number$"),
    ("inf", inf, "{arg}: the cell is inf; every cell must hold a finite number$"),
    ("inf among numbers", last_cell(inf), "{arg}: .* is inf; every cell must hold a finite number$"),
    ("an empty cell among numbers", last_cell(nan),
     "{arg}: .* is empty; every cell must hold a finite number$"),
]
RANGE_EMPTY = [
    ("an empty cell", None, "{arg}: is empty$"),
    ("blank text", "", "{arg}: is empty$"),
    ("an empty range", np.empty((0, 0)), "{arg}: is empty$"),
    ("NaN", nan, "{arg}: the cell is empty; every cell must hold a number$"),
    ("a range of empty cells", SEVERAL_CELLS,
     "{arg}: the cell in row 1, column 1 of the range is empty; every cell must hold a finite "
     "number$"),
]
BAD_VALUES = {
    "number": NUMBER,
    "whole": NUMBER + [
        ("a fraction", 2.5, "{arg}: must be a whole number, got 2.5$"),
        ("zero", 0.0, "{arg}: must be at least 1, got 0$"),
        ("more than a sheet holds", 2e6,
         "{arg}: at most 1,048,575 steps fit under Excel's 1,048,576 rows, got 2,000,000$")],
    "name": NAME + [
        ("an empty cell", None, OrDefault(r"{arg}: is missing \(known: ")),
        ("NaN", nan, OrDefault(r"{arg}: is missing \(known: ")), *NOT_ONE_CELL],
    # The activation of a network: one name for every layer or a range of one name per layer;
    # empty cells are not names, so an empty range is the default.
    "names": NAME + [
        ("an empty cell", None, DEFAULT), ("NaN", nan, DEFAULT),
        ("an empty range", np.empty((0, 0)), DEFAULT), ("a range of empty cells", SEVERAL_CELLS,
                                                        DEFAULT),
        ("an unknown name among names", np.array([["tanh", "sigmod"]], dtype=object),
         r"unknown activation 'sigmod' \(known: "),
        ("a name too many", np.array([["tanh", "sigmoid", "relu"]]),
         "activation: give one name for all layers or one per layer, 2, got 3$")],
    # A name, or a whole number: the size of mini-batches (VALID's network has 2 samples)
    "mode": [case for case in NAME if case[0] not in ("a number", "inf")] + [
        ("an empty cell", None, DEFAULT), ("NaN", nan, DEFAULT), *NOT_ONE_CELL,
        ("more samples than there are", 3.0, "{arg}: at most the 2 samples, got 3$"),
        ("a fraction", 1.5, "{arg}: must be a whole number, got 1.5$"),
        ("zero", 0.0, "{arg}: must be at least 1, got 0$"),
        ("inf", inf, "{arg}: must be a finite number, got inf$"),
        ("minibatch, its size not given", "minibatch", r"unknown {arg} 'minibatch' \(known: ")],
    # VALID's optimizer: an empty one is sgd, which takes none of the settings VALID gives.
    "optimizer": NAME + [
        ("an empty cell", None, r"beta1: does not apply to the sgd optimizer \(it takes: nothing "
                                r"but its name\)$"),
        ("NaN", nan, r"beta1: does not apply to the sgd optimizer"), *NOT_ONE_CELL],
    "flag": [
        ("text", "no", "{arg}: must be TRUE or FALSE, got 'no'$"),
        ("a number", 1.0, "{arg}: must be TRUE or FALSE, got 1.0$"),
        ("inf", inf, "{arg}: must be TRUE or FALSE, got inf$"),
        ("an empty cell", None, DEFAULT), ("NaN", nan, DEFAULT), *NOT_ONE_CELL],
    "range": RANGE + RANGE_EMPTY,
    "biases": RANGE + [(label, value, NO_BIASES) for label, value, _ in RANGE_EMPTY],
}
ARGUMENT_KINDS = {
    **dict.fromkeys(("x", "weight", "target", "learning_rate", "leaky_slope", "h"), "number"),
    "steps": "whole",
    **dict.fromkeys(("activation", "loss", "columns"), "name"),
    "mode": "mode",
    "update_biases": "flag",
    "optimizer": "optimizer",
    **dict.fromkeys(("momentum", "alpha", "beta1", "beta2", "eps"), "number"),
    "nesterov": "flag",
    **dict.fromkeys(("z", "a", "y", "layers", "weights", "inputs", "targets"), "range"),
    "biases": "biases",
}
# Values out of range for one argument in particular, and ranges of the wrong size for the others.
SPECIFIC = {
    "learning_rate": [("zero", 0.0, "{arg}: must be greater than 0, got 0.0$"),
                      ("negative", -0.1, "{arg}: must be greater than 0, got -0.1$")],
    "h": [("zero", 0.0, "{arg}: must be greater than 0, got 0.0$")],
    # VALID's optimizer is adam (VALID_OPTIMIZER); spec.Optimizer refuses, naming the argument:
    "optimizer": [
        ("another optimizer, its settings adam's", "rmsprop",
         r"beta1: does not apply to the rmsprop optimizer \(it takes: alpha, eps\)$"),
        ("one of another letter case", "SGD", r"beta1: does not apply to the sgd optimizer")],
    **{setting: [("a setting adam does not take", value, "{arg}: does not apply to the adam "
                  r"optimizer \(it takes: beta1, beta2, eps\)$")]
       for setting, value in (("momentum", 0.9), ("nesterov", True), ("alpha", 0.9))},
    **{beta: [("one", 1.0, r"{arg}: must be in \[0, 1\), got 1.0$"),
              ("negative", -0.1, r"{arg}: must be in \[0, 1\), got -0.1$")]
       for beta in ("beta1", "beta2")},
    "eps": [("zero", 0.0, "{arg}: must be greater than 0, got 0.0$"),
            ("negative", -1e-8, "{arg}: must be greater than 0, got -1e-08$")],
    "layers": [
        ("one width", cells([2]), "layers: must list at least two widths: inputs, then each layer$"),
        ("a width of 0", cells([2, 0, 1]), "layers: every width must be at least 1, got 2, 0, 1$"),
        ("a fractional width", cells([2, 1.5, 1]), "layers: must be a whole number, got 1.5$"),
        ("another network", cells([2, 2, 2]),
         r"weights: layers 2, 2, 2 take 8 weights \(2·2 \+ 2·2\), got 6$")],
    "weights": [("a weight too many", cells([0.1] * 7),
                 r"weights: layers 2, 2, 1 take 6 weights \(2·2 \+ 1·2\), got 7$")],
    "biases": [("a bias too few", cells([0.1, 0.2]),
                "biases: layers 2, 2, 1 take 3 biases, one per neuron, got 2$")],
    "inputs": [("an input too few", cells([0.5], [1.0]), r"inputs: row 1 must have 2 entries .*, got 1$")],
    "targets": [("a sample too many", cells([0.3], [0.8], [0.1]),
                 r"targets: must have 2 row\(s\) .*, got 3$")],
    "a": [("another shape", cells([0.7], [0.2]),
           r"y: must have the shape of a \(2 rows × 1 column\), got 1 row × 2 columns$")],
    "y": [("another shape", cells([0.5, 0.1, 0.2]),
           r"y: must have the shape of a \(1 row × 2 columns\), got 1 row × 3 columns$")],
}


def parameters(name):
    return inspect.signature(getattr(udfs, name)).parameters


def kind(name, argument):
    if argument == "activation" and "layers" in parameters(name):
        return "names"
    return ARGUMENT_KINDS[argument]


def cases():
    for name in UDF_NAMES:
        for argument in parameters(name):
            for label, value, expected in BAD_VALUES[kind(name, argument)] + SPECIFIC.get(argument, []):
                yield pytest.param(name, argument, value, expected, id=f"{name}-{argument}-{label}")


# --- optimizers (spec.Optimizer) ---------------------------------------------------------------

# Each optimizer with torch.optim's defaults, and some with other settings
OPTIMIZERS = {"sgd": Optimizer(), "momentum": Optimizer("momentum", momentum=0.9),
              "nesterov": Optimizer("momentum", momentum=0.9, nesterov=True),
              "rmsprop": Optimizer("rmsprop"), "adagrad": Optimizer("adagrad"),
              "adam": Optimizer("adam"),
              "adam, other settings": Optimizer("adam", beta1=0.5, beta2=0.9, eps=1e-3),
              "rmsprop, other settings": Optimizer("rmsprop", alpha=0.5, eps=1e-4),
              "momentum 0.5": Optimizer("momentum", momentum=0.5)}
