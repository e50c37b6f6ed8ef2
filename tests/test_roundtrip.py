"""Round trip: a workbook carries its spec; regenerate reads the cells as the user left them, keeps
a backup and never silently loses what the user added; --check catches stale examples; verify
catches tampered values and formulas; a write killed half-way leaves the old file as it was."""

import os
import re
import shutil
import signal
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import openpyxl
import pytest

from backprop_xl import engine, kernels, verify
from backprop_xl.cli import main
from backprop_xl.presets import preset
from helpers import (defined_names, disagrees, listed, machine_names, peak_megabytes, run,
                     set_named, snapshot, tamper)

EXAMPLES = Path(__file__).resolve().parent.parent / "workbooks"


def column_values(path, name):
    letter = {n: letter for letter, n in machine_names(path).items()}[name]
    sheet = openpyxl.load_workbook(path, data_only=True)["Steps"]
    return [cell.value for cell in sheet[letter][1:] if cell.value is not None]


def test_edit_then_regenerate_with_more_steps(tmp_path, capsys):
    book = tmp_path / "seed.xlsx"
    assert run(capsys, "generate", "-o", str(book), "--steps", "50")[0] == 0
    original = book.read_bytes()
    set_named(book, learning_rate=0.3, init_w1_1_1=-0.5, input=2.0)
    assert run(capsys, "regenerate", str(book), "--steps", "500")[0] == 0
    edited = preset("seed").with_overrides(learning_rate=0.3, weights=[[[-0.5]]], inputs=[[2.0]],
                                           steps=500)
    expected = engine.trace(edited)
    assert column_values(book, "new_w1_1_1") == pytest.approx(list(expected["new_w1_1_1"]), rel=1e-12)
    assert column_values(book, "step") == list(range(1, 501))
    backup = tmp_path / "seed.backup.xlsx"
    assert backup.exists() and backup.read_bytes() != original  # the edited file, as it was
    # the new workbook remembers the edited run
    status, out, _ = run(capsys, "regenerate", str(book), "--check")
    assert status == 0


def test_regenerate_keeps_an_edited_gradient_check_threshold(tmp_path, capsys):
    from backprop_xl.regenerate import current
    book = tmp_path / "seed-video.xlsx"
    assert run(capsys, "generate", "seed-video", "-o", str(book), "--steps", "20")[0] == 0
    set_named(book, gradient_check_threshold=0.5)  # above seed-video's 1/3: no longer red
    assert run(capsys, "regenerate", str(book), "--steps", "30")[0] == 0
    sheet, address = defined_names(book)["gradient_check_threshold"]
    assert openpyxl.load_workbook(book)[sheet][address].value == 0.5
    assert current(book).spec.gradient_check_threshold == 0.5
    assert run(capsys, "regenerate", str(book), "--check")[0] == 0


def test_an_untouched_workbook_regenerates_to_the_same_bytes(tmp_path, capsys):
    book = tmp_path / "xor.xlsx"
    assert run(capsys, "generate", "xor", "-o", str(book), "--steps", "5")[0] == 0
    before = book.read_bytes()
    assert run(capsys, "regenerate", str(book), "--no-backup")[0] == 0
    assert book.read_bytes() == before
    assert not (tmp_path / "xor.backup.xlsx").exists()


def test_added_content_is_named_and_refused_unless_forced(tmp_path, capsys):
    book = tmp_path / "seed.xlsx"
    assert run(capsys, "generate", "-o", str(book), "--steps", "10")[0] == 0
    workbook = openpyxl.load_workbook(book)
    workbook.create_sheet("My notes")["A1"] = "keep me"
    workbook["Steps"]["S30"] = "my remark"
    workbook["Steps"]["C4"] = "=1+1"  # a formula the user changed
    workbook.save(book)
    before = snapshot(tmp_path)
    status, out, err = run(capsys, "regenerate", str(book))
    assert status == 2 and len(err.splitlines()) == 1
    assert "'My notes'" in err and "Steps!S30" in err and "Steps!C4" in err and "--force" in err
    assert snapshot(tmp_path) == before
    assert run(capsys, "regenerate", str(book), "--force")[0] == 0
    kept = openpyxl.load_workbook(tmp_path / "seed.backup.xlsx")
    assert kept["My notes"]["A1"].value == "keep me" and kept["Steps"]["S30"].value == "my remark"
    assert "My notes" not in openpyxl.load_workbook(book).sheetnames


