"""How fast `backprop-xl generate` writes a workbook and how much memory it needs, against two
baselines that write the same steps-sheet cells in the same run.

    python benchmarks/run.py [--repeat N] [--largest] [--no-verify] [--only-verify] [--json PATH]

For the `seed` and `mazur` presets, at 10,000 and 100,000 steps (and 1,048,575, Excel's last row,
with --largest), it measures:

  generate    `backprop-xl generate PRESET --steps N`: engine, formulas, styles, chart, all of it.
  baseline A  raw XlsxWriter in constant_memory mode writing the exact formulas and cached values
              generate writes (nothing else: no styles, chart or engine). The cells are computed
              ahead of time, outside the timed region: what generate should cost if backprop_xl
              added nothing to the library it uses.
  baseline B  the file-format floor: the same sheet XML made by string formatting and deflated
              with zipfile into a minimal xlsx package, no library at all.
  engine      the engine as generate runs it (engine.rows over the workbook's columns, with the
              gradient check where the preset's workbook has one), timed inside a child process
              from its first step to its last, so imports are not counted but tracing the step
              or loading numba's compiled kernel is: generate's share of time in the engine.
  trace       `backprop-xl trace PRESET --steps N > /dev/null`: the engine's stream of numbers
              (no gradient check) as CSV, everything counted.
  verify      `backprop-xl verify` of the generated workbook, at every size: every row against
              the engine and the layout, about 200 sampled rows recomputed by the `formulas`
              evaluator; its note says whether all cells agree, "x gen" its time over generate's
              of the same workbook (--no-verify skips it). Besides, the workbooks of VERIFY_CASES
              (the seed at 300 and 10,000 steps, mazur at 10,000, xor at its 600) are generated
              and verified for the target of verify within VERIFY_VS_GENERATE times generate;
              --only-verify measures those alone.
  startup     `backprop-xl presets`: the interpreter and imports every command pays once.
  trace (seed)  `backprop-xl trace seed` of 1,000,000 steps, and of 800,000 to compare its memory.

Every case runs in a child process of its own, so wall time and peak memory are the child's alone.
Each row reports the median of --repeat runs (1 for the largest size) and its ratios to baselines
A and B of the same preset and size: absolute seconds depend on the machine and on what else runs
on it, while ratios measured in the same run mostly cancel that out. The targets of the
performance issue are reported as met or not; nothing here passes or fails.
"""

from __future__ import annotations

import argparse
import datetime
import io
import json
import marshal
import os
import platform
import resource
import statistics
import subprocess
import sys
import tempfile
import time
import warnings
import zipfile
from pathlib import Path

# This module is also the baseline child processes' program, so its top level imports only the
# standard library: a child's peak memory must not include backprop_xl's or numpy's.

ROOT = Path(__file__).resolve().parent.parent
PRESETS = ("seed", "mazur")
SIZES = (10_000, 100_000)
LARGEST = 1_048_575  # Excel's 1,048,576 rows less the header

GENERATE_VS_A = 1.2  # generate within 1.2x of baseline A
PEAK_MB = 150  # generate's peak memory at the largest size
FLAT = 1.10  # "flat": the largest size's peak within 10% of the smallest size's
ENGINE_SHARE = 0.05  # the engine under 5% of generate's time
TRACE_MILLION_SECONDS = 2.0  # trace of 1,000,000 seed steps
VERIFY_VS_GENERATE = 3.0  # verify of a workbook within 3x its generate
# The workbooks that target is measured on: (preset, steps)
VERIFY_CASES = (("seed", 300), ("seed", 10_000), ("mazur", 10_000), ("xor", 600))
# The trace target's run, and a shorter one to compare its memory with: long enough that trace
# takes the same engine (numba's, see kernels.worth_compiling), so that only the steps differ.
MILLION_TRACE = (800_000, 1_000_000)

TIME = "/usr/bin/time"  # GNU time

# --- measuring a child process -----------------------------------------------------------------


