"""Drives LibreOffice Calc for the tests, run by LibreOffice's own Python (it imports uno):
one headless LibreOffice on a throwaway profile, commands as JSON lines on stdin, one JSON line
of answer each on stdout. tests/calc.py starts it and wraps the commands.

    {"op": "new"}                                      a new spreadsheet document
    {"op": "load", "path": P}                          open a file
    {"op": "cells", "cells": {"A1": 1.5, "B1": "=F()", "C1": "text", "D1": null}}
                                                       fill cells: a number, a formula, text
                                                       (even "1.5" stays text), null empties one
    {"op": "array", "range": "E1:F2", "formula": F}    an array formula over a range
    {"op": "calculate"}                                recalculate every formula (hard)
    {"op": "read", "range": "A1:F2"}                   the values: rows of numbers, text, null
                                                       for an empty cell, {"error": N} for Err:N
    {"op": "formulas", "range": "A1:F2"}               the formulas as Calc shows them
    {"op": "store", "path": P, "filter": F}            save a copy ("calc8", "Calc Office Open XML")
    {"op": "close"}                                    close the document
    {"op": "install", "path": OXT} / {"op": "remove", "identifier": I}
    {"op": "functions"}                                the Function Wizard's texts of BP_ functions
"""

import json
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), os.pardir,
                                "backprop_xl", "extension"))
import office  # noqa: E402
import uno  # noqa: E402

FORMULA_ERROR = 4  # com.sun.star.sheet.FormulaResult.ERROR


def values(sheet, address):
    """The range's values in a few calls (a call a cell takes minutes for large tables): numbers
    and text from getDataArray, then each empty cell as None and each error as {"error": N}."""
    block = sheet.getCellRangeByName(address)
    top = block.getRangeAddress()
    rows = [list(row) for row in block.getDataArray()]
    for query, mark in ((block.queryEmptyCells(), None),
                        (block.queryFormulaCells(FORMULA_ERROR), "error")):
        for found in query.getRangeAddresses():
            for row in range(found.StartRow, found.EndRow + 1):
                for column in range(found.StartColumn, found.EndColumn + 1):
                    rows[row - top.StartRow][column - top.StartColumn] = None if mark is None \
                        else {"error": sheet.getCellByPosition(column, row).getError()}
    return rows


def main(soffice, profile):
    document = None
    with office.Office(soffice, profile) as session:
        for line in sys.stdin:
            command = json.loads(line)
            op = command["op"]
            sheet = document.Sheets.getByIndex(0) if document is not None else None
            answer = None
            if op in ("new", "load"):
                url = ("private:factory/scalc" if op == "new" else
                       uno.systemPathToFileUrl(os.path.abspath(command["path"])))
                document = session.desktop.loadComponentFromURL(
                    url, "_blank", 0, office.properties(Hidden=True))
            elif op == "cells":
                for address, content in command["cells"].items():
                    cell = sheet.getCellRangeByName(address)
                    if content is None:
                        cell.setString("")
                    elif isinstance(content, str) and content.startswith("="):
                        cell.setFormula(content)
                    elif isinstance(content, str):
                        cell.setString(content)
                    else:
                        cell.setValue(content)
            elif op == "array":
                sheet.getCellRangeByName(command["range"]).setArrayFormula(command["formula"])
            elif op == "calculate":
                document.calculateAll()
            elif op == "read":
                answer = values(sheet, command["range"])
            elif op == "formulas":
                answer = [list(row) for row in
                          sheet.getCellRangeByName(command["range"]).getFormulaArray()]
            elif op == "store":
                document.storeToURL(uno.systemPathToFileUrl(os.path.abspath(command["path"])),
                                    office.properties(FilterName=command["filter"]))
            elif op == "close":
                document.close(True)
                document = None
            elif op == "install":
                answer = office.install(session, command["path"])
            elif op == "remove":
                answer = office.remove(session, command["identifier"])
            elif op == "functions":
                answer = wizard_texts(session)
            else:
                raise ValueError("unknown op %r" % op)
            print(json.dumps({"ok": answer}), flush=True)
        if document is not None:
            document.close(True)


def wizard_texts(session):
    """What Calc's Function Wizard shows of each BP_ function: its description and arguments."""
    descriptions = session.context.ServiceManager.createInstanceWithContext(
        "com.sun.star.sheet.FunctionDescriptions", session.context)
    found = {}
    for index in range(descriptions.getCount()):
        entry = {item.Name: item.Value for item in descriptions.getByIndex(index)}
        if entry["Name"].startswith("BP_"):
            found[entry["Name"]] = {
                "description": entry["Description"],
                "arguments": [[a.Name, a.Description, a.IsOptional] for a in entry["Arguments"]]}
    return found


if __name__ == "__main__":
    try:
        main(sys.argv[1], sys.argv[2])
    except Exception as error:
        print(json.dumps({"failed": "%s: %s" % (type(error).__name__, error)}), flush=True)
        raise
