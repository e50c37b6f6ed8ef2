"""The tests' view of backprop_xl.recalc: the `formulas` results are remembered per file content
and inputs, since the evaluator is slow on long formulas and several tests recompute one file."""

from __future__ import annotations

import hashlib
from pathlib import Path

from backprop_xl.recalc import cells, formula_cells, libreoffice_convert, libreoffice_recalc
from backprop_xl.recalc import libreoffice_recalc_many, soffice

__all__ = ["cells", "formula_cells", "formulas_recalc", "libreoffice_convert",
           "libreoffice_recalc", "libreoffice_recalc_many", "soffice"]
from backprop_xl.recalc import formulas_recalc as _formulas_recalc

_remembered: dict = {}


def formulas_recalc(path: Path, inputs: dict[str, float] | None = None,
                    sheet: str = "Steps") -> dict[str, object]:
    path = Path(path)
    key = (hashlib.sha256(path.read_bytes()).hexdigest(), path.name,
           tuple(sorted((inputs or {}).items())), sheet)
    if key not in _remembered:
        _remembered[key] = _formulas_recalc(path, inputs, sheet)
    return dict(_remembered[key])