def measure(command: list[str], stdout=None, memory_limit: int | None = None) -> dict:
    """Run `command` and return its wall time, its peak memory and its exit status.

    Peak memory comes from GNU time's %M: the ru_maxrss that wait4 reports for exactly the process
    it forked. It goes through /usr/bin/time rather than reading ru_maxrss here because Linux
    carries a process's high-water mark across exec: a child forked (or vforked, as subprocess
    does) straight from this script would report this script's own peak whenever that is larger.
    Forked from the tiny `time` process, the command's peak is its own. (getrusage(RUSAGE_CHILDREN)
    deltas are no better: that figure is a maximum over every child ever reaped.) Output goes to
    temporary files, not pipes, so a chatty child cannot block. `memory_limit` (bytes) caps the
    command's address space.
    """
    def limit():
        resource.setrlimit(resource.RLIMIT_AS, (memory_limit, memory_limit))

    with tempfile.TemporaryDirectory() as folder:
        files = {name: Path(folder, name) for name in ("out", "err", "peak")}
        with files["out"].open("wb") as out, files["err"].open("wb") as err:
            start = time.perf_counter()
            status = subprocess.run([TIME, "-f", "%M", "-o", str(files["peak"]), *command],
                                    cwd=ROOT, stdout=stdout or out, stderr=err,
                                    preexec_fn=limit if memory_limit else None).returncode
            seconds = time.perf_counter() - start
        # time writes "Command exited with non-zero status N" first when the command fails.
        peak_kb = int(files["peak"].read_text().split()[-1])
        return {"seconds": seconds, "peak_mb": peak_kb / 1024, "status": status,
                "stdout": files["out"].read_text(errors="replace"),
                "stderr": files["err"].read_text(errors="replace")}


def cli(*arguments: str) -> list[str]:
    return [sys.executable, "-m", "backprop_xl", *arguments]


def run_cli(arguments: list[str], stdout=None) -> dict:
    result = measure(cli(*arguments), stdout)
    if result["status"] != 0:
        raise SystemExit(f"backprop-xl {' '.join(arguments)} failed ({result['status']}):\n"
                         f"{result['stderr'][-2000:]}")
    return result


def run_verify(book: Path, cap_gb: float) -> dict:
    """verify, its address space capped: the machine is shared."""
    result = measure(cli("verify", str(book)), memory_limit=int(cap_gb * 2**30))
    result["note"] = ("all cells agree" if result["status"] == 0 else
                      f"out of memory (cap {cap_gb:g} GB)" if "MemoryError" in result["stderr"] else
                      "disagreements found" if result["status"] == 1 else
                      f"failed (exit status {result['status']})")
    return result


def run_baseline(kind: str, cells: Path, output: Path) -> dict:
    """A baseline in a child process. Its seconds are the writing it timed itself; its peak
    memory is the whole child's."""
    result = measure([sys.executable, __file__, "--child", kind, str(cells), str(output)])
    if result["status"] != 0:
        raise SystemExit(f"baseline {kind} failed:\n{result['stderr'][-2000:]}")
    return {**result, **json.loads(result["stdout"])}


# --- the cells generate writes, computed ahead of time -------------------------------------------


def write_cells(preset_name: str, steps: int, path: Path) -> None:
    """The steps sheet as backprop_xl lays it out, streamed to a marshal file: (steps, headings),
    then per step row (formulas, values), formula None for a constant. The baselines read it
    row by row, so neither holds the table in memory nor pays for the engine."""
    from backprop_xl import engine
    from backprop_xl.layout import HEADER_ROW, Layout, Row
    from backprop_xl.presets import preset

    layout = Layout(preset(preset_name).with_overrides(steps=steps))
    columns = layout.columns
    positions = {column.key: index for index, column in enumerate(columns)}
    with path.open("wb") as stream:
        marshal.dump((steps, ["\n".join(column.heading) for column in columns]), stream)
        rows = engine.rows(layout.spec, list(positions), layout.gradient_check)
        for number, values in enumerate(rows, start=1):
            cells = Row(HEADER_ROW + number, positions)
            marshal.dump(([None if c.formula is None else "=" + c.formula(cells) for c in columns],
                          list(values)), stream)


def read_cells(path: Path):
    """(headings, then one (formulas, values) per step row), read as they are needed."""
    with path.open("rb") as stream:
        steps, headings = marshal.load(stream)
        yield headings
        for _ in range(steps):
            yield marshal.load(stream)


def reading_seconds(path: Path) -> float:
    """How long reading the cell stream alone takes: subtracted from a baseline's writing time."""
    start = time.perf_counter()
    for _ in read_cells(path):
        pass
    return time.perf_counter() - start


# --- baseline A: raw XlsxWriter -------------------------------------------------------------------


