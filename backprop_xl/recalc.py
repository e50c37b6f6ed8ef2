"""Independent recalculation of a workbook, for `verify` and the tests: the `formulas` evaluator
and LibreOffice Calc. Neither shares code with backprop_xl's engine or layout; both read the .xlsx
as any other program would. This module is only the plumbing that runs them and reads results."""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from pathlib import Path

import openpyxl

# Force LibreOffice to recalculate every formula on load instead of trusting cached values.
RECALC_PROFILE = """<?xml version="1.0" encoding="UTF-8"?>
<oor:items xmlns:oor="http://openoffice.org/2001/registry"
           xmlns:xs="http://www.w3.org/2001/XMLSchema"
           xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">
<item oor:path="/org.openoffice.Office.Calc/Formula/Load">
<prop oor:name="OOXMLRecalcMode" oor:op="fuse"><value>0</value></prop></item>
</oor:items>
"""


def soffice() -> str | None:
    return shutil.which("soffice") or shutil.which("libreoffice")


def cells(path: Path, sheet: str = "Steps", data_only: bool = True) -> dict[str, object]:
    """Every non-empty cell of `sheet` as address -> value (cached values) or formula text."""
    book = openpyxl.load_workbook(path, data_only=data_only)
    return {cell.coordinate: cell.value for row in book[sheet].iter_rows() for cell in row
            if cell.value is not None}


def formula_cells(path: Path, sheet: str = "Steps") -> dict[str, str]:
    """Address -> formula text of every formula cell (not of text that merely starts with "=")."""
    book = openpyxl.load_workbook(path)
    return {cell.coordinate: cell.value for row in book[sheet].iter_rows() for cell in row
            if cell.data_type == "f"}


def formulas_recalc(path: Path, inputs: dict[str, float] | None = None,
                    sheet: str = "Steps") -> dict[str, object]:
    """Recalculate with the `formulas` package; `inputs` sets cells (address -> value) first."""
    import formulas  # slow to import; only verify and the tests need it

    path = Path(path)
    prefix = f"'[{path.name}]{sheet.upper()}'!"
    model = formulas.ExcelModel().loads(str(path)).finish()
    solution = model.calculate(inputs={prefix + a: v for a, v in (inputs or {}).items()})
    values = {}
    for key, ranges in solution.items():
        if key.startswith(prefix) and ":" not in key:
            value = ranges.value[0][0]
            values[key[len(prefix):]] = value.item() if hasattr(value, "item") else value
    return values


def calculation_environment(threaded: bool) -> dict[str, str]:
    """This process's environment for starting LibreOffice with its default multi-threaded
    calculation (`threaded`) or single-threaded (SC_NO_THREADED_CALCULATION=1)."""
    environment = dict(os.environ)
    if threaded:
        environment.pop("SC_NO_THREADED_CALCULATION", None)
    else:
        environment["SC_NO_THREADED_CALCULATION"] = "1"
    return environment


def libreoffice_recalc(path: Path, sheet: str = "Steps", threaded: bool = True
                       ) -> dict[str, object]:
    """Open `path` in LibreOffice Calc headless, recalculate everything, and read the results."""
    return libreoffice_recalc_many([path], sheet, threaded)[0]


def libreoffice_recalc_many(paths: list[Path], sheet: str = "Steps", threaded: bool = True
                            ) -> list[dict[str, object]]:
    """The same for several workbooks in one LibreOffice run (it takes seconds to start)."""
    with tempfile.TemporaryDirectory() as scratch:
        return [cells(saved, sheet)
                for saved in libreoffice_convert(paths, Path(scratch), "xlsx", threaded)]


def libreoffice_convert(paths: list[Path], folder: Path, to: str, threaded: bool = True
                        ) -> list[Path]:
    """Each workbook opened by LibreOffice Calc headless, every formula recalculated on loading,
    and saved as `to` (xlsx, pdf, html) in `folder`, in one LibreOffice run; the files written.
    `threaded`: with LibreOffice's default multi-threaded calculation, as its users run it (and
    as `verify --libreoffice` does); False: single-threaded (SC_NO_THREADED_CALCULATION=1)."""
    if not soffice():
        raise RuntimeError("LibreOffice (soffice) is not installed")
    stems = [Path(p).stem for p in paths]
    assert len(set(stems)) == len(stems), "LibreOffice names each output after its input"
    with tempfile.TemporaryDirectory() as scratch:
        profile = Path(scratch) / "profile"
        (profile / "user").mkdir(parents=True)
        (profile / "user" / "registrymodifications.xcu").write_text(RECALC_PROFILE)
        env = calculation_environment(threaded)
        subprocess.run(
            [soffice(), f"-env:UserInstallation=file://{profile}", "--headless",
             "--convert-to", to, "--outdir", str(folder), *map(str, paths)],
            check=True, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=600)
    return [Path(folder) / f"{stem}.{to}" for stem in stems]
