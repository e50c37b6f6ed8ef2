"""`backprop-xl libreoffice-setup`: the BP_ functions (udfs.py) as a LibreOffice Calc add-in.

Builds the extension, an .oxt zip, from the installed package and adds it to the user's
LibreOffice (or takes it out again, or only writes the file). What it holds:

    META-INF/manifest.xml   which file is what, for LibreOffice's extension manager
    description.xml         the extension's identifier, version and name
    types.rdb               the type library: the interface XFunctions, one method a function,
                            every argument of type `any` (so that each may be left out), every
                            result a matrix; built from idl() by the LibreOffice SDK's
                            unoidl-write and shipped in the package, so users need no SDK
    CalcAddIns.xcu          each function's name, description and argument texts for Calc's
                            Function Wizard, from udfs.FUNCTIONS: the same texts Excel shows
    component.py            the UNO component (extension/component.py)
    environment.json        what component.py needs to find this Python environment

Inside LibreOffice the functions run on LibreOffice's Python (on Linux the system's python3, with
the python3-uno bridge), which imports backprop_xl and numpy from the environment recorded here,
so that environment must be of the same Python version. Installing and removing go through
LibreOffice's own Python and its UNO bridge (extension/office.py): backprop_xl's environment has
no bridge.
"""

from __future__ import annotations

import io
import json
import os
import shutil
import site
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path
from xml.sax.saxutils import escape, quoteattr

from . import __version__, recalc, udfs
from .errors import UserError
from .files import atomic_output, check_writable

EXTENSION = Path(__file__).resolve().parent / "extension"
TYPES = EXTENSION / "types.rdb"
IDENTIFIER = "org.backprop_xl.functions"
# Calc writes an add-in function to .xlsx and .ods as IMPLEMENTATION.METHOD, upper-cased:
# BACKPROP_XL.BP_STEP(...).
IMPLEMENTATION = "backprop_xl"
MODULE = ("org", "backpropxl")  # UNO IDL allows no underscore in lower-case names
INTERFACE = "XFunctions"
CATEGORY = "Add-In"  # Calc's Function Wizard groups add-in functions under this fixed category
ZIP_DATE = (2026, 1, 1, 0, 0, 0)  # a fixed date: the same package gives the same bytes
OFFICE_SECONDS = 300  # for a LibreOffice start, an install or a removal
SDK = Path("/usr/lib/libreoffice/sdk/bin")  # Debian's libreoffice-dev: unoidl-write


# --- what the extension holds ------------------------------------------------------------------


def idl() -> str:
    """The UNO IDL of the functions' interface: the source of types.rdb."""
    methods = "\n".join(
        f"    sequence< sequence< any > > {function.name}("
        + ", ".join(f"[in] any {_idl_name(argument)}" for argument in function.arguments) + ");"
        for function in udfs.FUNCTIONS.values())
    opening = " ".join(f"module {name} {{" for name in MODULE)
    closing = " ".join("};" for _ in MODULE)
    return (f"// The BP_ functions of backprop_xl {__version__}, written by "
            f"backprop_xl.libreoffice_setup.idl()\n"
            f"#include <com/sun/star/uno/XInterface.idl>\n"
            f"{opening}\ninterface {INTERFACE} : com::sun::star::uno::XInterface {{\n"
            f"{methods}\n}};\n{closing}\n")


def _idl_name(argument: udfs.Argument) -> str:
    """The argument's name in the IDL, which allows no underscore in it: leakySlope."""
    first, *rest = argument.name.split("_")
    return first + "".join(word.capitalize() for word in rest)


def _text(name: str, text: str) -> str:
    return (f'<prop oor:name="{name}"><value xml:lang="en">{escape(text)}</value></prop>')


