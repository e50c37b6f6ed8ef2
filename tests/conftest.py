import os

import pytest

from backprop_xl.presets import preset
from recalc import soffice


@pytest.fixture
def seed():
    return preset("seed")


def pytest_collection_modifyitems(config, items):
    # In CI the LibreOffice tests must run: a missing soffice is a failure there, not a skip.
    if soffice() or os.environ.get("CI") == "true":
        return
    skip = pytest.mark.skip(reason="LibreOffice (soffice) is not installed")
    for item in items:
        if "libreoffice" in item.keywords:
            item.add_marker(skip)
