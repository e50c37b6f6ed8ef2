"""How fast LibreOffice Calc recalculates BP_ functions through the add-in, against udfs.py direct.

The same calls of udfs.py made directly in Python, in the same run, are the baseline.

    python benchmarks/libreoffice.py [--repeat N] [--json PATH]

It installs the add-in into a throwaway LibreOffice profile with the real command
(`backprop-xl libreoffice-setup --profile DIR`, once), then drives a headless LibreOffice through
tests/calc_driver.py (tests/calc.py's Calc) and measures, in LibreOffice's default multi-threaded
calculation and with SC_NO_THREADED_CALCULATION=1:

  case 1   a sheet of 1,000 BP_STEP calls: inputs x, weight, target, learning rate in A:D, a
           different row of them each, and on each row the array formula
           {=BP_STEP(A1;B1;C1;D1)} over its 8 result cells E:L.
  case 2   one {=BP_TRAIN(1.5;0.8;0.5;0.1;10000)} over its 10,001 x 4 result range A1:D10001.

Each LibreOffice time is the round trip of the driver's "calculate" (the document's calculateAll,
a hard recalculation: every formula computed again) of a sheet already computed once, timed from
this process. Beside it, the same round trip for the same sheet with no BP_ formulas (the inputs
alone; for case 2 an empty document) shows what the driver's round trip itself costs, and the same
sheet with built-in array formulas of the same shapes instead (case 1: {=A1*B1+COLUMN(Z1:AG1)}
on each row; case 2: {=ROW(Z1:AC10001)+COLUMN(Z1:AC10001)}) shows what Calc itself spends on
that many array formulas and result cells.

The baseline is the same work done by calling udfs.py directly here: the 1,000 udfs.BP_STEP calls
and one udfs.BP_TRAIN, each once untimed first (as Calc computes each sheet once before its timed
recalculation). Also measured, to tell where LibreOffice's time goes: backprop_xl.calc.call (the
add-in's adapter from LibreOffice's values to udfs and back) here, and both again in a child
process of LibreOffice's own Python (the interpreter the add-in runs on, with the paths the
extension records).

Start-up is reported apart: `backprop-xl libreoffice-setup` itself; starting the driver (and its
LibreOffice) until its first answer, a new document; and the first BP_ call in that LibreOffice
(typing the inputs, entering one BP_STEP array formula, reading it back: loads the add-in and
imports backprop_xl and numpy inside LibreOffice), against the next such call on another row.

Every LibreOffice measurement is repeated in --repeat fresh LibreOffice processes (one of each
threading mode in turn) and reported as the median, with its ratio to the direct baseline (a
ratio measured in one run mostly cancels out the machine and what else runs on it). LibreOffice's
numbers are checked against udfs' exactly on a sample of rows of each case after the timed
recalculation (and on the start-up rows): the exit status is 1 when any differ. Nothing is timed
against a target: a measurement, not a test.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

# This file is also the program of the child process run by LibreOffice's Python (--direct-child),
# which finds backprop_xl only on the paths it is given: the top level imports the standard
# library alone.

ROOT = Path(__file__).resolve().parent.parent
STEP_ROWS = 1_000
TRAIN_ARGUMENTS = (1.5, 0.8, 0.5, 0.1, 10_000.0)
TRAIN_FORMULA = "=BP_TRAIN(1.5;0.8;0.5;0.1;10000)"
TRAIN_RANGE = "A1:D10001"  # header row and 10,000 steps
TRAIN_ROWS = 10_001
MODES = {"single-threaded": False, "threaded": True}  # label: tests/calc.py's `threaded`


# --- the work ----------------------------------------------------------------------------------


def step_inputs() -> list[tuple[float, float, float, float]]:
    """Row r's x, weight, target and learning rate: all different from row to row."""
    return [(0.5 + r / 1000, -1 + r / 500, 0.1 + (r % 9) / 10, 0.05 + (r % 4) / 20)
            for r in range(1, STEP_ROWS + 1)]


def step_sample() -> list[int]:
    """Which rows (1-based) of case 1 are read back and compared."""
    return sorted({1, 2, STEP_ROWS, *range(50, STEP_ROWS + 1, 50),
                   *random.Random(13).sample(range(1, STEP_ROWS + 1), 10)})


def train_sample() -> list[int]:
    """Which sheet rows (1-based: 1 is the header) of case 2 are read back and compared."""
    return sorted({1, 2, 3, 4, TRAIN_ROWS - 1, TRAIN_ROWS, *range(1001, TRAIN_ROWS, 1000),
                   *random.Random(13).sample(range(1, TRAIN_ROWS + 1), 10)})