def test_check_catches_a_stale_example(tmp_path, capsys):
    folder = tmp_path / "workbooks"
    shutil.copytree(EXAMPLES, folder)
    assert run(capsys, "regenerate", str(folder), "--check")[0] == 0
    # a workbook written by "older code": same spec, different bytes
    stale = folder / "chain.xlsx"
    with zipfile.ZipFile(EXAMPLES / "chain.xlsx") as source, zipfile.ZipFile(stale, "w") as target:
        for item in source.infolist():
            data = source.read(item.filename)
            if item.filename == "docProps/core.xml":
                data = data.replace(b"2026-01-01", b"2025-01-01")
            target.writestr(item, data)
    # and a spec file that no longer matches its workbook
    (folder / "seed.toml").write_text(preset("seed").with_overrides(steps=301).to_toml())
    before = snapshot(folder)
    status, out, err = run(capsys, "regenerate", str(folder), "--check")
    assert status == 1
    assert "chain.xlsx" in out and "seed.toml" in out and "mazur" not in out
    books = len(list(EXAMPLES.glob("*.xlsx")))
    assert f"{books - 2} of {books} workbook(s) current" in err  # chain and seed are stale
    assert snapshot(folder) == before


def test_check_counts_a_workbook_stale_for_two_reasons_once(tmp_path, capsys):
    folder = tmp_path / "workbooks"
    shutil.copytree(EXAMPLES, folder)
    book = folder / "chain.xlsx"
    # a cached value changed, as a hand edit would, and the title of its spec file edited
    with zipfile.ZipFile(EXAMPLES / "chain.xlsx") as source, zipfile.ZipFile(book, "w") as target:
        for item in source.infolist():
            data = source.read(item.filename)
            value = re.search(rb"</f><v>([0-9.]+)</v>", data)  # on the steps sheet
            if item.filename.startswith("xl/worksheets/") and value:
                data = data[:value.start(1)] + b"0.123456" + data[value.end(1):]
            target.writestr(item, data)
    spec = folder / "chain.toml"
    spec.write_text(re.sub(r'(?m)^title = .*$', 'title = "edited"', spec.read_text()))
    status, out, err = run(capsys, "regenerate", str(folder), "--check")
    assert status == 1
    assert out.count("stale: ") == 2 and "chain.xlsx" in out and "chain.toml" in out
    books = len(list(EXAMPLES.glob("*.xlsx")))
    assert f"{books - 1} of {books} workbook(s) current" in err


@pytest.mark.parametrize("address, pattern, replacement, by", [
    ("E5", rb"<v>[^<]*</v>", b"<v>0.5</v>", "engine"),
    ("I7", rb"<f>[^<]*</f>", b"<f>F7*G7</f>", "layout"),
    ("I7", rb"<f>[^<]*</f>", b"<f>F7*G7</f>", "formulas"),  # the evaluator recomputes it too
], ids=["cached value", "formula", "formula recomputed"])
def test_verify_catches_tampering(tmp_path, capsys, address, pattern, replacement, by):
    book = tmp_path / "seed.xlsx"
    assert run(capsys, "generate", "-o", str(book), "--steps", "20")[0] == 0
    assert run(capsys, "verify", str(book))[0] == 0
    tamper(book, address, pattern, replacement)
    status, out, err = run(capsys, "verify", str(book))
    assert status == 1
    assert disagrees(out, address, by)


