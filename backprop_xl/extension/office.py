"""Talks to LibreOffice over UNO: run by LibreOffice's own Python (the one that can import uno),
never imported by backprop_xl, which has no UNO bridge in its own environment.

    python office.py install SOFFICE OXT [PROFILE]       add the extension for the user
    python office.py remove SOFFICE IDENTIFIER [PROFILE]  take it out (absent: nothing to do)

PROFILE is a LibreOffice user profile folder (-env:UserInstallation); without it, LibreOffice's
own default. The extension goes in through LibreOffice's ExtensionManager, as Tools > Extension
Manager does, with every question it asks (a licence, replacing an older version) answered yes:
`unopkg add` would do the same but refuses to run as root without --shared, which would change
every user's LibreOffice. It prints one line of JSON saying what it did; a failure is one line on
stderr and exit status 2. The tests drive Calc through Office too.
"""

import json
import os
import subprocess
import sys
import time

import uno
import unohelper
from com.sun.star.beans import PropertyValue
from com.sun.star.connection import NoConnectException
from com.sun.star.task import XInteractionHandler
from com.sun.star.ucb import XCommandEnvironment, XProgressHandler

START_SECONDS = 120  # a first start on a new profile takes a few seconds; a loaded CI machine more
HANDOVER_SECONDS = 3  # for an soffice to hand its arguments to a running one and exit


class _Approve(unohelper.Base, XInteractionHandler):
    def handle(self, request):
        approve = uno.getTypeByName("com.sun.star.task.XInteractionApprove")
        for continuation in request.getContinuations():
            if continuation.queryInterface(approve):
                continuation.select()
                return


class _Quiet(unohelper.Base, XProgressHandler):
    def push(self, status):
        pass

    def update(self, status):
        pass

    def pop(self):
        pass


class _Environment(unohelper.Base, XCommandEnvironment):
    def getInteractionHandler(self):
        return _Approve()

    def getProgressHandler(self):
        return _Quiet()


def properties(**values):
    return tuple(PropertyValue(Name=name, Value=value) for name, value in values.items())


def own_python_first(environment=None):
    """`environment` (default: this process's) with this Python's folder first on PATH.

    LibreOffice built against the system's Python (Debian's) starts its Python by the first
    python3 on PATH: with a virtual environment's bin folder first (an activated venv), that
    Python's prefix and standard library are another build's, and every Python component of
    LibreOffice fails (installing one raised std::bad_alloc). This script runs on LibreOffice's
    own Python, so its folder holds the right python3."""
    environment = dict(os.environ if environment is None else environment)
    environment.pop("VIRTUAL_ENV", None)
    folders = environment.get("PATH", os.defpath).split(os.pathsep)
    environment["PATH"] = os.pathsep.join([os.path.dirname(sys.executable)] + folders)
    return environment


class Office:
    """A headless LibreOffice on `profile` (None: its default), reached over a named pipe.

    When a LibreOffice is already running on that profile, the new soffice hands its arguments
    to it and exits; then this talks to the running one and, on closing, leaves it running."""

    def __init__(self, soffice, profile=None, environment=None):
        pipe = "backprop_xl_%d_%d" % (os.getpid(), int(time.time() * 1000))
        command = [soffice, "--headless", "--invisible", "--norestore", "--nologo",
                   "--nodefault", "--accept=pipe,name=%s;urp;" % pipe]
        if profile:
            command.insert(1, "-env:UserInstallation=" + uno.systemPathToFileUrl(
                os.path.abspath(profile)))
        may_be_running = not profile or os.path.exists(os.path.join(profile, ".lock"))
        self.process = subprocess.Popen(command, env=own_python_first(environment),
                                        stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                        stderr=subprocess.DEVNULL)
        local = uno.getComponentContext()
        resolver = local.ServiceManager.createInstanceWithContext(
            "com.sun.star.bridge.UnoUrlResolver", local)
        deadline = time.monotonic() + START_SECONDS
        while True:
            try:
                self.context = resolver.resolve(
                    "uno:pipe,name=%s;urp;StarOffice.ComponentContext" % pipe)
                break
            except NoConnectException:
                if time.monotonic() > deadline:
                    self.process.kill()
                    raise RuntimeError("LibreOffice did not start within %d s" % START_SECONDS)
                if self.process.poll() not in (None, 0):
                    raise RuntimeError("LibreOffice exited with status %d on starting"
                                       % self.process.returncode)
                time.sleep(0.1)
        # An soffice that exits at once has handed its arguments to a LibreOffice already running
        # on the profile, which must be left running. It may exit just after the connection:
        # wait a moment for it where the profile was locked before (or is unknown: LibreOffice's
        # default).
        try:
            self.process.wait(HANDOVER_SECONDS if may_be_running else 0)
            self.already_running = True
        except subprocess.TimeoutExpired:
            self.already_running = False
        self.desktop = self.context.ServiceManager.createInstanceWithContext(
            "com.sun.star.frame.Desktop", self.context)

    def extensions(self):
        return self.context.getByName("/singletons/com.sun.star.deployment.ExtensionManager")

    def close(self):
        if self.already_running:
            return
        try:
            self.desktop.terminate()
        except Exception:  # the bridge goes down as LibreOffice exits
            pass
        try:
            self.process.wait(60)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def install(office, oxt):
    package = office.extensions().addExtension(
        uno.systemPathToFileUrl(os.path.abspath(oxt)), (), "user", None, _Environment())
    return {"installed": package.getIdentifier().Value, "version": package.getVersion()}


def remove(office, identifier):
    manager = office.extensions()
    installed = [package for package in manager.getDeployedExtensions("user", None, None)
                 if package is not None and package.getIdentifier().Value == identifier]
    for package in installed:
        manager.removeExtension(identifier, package.getName(), "user", None, _Environment())
    return {"removed": identifier if installed else None}


def main(arguments):
    action, soffice, target = arguments[:3]
    profile = arguments[3] if len(arguments) > 3 else None
    with Office(soffice, profile) as office:
        result = install(office, target) if action == "install" else remove(office, target)
        result["already_running"] = office.already_running
    print(json.dumps(result))


if __name__ == "__main__":
    try:
        main(sys.argv[1:])
    except Exception as error:  # one line for the command that ran this
        message = getattr(error, "Message", "") or str(error)
        print("%s: %s" % (type(error).__name__, " ".join(message.split())), file=sys.stderr)
        sys.exit(2)
