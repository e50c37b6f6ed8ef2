"""`backprop-xl trace`: the engine's trace as CSV or JSON Lines, checked against the lesson and
Mazur's published numbers, streamed rather than held, written atomically, and refusing bad input
with one line and exit status 2."""

import csv
import io
import json
import subprocess
import sys
import threading
import time

import numpy as np
import pytest

from backprop_xl import engine, kernels
from backprop_xl.presets import preset
from helpers import peak_megabytes, run, snapshot


def csv_records(text):
    return [{key: float(value) for key, value in row.items()}
            for row in csv.DictReader(io.StringIO(text))]


def json_records(text):
    return [json.loads(line) for line in text.splitlines()]


@pytest.mark.parametrize("format_, parse", [("csv", csv_records), ("json", json_records)])
def test_seed_trace_starts_at_the_lesson_and_follows_the_update_rule(capsys, format_, parse):
    status, out, err = run(capsys, "trace", "seed", "--format", format_)
    assert status == 0 and err == ""
    records = parse(out)
    assert list(records[0]) == ["step", "loss", "w1_1_1", "grad_w1_1_1"]
    assert [r["step"] for r in records] == list(range(1, 301))
    first = records[0]
    assert first["w1_1_1"] == 0.8
    assert round(first["grad_w1_1_1"], 6) == 0.143307
    assert round(first["loss"], 6) == 0.072106
    # w' = w - r * dC/dw with r = 0.1, exactly: the numbers round-trip through the text.
    for before, after in zip(records, records[1:]):
        assert after["w1_1_1"] == before["w1_1_1"] - 0.1 * before["grad_w1_1_1"]


def test_csv_and_json_hold_the_same_numbers(capsys):
    _, as_csv, _ = run(capsys, "trace", "seed", "--steps", "20", "--format", "csv")
    _, as_json, _ = run(capsys, "trace", "seed", "--steps", "20", "--format", "json")
    assert csv_records(as_csv) == json_records(as_json)


def test_mazur_trace_has_the_weights_only_and_the_published_numbers(capsys):
    status, out, _ = run(capsys, "trace", "mazur", "--steps", "2")
    assert status == 0
    weights = [f"w{l}_{j}_{k}" for l in (1, 2) for j in (1, 2) for k in (1, 2)]
    assert out.splitlines()[0].split(",") == ["step", "loss", *weights,
                                               *["grad_" + w for w in weights]]
    first, second = csv_records(out)
    assert first["loss"] == pytest.approx(0.298371109, abs=1e-9)
    assert second["w2_1_1"] == pytest.approx(0.35891648, abs=1e-8)  # Mazur's w5 after one step
    assert second["w1_1_1"] == pytest.approx(0.149780716, abs=1e-9)  # and his w1


def command(*args):
    return [sys.executable, "-m", "backprop_xl", "trace", *args]


def test_a_reader_that_stops_early_ends_the_run_quietly(tmp_path):
    # A million steps take some 12 s to compute here, compiled; the command must stop as soon as
    # the reader closes the pipe, not after computing (or collecting) them all. Measured here: a
    # 5-step run takes 0.25 s from start to exit, this one about 1 s (numba loads first). The
    # allowance, four times the 5-step run and 3 s, grows as both runs slow down together on a
    # slower or busier machine, and stays far below the time all the steps take. numba's first
    # compilation on a machine (some 15 s) is done first: its cache is what the command loads.
    list(engine.run(preset("seed").with_overrides(steps=2), compiled=True))
    started = time.monotonic()
    subprocess.run(command("seed", "--steps", "5", "--format", "csv"), stdout=subprocess.DEVNULL,
                   check=True, cwd=tmp_path)
    allowance = 4 * (time.monotonic() - started) + 3
    started = time.monotonic()
    process = subprocess.Popen(command("seed", "--steps", "1000000", "--format", "csv"),
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=tmp_path)
    # else one that holds every step blocks here
    watchdog = threading.Timer(allowance + 30, process.kill)
    watchdog.start()
    try:
        lines = [process.stdout.readline() for _ in range(5)]
        process.stdout.close()
        status = process.wait()
    finally:
        watchdog.cancel()
        process.kill()
        process.wait()
    err = process.stderr.read().decode()
    process.stderr.close()
    assert lines[0] == b"step,loss,w1_1_1,grad_w1_1_1\n"
    assert lines[1].startswith(b"1,0.0721055")
    assert time.monotonic() - started < allowance, allowance
    assert status == 1  # click's status for a closed pipe, see cli.trace
    assert err == "" and "Traceback" not in err


