"""Safe output: every file backprop_xl writes appears whole or not at all, and what stands at the
target path is never harmed.

What the target is decides how it is written (atomic_output, output_stream):
- a regular file, or none yet: the output goes to a temporary file beside it, renamed over it only
  once complete, so a failure or a kill mid-write leaves the previous file as it was. The new file
  keeps the old one's permission bits (and owner and group, where the process may set them); a new
  file gets the mode a plain open() would give.
- a symbolic link: the file it leads to, written as above beside that file; the link stays.
- a FIFO, a character device or a socket (a pipe another program reads, /dev/null): written into,
  never replaced; text as it is made, a workbook once complete.
- "-": standard output, likewise; a workbook only where standard output is not a terminal.
"""

from __future__ import annotations

import errno
import os
import shutil
import socket
import stat
import sys
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import BinaryIO, Iterator

from .errors import UserError

STDOUT = "-"  # the path that means standard output


def resolved(path: Path) -> Path:
    """The file `path` names: itself, or where its symbolic links lead; a link that leads nowhere
    or round in a loop is refused."""
    if not path.is_symlink():
        return path
    try:
        return path.resolve(strict=True)
    except FileNotFoundError:
        raise UserError(f"{path}: is a link to {os.readlink(path)!r}, which does not "
                        "exist") from None
    except (RuntimeError, OSError) as error:  # Python 3.11 and 3.12 raise RuntimeError for a loop
        if isinstance(error, OSError) and error.errno != errno.ELOOP:
            raise UserError(f"{path}: cannot follow the link ({error.strerror})") from None
        raise UserError(f"{path}: is a link that leads round in a loop") from None


def is_special(path: Path) -> bool:
    """Whether `path` (links followed) is a FIFO, a character device or a socket: written into,
    never replaced."""
    try:
        mode = os.stat(path).st_mode
    except OSError:
        return False
    return stat.S_ISFIFO(mode) or stat.S_ISCHR(mode) or stat.S_ISSOCK(mode)


def check_writable(path: Path, force: bool) -> None:
    """Refuse, before any work is done, a target that cannot or must not be written."""
    if str(path) == STDOUT:
        return
    target = resolved(path)
    if is_special(target):  # written into: nothing is lost, so no --force is asked
        return
    if target.is_dir():
        raise UserError(f"{path}: is a folder, not a file")
    if target.exists() and not force:
        raise UserError(f"{path} already exists; use --force to overwrite it")
    check_folder(target)
    if not os.access(target.parent, os.W_OK | os.X_OK):
        raise UserError(f"{path}: folder {str(target.parent)!r} is not writable")


def check_folder(path: Path) -> None:
    """Refuse a path whose parent is missing or is a file."""
    parent = path.parent
    if parent.exists() and not parent.is_dir():
        raise UserError(f"{path}: {str(parent)!r} is a file, not a folder")
    if not parent.is_dir():
        raise UserError(f"{path}: folder {str(parent)!r} does not exist")


@contextmanager
def atomic_output(path: Path, force: bool = False) -> Iterator[Path]:
    """Yield a temporary path to write whole; on success the output goes to `path` as the
    module's docstring says, on any failure the temporary file vanishes and `path` is as it was."""
    check_writable(Path(path), force)
    if str(path) == STDOUT or is_special(resolved(Path(path))):
        if str(path) == STDOUT and sys.stdout.isatty():
            raise UserError("will not write a workbook to a terminal; use -o FILE, or redirect "
                            "standard output")
        with tempfile.TemporaryDirectory(prefix="backprop_xl.") as scratch:
            temporary = Path(scratch) / "output"
            yield temporary
            with temporary.open("rb") as whole, _special_stream(Path(path)) as stream:
                shutil.copyfileobj(whole, stream)
        return
    path = Path(path)
    target = resolved(path)
    try:
        old = os.stat(target)
    except FileNotFoundError:
        old = None
    try:
        handle, temporary = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp",
                                             dir=target.parent)
    except OSError as error:
        raise UserError(f"cannot write {path}: {error.strerror}") from None
    os.close(handle)
    temporary = Path(temporary)
    try:
        yield temporary
        _take_mode(temporary, old)
        try:
            os.replace(temporary, target)
        except PermissionError as error:  # Windows: a workbook open in Excel cannot be replaced
            raise UserError(f"cannot replace {path}: {error.strerror or error}; it may be open "
                            "in another program, such as Excel, which keeps a workbook it has "
                            "open from being replaced (close it and try again)") from None
    except OSError as error:
        temporary.unlink(missing_ok=True)
        raise UserError(f"cannot write {path}: {error.strerror or error}") from None
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise


def _take_mode(temporary: Path, old: os.stat_result | None) -> None:
    """Give the new file the old one's permission bits, owner and group (as far as the process
    may), or for a new file the mode a plain open() would (mkstemp's is private)."""
    if old is None:
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(temporary, 0o666 & ~umask)
        return
    if hasattr(os, "chown"):
        try:
            os.chown(temporary, old.st_uid, old.st_gid)
        except OSError:  # another's file: it becomes ours, as any editor's save makes it
            pass
    os.chmod(temporary, stat.S_IMODE(old.st_mode))


@contextmanager
def _special_stream(path: Path) -> Iterator[BinaryIO]:
    """A stream into standard output, a FIFO, a character device or a socket."""
    try:
        if str(path) == STDOUT:
            yield sys.stdout.buffer
            sys.stdout.buffer.flush()
        elif stat.S_ISSOCK(os.stat(path).st_mode):
            with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as connection:
                connection.connect(str(path))
                with connection.makefile("wb") as stream:
                    yield stream
        else:
            with open(path, "wb") as stream:
                yield stream
    except OSError as error:
        raise UserError(f"cannot write {path}: {error.strerror or error}") from None


@contextmanager
def output_stream(path: Path, force: bool = False) -> Iterator[BinaryIO]:
    """A binary stream to write text output into: streamed into standard output or a special
    file as it is made, else into a file atomically (atomic_output)."""
    check_writable(Path(path), force)
    if str(path) == STDOUT or is_special(resolved(Path(path))):
        with _special_stream(Path(path)) as stream:
            yield stream
        return
    with atomic_output(path, force) as temporary:
        with temporary.open("wb") as stream:
            yield stream


def write_text(path: Path, text: str, force: bool = False) -> None:
    with output_stream(path, force) as stream:
        stream.write(text.encode("utf-8"))
