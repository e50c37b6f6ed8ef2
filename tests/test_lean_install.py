"""The default install: every command a student runs works without backprop_xl's extras
(pyproject.toml: numba for "fast", formulas for "verify", xlwings for "excel") and without what
they and the test tools bring. Each command runs in a fresh Python that cannot import any of them,
as after `pip install .`; its files are compared with what this, the full, environment writes.
A command that truly needs an extra (xlwings-setup) says in one line what to install."""

import subprocess
import sys
import textwrap

import numpy as np
import openpyxl

from backprop_xl import kernels
from backprop_xl.cli import main
from backprop_xl.presets import preset

from helpers import disagrees, tamper

# What `pip install '.[test]'` puts beside the default install (top-level import names, measured
# with pip on Python 3.11; docs/performance.md, "Install size"): none of it is there for a student.
ABSENT = frozenset({
    "numba", "llvmlite",  # fast
    "formulas", "schedula", "scipy", "regex", "dateutil", "tzdata", "tqdm", "numpy_financial",
    "xlwings",  # excel (on Windows also pywin32, on macOS psutil and appscript)
    "pytest", "_pytest", "pluggy", "iniconfig", "hypothesis", "sortedcontainers", "autograd",
    "pygments", "packaging",  # test
})

# A Python that finds none of ABSENT: a finder ahead of all others answers each as not installed.
LEAN = textwrap.dedent(f"""
    import sys

    ABSENT = {sorted(ABSENT)!r}


    class Absent:
        @staticmethod
        def find_spec(name, path=None, target=None):
            if name.partition(".")[0] in ABSENT:
                raise ModuleNotFoundError(f"No module named {{name!r}}", name=name)
            return None


    early = sorted(set(ABSENT) & {{name.partition(".")[0] for name in sys.modules}})
    assert not early, f"imported at startup: {{early}}"
    sys.meta_path.insert(0, Absent())
""")
COMMAND = LEAN + "from backprop_xl.cli import main\nsys.exit(main(sys.argv[1:]))\n"


def lean(folder, *args) -> tuple[int, str, str]:
    """`backprop-xl ARGS` run in `folder` by a Python without the extras."""
    done = subprocess.run([sys.executable, "-c", COMMAND, *map(str, args)], cwd=folder,
                          capture_output=True, text=True, timeout=600)
    assert "Traceback" not in done.stderr, done.stderr
    return done.returncode, done.stdout, done.stderr


def full(capsys, *args) -> tuple[int, str, str]:
    """`backprop-xl ARGS` run here, with every extra."""
    status = main([str(arg) for arg in args])
    out, err = capsys.readouterr()
    return status, out, err


def steps_in(path) -> list:
    book = openpyxl.load_workbook(path, read_only=True)
    try:
        return [row[0] for row in book["Steps"].iter_rows(min_row=2, max_col=1, values_only=True)
                if row[0] is not None]
    finally:
        book.close()


def test_the_lean_python_finds_none_of_the_extras_but_backprop_xl():
    for name in ("numba", "formulas", "xlwings", "scipy.special", "pytest"):
        done = subprocess.run([sys.executable, "-c", LEAN + f"import {name}\n"],
                              capture_output=True, text=True)
        assert done.returncode == 1
        top = name.partition(".")[0]
        assert done.stderr.splitlines()[-1] == f"ModuleNotFoundError: No module named '{top}'"
    done = subprocess.run([sys.executable, "-c", LEAN + "import backprop_xl.cli\n"],
                          capture_output=True, text=True)
    assert done.returncode == 0, done.stderr


def same_file(folder, capsys, *args, output: str) -> None:
    """`backprop-xl ARGS --output OUTPUT` writes the same bytes without the extras as with them."""
    status, _, err = lean(folder, *args, "--output", output)
    assert status == 0, err
    full_output = folder / f"full-{output}"
    assert full(capsys, *args, "--output", full_output)[0] == 0
    assert (folder / output).read_bytes() == full_output.read_bytes()
    full_output.unlink()