def baseline_a(cells: Path, output: Path) -> float:
    import xlsxwriter

    start = time.perf_counter()
    book = xlsxwriter.Workbook(str(output), {"constant_memory": True})
    sheet = book.add_worksheet("Steps")
    rows = read_cells(cells)
    for col, heading in enumerate(next(rows)):
        sheet.write_string(0, col, heading)
    for row, (formulas, values) in enumerate(rows, start=1):
        for col, (formula, value) in enumerate(zip(formulas, values)):
            if formula is None:
                sheet.write_number(row, col, value)
            else:
                sheet.write_formula(row, col, formula, None, value)
    book.close()
    return time.perf_counter() - start


# --- baseline B: the file-format floor ---------------------------------------------------------

MAIN = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"
RELATIONSHIPS = "http://schemas.openxmlformats.org/package/2006/relationships"
DOCUMENT = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"
SPREADSHEETML = "application/vnd.openxmlformats-officedocument.spreadsheetml"
DECLARATION = '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
PACKAGE = {
    "[Content_Types].xml":
        f'<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
        f'<Default Extension="rels" ContentType="application/vnd.openxmlformats-package.'
        f'relationships+xml"/><Default Extension="xml" ContentType="application/xml"/>'
        f'<Override PartName="/xl/workbook.xml" ContentType="{SPREADSHEETML}.sheet.main+xml"/>'
        f'<Override PartName="/xl/worksheets/sheet1.xml" '
        f'ContentType="{SPREADSHEETML}.worksheet+xml"/></Types>',
    "_rels/.rels":
        f'<Relationships xmlns="{RELATIONSHIPS}"><Relationship Id="rId1" '
        f'Type="{DOCUMENT}/officeDocument" Target="xl/workbook.xml"/></Relationships>',
    "xl/workbook.xml":
        f'<workbook xmlns="{MAIN}" xmlns:r="{DOCUMENT}"><sheets>'
        f'<sheet name="Steps" sheetId="1" r:id="rId1"/></sheets></workbook>',
    "xl/_rels/workbook.xml.rels":
        f'<Relationships xmlns="{RELATIONSHIPS}"><Relationship Id="rId1" '
        f'Type="{DOCUMENT}/worksheet" Target="worksheets/sheet1.xml"/></Relationships>',
}


def column_name(index: int) -> str:
    name = ""
    index += 1
    while index:
        index, remainder = divmod(index - 1, 26)
        name = chr(65 + remainder) + name
    return name


def escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def sheet_rows(cells: Path):
    """The sheet's <row> elements as text: headings as inline strings, then formulas with their
    cached values, numbers as XlsxWriter formats them."""
    rows = read_cells(cells)
    headings = next(rows)
    names = [column_name(index) for index in range(len(headings))]
    yield '<row r="1">' + "".join(f'<c r="{name}1" t="inlineStr"><is><t>{escape(heading)}</t></is></c>'
                                  for name, heading in zip(names, headings)) + "</row>"
    for number, (formulas, values) in enumerate(rows, start=2):
        parts = [f'<row r="{number}">']
        for name, formula, value in zip(names, formulas, values):
            if formula is None:
                parts.append(f'<c r="{name}{number}"><v>{value:.16G}</v></c>')
            else:
                parts.append(f'<c r="{name}{number}"><f>{escape(formula[1:])}</f><v>{value!r}</v></c>')
        parts.append("</row>")
        yield "".join(parts)


def baseline_b(cells: Path, output: Path) -> float:
    start = time.perf_counter()
    with zipfile.ZipFile(output, "w", zipfile.ZIP_DEFLATED) as package:
        for name, text in PACKAGE.items():
            package.writestr(name, DECLARATION + text)
        # force_zip64: the largest mazur sheet is several GB of XML.
        with package.open("xl/worksheets/sheet1.xml", "w", force_zip64=True) as raw:
            with io.TextIOWrapper(raw, encoding="utf-8") as sheet:
                sheet.write(f'{DECLARATION}<worksheet xmlns="{MAIN}"><sheetData>')
                for row in sheet_rows(cells):
                    sheet.write(row)
                sheet.write("</sheetData></worksheet>")
    return time.perf_counter() - start


def run_engine(preset: str, steps: int) -> dict:
    """The engine alone, as generate runs it, in a child process that times itself."""
    result = measure([sys.executable, __file__, "--child", "engine", preset, str(steps)])
    if result["status"] != 0:
        raise SystemExit(f"engine {preset} {steps} failed:\n{result['stderr'][-2000:]}")
    return {**result, **json.loads(result["stdout"])}


