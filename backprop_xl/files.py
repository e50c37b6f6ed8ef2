"""Safe output: every file backprop_xl writes appears whole or not at all.

Writing goes to a temporary file beside the target, which is renamed over the target only once it
is complete, so a failure or a kill mid-write leaves the previous file as it was.
"""

from __future__ import annotations

import os
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

from .errors import UserError


def check_writable(path: Path, force: bool) -> None:
    """Refuse, before any work is done, a target that cannot or must not be written."""
    if path.is_dir():
        raise UserError(f"{path}: is a folder, not a file")
    if path.exists() and not force:
        raise UserError(f"{path} already exists; use --force to overwrite it")
    check_folder(path)
    if not os.access(path.parent, os.W_OK | os.X_OK):
        raise UserError(f"{path}: folder {str(path.parent)!r} is not writable")


def check_folder(path: Path) -> None:
    """Refuse a path whose parent is missing or is a file."""
    parent = path.parent
    if parent.exists() and not parent.is_dir():
        raise UserError(f"{path}: {str(parent)!r} is a file, not a folder")
    if not parent.is_dir():
        raise UserError(f"{path}: folder {str(parent)!r} does not exist")


@contextmanager
def atomic_output(path: Path, force: bool = False) -> Iterator[Path]:
    """Yield a temporary path to write; on success it replaces `path`, on any failure it vanishes."""
    path = Path(path)
    check_writable(path, force)
    try:
        handle, temporary = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    except OSError as error:
        raise UserError(f"cannot write {path}: {error.strerror}") from None
    os.close(handle)
    temporary = Path(temporary)
    try:
        yield temporary
        # mkstemp makes the file private; give it the mode a plain open() would have.
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(temporary, 0o666 & ~umask)
        os.replace(temporary, path)
    except OSError as error:
        temporary.unlink(missing_ok=True)
        raise UserError(f"cannot write {path}: {error.strerror or error}") from None
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise


def write_text(path: Path, text: str, force: bool = False) -> None:
    with atomic_output(path, force) as temporary:
        temporary.write_text(text, encoding="utf-8")