def test_generate_spec_and_regenerate_write_what_the_full_install_writes(tmp_path, capsys):
    status, _, err = lean(tmp_path, "generate")
    assert status == 0 and "seed.xlsx" in err
    assert full(capsys, "generate", "-o", tmp_path / "full.xlsx")[0] == 0
    assert (tmp_path / "seed.xlsx").read_bytes() == (tmp_path / "full.xlsx").read_bytes()
    (tmp_path / "full.xlsx").unlink()
    same_file(tmp_path, capsys, "generate", "mazur", "--steps", 40, output="mazur.xlsx")
    same_file(tmp_path, capsys, "spec", "xor", output="xor.toml")

    assert lean(tmp_path, "regenerate", "seed.xlsx", "--steps", 50, "--no-backup")[0] == 0
    assert steps_in(tmp_path / "seed.xlsx") == list(range(1, 51))
    status, out, err = lean(tmp_path, "regenerate", ".", "--check")
    assert status == 0, out + err
    assert lean(tmp_path, "presets")[0] == 0
    assert lean(tmp_path, "--help")[0] == 0


def test_verify_checks_layout_and_engine_and_says_in_one_line_what_it_skipped(tmp_path, capsys):
    book = tmp_path / "seed.xlsx"
    assert lean(tmp_path, "generate", "--steps", 20)[0] == 0
    status, out, err = lean(tmp_path, "verify", book.name)
    assert status == 0, out + err
    assert "all cells agree" in out + err
    skipped = [line for line in (out + err).splitlines() if "formulas" in line]
    assert len(skipped) == 1, out + err  # the evaluator's check, and what installs it
    assert "[verify]" in skipped[0], skipped

    # without the evaluator, the other checks still catch a tampered value and a tampered formula
    tamper(book, "E5", rb"<v>[^<]*</v>", b"<v>0.5</v>")
    tamper(book, "I7", rb"<f>[^<]*</f>", b"<f>F7*G7</f>")
    status, out, err = lean(tmp_path, "verify", book.name)
    assert status == 1, out + err
    assert disagrees(out, "E5", "engine") and disagrees(out, "I7", "layout")


def test_a_trace_long_enough_to_compile_runs_without_numba(tmp_path):
    steps = 800_000
    assert kernels.worth_compiling(preset("seed").with_overrides(steps=steps))  # numba, here
    status, _, err = lean(tmp_path, "trace", "--steps", steps, "-o", "lean.csv")
    assert status == 0, err
    subprocess.run([sys.executable, "-m", "backprop_xl", "trace", "--steps", str(steps), "-o",
                    "compiled.csv"], cwd=tmp_path, check=True, capture_output=True)
    with open(tmp_path / "lean.csv") as file:
        assert file.readline() == "step,loss,w1_1_1,grad_w1_1_1\n"
    python, compiled = (np.loadtxt(tmp_path / name, delimiter=",", skiprows=1)
                        for name in ("lean.csv", "compiled.csv"))
    assert python.shape == (steps, 4)
    assert (python[:, 0] == np.arange(1, steps + 1)).all()
    assert list(python[0, 1:].round(6)) == [0.072106, 0.8, 0.143307]  # the lesson's first step
    np.testing.assert_allclose(python, compiled, rtol=1e-12, atol=0)  # numba's run, step by step


def test_the_libreoffice_files_and_convert_functions_need_no_extra(tmp_path, capsys):
    same_file(tmp_path, capsys, "libreoffice-setup", output="backprop_xl.oxt")
    status, _, err = lean(tmp_path, "libreoffice-setup", "--demo", "demo.xlsx")
    assert status == 0, err
    assert full(capsys, "libreoffice-setup", "--demo", tmp_path / "demo-full.xlsx")[0] == 0
    assert (tmp_path / "demo.xlsx").read_bytes() == (tmp_path / "demo-full.xlsx").read_bytes()
    status, _, err = lean(tmp_path, "convert-functions", "demo.xlsx", "--to", "excel")
    assert status == 0, err
    assert (tmp_path / "demo-excel.xlsx").is_file()


def test_xlwings_setup_says_in_one_line_to_install_the_excel_extra(tmp_path):
    status, out, err = lean(tmp_path, "xlwings-setup", "excel")
    assert status == 2 and out == ""
    assert len(err.splitlines()) == 1 and "backprop_xl[excel]" in err, err
    assert list(tmp_path.iterdir()) == []