WARM_UP = ("from backprop_xl import engine, presets; "
           "engine.Run(presets.preset('seed'), compiled=True).block(1)")


def engine_child(preset_name: str, steps: int) -> None:
    from backprop_xl import engine, kernels
    from backprop_xl.layout import Layout
    from backprop_xl.presets import preset

    layout = Layout(preset(preset_name).with_overrides(steps=steps))
    keys = [c.key for c in layout.columns]
    start = time.perf_counter()
    for _ in engine.rows(layout.spec, keys, layout.gradient_check):
        pass
    print(json.dumps({"engine_seconds": time.perf_counter() - start,
                      "compiled": kernels.worth_compiling(layout.spec, layout.gradient_check,
                                                         cells=len(keys))}))


def child(kind: str, cells: Path, output: Path) -> None:
    """A baseline child process: print its own timing as JSON."""
    read = reading_seconds(cells)
    total = (baseline_a if kind == "a" else baseline_b)(cells, output)
    print(json.dumps({"write_seconds": total - read, "read_seconds": read}))


def first_row_check(generated: Path, baselines: dict[str, Path], width: int) -> dict[str, bool]:
    """Whether openpyxl loads each baseline's file and reads the same first step row (formulas
    and the step number) as in the generated workbook's steps sheet."""
    import openpyxl

    def first_row(path: Path, sheet: str):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # a print area of whole columns, past 1,048,575 rows
            book = openpyxl.load_workbook(path, read_only=True)
        try:
            row = next(book[sheet].iter_rows(min_row=2, max_row=2, values_only=True))
            return list(row[:width])
        finally:
            book.close()

    wanted = first_row(generated, "Steps")
    return {name: first_row(path, "Steps") == wanted for name, path in baselines.items()}


# --- one preset at one size ----------------------------------------------------------------------


def median_of(runs: list[dict], key: str) -> float:
    return statistics.median(run[key] for run in runs)


def summary(case: str, preset: str, steps: int, runs: list[dict], seconds_key="seconds") -> dict:
    return {"case": case, "preset": preset, "steps": steps,
            "seconds": median_of(runs, seconds_key), "peak_mb": median_of(runs, "peak_mb"),
            "runs": [{"seconds": run[seconds_key], "peak_mb": run["peak_mb"]} for run in runs],
            "note": runs[-1].get("note", "")}


def measure_size(preset: str, steps: int, repeat: int, verify: float | None, check_rows: bool,
                 folder: Path) -> tuple[list[dict], dict]:
    """Every case at one size; `verify` is verify's memory cap in GB, None to skip it."""
    book, cells = folder / f"{preset}-{steps}.xlsx", folder / f"{preset}-{steps}.cells"
    a_out, b_out = folder / f"{preset}-{steps}-a.xlsx", folder / f"{preset}-{steps}-b.xlsx"
    say(f"{preset} {steps:,}: generate")
    generate = [run_cli(["generate", preset, "--steps", str(steps), "-o", str(book), "--force"])
                for _ in range(repeat)]
    say(f"{preset} {steps:,}: computing the baselines' cells (not timed)")
    write_cells(preset, steps, cells)
    say(f"{preset} {steps:,}: baseline A")
    a = [run_baseline("a", cells, a_out) for _ in range(repeat)]
    say(f"{preset} {steps:,}: baseline B")
    b = [run_baseline("b", cells, b_out) for _ in range(repeat)]
    say(f"{preset} {steps:,}: engine")
    engine = [run_engine(preset, steps) for _ in range(repeat)]
    for run in engine:
        run["note"] = "compiled" if run["compiled"] else "Python"
    say(f"{preset} {steps:,}: trace")
    with open(os.devnull, "wb") as null:
        trace = [run_cli(["trace", preset, "--steps", str(steps)], stdout=null)
                 for _ in range(repeat)]
    rows = [summary("generate", preset, steps, generate),
            summary("baseline A", preset, steps, a, "write_seconds"),
            summary("baseline B", preset, steps, b, "write_seconds"),
            summary("engine", preset, steps, engine, "engine_seconds"),
            summary("trace", preset, steps, trace)]
    if verify:
        say(f"{preset} {steps:,}: verify")
        rows.append(summary("verify", preset, steps,
                            [run_verify(book, verify) for _ in range(repeat)]))
    else:
        rows.append({"case": "verify", "preset": preset, "steps": steps, "seconds": None,
                     "peak_mb": None, "runs": [], "note": "skipped (--no-verify)"})
    checks = {}
    if check_rows:
        with cells.open("rb") as stream:
            width = len(marshal.load(stream)[1])
        checks = first_row_check(book, {"baseline A": a_out, "baseline B": b_out}, width)
    for path in (book, cells, a_out, b_out):
        path.unlink(missing_ok=True)
    return rows, checks


