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

A temporary file is locked (flock) by the process writing it for as long as it exists. A process
killed outright (SIGKILL) leaves its temporary file behind, unlocked: the next write of the same
target removes such leftovers and says so, and leaves alone any a running process still holds.
"""

from __future__ import annotations

import errno
import glob
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

try:
    import fcntl
except ImportError:  # Windows: no flock, and no leftovers are removed
    fcntl = None

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


def cannot_write(path, error: BaseException) -> UserError:
    """The one line for a write that failed: the target and the operating system's reason (a
    library's error wrapping an OSError, as XlsxWriter's FileCreateError does, says the OSError's)."""
    cause = error.args[0] if error.args and isinstance(error.args[0], OSError) else error
    reason = cause.strerror if isinstance(cause, OSError) and cause.strerror else cause
    return UserError(f"cannot write {path}: {reason}")


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
def atomic_output(path: Path, force: bool = False,
                  unchanged_since: os.stat_result | None = None) -> Iterator[Path]:
    """Yield a temporary path to write whole; on success the output goes to `path` as the
    module's docstring says, on any failure the temporary file vanishes and `path` is as it was.
    unchanged_since: the target as it was when read (os.stat), for a rewrite of it: if another
    program has saved it since, nothing is written and the edit is kept."""
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
    old = _stat(target)
    remove_leftovers(target)
    try:
        handle, temporary = tempfile.mkstemp(prefix=f".{target.name}.", suffix=TEMPORARY_SUFFIX,
                                             dir=target.parent)
    except OSError as error:
        raise UserError(f"cannot write {path}: {error.strerror}") from None
    if fcntl is not None:  # held until the file is renamed or removed: see remove_leftovers
        fcntl.flock(handle, fcntl.LOCK_EX)
    else:  # Windows renames no file that is open
        os.close(handle)
        handle = None
    temporary = Path(temporary)
    try:
        yield temporary
        _take_mode(temporary, old)
        if unchanged_since is not None and not same_file(_stat(target), unchanged_since):
            raise UserError(f"{path} changed while it was being rewritten (saved by another "
                            "program?): nothing written, its edit kept; run again")
        try:
            os.replace(temporary, target)
        except PermissionError as error:  # Windows: a workbook open in Excel cannot be replaced
            raise UserError(f"cannot replace {path}: {error.strerror or error}; it may be open "
                            "in another program, such as Excel, which keeps a workbook it has "
                            "open from being replaced (close it and try again)") from None
    except OSError as error:
        temporary.unlink(missing_ok=True)
        raise cannot_write(path, error) from None
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise
    finally:
        if handle is not None:
            os.close(handle)


TEMPORARY_SUFFIX = ".tmp"


def remove_leftovers(target: Path) -> None:
    """Remove the temporary files of `target` (mkstemp's ".NAME.XXXXXXXX.tmp" beside it) that no
    process holds locked: a run killed outright left them. Each one removed is said on stderr."""
    if fcntl is None:
        return
    pattern = f".{glob.escape(target.name)}.*{TEMPORARY_SUFFIX}"
    for leftover in sorted(target.parent.glob(pattern)):
        try:
            handle = os.open(leftover, os.O_RDONLY)
        except OSError:
            continue
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:  # a running process writes it
            continue
        finally:
            os.close(handle)
        try:
            leftover.unlink()
        except OSError:
            continue
        print(f"backprop-xl: removed {leftover}, a temporary file that an interrupted run left",
              file=sys.stderr)


def _stat(path: Path) -> os.stat_result | None:
    try:
        return os.stat(path)
    except FileNotFoundError:
        return None


def same_file(now: os.stat_result | None, then: os.stat_result) -> bool:
    """Whether a file is as it was: the same inode, size and time of its last change."""
    return now is not None and (now.st_ino, now.st_size, now.st_mtime_ns) == (
        then.st_ino, then.st_size, then.st_mtime_ns)


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
        raise cannot_write(path, error) from None


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