def direct(repeat: int, paths: list[str] | None = None) -> dict:
    """Seconds of each run of the direct calls (udfs) and of the add-in's adapter (calc.call),
    after one untimed call of each: {"udfs": {"step": [...], "train": [...]}, "calc.call": ...}."""
    if paths:
        sys.path[:0] = paths
    from backprop_xl import calc, udfs

    inputs = step_inputs()
    # As LibreOffice calls the add-in: every argument, None for one left out.
    as_calc = [row + (None,) * (len(udfs.FUNCTIONS["BP_STEP"].arguments) - len(row))
               for row in inputs]
    train = TRAIN_ARGUMENTS + (None,) * (len(udfs.FUNCTIONS["BP_TRAIN"].arguments)
                                         - len(TRAIN_ARGUMENTS))
    work = {
        "udfs": {"step": lambda: [udfs.BP_STEP(*row) for row in inputs],
                 "train": lambda: udfs.BP_TRAIN(*TRAIN_ARGUMENTS)},
        "calc.call": {"step": lambda: [calc.call("BP_STEP", row) for row in as_calc],
                      "train": lambda: calc.call("BP_TRAIN", train)},
    }
    times = {"python": platform.python_version(), "executable": sys.executable}
    for name, cases in work.items():
        times[name] = {}
        for case, function in cases.items():
            function()
            runs = []
            for _ in range(repeat):
                start = time.perf_counter()
                function()
                runs.append(time.perf_counter() - start)
            times[name][case] = runs
    return times


def direct_in_office_python(repeat: int) -> dict:
    """direct(), run by LibreOffice's Python on the paths the extension records."""
    from backprop_xl import libreoffice_setup

    python = libreoffice_setup.office_python(libreoffice_setup.soffice())
    paths = libreoffice_setup.environment()["paths"]
    done = subprocess.run([python, __file__, "--direct-child", json.dumps(paths),
                           "--repeat", str(repeat)], capture_output=True, text=True, cwd=ROOT)
    if done.returncode != 0:
        raise SystemExit(f"the direct calls in LibreOffice's Python failed:\n{done.stderr[-2000:]}")
    return json.loads(done.stdout)


# --- LibreOffice --------------------------------------------------------------------------------


def timed(function):
    start = time.perf_counter()
    answer = function()
    return time.perf_counter() - start, answer


def compare(label: str, got: list, wanted: list, problems: list[str]) -> None:
    """Exactly equal, cell by cell (a step number 1 equals Calc's 1.0); else a line in problems."""
    if len(got) != len(wanted) or any(a != b for a, b in zip(got, wanted)):
        problems.append(f"{label}: LibreOffice {got!r} != udfs {wanted!r}")


def step_cells(rows: list[int], inputs) -> dict:
    return {f"{column}{r}": value for r in rows
            for column, value in zip("ABCD", inputs[r - 1])}


