"""Fuzzing the two ways a file gets in: the spec loader (Spec.from_toml) and the workbook reader
(reader.open_workbook, embedded_spec, edited_spec). Random TOML, mutated preset specs, damaged
zip packages and mutated XML go in; the only outcomes allowed are a result or our own clean error,
UserError (SpecError is one) with a one-line message, within seconds. Any other exception is a
bug, and so is a call still running after SECONDS_PER_CALL.

A short run (100 examples a test, a few seconds) is part of the tests. A longer one, with more
examples a test (3,000 took some 7 minutes on two cores; 20,000 takes about an hour):

    BACKPROP_XL_FUZZ_EXAMPLES=20000 python -m pytest tests/test_fuzz.py

Hypothesis keeps every failing example in .hypothesis/ and tries it first on the next run.
"""

import contextlib
import copy
import io
import os
import re
import signal
import struct
import zipfile
from pathlib import Path

import pytest
import tomlkit
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from backprop_xl import reader, workbook
from backprop_xl.errors import UserError
from backprop_xl.presets import PRESETS, preset
from backprop_xl.spec import Spec

EXAMPLES = int(os.environ.get("BACKPROP_XL_FUZZ_EXAMPLES", "100"))
SECONDS_PER_CALL = 10  # reading these small workbooks takes milliseconds
fuzz = settings(max_examples=EXAMPLES, deadline=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


def outcome(function, *arguments):
    """What `function` gives: its result, or the UserError it raised, whose message must be one
    line. Any other exception propagates, and fails the test; so does a call that takes longer
    than SECONDS_PER_CALL (where signals allow a timer: not on Windows)."""
    try:
        with time_limit(SECONDS_PER_CALL):
            return function(*arguments)
    except UserError as error:
        message = str(error)
        assert len(message.splitlines()) == 1, repr(message)
        return error
    except Hung:
        raise AssertionError(f"still running after {SECONDS_PER_CALL} seconds") from None


class Hung(BaseException):
    """Raised by time_limit's timer: not an Exception, so that no `except Exception` in the code
    under test can take it for a damaged file."""


@contextlib.contextmanager
def time_limit(seconds):
    """Raise Hung in the block once it has run `seconds`."""
    if not hasattr(signal, "setitimer"):
        yield
        return

    def hung(*_):
        raise Hung

    previous = signal.signal(signal.SIGALRM, hung)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


@st.composite
def spliced(draw, original, pieces):
    """`original` (str or bytes) with a few slices replaced: by a drawn piece, by a copy of
    another slice of it, or by nothing. Truncating, inserting and deleting are all such splices."""
    result = original
    for _ in range(draw(st.integers(1, 4))):
        start = draw(st.integers(0, len(result)))
        end = draw(st.integers(start, min(len(result), start + draw(st.sampled_from([0, 1, 8, 64])))))
        source = draw(st.sampled_from(["piece", "copy", "nothing", "truncate"]))
        if source == "truncate":
            result = result[:start]
            continue
        if source == "piece":
            piece = draw(pieces)
        elif source == "copy":
            begin = draw(st.integers(0, len(result)))
            piece = result[begin:begin + draw(st.integers(0, 64))]
        else:
            piece = result[:0]
        result = result[:start] + piece + result[end:]
    return result


# --- the spec loader --------------------------------------------------------------------------

SPEC_TEXTS = [spec.to_toml() for _, spec in PRESETS.values()]
TOML_TOKENS = ["[", "]", "[[", "]]", "{", "}", "=", ",", ".", '"', "'", '"""', "#", "\n", " ",
               "inf", "-inf", "nan", "true", "false", "-", "+", "0", "1", "2", "1e400", "0x1F",
               "9" * 30, "1979-05-27T07:32:00Z", "\\u0000", "\\", "\x00", "\x7f", "é", "layers",
               "weights", "init", "seed", "[network]", "[data]", "network.", "activation"]
toml_pieces = st.lists(st.sampled_from(TOML_TOKENS) | st.text(max_size=3), max_size=5).map("".join)


def load(text):
    spec = Spec.from_toml(text, source="fuzz.toml")
    assert isinstance(spec, Spec)
    return spec


@fuzz
@given(st.text())
def test_random_text_loads_or_is_refused_cleanly(text):
    outcome(load, text)


@fuzz
@given(st.sampled_from(SPEC_TEXTS).flatmap(lambda text: spliced(text, toml_pieces)))
def test_a_mutated_spec_loads_or_is_refused_cleanly(text):
    outcome(load, text)


toml_values = st.recursive(
    st.integers(-2**70, 2**70) | st.floats() | st.text(max_size=12) | st.booleans(),
    lambda children: st.lists(children, max_size=4)
    | st.dictionaries(st.text(min_size=1, max_size=8), children, max_size=3),
    max_leaves=12)


def places(values, path=()):
    """Every key path into nested tables and arrays, the top included."""
    yield path
    items = values.items() if isinstance(values, dict) else enumerate(values) \
        if isinstance(values, list) else ()
    for key, value in items:
        yield from places(value, path + (key,))


@st.composite
def changed_values(draw):
    """A preset's spec as a TOML document with one value replaced, one key removed or one key
    added, anywhere in it."""
    values = copy.deepcopy(draw(st.sampled_from([spec for _, spec in PRESETS.values()])).to_dict())
    path = draw(st.sampled_from(list(places(values))[1:]))
    container = values
    for key in path[:-1]:
        container = container[key]
    action = draw(st.sampled_from(["replace", "remove", "add"]))
    if action == "replace":
        container[path[-1]] = draw(toml_values)
    elif action == "remove":
        del container[path[-1]]
    elif isinstance(container, dict):
        container[draw(st.text(min_size=1, max_size=12))] = draw(toml_values)
    else:
        container.insert(path[-1], draw(toml_values))
    return tomlkit.dumps(values)


@fuzz
@given(changed_values())
def test_a_spec_with_a_value_changed_loads_or_is_refused_cleanly(text):
    outcome(load, text)


@pytest.mark.parametrize("text", [
    "a = " + "[" * 5000 + "]" * 5000,
    "a = " + "{b = " * 3000 + "1" + "}" * 3000,
], ids=["arrays", "tables"])
def test_toml_nested_too_deeply_is_refused_cleanly(text):
    error = outcome(load, text)
    assert isinstance(error, UserError) and "nested too deeply" in str(error)


# --- the workbook reader ----------------------------------------------------------------------


def read(path, data_only):
    """The spec a workbook now describes, as `regenerate` (data_only) and `verify` read it."""
    book = reader.open_workbook(path, data_only=data_only)
    spec = reader.current_spec(book, str(path))
    assert isinstance(spec, Spec)
    return spec


@pytest.fixture(scope="module")
def workbooks(tmp_path_factory):
    """Small workbooks: one neuron, and XOR (a data sheet, seeded weights, biases). Their bytes,
    and a path to write mutated copies to."""
    folder = tmp_path_factory.mktemp("fuzz")
    made = {}
    for name, spec in (("seed", preset("seed").with_overrides(steps=3)),
                       ("xor", preset("xor").with_overrides(steps=2))):
        workbook.write(spec, folder / f"{name}.xlsx")
        made[name] = (folder / f"{name}.xlsx").read_bytes()
        assert read(folder / f"{name}.xlsx", True) == spec
    return made, folder / "mutated.xlsx"


def read_mutated(workbooks, data, data_only):
    _, path = workbooks
    path.write_bytes(data)
    return outcome(read, path, data_only)


def members(data):
    with zipfile.ZipFile(io.BytesIO(data)) as package:
        return {info.filename: package.read(info) for info in package.infolist()}


def zipped(parts):
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as package:
        for name, content in parts.items():
            package.writestr(name, content)
    return buffer.getvalue()


byte_pieces = st.binary(max_size=16) | st.sampled_from([b"\x00", b"\xff", b"PK\x03\x04", b"PK\x01\x02",
                                                        b"PK\x05\x06"])


@fuzz
@given(name=st.sampled_from(["seed", "xor"]), data=st.data(), data_only=st.booleans())
def test_a_damaged_package_reads_or_is_refused_cleanly(workbooks, name, data, data_only):
    original = workbooks[0][name]
    read_mutated(workbooks, data.draw(spliced(original, byte_pieces)), data_only)


def compressed_span(data, name):
    """Where the compressed bytes of the member `name` sit in the zip `data`."""
    with zipfile.ZipFile(io.BytesIO(data)) as package:
        info = package.getinfo(name)
    name_length, extra_length = struct.unpack("<HH", data[info.header_offset + 26:info.header_offset + 30])
    start = info.header_offset + 30 + name_length + extra_length
    return start, start + info.compress_size


@fuzz
@given(name=st.sampled_from(["seed", "xor"]), data=st.data(), data_only=st.booleans())
def test_a_member_with_damaged_compressed_bytes_reads_or_is_refused_cleanly(workbooks, name, data,
                                                                           data_only):
    original = workbooks[0][name]
    member = data.draw(st.sampled_from(sorted(members(original))))
    start, end = compressed_span(original, member)
    damaged = bytearray(original)
    for _ in range(data.draw(st.integers(1, 3))):
        position = data.draw(st.integers(start, end - 1))
        damaged[position] ^= data.draw(st.integers(1, 255))
    read_mutated(workbooks, bytes(damaged), data_only)


# What cells, references and attributes might say instead: references of every shape (a whole
# sheet, a missing sheet, a list), numbers out of range, error values, cell types, sheet states.
XML_VALUES = ["", "0", "-1", "1.5", "1e309", "-1e309", "NaN", "inf", "99999999999999999999", "A1",
              "$A$1:$XFD$1048576", "Steps!$A$1:$XFD$1048576", "Steps!$O$4:$O$5", "Steps!$A:$A",
              "Steps!$1:$1048576", "Steps!$O$4,Steps!$O$5", "Nowhere!$A$1", "'Steps'!$O$4",
              "Steps!$ZZZZ$1", "Steps!$A$0", "#REF!", "#NUM!", "#N/A", "Steps", "backprop_xl",
              "Data", "s", "str", "e", "b", "n", "inlineStr", "1", "veryHidden", "hidden",
              "backprop_xl spec", "layers = [1, 100000000000]", "x" * 300, "&amp;", "&#0;", "&lt;"]
xml_values = st.sampled_from(XML_VALUES) | st.text(max_size=8).map(
    lambda text: text.replace("&", "&amp;").replace("<", "&lt;").replace('"', "&quot;"))
XML_TOKENS = ["<", ">", "/", "/>", '"', "=", "&", "<c r=\"A1\">", "</c>", "<v>", "</v>", "<row r=\"1\">",
              "</row>", "<!DOCTYPE x [<!ENTITY a \"aaaaaaaaaa\">]>", "&a;", "<![CDATA[", "]]>",
              "\x00", "é", "\ud7ff"]
xml_pieces = st.lists(st.sampled_from(XML_TOKENS) | xml_values, max_size=4).map("".join)
# A value between tags or inside quotes.
XML_VALUE = re.compile(r'(?<=>)[^<]+(?=<)|(?<==")[^"]*(?=")')


@st.composite
def mutated_xml(draw, xml):
    if draw(st.booleans()):
        spans = [match.span() for match in XML_VALUE.finditer(xml)]
        for _ in range(draw(st.integers(1, 3))):
            start, end = draw(st.sampled_from(spans))
            xml = xml[:start] + draw(xml_values) + xml[end:]
            spans = [match.span() for match in XML_VALUE.finditer(xml)] or [(0, 0)]
        return xml
    return draw(spliced(xml, xml_pieces))


def key_parts(parts):
    """The parts the reader depends on most: the workbook with its defined names, its sheets
    (the spec sheet among them), and what ties them together."""
    return [name for name in parts if name.startswith("xl/worksheets/sheet") or name in (
        "xl/workbook.xml", "xl/_rels/workbook.xml.rels", "[Content_Types].xml")]


@fuzz
@given(name=st.sampled_from(["seed", "xor"]), data=st.data(), data_only=st.booleans())
def test_a_workbook_with_mutated_xml_reads_or_is_refused_cleanly(workbooks, name, data, data_only):
    parts = members(workbooks[0][name])
    member = data.draw(st.sampled_from(key_parts(parts)) | st.sampled_from(sorted(parts)))
    parts[member] = data.draw(mutated_xml(parts[member].decode())).encode("utf-8", "surrogatepass")
    read_mutated(workbooks, zipped(parts), data_only)


DEFINED_NAME = re.compile(r'(?<=<definedName name=")([^"]+)("[^>]*>)([^<]*)(?=<)')


@fuzz
@given(name=st.sampled_from(["seed", "xor"]), data=st.data(), data_only=st.booleans())
def test_a_defined_name_pointing_anywhere_reads_or_is_refused_cleanly(workbooks, name, data,
                                                                     data_only):
    parts = members(workbooks[0][name])
    xml = parts["xl/workbook.xml"].decode()
    match = data.draw(st.sampled_from(list(DEFINED_NAME.finditer(xml))))
    parts["xl/workbook.xml"] = (xml[:match.start(3)] + data.draw(xml_values)
                                + xml[match.end(3):]).encode()
    read_mutated(workbooks, zipped(parts), data_only)


@pytest.mark.parametrize("reference, message", [
    ("Steps!$A$1:$XFD$1048576", "should hold one cell, it holds 17,179,869,184 cells"),
    ("Steps!$A:$A", "points at '$A:$A', not a block of cells"),
    ("Steps!$A$0", "points at '$A$0', not a block of cells"),
    ("Steps!$O$4,Steps!$O$5", "should hold one cell, it holds 2 cells"),
    ("#REF!", "should point at cells, it holds '#REF!'"),
    ("", "should point at cells, it holds ''"),
])
def test_a_name_off_its_cell_is_refused_before_any_cell_is_read(workbooks, reference, message):
    parts = members(workbooks[0]["seed"])
    xml = parts["xl/workbook.xml"].decode()
    parts["xl/workbook.xml"] = re.sub(r'(<definedName name="learning_rate">)[^<]*', lambda match:
                                      match.group(1) + reference, xml).encode()
    error = read_mutated(workbooks, zipped(parts), True)
    assert isinstance(error, UserError) and f"the name learning_rate {message}" in str(error)


def test_an_embedded_spec_too_wide_for_a_sheet_is_refused_at_once(workbooks):
    """The spec sheet edited to a hidden layer of 100 million neurons: refused before the columns
    of its table are laid out, which would take hours."""
    parts = members(workbooks[0]["xor"])
    sheet = "xl/worksheets/sheet4.xml"  # XOR's spec sheet, after Overview, Steps and Data
    assert b"layers = [2, 2, 1]" in parts[sheet]
    parts[sheet] = parts[sheet].replace(b"layers = [2, 2, 1]", b"layers = [2, 100000000, 1]")
    error = read_mutated(workbooks, zipped(parts), True)
    assert isinstance(error, UserError)
    assert "needs at least 800,000,002 columns, more than Excel's 16,384" in str(error)