def measure_verify_case(preset: str, steps: int, repeat: int, verify: float,
                        folder: Path) -> list[dict]:
    """generate and verify of one workbook of VERIFY_CASES, for their ratio."""
    book = folder / f"{preset}-{steps}.xlsx"
    say(f"{preset} {steps:,}: generate, then verify")
    generate = [run_cli(["generate", preset, "--steps", str(steps), "-o", str(book), "--force"])
                for _ in range(repeat)]
    verified = [run_verify(book, verify) for _ in range(repeat)]
    book.unlink(missing_ok=True)
    return [summary("generate", preset, steps, generate),
            summary("verify", preset, steps, verified)]


def add_ratios(rows: list[dict]) -> None:
    """Each row's time over baselines A and B of the same preset and size (where measured), and
    verify's over generate's."""
    def same(case: str, row: dict) -> dict | None:
        return next((r for r in rows if r["case"] == case and r["preset"] == row["preset"]
                     and r["steps"] == row["steps"]), None)

    for row in rows:
        if row["seconds"] is None:
            continue
        for name in ("A", "B"):
            base = same(f"baseline {name}", row)
            if base:
                row[f"ratio_{name}"] = row["seconds"] / base["seconds"]
        if row["case"] == "verify":
            row["ratio_generate"] = row["seconds"] / same("generate", row)["seconds"]


# --- the targets -------------------------------------------------------------------------


def find(rows: list[dict], case: str, preset: str | None = None) -> list[dict]:
    return sorted((r for r in rows if r["case"] == case and preset in (None, r["preset"])),
                  key=lambda r: r["steps"])


def flat(rows: list[dict]) -> bool:
    return rows[-1]["peak_mb"] <= FLAT * rows[0]["peak_mb"]


def targets(rows: list[dict], presets: list[str]) -> list[tuple[str, bool | None]]:
    """(statement with the numbers, met?) per target; None when not measured."""
    # the sizes measured against the baselines (not the extra workbooks of VERIFY_CASES)
    generate = [r for r in find(rows, "generate") if "ratio_A" in r]
    if not generate:  # --only-verify
        return verify_targets(rows)
    lines = [(f"generate within {GENERATE_VS_A}x of baseline A at every size: ratios "
              + ", ".join(f"{r['preset']} {r['steps']:,} {r['ratio_A']:.2f}" for r in generate),
              all(r["ratio_A"] <= GENERATE_VS_A for r in generate))]

    largest = [r for r in generate if r["steps"] == LARGEST]
    if largest:
        lines.append((f"generate's peak memory under {PEAK_MB} MB at {LARGEST:,} steps: "
                      + ", ".join(f"{r['preset']} {r['peak_mb']:.0f} MB" for r in largest),
                      all(r["peak_mb"] < PEAK_MB for r in largest)))
    else:
        lines.append((f"generate's peak memory under {PEAK_MB} MB at {LARGEST:,} steps: not "
                      f"measured (run with --largest)", None))
    by_preset = {p: [r for r in generate if r["preset"] == p] for p in presets}
    lines.append(("generate's peak memory flat as steps grow (largest size within "
                  f"{FLAT - 1:.0%} of the smallest): "
                  + ", ".join(f"{p} " + " -> ".join(f"{r['peak_mb']:.0f}" for r in rs) + " MB"
                              for p, rs in by_preset.items()),
                  all(flat(rs) for rs in by_preset.values()) if all(len(rs) > 1 for rs in
                                                                     by_preset.values()) else None))

    engines = find(rows, "engine")
    seconds = {(g["preset"], g["steps"]): g["seconds"] for g in generate}
    share = {(e["preset"], e["steps"]): e["seconds"] / seconds[e["preset"], e["steps"]]
             for e in engines}
    lines.append((f"the engine under {ENGINE_SHARE:.0%} of generate's time at every size: "
                  + ", ".join(f"{p} {s:,} {v:.0%}" for (p, s), v in share.items()),
                  all(v < ENGINE_SHARE for v in share.values())))

    lines += verify_targets(rows)
    lines.append(trace_million(rows))
    return lines


