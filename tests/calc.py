"""LibreOffice Calc with backprop_xl's add-in, for the tests: a throwaway profile, the extension
installed by `backprop-xl libreoffice-setup` as a user would, and tests/calc_driver.py (run by
LibreOffice's Python) typing formulas into cells and reading back what Calc computed."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from backprop_xl import libreoffice_setup
from backprop_xl.recalc import calculation_environment

DRIVER = Path(__file__).resolve().parent / "calc_driver.py"


class Calc:
    """One headless LibreOffice on `profile`, driven a command at a time."""

    def __init__(self, profile: Path, threaded: bool = False):
        soffice = libreoffice_setup.soffice()
        environment = calculation_environment(threaded)
        self.process = subprocess.Popen(
            [libreoffice_setup.office_python(soffice), str(DRIVER), soffice, str(profile)],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env=environment)

    def __call__(self, op: str, **arguments):
        self.process.stdin.write(json.dumps({"op": op, **arguments}) + "\n")
        self.process.stdin.flush()
        line = self.process.stdout.readline()
        if not line:
            raise RuntimeError(f"the Calc driver ended during {op!r}")
        answer = json.loads(line)
        if "failed" in answer:
            raise RuntimeError(answer["failed"])
        return answer["ok"]

    def close(self):
        self.process.stdin.close()
        self.process.wait(120)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def setup(*arguments: str, profile: Path, environment: dict | None = None
          ) -> subprocess.CompletedProcess:
    """`backprop-xl libreoffice-setup ARGUMENTS --profile PROFILE`, as a user runs it."""
    return subprocess.run([sys.executable, "-m", "backprop_xl", "libreoffice-setup", *arguments,
                           "--profile", str(profile)], capture_output=True, text=True,
                          env=environment)