@pytest.mark.parametrize("short_steps, long_steps, compiled", [(20_000, 600_000, False),
                                                               (750_000, 1_048_575, True)])
def test_a_long_run_needs_no_more_memory_than_a_short_one(short_steps, long_steps, compiled):
    # Memory, not time, for each engine: both runs of a pair take the same one (numba and LLVM
    # add some 125 MB whatever the length). Measured here: about 40 MB and 165 MB, the same for
    # both lengths; holding the extra records would cost some 100 MB or more. The allowance sits
    # well above noise.
    short_run, long_run = (preset("seed").with_overrides(steps=n) for n in (short_steps, long_steps))
    compiled = compiled and kernels.numba_available()  # numba is optional: without it, Python
    assert kernels.worth_compiling(short_run) == kernels.worth_compiling(long_run) == compiled
    short = peak_megabytes(command("seed", "--steps", str(short_steps)))
    long = peak_megabytes(command("seed", "--steps", str(long_steps)))
    assert long < short + 50, (short, long)


@pytest.fixture
def without_numba(monkeypatch):
    """As if numba were not installed (it is optional, the `fast` extra): importing it fails."""
    monkeypatch.setitem(sys.modules, "numba", None)
    kernels.numba_available.cache_clear()
    yield
    kernels.numba_available.cache_clear()  # asked again once numba is back


def test_without_numba_a_run_asked_to_compile_gives_the_same_numbers_in_python(without_numba):
    spec = preset("mazur").with_overrides(steps=600)
    assert not kernels.numba_available()
    assert kernels.compiling_pays(spec.with_overrides(steps=1_000_000))
    assert not kernels.worth_compiling(spec.with_overrides(steps=1_000_000))
    assert not engine.Run(spec, True, compiled=True).kernel.compiled
    asked = [list(step.record().values()) for step in engine.run(spec, True, compiled=True)]
    normal = [list(step.record().values()) for step in engine.run(spec, True, compiled=False)]
    np.testing.assert_array_equal(asked, normal)


def test_without_numba_a_long_trace_says_it_runs_in_python(without_numba, monkeypatch, capsys):
    # A run that takes long in Python (here made so by moving "long" to 0 s): the same records,
    # and one line saying how to get the faster kernel.
    _, expected, _ = run(capsys, "trace", "mazur", "--steps", "50")
    assert not kernels.slow_without_numba(preset("seed").with_overrides(steps=1_048_575))
    monkeypatch.setattr(kernels, "SLOW_PYTHON_SECONDS", 0)
    status, out, err = run(capsys, "trace", "mazur", "--steps", "50")
    assert status == 0 and out == expected
    assert err.count("\n") == 1 and "numba is not installed" in err and "[fast]" in err


def test_output_file_is_written_refused_when_present_and_replaced_with_force(tmp_path, capsys):
    target = tmp_path / "trace.csv"
    _, expected, _ = run(capsys, "trace", "seed", "--steps", "5")
    status, out, _ = run(capsys, "trace", "seed", "--steps", "5", "-o", str(target))
    assert status == 0 and out == ""
    assert target.read_text() == expected

    target.write_text("precious")
    before = snapshot(tmp_path)
    status, out, err = run(capsys, "trace", "seed", "--steps", "5", "-o", str(target))
    assert status == 2 and out == "" and "--force" in err
    assert snapshot(tmp_path) == before

    status, _, _ = run(capsys, "trace", "seed", "--steps", "7", "--format", "json",
                       "-o", str(target), "--force")
    assert status == 0
    assert [r["step"] for r in json_records(target.read_text())] == list(range(1, 8))
    assert snapshot(tmp_path).keys() == {"trace.csv"}  # no temporary file left behind


def test_help_says_what_each_format_holds(capsys):
    status, out, _ = run(capsys, "trace", "--help")
    assert status == 0
    assert "Usage: backprop-xl trace" in out and "JSON Lines" in out and "grad_" in out


@pytest.mark.parametrize("args, hint", [
    (["sed"], "sed"),
    (["--format", "xml"], "xml"),
    (["--steps", "0"], "--steps"),
], ids=["unknown preset", "unknown format", "zero steps"])
def test_bad_input_is_one_line_status_2_and_writes_nothing(tmp_path, monkeypatch, capsys,
                                                          args, hint):
    monkeypatch.chdir(tmp_path)
    for output in ([], ["-o", "out.csv"]):
        status, out, err = run(capsys, "trace", *args, *output)
        assert status == 2
        assert out == ""
        assert len(err.splitlines()) == 1 and err.startswith("backprop-xl: "), err
        assert hint in err
        assert snapshot(tmp_path) == {}