def verify_targets(rows: list[dict]) -> list[tuple[str, bool]]:
    """verify of VERIFY_CASES within VERIFY_VS_GENERATE times generate; every verify agreeing."""
    verified = [r for r in find(rows, "verify") if r["seconds"] is not None]
    cases = sorted((r for r in verified if (r["preset"], r["steps"]) in VERIFY_CASES),
                   key=lambda r: VERIFY_CASES.index((r["preset"], r["steps"])))
    lines = []
    if cases:
        lines.append((f"verify within {VERIFY_VS_GENERATE:g}x generate: "
                      + ", ".join(f"{r['preset']} {r['steps']:,} {r['ratio_generate']:.2f}x "
                                  f"({r['seconds']:.2f} s)" for r in cases),
                      all(r["ratio_generate"] <= VERIFY_VS_GENERATE for r in cases)))
    if verified:
        lines.append(("verify: every workbook's cells agree with the engine, the layout and "
                      "`formulas`: " + ", ".join(f"{r['preset']} {r['steps']:,} {r['note']}"
                                                  for r in verified),
                      all(r["note"] == "all cells agree" for r in verified)))
    return lines


def trace_million(rows: list[dict]) -> tuple[str, bool]:
    """The seed trace of 1,000,000 steps, measured, its memory against a shorter run's."""
    shorter, million = (next(r for r in rows if r["case"] == "trace (seed)" and r["steps"] == steps)
                      for steps in MILLION_TRACE)
    constant = million["peak_mb"] <= FLAT * shorter["peak_mb"]
    return (f"trace of 1,000,000 seed steps under {TRACE_MILLION_SECONDS:g} s in constant memory: "
            f"{million['seconds']:.2f} s, peak {million['peak_mb']:.0f} MB ({shorter['peak_mb']:.0f} MB "
            f"at {shorter['steps']:,} steps{'' if constant else ', not constant'})",
            million["seconds"] < TRACE_MILLION_SECONDS and constant)


# --- output ---------------------------------------------------------------------------------------


def say(text: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {text}", file=sys.stderr, flush=True)


def table(rows: list[dict]) -> str:
    header = ("case", "preset", "steps", "seconds", "peak MB", "x A", "x B", "x gen", "")
    lines = [(r["case"], r["preset"], f"{r['steps']:,}" if r["steps"] else "",
              "" if r["seconds"] is None else f"{r['seconds']:.2f}",
              "" if r["peak_mb"] is None else f"{r['peak_mb']:.0f}",
              *(f"{r[key]:.2f}" if key in r else ""
                for key in ("ratio_A", "ratio_B", "ratio_generate")), r["note"]) for r in rows]
    widths = [max(len(row[i]) for row in (header, *lines)) for i in range(len(header))]
    right = {2, 3, 4, 5, 6, 7}
    return "\n".join("  ".join(cell.rjust(w) if i in right else cell.ljust(w)
                               for i, (cell, w) in enumerate(zip(row, widths))).rstrip()
                     for row in (header, tuple("-" * w for w in widths), *lines))


def machine() -> dict:
    revision = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT,
                              capture_output=True, text=True).stdout.strip()
    # GIT_OPTIONAL_LOCKS=0: git status must not refresh (write) the index.
    dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=ROOT,
                           capture_output=True, text=True,
                           env={**os.environ, "GIT_OPTIONAL_LOCKS": "0"}).stdout.strip()
    return {"date": datetime.date.today().isoformat(), "python": platform.python_version(),
            "machine": platform.machine(), "cpus": os.cpu_count(),
            "load_average": os.getloadavg(), "git": revision + (" (modified)" if dirty else "")}


def arguments():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3,
                        help="runs per measurement, median reported (default 3; 1 at the largest size)")
    parser.add_argument("--largest", action="store_true",
                        help=f"also measure {LARGEST:,} steps (hours for mazur)")
    parser.add_argument("--no-verify", dest="verify", action="store_false",
                        help="skip verify")
    parser.add_argument("--only-verify", action="store_true",
                        help="measure only generate and verify of the verify target's workbooks "
                             "(seed 300 and 10,000 steps, mazur 10,000, xor 600)")
    parser.add_argument("--verify-memory", type=float, default=12, metavar="GB",
                        help="cap on verify's address space, in GB (default 12)")
    parser.add_argument("--sizes", type=int, nargs="+", default=list(SIZES),
                        help="step counts (default: 10000 100000)")
    parser.add_argument("--presets", nargs="+", default=list(PRESETS), help="default: seed mazur")
    parser.add_argument("--json", type=Path, default=ROOT / "benchmarks" / "results.json",
                        help="where to write the results (default benchmarks/results.json)")
    parser.add_argument("--child", nargs=3, metavar=("KIND", "CELLS", "OUT"), help=argparse.SUPPRESS)
    return parser.parse_args()


