"""`backprop-xl compare`: one workbook with a live steps sheet per run and a first sheet that
overlays every run's cost. Each run's sheet is recomputed by LibreOffice (threaded and not) and
must equal the engine's run of that learning rate and optimizer, whose numbers test_optimizers.py
checks against torch.optim's rules; editing one run's yellow learning-rate cell must recompute
that run alone. verify (the `formulas` evaluator, row by row) and regenerate handle comparisons."""

import math
import re
import zipfile
from dataclasses import replace

import openpyxl
import pytest

from backprop_xl import engine
from backprop_xl.cli import main
from backprop_xl.layout import (COMPARE_SHEET, COST_CURVE_SHEET, CURVE_POINTS, CURVE_TITLE,
                                run_sheet)
from backprop_xl.presets import preset
from backprop_xl.spec import Optimizer
from helpers import assert_matches_engine, assert_refused, machine_names, run, tamper
from recalc import cells, libreoffice_convert

RATES = [0.1, 0.5, 2.0]
STEPS = 150  # longer than LibreOffice's threaded formula groups (layout.GROUP_BREAK_STEPS)
EDITED_RATE = 1.25
EDITED_BETA1 = 0.5  # typed into the row of "adam r=0.1", the 7th run


def mazur_runs():
    """The runs `compare mazur --learning-rates 0.1,0.5,2 --optimizers sgd,momentum,adam` makes,
    written out here as the command's help says: momentum 0.9, adam with torch's defaults."""
    base = preset("mazur").with_overrides(steps=STEPS)
    return [base.with_overrides(optimizer=optimizer, learning_rate=rate)
            for optimizer in (Optimizer(), Optimizer("momentum", momentum=0.9), Optimizer("adam"))
            for rate in RATES]


@pytest.fixture(scope="module")
def book(tmp_path_factory):
    folder = tmp_path_factory.mktemp("compare")
    path = folder / "mazur-compare.xlsx"
    assert main(["compare", "mazur", "--learning-rates", "0.1,0.5,2", "--optimizers",
                 "sgd,momentum,adam", "--steps", str(STEPS), "-o", str(path)]) == 0
    return path


def test_one_sheet_per_run_after_the_comparison(book):
    names = openpyxl.load_workbook(book, read_only=True).sheetnames
    assert names[:10] == [COMPARE_SHEET] + [run_sheet(spec) for spec in mazur_runs()]
    assert names[1:4] == ["sgd r=0.1", "sgd r=0.5", "sgd r=2"]


def test_the_chart_overlays_every_runs_cost(book):
    with zipfile.ZipFile(book) as package:
        charts = [name for name in package.namelist() if name.startswith("xl/charts/chart")]
        assert len(charts) == 1  # the overlay; the run sheets have none
        xml = package.read(charts[0]).decode()
    references = re.findall(r"<c:f>([^<]*)</c:f>", xml)
    for spec in mazur_runs():
        sheet = run_sheet(spec)
        letter = {name: letter for letter, name in machine_names(book, sheet).items()}
        assert f"'{sheet}'!${letter['C']}$2:${letter['C']}${STEPS + 1}" in references
        assert f"'{sheet}'!$A$2:$A${STEPS + 1}" in references


def test_the_table_holds_each_runs_settings_and_final_cost(book):
    sheet = openpyxl.load_workbook(book)[COMPARE_SHEET]
    rows = [[cell.value for cell in row] for row in sheet.iter_rows(min_row=5, max_row=14)]
    header = rows[0]
    assert header[:3] == ["run (its sheet)", "optimizer", "learning rate r"]
    assert header[-1] == "final cost"
    for spec, row in zip(mazur_runs(), rows[1:]):
        assert row[0] == run_sheet(spec) and row[1] == spec.optimizer.name
        assert row[2] == spec.learning_rate
        assert row[-1] == f"='{run_sheet(spec)}'!$R${STEPS + 1}"
        assert row[header.index("momentum μ")] == spec.optimizer.momentum
    cached = [[cell.value for cell in row] for row in
              openpyxl.load_workbook(book, data_only=True)[COMPARE_SHEET].iter_rows(min_row=6,
                                                                                     max_row=14)]
    for spec, row in zip(mazur_runs(), cached):
        assert row[-1] == pytest.approx(engine.trace(spec)["C"][-1], rel=1e-12)


@pytest.fixture(scope="module")
def recalculated(book, tmp_path_factory):
    """threaded or not -> sheet -> its cells as LibreOffice recalculated them on loading; and
    "edited": the same after the second run's learning rate was typed over."""
    edited = tmp_path_factory.mktemp("edited") / "edited.xlsx"
    workbook = openpyxl.load_workbook(book)  # saving drops every cached value
    workbook[COMPARE_SHEET]["C7"] = EDITED_RATE  # the row of "sgd r=0.5"
    workbook[COMPARE_SHEET]["E12"] = EDITED_BETA1  # the row of "adam r=0.1", its column β1
    workbook.save(edited)
    sheets = [COMPARE_SHEET] + [run_sheet(spec) for spec in mazur_runs()]
    folder = tmp_path_factory.mktemp("recalculated")
    results = {}
    for how, path, threaded in ((True, book, True), (False, book, False),
                                ("edited", edited, True)):
        (saved,) = libreoffice_convert([path], folder / str(how), "xlsx", threaded)
        results[how] = {sheet: cells(saved, sheet) for sheet in sheets}
    return results, edited


