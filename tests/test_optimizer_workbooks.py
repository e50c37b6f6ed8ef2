"""Workbooks of every optimizer (issue 16): the optimizer's state, a column per parameter, and its
update, as live formulas over the previous row and the named yellow hyperparameter cells.

The engine's numbers are checked against torch.optim's documented rules in test_optimizers.py;
here the workbook's formulas are recomputed by sources that share no code with the engine and
must arrive at the same numbers: the `formulas` evaluator (the whole workbook's graph) and
LibreOffice Calc, single-threaded and with its default multi-threaded calculation, also after a
hyperparameter cell is edited; and regenerate and verify read and check such workbooks."""

from dataclasses import replace

import openpyxl
import pytest

from backprop_xl import engine, names, workbook
from backprop_xl.layout import HYPERPARAMETERS, Layout
from backprop_xl.reader import current_spec
from backprop_xl.presets import preset
from backprop_xl.spec import Spec
from helpers import (OPTIMIZERS, assert_matches_engine, defined_names, disagrees, machine_names,
                     run, set_named, tamper)
from kinds import KINDS
from recalc import formula_cells, formulas_recalc, libreoffice_recalc_many

WITH_STATE = {name: optimizer for name, optimizer in OPTIMIZERS.items() if optimizer.has_state}
# Networks of each mode: one neuron, 2-2-2 with biases, batch of four samples, stochastic.
NETWORKS = {"seed": preset("seed"), "mazur": preset("mazur"), "xor-batch": preset("xor"),
            "stochastic": KINDS["stochastic-biases-tanh"]}
# Longer than LibreOffice's threaded formula groups of 100 rows (layout.GROUP_BREAK_STEPS)
LONG_STEPS = 150
SHORT_STEPS = 4  # for the `formulas` evaluator's graph of every cell, which is slow
# Each hyperparameter cell typed over in a workbook, and its new value
EDITS = {"momentum": ("momentum", 0.5), "nesterov": ("momentum", 0.3),
         "rmsprop": ("alpha", 0.8), "adagrad": ("eps", 0.01), "adam": ("beta1", 0.5),
         "adam, other settings": ("beta2", 0.99), "rmsprop, other settings": ("eps", 0.1)}


# The adaptive optimizers step each parameter by about the learning rate, whatever its gradient:
# at the presets' rates (xor's is 4) they leap about chaotically, where the last bit of an exp
# (numpy's and LibreOffice's differ) grows to any size in 150 steps. At this rate they train.
ADAPTIVE_RATE = 0.05


def stem(optimizer: str) -> str:
    """A file name's part for one of OPTIMIZERS: "adam, other settings" -> adam_other_settings."""
    return optimizer.replace(" ", "_").replace(",", "")


def spec_of(network: str, optimizer: str, steps: int) -> Spec:
    spec = NETWORKS[network].with_overrides(optimizer=OPTIMIZERS[optimizer], steps=steps)
    if spec.optimizer.name in ("rmsprop", "adagrad", "adam"):
        return spec.with_overrides(learning_rate=ADAPTIVE_RATE)
    return spec


@pytest.fixture(scope="module")
def books(tmp_path_factory) -> dict[str, tuple]:
    """name -> (workbook, the spec of the run it describes): every optimizer on every network,
    long; and per optimizer one workbook whose hyperparameter was edited."""
    folder = tmp_path_factory.mktemp("optimizers")
    books = {}
    for optimizer in WITH_STATE:
        for network in NETWORKS:
            spec = spec_of(network, optimizer, LONG_STEPS)
            path = folder / f"{network}-{stem(optimizer)}.xlsx"
            workbook.write(spec, path)
            books[path.stem] = (path, spec)
    for optimizer, (key, value) in EDITS.items():
        spec = spec_of("mazur", optimizer, LONG_STEPS)
        path = folder / f"edited-{stem(optimizer)}.xlsx"
        workbook.write(spec, path)
        set_named(path, **{key: value})
        books[path.stem] = (path, spec.with_overrides(
            optimizer=replace(spec.optimizer, **{key: value})))
    return books