def long_tampered_book(folder: Path, steps: int = 1000) -> tuple[Path, int, int]:
    """A seed workbook of `steps` steps with the formula of dC/dw (column I) tampered in a row
    the evaluators recompute and in one they do not; returns it and those two rows."""
    book = folder / "seed.xlsx"
    assert main(["generate", "-o", str(book), "--steps", str(steps)]) == 0
    sampled = verify.sampled_steps(steps)
    middle = next(step for step in sampled if step > steps // 2)
    unsampled = next(step for step in range(middle, steps) if step not in sampled)
    for step in (middle, unsampled):
        row = step + 1
        tamper(book, f"I{row}", rb"<f>[^<]*</f>", f"<f>F{row}*G{row}</f>".encode())
    return book, middle + 1, unsampled + 1


def test_verify_samples_the_first_the_last_and_rows_between():
    assert verify.sampled_steps(150) == list(range(1, 151))
    sampled = verify.sampled_steps(1_048_575)
    assert len(sampled) == verify.SAMPLED_ROWS == 200 and sampled == sorted(set(sampled))
    assert sampled[:21] == list(range(1, 22)) and sampled[-21:] == list(range(1_048_555, 1_048_576))
    gaps = {b - a for a, b in zip(sampled[20:-20], sampled[21:-20])}
    assert max(gaps) - min(gaps) <= 1  # spread evenly between


def test_verify_recomputes_sampled_rows_of_a_long_workbook(tmp_path, capsys):
    book, sampled_row, unsampled_row = long_tampered_book(tmp_path)
    status, out, err = run(capsys, "verify", str(book))
    assert status == 1
    assert disagrees(out, f"I{sampled_row}", "layout")
    assert disagrees(out, f"I{unsampled_row}", "layout")
    # the evaluator finds that row's dC/dw, and the w' and the gradient check computed from it;
    # it never saw the other row
    assert listed(out, "formulas") == [f"Steps!{column}{sampled_row}" for column in "IJL"], out
    assert "5 disagreement(s): 2 by layout, 3 by formulas (1,000 rows" in err


@pytest.mark.libreoffice
def test_verify_with_libreoffice_recomputes_the_same_samples(tmp_path, capsys):
    book, sampled_row, unsampled_row = long_tampered_book(tmp_path)
    status, out, err = run(capsys, "verify", str(book), "--libreoffice")
    assert status == 1
    assert listed(out, "libreoffice") == listed(out, "formulas") == [
        f"Steps!{column}{sampled_row}" for column in "IJL"], out


def test_verify_lists_the_first_disagreements_of_each_kind_and_counts_all(tmp_path, capsys):
    book = tmp_path / "seed.xlsx"
    assert run(capsys, "generate", "-o", str(book), "--steps", "300")[0] == 0
    set_named(book, learning_rate=0.3)  # saved by openpyxl: no formula keeps its cached value
    tamper(book, "B2", rb"<v\s*/>", b"<v>0.8</v>")  # but the first w, which is right
    status, out, err = run(capsys, "verify", str(book))
    assert status == 1
    lines = out.splitlines()
    # 11 formula columns: every other cell by the engine, every other cell of the 200 sampled rows
    # by formulas
    by_engine, by_formulas = 300 * 11 - 1, 200 * 11 - 1
    assert sum(", engine " in line for line in lines) == verify.SHOWN == 100
    assert sum(", formulas " in line for line in lines) == 100
    assert lines[-1] == f"... and {by_engine + by_formulas - 200:,} more disagreement(s)"
    assert (f"{by_engine + by_formulas:,} disagreement(s): {by_engine:,} by engine, "
            f"{by_formulas:,} by formulas") in err


def test_verify_says_in_one_line_that_a_workbook_has_no_computed_values(tmp_path, capsys):
    """Saved by a program that does not calculate (openpyxl here), no formula holds a value:
    one line says so and how to get them, not a disagreement for every formula cell."""
    book = tmp_path / "seed.xlsx"
    assert run(capsys, "generate", "-o", str(book), "--steps", "300")[0] == 0
    openpyxl.load_workbook(book).save(book)
    status, out, err = run(capsys, "verify", str(book))
    assert (status, out) == (1, "")
    assert len(err.splitlines()) == 1 and err.startswith(f"{book}: holds no computed values")
    assert f"none of its {300 * 11:,} formulas" in err and "LibreOffice" in err


def test_verify_lists_the_formula_cells_that_lack_a_value(tmp_path, capsys):
    """A few formulas without a value, the rest computed: those cells disagree."""
    book = tmp_path / "seed.xlsx"
    assert run(capsys, "generate", "-o", str(book), "--steps", "20")[0] == 0
    for address in ("E5", "I7"):
        tamper(book, address, rb"<v>[^<]*</v>", b"")
    status, out, err = run(capsys, "verify", str(book))
    assert status == 1 and "no computed values" not in err
    assert disagrees(out, "E5", "engine") and disagrees(out, "I7", "engine")
    assert "cached None" in out


@pytest.mark.libreoffice
def test_a_workbook_without_values_verifies_once_libreoffice_has_saved_it(tmp_path, capsys):
    """The way out that verify names: LibreOffice computes the values as it saves a copy."""
    book, saved = tmp_path / "seed.xlsx", tmp_path / "out" / "seed.xlsx"
    assert run(capsys, "generate", "-o", str(book), "--steps", "50")[0] == 0
    openpyxl.load_workbook(book).save(book)
    assert run(capsys, "verify", str(book))[0] == 1
    from backprop_xl.recalc import soffice
    subprocess.run([soffice(), f"-env:UserInstallation=file://{tmp_path / 'profile'}",
                    "--headless", "--convert-to", "xlsx", "--outdir", str(saved.parent),
                    str(book)], check=True, capture_output=True, timeout=300,
                   # README.md: LibreOffice 7.4's threaded calculation can break long chains
                   env={**os.environ, "SC_NO_THREADED_CALCULATION": "1"})
    status, out, err = run(capsys, "verify", str(saved))
    assert status == 0, out + err


def test_verifying_a_long_workbook_needs_no_more_memory_than_a_short_one(tmp_path):
    # Memory, not time. Both runs take the Python engine (the compiled one adds 125 MB), and both
    # recompute 200 sampled rows; the sheet streams by a row at a time. Measured here: about
    # 225 MB either way; holding the longer one's rows, as read, would cost some 55 MB more.
    peaks = []
    for steps in (2_000, 20_000):
        spec = preset("seed").with_overrides(steps=steps)
        assert not kernels.worth_compiling(spec, gradient_check=True)
        book = tmp_path / f"seed{steps}.xlsx"
        assert main(["generate", "-o", str(book), "--steps", str(steps)]) == 0
        peaks.append(peak_megabytes([sys.executable, "-m", "backprop_xl", "verify", str(book)]))
    short, long = peaks
    assert long < short + 15, peaks


@pytest.mark.parametrize("relative_change, status", [(1e-15, 0), (1e-6, 1)])
def test_check_ignores_only_the_last_digits_of_cached_values(tmp_path, capsys, relative_change,
                                                              status):
    """Another CPU or numpy build may round exp's last digit otherwise: still current. A change
    a reader could see is stale."""
    book = tmp_path / "seed.xlsx"
    assert run(capsys, "generate", "-o", str(book), "--steps", "20")[0] == 0
    value = float(re.search(rb"<v>([^<]*)</v>", zipfile.ZipFile(book).read(
        "xl/worksheets/sheet1.xml").split(b'<c r="E5"')[1]).group(1))
    tamper(book, "E5", rb"<v>[^<]*</v>", f"<v>{value * (1 + relative_change)!r}</v>".encode())
    assert run(capsys, "regenerate", str(book), "--check")[0] == status


@pytest.mark.libreoffice
def test_a_workbook_edited_and_recalculated_verifies(tmp_path, capsys):
    """Edit a parameter, let a spreadsheet application recalculate and save: it verifies."""
    book = tmp_path / "mazur.xlsx"
    assert run(capsys, "generate", "mazur", "-o", str(book), "--steps", "30")[0] == 0
    set_named(book, learning_rate=0.9, init_w1_1_1=0.05)
    edited = tmp_path / "out" / "mazur.xlsx"
    from backprop_xl.recalc import RECALC_PROFILE, soffice
    profile = tmp_path / "profile"
    (profile / "user").mkdir(parents=True)
    (profile / "user" / "registrymodifications.xcu").write_text(RECALC_PROFILE)
    subprocess.run([soffice(), f"-env:UserInstallation=file://{profile}", "--headless",
                    "--convert-to", "xlsx", "--outdir", str(edited.parent), str(book)],
                   check=True, capture_output=True, timeout=300,
                   env={**os.environ, "SC_NO_THREADED_CALCULATION": "1"})
    status, out, err = run(capsys, "verify", str(edited))
    assert status == 0, out


@pytest.mark.parametrize("command", [["generate", "xor", "--steps", "3000"], ["regenerate"]])
def test_a_write_killed_half_way_leaves_the_old_file(tmp_path, capsys, command):
    book = tmp_path / "book.xlsx"
    assert run(capsys, "generate", "xor", "-o", str(book), "--steps", "3")[0] == 0
    if command == ["regenerate"]:
        command = ["regenerate", str(book), "--steps", "3000", "--no-backup"]
    else:
        command = command + ["-o", str(book), "--force"]
    before = book.read_bytes()
    process = subprocess.Popen([sys.executable, "-m", "backprop_xl", *command],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 60
    while not list(tmp_path.glob(".book.xlsx.*.tmp")) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert list(tmp_path.glob(".book.xlsx.*.tmp")), "the write never started"
    time.sleep(0.5)  # well into writing
    process.send_signal(signal.SIGKILL)
    process.wait()
    assert process.returncode == -signal.SIGKILL
    assert book.read_bytes() == before


def test_a_long_generate_stays_small(tmp_path):
    """Memory, not time: writing a workbook never needs numba for the presets (its 125 MB would
    buy a few percent of the time, see kernels.worth_compiling). 60,000 steps is three times
    where the engine used to compile. Measured here: about 40 MB, as for 5 steps; with numba,
    about 165 MB. The allowance over the 5-step run is half of what numba adds."""
    steps = 60_000
    assert not kernels.worth_compiling(preset("seed").with_overrides(steps=steps), True, cells=12)
    short, long = (peak_megabytes([sys.executable, "-m", "backprop_xl", "generate",
                                   "-o", str(tmp_path / f"seed{n}.xlsx"), "--steps", str(n)])
                   for n in (5, steps))
    assert long < short + 60, (short, long)