@pytest.mark.libreoffice
@pytest.mark.parametrize("threaded", [True, False], ids=["threaded", "single-threaded"])
def test_libreoffice_recomputes_every_run_to_the_engine(book, recalculated, threaded):
    results, _ = recalculated
    for spec in mazur_runs():
        assert_matches_engine(results[threaded][run_sheet(spec)], spec, book, run_sheet(spec))
    for row, spec in enumerate(mazur_runs(), start=6):
        assert results[threaded][COMPARE_SHEET][f"H{row}"] == pytest.approx(
            engine.trace(spec)["C"][-1], rel=1e-9)


@pytest.mark.libreoffice
def test_editing_one_runs_settings_recomputes_that_run_alone(book, recalculated):
    results, edited = recalculated
    runs = mazur_runs()
    assert openpyxl.load_workbook(book)[COMPARE_SHEET]["E5"].value == "first moment's β1"
    edits = {1: {"learning_rate": EDITED_RATE},
             6: {"optimizer": replace(runs[6].optimizer, beta1=EDITED_BETA1)}}
    for index, spec in enumerate(runs):
        sheet = run_sheet(spec)  # the sheets keep their names until regenerated
        wanted = spec.with_overrides(**edits.get(index, {}))
        assert_matches_engine(results["edited"][sheet], wanted, book, sheet)
    assert results["edited"][COMPARE_SHEET]["H7"] == pytest.approx(
        engine.trace(runs[1].with_overrides(learning_rate=EDITED_RATE))["C"][-1], rel=1e-9)
    assert results["edited"][COMPARE_SHEET]["H7"] != pytest.approx(
        results[True][COMPARE_SHEET]["H7"], rel=1e-3)


# --- verify and regenerate --------------------------------------------------------------------

def test_verify_recomputes_every_run_and_finds_a_changed_cell(tmp_path, capsys):
    path = tmp_path / "xor.xlsx"
    assert run(capsys, "compare", "xor", "--learning-rates", "1,4", "--optimizers", "sgd,adam",
               "--steps", "40", "-o", str(path))[0] == 0
    status, _, err = run(capsys, "verify", str(path))
    assert status == 0 and "all cells agree (160 rows" in err and "160 recomputed" in err, err
    sheet = "adam r=4"  # the 4th run: the workbook's 5th sheet
    letter = {name: letter for letter, name in machine_names(path, sheet).items()}["m_w1_1_1"]
    tamper(path, f"{letter}9", rb"<v>[^<]*</v>", b"<v>0.5</v>", sheet=5)
    status, out, _ = run(capsys, "verify", str(path))
    assert status == 1
    assert out.startswith(f"'{sheet}'!{letter}9 (m_w1_1_1): cached 0.5, engine "), out


def test_regenerate_reads_each_runs_cells_and_renames_its_sheet(tmp_path, capsys):
    path = tmp_path / "seed.xlsx"
    assert run(capsys, "compare", "seed", "--learning-rates", "0.1,1", "--optimizers",
               "sgd,rmsprop", "--steps", "30", "-o", str(path))[0] == 0
    assert run(capsys, "regenerate", str(path), "--check")[0] == 0
    book = openpyxl.load_workbook(path)
    assert book[COMPARE_SHEET]["A7"].value == "sgd r=1"
    book[COMPARE_SHEET]["C7"] = 0.7
    book.save(path)
    status, _, err = run(capsys, "regenerate", str(path), "--steps", "45", "--force")
    assert status == 0 and "4 runs of 45 steps" in err, err
    names = openpyxl.load_workbook(path, read_only=True).sheetnames
    assert names[1:5] == ["sgd r=0.1", "sgd r=0.7", "rmsprop r=0.1", "rmsprop r=1"]
    status, _, err = run(capsys, "verify", str(path))
    assert status == 0 and "all cells agree" in err, err
    wanted = preset("seed").with_overrides(learning_rate=0.7, steps=45)
    letter = {name: letter for letter, name in machine_names(path, "sgd r=0.7").items()}["C"]
    got = cells(path, "sgd r=0.7")[f"{letter}46"]
    assert got == pytest.approx(engine.trace(wanted)["C"][-1], rel=1e-12)


def test_regenerate_refuses_two_runs_made_alike(tmp_path, capsys):
    path = tmp_path / "seed.xlsx"
    assert run(capsys, "compare", "seed", "--learning-rates", "0.1,1", "-o", str(path))[0] == 0
    book = openpyxl.load_workbook(path)
    book[COMPARE_SHEET]["C7"] = 0.1
    book.save(path)
    assert_refused(tmp_path, capsys, ["regenerate", str(path), "--force"],
                   "two runs would be 'sgd r=0.1'")