def calc_addins_xcu() -> str:
    """CalcAddIns.xcu: each function's display name, description, category and argument texts.
    CompatibilityName is the name Excel knows the function by (LibreOffice uses it where it maps
    add-in functions to Excel's names)."""
    functions = []
    for function in udfs.FUNCTIONS.values():
        arguments = "".join(
            f'<node oor:name={quoteattr(_idl_name(argument))} oor:op="replace">'
            f'{_text("DisplayName", argument.name)}{_text("Description", argument.doc)}</node>'
            for argument in function.arguments)
        functions.append(
            f'<node oor:name={quoteattr(function.name)} oor:op="replace">'
            f'{_text("DisplayName", function.name)}{_text("Description", function.doc)}'
            f'<prop oor:name="Category"><value>{CATEGORY}</value></prop>'
            f'{_text("CompatibilityName", function.name)}'
            f'<node oor:name="Parameters">{arguments}</node></node>')
    body = "\n".join(functions)
    return ('<?xml version="1.0" encoding="UTF-8"?>\n'
            '<oor:component-data xmlns:oor="http://openoffice.org/2001/registry" '
            'xmlns:xs="http://www.w3.org/2001/XMLSchema" oor:name="CalcAddIns" '
            'oor:package="org.openoffice.Office">\n<node oor:name="AddInInfo">\n'
            f'<node oor:name="{IMPLEMENTATION}" oor:op="replace">\n'
            f'<node oor:name="AddInFunctions">\n{body}\n</node>\n</node>\n</node>\n'
            '</oor:component-data>\n')


MANIFEST = """<?xml version="1.0" encoding="UTF-8"?>
<manifest:manifest xmlns:manifest="http://openoffice.org/2001/manifest">
<manifest:file-entry manifest:full-path="types.rdb" manifest:media-type="application/vnd.sun.star.uno-typelibrary;type=RDB"/>
<manifest:file-entry manifest:full-path="component.py" manifest:media-type="application/vnd.sun.star.uno-component;type=Python"/>
<manifest:file-entry manifest:full-path="CalcAddIns.xcu" manifest:media-type="application/vnd.sun.star.configuration-data"/>
</manifest:manifest>
"""


def description_xml() -> str:
    return ('<?xml version="1.0" encoding="UTF-8"?>\n'
            '<description xmlns="http://openoffice.org/extensions/description/2006" '
            'xmlns:xlink="http://www.w3.org/1999/xlink">\n'
            f'<identifier value="{IDENTIFIER}"/>\n<version value="{__version__}"/>\n'
            '<display-name><name lang="en">backprop_xl: the BP_ functions</name>'
            '</display-name>\n</description>\n')


def environment() -> dict:
    """What component.py reads: the names it registers, and where this environment keeps
    backprop_xl (the folder holding the package, for an editable install too) and the packages
    it imports (site-packages)."""
    paths = [str(Path(__file__).resolve().parent.parent)]
    user_site = [site.getusersitepackages()] if site.ENABLE_USER_SITE else []
    for folder in site.getsitepackages() + user_site:
        if folder not in paths and Path(folder).is_dir():
            paths.append(folder)
    return {"implementation": IMPLEMENTATION, "interface": ".".join((*MODULE, INTERFACE)),
            "functions": list(udfs.FUNCTIONS), "error_prefix": udfs.ERROR_PREFIX,
            "environment": sys.prefix, "python": list(sys.version_info[:2]), "paths": paths,
            "version": __version__}


def extension() -> bytes:
    """The .oxt, as bytes: the same package and environment give the same bytes."""
    members = {
        "META-INF/manifest.xml": MANIFEST.encode(),
        "description.xml": description_xml().encode(),
        "types.rdb": TYPES.read_bytes(),
        "CalcAddIns.xcu": calc_addins_xcu().encode(),
        "component.py": (EXTENSION / "component.py").read_bytes(),
        "environment.json": (json.dumps(environment(), indent=1) + "\n").encode(),
    }
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in members.items():
            archive.writestr(zipfile.ZipInfo(name, ZIP_DATE), data, zipfile.ZIP_DEFLATED)
    return buffer.getvalue()


def write(path: Path, force: bool = False) -> None:
    """Write the extension to `path`, atomically; an existing file only with `force`."""
    check_writable(path, force)
    data = extension()
    with atomic_output(path, force) as temporary:
        temporary.write_bytes(data)


# --- LibreOffice itself ------------------------------------------------------------------------