@pytest.fixture(scope="module")
def libreoffice(books):
    """threaded or not -> book -> its cells as LibreOffice recalculated them on loading."""
    paths = [path for path, _ in books.values()]
    return {threaded: dict(zip(books, libreoffice_recalc_many(paths, threaded=threaded)))
            for threaded in (True, False)}


@pytest.mark.libreoffice
@pytest.mark.parametrize("threaded", [True, False], ids=["threaded", "single-threaded"])
def test_libreoffice_recalculates_every_optimizer_to_the_engine(books, libreoffice, threaded):
    for book, (path, spec) in books.items():
        assert_matches_engine(libreoffice[threaded][book], spec, path)


@pytest.mark.libreoffice
def test_an_edited_hyperparameter_recomputes_the_table(books, libreoffice):
    # the edited books' specs are the edited run's: the edit must move the numbers, or the
    # comparison above would not show that the formulas read the cell
    for optimizer, (key, value) in EDITS.items():
        book = f"edited-{stem(optimizer)}"
        path, spec = books[book]
        before = engine.trace(spec.with_overrides(optimizer=OPTIMIZERS[optimizer]))
        after = engine.trace(spec)
        assert abs(after["C"][-1] - before["C"][-1]) > 1e-6, (optimizer, key)
        assert_matches_engine(libreoffice[True][book], spec, path)


@pytest.mark.parametrize("network", NETWORKS)
@pytest.mark.parametrize("optimizer", ["momentum", "nesterov", "rmsprop", "adagrad", "adam"])
def test_formulas_recomputes_every_optimizer_to_the_engine(tmp_path, network, optimizer):
    spec = spec_of(network, optimizer, SHORT_STEPS)
    path = tmp_path / "book.xlsx"
    workbook.write(spec, path)
    assert_matches_engine(formulas_recalc(path), spec, path)


@pytest.mark.parametrize("optimizer", EDITS)
def test_formulas_recomputes_an_edited_hyperparameter(tmp_path, optimizer):
    key, value = EDITS[optimizer]
    spec = spec_of("seed", optimizer, 20)
    path = tmp_path / "book.xlsx"
    workbook.write(spec, path)
    sheet, address = defined_names(path)[key]
    assert sheet == "Steps"  # where formulas_recalc types
    changed = spec.with_overrides(optimizer=replace(spec.optimizer, **{key: value}))
    assert engine.trace(changed)["C"][-1] != engine.trace(spec)["C"][-1]
    assert_matches_engine(formulas_recalc(path, {address: value}), changed, path)


# --- what the workbook shows ---------------------------------------------------------------------

def test_each_state_column_is_the_engines_named_column(tmp_path):
    for optimizer in WITH_STATE:
        spec = spec_of("mazur", optimizer, 3)
        path = tmp_path / "book.xlsx"
        workbook.write(spec, path, force=True)
        shown = set(machine_names(path).values())
        assert set(engine.state_keys(spec)) <= shown, optimizer
        assert not any(key.startswith(("velocity_", "sqavg_", "sqsum_", "m_", "mhat_"))
                       for key in shown - set(engine.state_keys(spec))), optimizer


def test_the_hyperparameters_are_yellow_named_cells_with_their_values(tmp_path):
    for optimizer in WITH_STATE.values():
        spec = preset("seed").with_overrides(optimizer=optimizer, steps=3)
        path = tmp_path / "book.xlsx"
        workbook.write(spec, path, force=True)
        where = defined_names(path)
        book = openpyxl.load_workbook(path)
        keys = [key for key in optimizer.to_dict() if key in HYPERPARAMETERS]
        assert keys == [key for key in ("momentum", "alpha", "beta1", "beta2", "eps")
                        if key in optimizer.to_dict()]
        for key in keys:
            sheet, address = where[key]
            assert book[sheet][address].value == getattr(optimizer, key)
            learning_rate = book[where["learning_rate"][0]][where["learning_rate"][1]]
            assert book[sheet][address].fill.fgColor.rgb == learning_rate.fill.fgColor.rgb, key
        assert "nesterov" not in where