# --- bad input ---------------------------------------------------------------------------------

@pytest.mark.parametrize("args, words", [
    (["--learning-rates", "0.1,x"], "--learning-rates: 'x' is not a number"),
    (["--learning-rates", "0.1,-2"], "--learning-rates: must be greater than 0"),
    (["--learning-rates", "0.1,0.1"], "--learning-rates: 0.1 given twice"),
    (["--optimizers", "sgd,adamw"], "--optimizers: unknown optimizer 'adamw'"),
    (["--optimizers", "adam,adam"], "--optimizers: adam given twice"),
    (["--learning-rates", ",".join(str(rate) for rate in range(1, 9)), "--optimizers",
      "sgd,momentum,rmsprop,adagrad,adam"], "8 x 5 runs, more than 36; compare fewer"),
    (["--steps", "0"], "--steps: "),
])
def test_bad_options_are_refused_in_one_line_and_write_nothing(tmp_path, capsys, args, words):
    assert_refused(tmp_path, capsys, ["compare", "mazur", *args, "-o", str(tmp_path / "c.xlsx")],
                   words)


def test_a_network_too_wide_is_refused_before_writing(tmp_path, capsys):
    spec = tmp_path / "wide.toml"
    spec.write_text(preset("xor").with_overrides(layers=[2, 3000, 1], weights=None,
                                                 init_seed=1).to_toml())
    assert_refused(tmp_path, capsys, ["compare", str(spec), "--learning-rates", "0.1,1", "-o",
                                      str(tmp_path / "c.xlsx")], "network.layers")


def test_an_existing_file_is_kept_without_force(tmp_path, capsys):
    target = tmp_path / "c.xlsx"
    target.write_bytes(b"mine")
    assert_refused(tmp_path, capsys, ["compare", "seed", "-o", str(target)], "exists")
    assert target.read_bytes() == b"mine"


# --- runs of one parameter on one cost curve ----------------------------------------------------

def seed_cost(w):
    """The seed's cost at w, by hand: C = (sigmoid(i w) - y)^2 with i = 1.5, y = 0.5."""
    return (1 / (1 + math.exp(-1.5 * w)) - 0.5) ** 2


@pytest.mark.libreoffice
def test_seed_runs_walk_down_one_cost_curve(tmp_path, capsys):
    path = tmp_path / "seed.xlsx"
    assert run(capsys, "compare", "seed", "--learning-rates", "0.1,1", "--optimizers",
               "sgd,adam", "--steps", "60", "-o", str(path))[0] == 0
    sheets = ["sgd r=0.1", "sgd r=1", "adam r=0.1", "adam r=1"]
    with zipfile.ZipFile(path) as package:
        xml = [package.read(name).decode() for name in package.namelist()
               if name.startswith("xl/charts/chart")]
    [curve] = [chart for chart in xml if CURVE_TITLE in chart]
    references = re.findall(r"<c:f>([^<]*)</c:f>", curve)
    letters = {name: letter for letter, name in machine_names(path, sheets[0]).items()}
    w, cost = letters["w1_1_1"], letters["C"]
    for sheet in sheets:
        assert f"'{sheet}'!${w}$2:${w}$61" in references
        assert f"'{sheet}'!${cost}$2:${cost}$61" in references
    (saved,) = libreoffice_convert([path], tmp_path / "out", "xlsx")
    table = cells(saved, COST_CURVE_SHEET)
    walked = [cells(saved, sheet)[f"{w}{row}"] for sheet in sheets for row in range(2, 62)]
    assert table["B4"] == pytest.approx(min(walked + [0.8])) and table["B5"] == pytest.approx(
        max(walked + [0.8]))
    for row in range(10, 10 + CURVE_POINTS):
        assert table[f"B{row}"] == pytest.approx(seed_cost(table[f"A{row}"]), rel=1e-9)
    status, _, err = run(capsys, "verify", str(path))
    assert status == 0 and "all cells agree" in err


def test_the_readmes_plateau_comparison():
    # README: from the plateau, momentum's cost falls under 0.01 near step 225, Adam's by step 35
    # (the step numbers are 1-based), and plain SGD's stays on it
    costs = {name: engine.trace(preset("seed-adam").with_overrides(optimizer=optimizer))["C"]
             for name, optimizer in (("sgd", Optimizer()), ("adam", Optimizer("adam")),
                                     ("momentum", Optimizer("momentum", momentum=0.9)))}
    first_under = {name: next(step for step, c in enumerate(cost, start=1) if c < 0.01)
                   for name, cost in costs.items() if name != "sgd"}
    assert 220 <= first_under["momentum"] <= 230 and first_under["adam"] <= 35
    assert min(costs["sgd"]) > 0.24