def session(profile: Path, threaded: bool, expected: dict) -> dict:
    """One LibreOffice from start to end: start-up, the first calls, then each sheet computed
    once and timed in a second hard recalculation. Returns seconds and the problems found."""
    from calc import Calc  # tests/calc.py

    inputs, problems, seconds = step_inputs(), [], {}
    every_row = list(range(1, STEP_ROWS + 1))
    start = time.perf_counter()
    with Calc(profile, threaded=threaded) as calc:
        calc("new")
        seconds["startup"] = time.perf_counter() - start

        # The first BP_ call in this LibreOffice, then the same on the next row.
        for row, key in ((1, "first_call"), (2, "next_call")):
            def one_call():
                calc("cells", cells=step_cells([row], inputs))
                calc("array", range=f"E{row}:L{row}",
                     formula=f"=BP_STEP(A{row};B{row};C{row};D{row})")
                return calc("read", range=f"E{row}:L{row}")[0]
            seconds[key], values = timed(one_call)
            compare(f"start-up BP_STEP row {row}", values, expected["step"][row - 1], problems)
        calc("close")

        # Case 1 without BP_ formulas: the inputs alone, then built-in array formulas.
        calc("new")
        calc("cells", cells=step_cells(every_row, inputs))
        calc("calculate")
        seconds["step_round_trip"], _ = timed(lambda: calc("calculate"))
        for r in every_row:
            calc("array", range=f"E{r}:L{r}", formula=f"=A{r}*B{r}+COLUMN(Z{r}:AG{r})")
        calc("calculate")
        seconds["step_builtin"], _ = timed(lambda: calc("calculate"))
        last = calc("read", range=f"E{STEP_ROWS}:L{STEP_ROWS}")[0]
        x, weight = inputs[-1][:2]
        compare("built-in array formula, last row", last,
                [x * weight + column for column in range(26, 34)], problems)
        calc("close")

        # Case 1.
        calc("new")
        calc("cells", cells=step_cells(every_row, inputs))
        for r in every_row:
            calc("array", range=f"E{r}:L{r}", formula=f"=BP_STEP(A{r};B{r};C{r};D{r})")
        calc("calculate")
        seconds["step"], _ = timed(lambda: calc("calculate"))
        for r in step_sample():
            got = calc("read", range=f"A{r}:L{r}")[0]
            compare(f"case 1 row {r}", got, [*inputs[r - 1], *expected["step"][r - 1]], problems)
        calc("close")

        # Case 2 without BP_ formulas: an empty document, then a built-in array formula.
        calc("new")
        calc("calculate")
        seconds["train_round_trip"], _ = timed(lambda: calc("calculate"))
        calc("array", range=TRAIN_RANGE, formula="=ROW(Z1:AC10001)+COLUMN(Z1:AC10001)")
        calc("calculate")
        seconds["train_builtin"], _ = timed(lambda: calc("calculate"))
        compare("built-in array formula, last row", calc("read", range="A10001:D10001")[0],
                [10001.0 + column for column in range(26, 30)], problems)
        calc("close")

        # Case 2.
        calc("new")
        calc("array", range=TRAIN_RANGE, formula=TRAIN_FORMULA)
        calc("calculate")
        seconds["train"], _ = timed(lambda: calc("calculate"))
        for r in train_sample():
            compare(f"case 2 row {r}", calc("read", range=f"A{r}:D{r}")[0],
                    expected["train"][r - 1], problems)
        calc("close")
    return {"seconds": seconds, "problems": problems}


# --- output ---------------------------------------------------------------------------------------


def say(text: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {text}", file=sys.stderr, flush=True)


def median(values: list[float]) -> float:
    return statistics.median(values)


def layout(header: tuple, lines: list[tuple]) -> str:
    widths = [max(len(row[i]) for row in (header, *lines)) for i in range(len(header))]
    return "\n".join("  ".join(cell.ljust(w) if i == 0 else cell.rjust(w)
                               for i, (cell, w) in enumerate(zip(row, widths))).rstrip()
                     for row in (header, tuple("-" * w for w in widths), *lines))


def recalculation_rows(results: dict) -> list[dict]:
    """The recalculation table's rows: label, and per case its median seconds and ratio to the
    direct baseline."""
    here, there = results["direct"], results["direct_office_python"]
    base = {case: median(here["udfs"][case]) for case in ("step", "train")}
    rows = [
        ("udfs directly (the baseline), this Python " + here["python"], here["udfs"]),
        ("backprop_xl.calc.call (the adapter), this Python", here["calc.call"]),
        ("udfs directly, LibreOffice's Python " + there["python"], there["udfs"]),
        ("backprop_xl.calc.call, LibreOffice's Python", there["calc.call"]),
    ]
    for mode in MODES:
        sessions = results["libreoffice"][mode]
        for label, keys in ((f"LibreOffice, {mode}: hard recalculation", ("step", "train")),
                            (f"  the same sheet without BP_ formulas (round trip), {mode}",
                             ("step_round_trip", "train_round_trip")),
                            (f"  built-in array formulas of the same shapes, {mode}",
                             ("step_builtin", "train_builtin"))):
            rows.append((label, {case: [s["seconds"][key] for s in sessions]
                                 for case, key in zip(("step", "train"), keys)}))
    return [{"label": label, **{case: {"seconds": median(runs[case]), "runs": runs[case],
                                       "ratio": median(runs[case]) / base[case]}
                                for case in ("step", "train")}}
            for label, runs in rows]


def startup_rows(results: dict) -> list[dict]:
    rows = [{"label": "backprop-xl libreoffice-setup (install, once)",
             **{mode: None for mode in MODES}, "install": results["install_seconds"]}]
    for key, label in (("startup", "start LibreOffice and the driver, until its first answer"),
                       ("first_call", "first BP_STEP typed in and read (loads the add-in, "
                                      "imports backprop_xl and numpy)"),
                       ("next_call", "the next BP_STEP typed in and read, on another row")):
        rows.append({"label": label, **{
            mode: {"seconds": median([s["seconds"][key] for s in sessions]),
                   "runs": [s["seconds"][key] for s in sessions]}
            for mode, sessions in results["libreoffice"].items()}})
    return rows


def report(results: dict) -> str:
    info = results["machine"]
    lines = [f"{info['date']}, {info['libreoffice']}, {info['cpus']} CPUs, git {info['git']}, "
             f"median of {results['repeat']} run(s)", ""]
    header = ("recalculation", f"{STEP_ROWS:,} BP_STEP", "x direct",
              f"BP_TRAIN {TRAIN_ROWS - 1:,}", "x direct")
    lines.append(layout(header, [
        (row["label"], f"{row['step']['seconds']:.3f} s", f"{row['step']['ratio']:.2f}",
         f"{row['train']['seconds']:.3f} s", f"{row['train']['ratio']:.2f}")
        for row in results["recalculation"]]))
    lines.append("")
    header = ("start-up", *MODES)
    body = []
    for row in results["startup"]:
        if "install" in row:
            body.append((row["label"], f"{row['install']:.2f} s", ""))
        else:
            body.append((row["label"], *(f"{row[mode]['seconds']:.3f} s" for mode in MODES)))
    lines.append(layout(header, body))
    lines.append("")
    problems = results["problems"]
    sampled = (f"{len(step_sample())} rows of case 1, {len(train_sample())} rows of case 2 and the "
               f"start-up rows, in each of {sum(map(len, results['libreoffice'].values()))} "
               f"LibreOffice runs")
    lines.append(f"LibreOffice against udfs, exactly: {sampled}: " +
                 ("all equal" if not problems else f"{len(problems)} DIFFER:"))
    lines.extend(f"  {problem}" for problem in problems[:20])
    return "\n".join(lines)


def machine() -> dict:
    """run.py's description of the machine and checkout, with LibreOffice's version."""
    from backprop_xl import libreoffice_setup
    from run import machine as described  # benchmarks/run.py, beside this file

    version = subprocess.run([libreoffice_setup.soffice(), "--version"], capture_output=True,
                             text=True).stdout.split()
    return {**described(), "libreoffice": " ".join(version[:2])}


def arguments():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3,
                        help="runs per measurement, median reported (default 3)")
    parser.add_argument("--json", type=Path, metavar="PATH",
                        help="also write the results, every run's seconds too, as JSON "
                             "(benchmarks/libreoffice*.json is gitignored)")
    parser.add_argument("--direct-child", metavar="PATHS", help=argparse.SUPPRESS)
    return parser.parse_args()