def soffice() -> str:
    """recalc.soffice(), or the one line saying LibreOffice is missing."""
    found = recalc.soffice()
    if not found:
        raise UserError("LibreOffice is not installed (no soffice on the PATH); install it "
                        "(Debian, Ubuntu: apt-get install libreoffice-calc python3-uno)")
    return found


def office_python(soffice_path: str) -> str:
    """The Python that can talk to LibreOffice (import uno): the one LibreOffice bundles beside
    soffice (Windows, macOS, LibreOffice's own Linux packages), else the system's python3 with
    Debian's python3-uno, or this one."""
    program = Path(os.path.realpath(soffice_path)).parent
    candidates = [program / "python", program / "python.exe", sys.executable,
                  "/usr/bin/python3", shutil.which("python3")]
    for candidate in candidates:
        if candidate and Path(candidate).is_file() and subprocess.run(
                [str(candidate), "-c", "import uno"], stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL).returncode == 0:
            return str(candidate)
    raise UserError("LibreOffice's Python bridge is missing: no Python beside soffice or on this "
                    "system can import uno (Debian, Ubuntu: apt-get install python3-uno)")


def _office(action: str, target: str, profile: Path | None) -> dict:
    path = soffice()
    command = [office_python(path), str(EXTENSION / "office.py"), action, path, target]
    if profile is not None:
        command.append(str(profile))
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=OFFICE_SECONDS)
    except subprocess.TimeoutExpired:
        raise UserError(f"LibreOffice did not {action} the extension within "
                        f"{OFFICE_SECONDS} s") from None
    if done.returncode != 0:
        lines = done.stderr.strip().splitlines() or [f"exit status {done.returncode}"]
        raise UserError(f"LibreOffice could not {action} the extension: {lines[-1]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def install(profile: Path | None = None) -> dict:
    """Add the extension to LibreOffice's user profile (`profile`, or LibreOffice's default);
    adding it again replaces it. The .oxt is written to a scratch folder that is removed after."""
    with tempfile.TemporaryDirectory(prefix="backprop_xl-") as scratch:
        oxt = Path(scratch) / "backprop_xl.oxt"
        oxt.write_bytes(extension())
        return _office("install", str(oxt), profile)


def remove(profile: Path | None = None) -> dict:
    return _office("remove", IDENTIFIER, profile)


def check_imports() -> str | None:
    """Why LibreOffice's Python cannot import backprop_xl.calc from this environment, or None."""
    code = ("import json, sys\n"
            f"sys.path[:0] = {environment()['paths']!r}\n"
            "try:\n    import backprop_xl.calc\n    error = None\n"
            "except Exception as failure:\n    error = str(failure).strip().splitlines()[-1]\n"
            "print(json.dumps({'python': sys.version_info[:2], 'error': error}))")
    done = subprocess.run([office_python(soffice()), "-c", code], capture_output=True, text=True)
    if done.returncode != 0:  # it crashed importing (a compiled module of another build)
        lines = done.stderr.strip().splitlines() or [f"exit status {done.returncode}"]
        return lines[-1]
    found = json.loads(done.stdout)
    if found["error"] is None:
        return None
    if tuple(found["python"]) != sys.version_info[:2]:
        return ("LibreOffice runs Python {}.{}, this environment is Python {}.{}; make one with "
                "that Python (/usr/bin/python3 -m venv) and run libreoffice-setup from it"
                .format(*found["python"], *sys.version_info[:2]))
    return found["error"]


# --- the type library --------------------------------------------------------------------------


def build_types(output: Path) -> None:
    """types.rdb from idl(), by the LibreOffice SDK's unoidl-write (Debian: libreoffice-dev)
    against LibreOffice's own types."""
    program = Path(os.path.realpath(soffice())).parent
    with tempfile.TemporaryDirectory() as scratch:
        source = Path(scratch) / "backprop_xl.idl"
        source.write_text(idl())
        subprocess.run([str(SDK / "unoidl-write"), str(program / "types.rdb"), str(source),
                        str(output)], check=True, capture_output=True)
