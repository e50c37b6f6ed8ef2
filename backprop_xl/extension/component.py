"""backprop_xl's BP_ functions as a LibreOffice Calc add-in: the UNO component of the extension
that `backprop-xl libreoffice-setup` builds.

LibreOffice's Python loader runs this file, not the package: it reads environment.json beside it
(written by libreoffice-setup: the names of the implementation, its interface and its
functions, and where that Python environment keeps
backprop_xl and its dependencies), puts those folders first on sys.path and hands every call to
backprop_xl.calc, which adapts LibreOffice's values to udfs.py. backprop_xl is imported at the
first call, not when LibreOffice loads the component, so that when it cannot be imported the cell
says why instead of the function going missing.
"""

import json
import os
import sys

import uno
import unohelper

HERE = os.path.dirname(os.path.abspath(__file__))

with open(os.path.join(HERE, "environment.json"), encoding="utf-8") as file:
    ENVIRONMENT = json.load(file)

XFunctions = uno.getClass(ENVIRONMENT["interface"])  # declared in the extension's types.rdb

WHY_LENGTH = 200  # of the import error in the cell's message: numpy's runs to a page
_calc = None


def _load():
    """backprop_xl.calc, imported once from the recorded environment."""
    global _calc
    if _calc is None:
        for path in reversed(ENVIRONMENT["paths"]):
            if path not in sys.path:
                sys.path.insert(0, path)
        from backprop_xl import calc
        _calc = calc
    return _calc


def _cannot_load(error):
    """One line saying what is missing: the Pythons first when they differ (the usual cause:
    numpy's compiled parts load only in the version they were built for)."""
    here = "%d.%d" % sys.version_info[:2]
    there = "%d.%d" % tuple(ENVIRONMENT["python"])
    why = " ".join(("%s: %s" % (type(error).__name__, error)).split())
    if len(why) > WHY_LENGTH:
        why = why[:WHY_LENGTH - 3] + "..."
    if here != there:
        return ENVIRONMENT["error_prefix"] + (
            "cannot load backprop_xl: LibreOffice runs Python %s, the environment %s is Python "
            "%s; run backprop-xl libreoffice-setup from a Python %s environment (%s)" % (
                here, ENVIRONMENT["environment"], there, here, why))
    return ENVIRONMENT["error_prefix"] + (
        "cannot load backprop_xl from %s (%s); run backprop-xl libreoffice-setup from an "
        "environment where it is installed" % (ENVIRONMENT["environment"], why))


def _function(name):
    def function(self, *arguments):
        try:
            calc = _load()
        except Exception as error:  # a missing or broken environment: say so in the cell
            return ((_cannot_load(error),),)
        return calc.call(name, arguments)

    function.__name__ = name
    return function


class Functions(unohelper.Base, XFunctions):
    def __init__(self, context):
        self.context = context


for _name in ENVIRONMENT["functions"]:
    setattr(Functions, _name, _function(_name))

g_ImplementationHelper = unohelper.ImplementationHelper()
g_ImplementationHelper.addImplementation(Functions, ENVIRONMENT["implementation"],
                                        ("com.sun.star.sheet.AddIn",))