def main():
    args = arguments()
    if args.direct_child:
        print(json.dumps(direct(args.repeat, json.loads(args.direct_child))))
        return
    sys.path.insert(0, str(ROOT / "tests"))
    from calc import setup  # tests/calc.py

    from backprop_xl import udfs

    results = {"machine": machine(), "repeat": args.repeat}
    info = results["machine"]
    say(f"python {info['python']}, {info['libreoffice']}, {info['cpus']} CPUs, load average "
        f"{', '.join(f'{x:.2f}' for x in info['load_average'])}, git {info['git']}")
    expected = {"step": [udfs.BP_STEP(*row)[0] for row in step_inputs()],
                "train": udfs.BP_TRAIN(*TRAIN_ARGUMENTS)}
    say("udfs and calc.call directly, here and in LibreOffice's Python")
    results["direct"] = direct(args.repeat)
    results["direct_office_python"] = direct_in_office_python(args.repeat)
    with tempfile.TemporaryDirectory(prefix="backprop_xl-lo-bench-") as folder:
        profile = Path(folder) / "profile"
        say(f"backprop-xl libreoffice-setup --profile {profile}")
        seconds, done = timed(lambda: setup(profile=profile))
        if done.returncode != 0:
            raise SystemExit(f"libreoffice-setup failed ({done.returncode}):\n{done.stderr}")
        results["install_seconds"] = seconds
        results["libreoffice"] = {mode: [] for mode in MODES}
        problems = []
        for run in range(args.repeat):
            for mode, threaded in MODES.items():  # in turn, so that drift touches both alike
                say(f"LibreOffice {mode}, run {run + 1} of {args.repeat}")
                measured = session(profile, threaded, expected)
                results["libreoffice"][mode].append(measured)
                problems += [f"{mode}, run {run + 1}: {p}" for p in measured["problems"]]
    results["problems"] = problems
    results["recalculation"] = recalculation_rows(results)
    results["startup"] = startup_rows(results)
    at_end = machine()
    results["machine"].update(git_at_end=at_end["git"], load_average_at_end=at_end["load_average"])
    say(f"load average {', '.join(f'{x:.2f}' for x in at_end['load_average'])}")
    print(report(results))
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
        print(f"wrote {args.json}")
    if problems:
        sys.exit(1)


if __name__ == "__main__":
    main()
