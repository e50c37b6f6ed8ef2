from __future__ import annotations

import os

import pytest

from backprop_xl import libreoffice_setup
from backprop_xl.errors import UserError
from backprop_xl.presets import preset
from recalc import soffice


@pytest.fixture
def seed():
    return preset("seed")


def office_missing() -> str | None:
    """Why LibreOffice cannot run here (no soffice, or no Python with its UNO bridge), or None."""
    if not soffice():
        return "LibreOffice (soffice) is not installed"
    try:
        libreoffice_setup.office_python(soffice())
    except UserError as error:
        return str(error)
    return None


def pytest_collection_modifyitems(config, items):
    # In CI the LibreOffice tests must run: a missing soffice is a failure there, not a skip.
    missing = office_missing()
    if not missing or os.environ.get("CI") == "true":
        return
    skip = pytest.mark.skip(reason=missing)
    for item in items:
        if "libreoffice" in item.keywords:
            item.add_marker(skip)