def test_the_update_column_shows_the_optimizers_rule():
    headers = {name: [column.header for column in Layout(
        preset("seed").with_overrides(optimizer=optimizer)).columns
        if column.key == names.new_key("w1_1_1")][0] for name, optimizer in OPTIMIZERS.items()}
    assert headers["sgd"] == "w' = w − r·dC/dw"
    assert headers["momentum"] == "w' = w − r·v'"
    assert headers["nesterov"] == "w' = w − r·(dC/dw + μ·v')"
    assert headers["rmsprop"] == "w' = w − r·dC/dw/(√s' + ε)"
    assert headers["adagrad"] == "w' = w − r·dC/dw/(√G' + ε)"
    assert headers["adam"] == "w' = w − r·m̂/(√v̂ + ε)"


def test_the_notes_say_what_each_state_column_does():
    notes = "\n".join(Layout(preset("mazur").with_overrides(optimizer=OPTIMIZERS["adam"])).notes())
    for words in ("Adam's first moment", "second moment", "corrected for starting at 0",
                  "Adam's step"):
        assert words in notes


# --- regenerate and verify ---------------------------------------------------------------------

def test_verify_checks_every_optimizer_and_finds_a_changed_state_cell(tmp_path, capsys):
    for optimizer in WITH_STATE:
        path = tmp_path / f"{stem(optimizer)}.xlsx"
        workbook.write(spec_of("mazur", optimizer, 40), path)
        status, _, err = run(capsys, "verify", str(path))
        assert status == 0 and "all cells agree" in err, (optimizer, err)
    path = tmp_path / "seed.xlsx"  # whose first sheet, which tamper edits, is the steps table
    workbook.write(spec_of("seed", "adam", 40), path)
    letter = {name: letter for letter, name in machine_names(path).items()}["m_w1_1_1"]
    tamper(path, f"{letter}5", rb"<v>[^<]*</v>", b"<v>0.5</v>")
    status, out, _ = run(capsys, "verify", str(path))
    assert status == 1 and disagrees(out, f"{letter}5", "engine"), out


def test_regenerate_keeps_an_edited_hyperparameter(tmp_path, capsys):
    spec = spec_of("mazur", "adam", 30)
    path = tmp_path / "book.xlsx"
    workbook.write(spec, path)
    set_named(path, beta1=0.6, eps=0.001)
    # --force: openpyxl, which typed the cells, rewrote the header notes in its own way
    status, out, err = run(capsys, "regenerate", str(path), "--steps", "45", "--force")
    assert status == 0, err
    book = openpyxl.load_workbook(path, read_only=True)
    regenerated = current_spec(book, str(path))
    assert (regenerated.optimizer.beta1, regenerated.optimizer.eps) == (0.6, 0.001)
    assert regenerated.optimizer.beta2 == 0.999 and regenerated.steps == 45
    status, _, err = run(capsys, "verify", str(path))
    assert status == 0 and "all cells agree" in err, err


def test_an_out_of_range_hyperparameter_cell_is_refused_in_one_line(tmp_path, capsys):
    path = tmp_path / "book.xlsx"
    workbook.write(spec_of("seed", "adam", 5), path)
    set_named(path, beta1=1.5)
    before = path.read_bytes()
    status, out, err = run(capsys, "regenerate", str(path), "--force")
    assert status == 2 and out == "" and err.count("\n") == 1, err
    assert "optimizer.beta1" in err and "[0, 1)" in err
    assert path.read_bytes() == before


def test_every_formula_cell_of_an_optimizer_is_a_formula(tmp_path):
    path = tmp_path / "book.xlsx"
    spec = spec_of("xor-batch", "adam", 5)
    workbook.write(spec, path)
    formulas = formula_cells(path)
    letters = {name: letter for letter, name in machine_names(path).items()}
    for key in engine.state_keys(spec):
        assert all(f"{letters[key]}{row}" in formulas for row in range(2, 7)), key