def main():
    args = arguments()
    if args.child:
        kind, first, second = args.child
        if kind == "engine":
            engine_child(first, int(second))
        else:
            child(kind, Path(first), Path(second))
        return
    if not os.access(TIME, os.X_OK):
        raise SystemExit(f"needs GNU time at {TIME} to measure peak memory (apt-get install time)")
    sizes = sorted(set(args.sizes) | ({LARGEST} if args.largest else set()))
    info = {**machine(), "repeat": args.repeat}
    say(f"python {info['python']}, {info['cpus']} CPUs, load average "
        f"{', '.join(f'{x:.2f}' for x in info['load_average'])}, git {info['git']}")
    # numba compiles the engine once a machine (some 15 s and 230 MB) and caches it: a one-off,
    # which the first compiled case would otherwise carry.
    say("warming numba's cache (not timed)")
    subprocess.run([sys.executable, "-c", WARM_UP], check=True)
    rows, checks = [], {}
    if not args.only_verify:
        startup = [run_cli(["presets"]) for _ in range(args.repeat)]
        rows.append(summary("startup (presets)", "", 0, startup))
        with open(os.devnull, "wb") as null:
            for steps in MILLION_TRACE:
                say(f"trace seed {steps:,}")
                rows.append(summary("trace (seed)", "seed", steps, [
                    run_cli(["trace", "seed", "--steps", str(steps)], stdout=null)
                    for _ in range(args.repeat)]))
    with tempfile.TemporaryDirectory(prefix="backprop_xl-bench-") as folder:
        for preset in [] if args.only_verify else args.presets:
            for index, steps in enumerate(sizes):
                repeat = 1 if steps >= LARGEST else args.repeat
                verify = args.verify_memory if args.verify else None
                measured, checked = measure_size(preset, steps, repeat, verify, index == 0,
                                                 Path(folder))
                rows += measured
                checks.update({f"{name} {preset} {steps}": same for name, same in checked.items()})
                save(args.json, info, rows, checks)  # so far: a long run may be interrupted
        measured = {(r["preset"], r["steps"]) for r in rows if r["case"] == "verify"
                    and r["seconds"] is not None}
        for preset, steps in VERIFY_CASES if args.verify or args.only_verify else ():
            if (preset, steps) not in measured:
                rows += measure_verify_case(preset, steps, args.repeat, args.verify_memory,
                                            Path(folder))
                save(args.json, info, rows, checks)
    add_ratios([r for r in rows if r["case"] not in ("startup (presets)", "trace (seed)")])
    info["git_at_end"] = machine()["git"]  # others may commit while a long run goes on
    lines = targets(rows, args.presets)
    report(args, info, rows, checks, lines)
    save(args.json, info, rows, checks, lines)
    print(f"wrote {args.json}")


def save(path: Path, info: dict, rows: list[dict], checks: dict, lines=None) -> None:
    """The results as JSON; without `lines` (the targets), a run still going on."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({
        "machine": info, "complete": lines is not None, "results": rows,
        "targets": [{"statement": s, "met": m} for s, m in lines or ()],
        "first_row_checks": checks}, indent=2) + "\n", encoding="utf-8")


def report(args, info: dict, rows: list[dict], checks: dict, lines) -> None:
    git = info["git"] + ("" if info["git_at_end"] == info["git"] else f" to {info['git_at_end']}")
    print(f"{info['date']}, python {info['python']}, {info['cpus']} CPUs, git {git}, "
          f"median of {args.repeat} run(s) (1 at {LARGEST:,} steps)")
    print(table(rows))
    print()
    for statement, met in lines:
        print(f"[{'met' if met else 'NOT met' if met is False else 'not measured'}] {statement}")
    for name, same in checks.items():
        print(f"openpyxl reads {name}: first step row {'the same' if same else 'DIFFERENT'}"
              " as the generated workbook's")


if __name__ == "__main__":
    main()
