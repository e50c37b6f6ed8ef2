"""Bad input and extreme numbers: one clear line and exit status 2 for what makes no sense, a warning
and a marked workbook for runs that overflow, and nothing written or changed on refusal."""

import zipfile

import openpyxl
import pytest

from backprop_xl.cli import main
from test_cli import snapshot

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
    before = snapshot(tmp_path)
    status = main([command, str(spec), "-o", str(tmp_path / "out")])
    out, err = capsys.readouterr()
    words = BAD_SPECS[case][2] or "targets between 0 and 1"
    assert status == 2 and out == ""
    assert err.count("\n") == 1 and err.startswith("backprop-xl: ") and words in err, err
    assert "Traceback" not in err
    assert snapshot(tmp_path) == before


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


@pytest.mark.parametrize("inputs", ["1e6", "-1e6"])
def test_saturating_inputs_stay_finite_and_quiet(tmp_path, capsys, inputs):
    spec = tmp_path / "big.toml"
    spec.write_text(SEED.replace("inputs = [[1.5]]", f"inputs = [[{inputs}]]"))
    assert main(["generate", str(spec), "-o", str(tmp_path / "big.xlsx")]) == 0
    assert "warning" not in capsys.readouterr().err
