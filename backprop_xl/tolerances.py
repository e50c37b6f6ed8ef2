"""How closely two computations of the same number must agree to count as the same: the engine's
and a workbook's cached value, two evaluators', two machines'. The last digits of exp and log
differ between CPUs, numpy builds and spreadsheet applications, so equality is never asked for.

- A quantity agrees to RELATIVE (or ABSOLUTE near 0).
- A finite difference divides rounding noise by 2h: it agrees to FINITE_DIFFERENCE_RELATIVE
  (or FINITE_DIFFERENCE_ABSOLUTE).
- A relative difference between a gradient and its finite difference divides that noise by the
  larger of the two, the scale: it agrees to RELATIVE_DIFFERENCE_ABSOLUTE plus the finite
  difference's noise over the scale (relative_difference_tolerance). Near a minimum, where the
  gradient is 1e-16, it is noise anywhere from 0 to 2; a wrong gradient's is about 0.3.
"""

from __future__ import annotations

import math

RELATIVE = 1e-9
ABSOLUTE = 1e-13
FINITE_DIFFERENCE_RELATIVE = 1e-6
FINITE_DIFFERENCE_ABSOLUTE = 1e-10
RELATIVE_DIFFERENCE_ABSOLUTE = 1e-4
# A workbook written here against one written on another machine (regenerate --check): numbers
# near 0 built from exp and log (a gradient of 1e-12) keep only their first digits alike.
ACROSS_MACHINES_ABSOLUTE = 1e-9


def relative_difference_tolerance(scale: float | None) -> float:
    """The absolute tolerance of a relative difference whose gradient and finite difference are
    at most `scale` in size (None: not known, no bound)."""
    if scale is None:
        return math.inf
    noise = FINITE_DIFFERENCE_RELATIVE + FINITE_DIFFERENCE_ABSOLUTE / scale if scale > 0 else 0.0
    return RELATIVE_DIFFERENCE_ABSOLUTE + noise
