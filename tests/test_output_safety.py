"""What stands at an output path is never harmed (files.py): special files are written into, links
followed, permission bits kept, standard output written with -o -, and a failed write (a file-size
limit, a rename Windows refuses) leaves the old file and no temporary one. Real FIFOs, sockets,
links and child processes with a file-size limit, all in a temporary folder."""

import io
import os
import pty
import random
import resource
import signal
import socket
import stat
import subprocess
import sys
import threading
import time
import zipfile
from pathlib import Path

import openpyxl
import pytest

from backprop_xl import files, regenerate
from helpers import run, snapshot

COMMAND = [sys.executable, "-m", "backprop_xl"]


def reading(path: Path) -> dict:
    """Start a thread that reads everything written into the FIFO at `path`; its bytes land in
    the returned dict's "data" once the writer closes."""
    got = {}

    def read():
        with open(path, "rb") as pipe:
            got["data"] = pipe.read()
    thread = threading.Thread(target=read, daemon=True)
    thread.start()
    got["thread"] = thread
    return got


def last_step(book: bytes) -> int:
    """The last step of a workbook's steps table, from its bytes (the step column, A)."""
    steps = openpyxl.load_workbook(io.BytesIO(book))["Steps"]
    numbers = [row[0] for row in steps.iter_rows(min_row=2, max_col=1, values_only=True)]
    return max(number for number in numbers if isinstance(number, int))


def trace_text(capsys) -> bytes:
    status, out, _ = run(capsys, "trace", "seed", "--steps", "20")
    assert status == 0
    return out.encode()


def test_a_fifo_is_written_into_never_replaced(tmp_path, capsys):
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    expected = trace_text(capsys)
    got = reading(fifo)
    assert run(capsys, "trace", "seed", "--steps", "20", "-o", str(fifo), "--force")[0] == 0
    got["thread"].join(10)
    assert got["data"] == expected
    assert stat.S_ISFIFO(os.stat(fifo).st_mode)
    assert sorted(os.listdir(tmp_path)) == ["pipe"]  # no temporary file beside it


def test_a_workbook_into_a_fifo_arrives_whole(tmp_path, capsys):
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    got = reading(fifo)
    assert run(capsys, "generate", "seed", "--steps", "12", "-o", str(fifo))[0] == 0
    got["thread"].join(30)
    assert last_step(got["data"]) == 12
    assert stat.S_ISFIFO(os.stat(fifo).st_mode)


def test_a_socket_is_written_into(tmp_path, capsys):
    path = tmp_path / "socket"
    expected = trace_text(capsys)
    server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    server.bind(str(path))
    server.listen(1)
    got = {}

    def serve():
        connection, _ = server.accept()
        with connection:
            chunks = []
            while chunk := connection.recv(65536):
                chunks.append(chunk)
            got["data"] = b"".join(chunks)
    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        assert run(capsys, "trace", "seed", "--steps", "20", "-o", str(path))[0] == 0
        thread.join(10)
    finally:
        server.close()
    assert got["data"] == expected
    assert stat.S_ISSOCK(os.stat(path).st_mode)


def test_a_link_is_followed_and_stays_a_link(tmp_path, capsys):
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    target = elsewhere / "real.csv"
    target.write_text("old\n")
    link = tmp_path / "link.csv"
    link.symlink_to(target)
    expected = trace_text(capsys)
    assert run(capsys, "trace", "seed", "--steps", "20", "-o", str(link), "--force")[0] == 0
    assert link.is_symlink() and os.readlink(link) == str(target)
    assert target.read_bytes() == expected
    assert sorted(os.listdir(elsewhere)) == ["real.csv"] and sorted(os.listdir(tmp_path)) == [
        "elsewhere", "link.csv"]
    # without --force the file it leads to is not overwritten
    status, _, err = run(capsys, "trace", "seed", "-o", str(link))
    assert status == 2 and "already exists; use --force" in err


@pytest.mark.parametrize("kind", ["dangling", "loop"])
def test_a_link_that_leads_nowhere_is_refused_in_one_line(tmp_path, capsys, kind):
    link = tmp_path / "out.xlsx"
    if kind == "dangling":
        link.symlink_to(tmp_path / "missing" / "book.xlsx")
        words = "which does not exist"
    else:
        (tmp_path / "other").symlink_to(link)
        link.symlink_to(tmp_path / "other")
        words = "leads round in a loop"
    before = snapshot(tmp_path)
    status, _, err = run(capsys, "generate", "seed", "-o", str(link), "--force")
    assert status == 2 and words in err and len(err.strip().splitlines()) == 1
    assert "Traceback" not in err
    assert snapshot(tmp_path) == before


@pytest.mark.parametrize("mode", [0o640, 0o600, 0o755, 0o444])
def test_overwriting_keeps_the_permission_bits(tmp_path, capsys, mode):
    path = tmp_path / "seed.xlsx"
    path.write_bytes(b"old")
    path.chmod(mode)
    assert run(capsys, "generate", "seed", "--steps", "5", "-o", str(path), "--force")[0] == 0
    assert stat.S_IMODE(os.stat(path).st_mode) == mode
    assert zipfile.is_zipfile(path)


def test_a_new_file_gets_the_mode_a_plain_open_gives(tmp_path, capsys):
    umask = os.umask(0o027)
    try:
        path = tmp_path / "new.csv"
        assert run(capsys, "trace", "seed", "--steps", "3", "-o", str(path))[0] == 0
        plain = tmp_path / "plain"
        plain.write_text("")
    finally:
        os.umask(umask)
    assert stat.S_IMODE(os.stat(path).st_mode) == stat.S_IMODE(os.stat(plain).st_mode) == 0o640


def test_dash_is_standard_output(tmp_path):
    for arguments in (["trace", "seed", "--steps", "4"], ["spec", "seed"]):
        plain = subprocess.run(COMMAND + arguments, capture_output=True, check=True)
        dashed = subprocess.run(COMMAND + arguments + ["-o", "-"], capture_output=True, check=True)
        assert dashed.stdout == plain.stdout != b""
    book = subprocess.run(COMMAND + ["generate", "seed", "--steps", "6", "-o", "-"],
                          capture_output=True, check=True, cwd=tmp_path)
    assert last_step(book.stdout) == 6
    assert os.listdir(tmp_path) == []


def test_a_workbook_is_not_written_to_a_terminal(tmp_path):
    leader, follower = pty.openpty()
    try:
        result = subprocess.run(COMMAND + ["generate", "seed", "-o", "-"], stdout=follower,
                                stderr=subprocess.PIPE, text=True, cwd=tmp_path)
    finally:
        os.close(follower)
        os.close(leader)
    assert result.returncode == 2
    assert result.stderr.strip() == ("backprop-xl: will not write a workbook to a terminal; use "
                                     "-o FILE, or redirect standard output")
    assert os.listdir(tmp_path) == []


@pytest.mark.parametrize("command", [["generate", "mazur", "--steps", "3000"],
                                     ["trace", "mazur", "--steps", "200000"]])
def test_a_file_size_limit_fails_in_one_line_and_keeps_the_old_file(tmp_path, command):
    """Under `ulimit -f` a write past the limit fails with EFBIG (SIGXFSZ is ignored, so it does
    not kill the process mid-write): one line, exit 2, the old file as it was, no temporary."""
    path = tmp_path / "out"
    path.write_bytes(b"the old file")
    limit = 256 * 1024

    def limited():
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))
    result = subprocess.run(COMMAND + command + ["-o", str(path), "--force"],
                            capture_output=True, text=True, preexec_fn=limited, timeout=300)
    assert result.returncode == 2, result.stderr
    assert result.stderr == f"backprop-xl: cannot write {path}: File too large\n"
    assert path.read_bytes() == b"the old file"
    assert sorted(os.listdir(tmp_path)) == ["out"]


def test_a_rename_refused_says_the_workbook_may_be_open_in_excel(tmp_path, capsys, monkeypatch):
    """Windows refuses to replace a workbook Excel has open: the rename fails with a permission
    error, made here to fail the same way."""
    path = tmp_path / "seed.xlsx"
    path.write_bytes(b"open in Excel")

    def refused(source, target):
        raise PermissionError(13, "Permission denied", str(target))
    monkeypatch.setattr(files.os, "replace", refused)
    status, _, err = run(capsys, "generate", "seed", "--steps", "5", "-o", str(path), "--force")
    assert status == 2 and len(err.strip().splitlines()) == 1
    assert err.startswith(f"backprop-xl: cannot replace {path}: Permission denied; it may be "
                          "open in another program, such as Excel")
    assert path.read_bytes() == b"open in Excel"
    assert sorted(os.listdir(tmp_path)) == ["seed.xlsx"]


# --- interrupts, kills and two writers: real signals and concurrent processes --------------------

def started(arguments: list[str], folder: Path) -> subprocess.Popen:
    """A command, once its write has begun: a temporary file has appeared in `folder`."""
    process = subprocess.Popen(COMMAND + arguments, stdout=subprocess.DEVNULL,
                               stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 120
    while not any(name.endswith(files.TEMPORARY_SUFFIX) for name in os.listdir(folder)):
        assert process.poll() is None, process.communicate()[1]
        assert time.monotonic() < deadline, "no temporary file appeared"
        time.sleep(0.01)
    return process


LONG = {"generate": ["generate", "mazur", "--steps", "20000"],
        "trace": ["trace", "mazur", "--steps", "1000000"],
        "regenerate": ["regenerate", "--steps", "20000", "--force"]}


@pytest.mark.parametrize("command", LONG)
@pytest.mark.parametrize("signal_number, status, words", [
    (signal.SIGINT, 130, "backprop-xl: interrupted"),
    (signal.SIGTERM, 143, "backprop-xl: terminated")], ids=["SIGINT", "SIGTERM"])
def test_a_signal_mid_write_ends_cleanly_and_keeps_the_old_file(tmp_path, command, signal_number,
                                                                status, words):
    """Signals at random moments of a long write, again and again: each time one line, the
    status, the old file's bytes as they were, and no temporary file left (a backup, whole)."""
    path = tmp_path / ("out.csv" if command == "trace" else "out.xlsx")
    if command == "regenerate":
        subprocess.run(COMMAND + ["generate", "mazur", "--steps", "50", "-o", str(path)],
                       check=True, capture_output=True)
        arguments = LONG[command] + [str(path)]
    else:
        path.write_bytes(b"the old file")
        arguments = LONG[command] + ["-o", str(path), "--force"]
    old = path.read_bytes()
    chance = random.Random(f"{command} {signal_number}")
    for _ in range(3):
        process = started(arguments, tmp_path)
        time.sleep(chance.uniform(0.0, 1.5))
        process.send_signal(signal_number)
        _, err = process.communicate(timeout=60)
        assert process.returncode == status, err
        assert err.strip().splitlines()[-1] == words and "Traceback" not in err
        assert path.read_bytes() == old
        left = sorted(os.listdir(tmp_path))
        assert left in ([path.name], sorted([path.name, regenerate.backup_path(path).name])), left
        for name in left:
            if name != path.name:
                assert (tmp_path / name).read_bytes() == old


def test_the_next_write_removes_what_a_killed_run_left(tmp_path, capsys):
    path = tmp_path / "out.xlsx"
    process = started(LONG["generate"] + ["-o", str(path)], tmp_path)
    process.kill()  # SIGKILL: nothing cleans up
    process.communicate(timeout=60)
    [leftover] = [name for name in os.listdir(tmp_path) if name.endswith(".tmp")]
    status, _, err = run(capsys, "generate", "seed", "--steps", "5", "-o", str(path))
    assert status == 0
    assert f"removed {tmp_path / leftover}, a temporary file that an interrupted run left" in err
    assert sorted(os.listdir(tmp_path)) == ["out.xlsx"] and zipfile.is_zipfile(path)


def test_a_running_writers_temporary_file_is_left_alone(tmp_path, capsys):
    path = tmp_path / "out.xlsx"
    long = started(LONG["generate"] + ["-o", str(path)], tmp_path)
    try:
        status, _, err = run(capsys, "generate", "seed", "--steps", "5", "-o", str(path),
                             "--force")
        assert status == 0 and "removed" not in err
        assert any(name.endswith(".tmp") for name in os.listdir(tmp_path))
    finally:
        long.send_signal(signal.SIGTERM)
        long.communicate(timeout=60)


def test_two_writers_at_once_leave_one_whole_workbook(tmp_path):
    path = tmp_path / "out.xlsx"
    runs = {"seed": 3000, "mazur": 400}
    for _ in range(3):
        writers = [subprocess.Popen(COMMAND + ["generate", name, "--steps", str(steps), "-o",
                                               str(path), "--force"], stderr=subprocess.PIPE)
                   for name, steps in runs.items()]
        for writer in writers:
            writer.communicate(timeout=300)
            assert writer.returncode == 0
        assert sorted(os.listdir(tmp_path)) == ["out.xlsx"]
        assert last_step(path.read_bytes()) in runs.values()


def test_regenerate_keeps_an_edit_saved_while_it_runs(tmp_path):
    path = tmp_path / "out.xlsx"
    subprocess.run(COMMAND + ["generate", "mazur", "--steps", "50", "-o", str(path)], check=True,
                   capture_output=True)
    process = started(["regenerate", str(path), "--steps", "20000", "--no-backup"], tmp_path)
    edited = path.read_bytes() + b""  # another program saves the workbook: new bytes, new time
    time.sleep(0.05)
    saved = tmp_path / "saved-by-another"
    saved.write_bytes(edited)
    os.replace(saved, path)
    _, err = process.communicate(timeout=120)
    assert process.returncode == 2
    assert err.strip() == (f"backprop-xl: {path} changed while it was being rewritten (saved by "
                           "another program?): nothing written, its edit kept; run again")
    assert path.read_bytes() == edited and sorted(os.listdir(tmp_path)) == ["out.xlsx"]


@pytest.mark.libreoffice
def test_an_interrupted_verify_ends_libreoffice_and_leaves_no_scratch(tmp_path):
    """SIGTERM while `verify --libreoffice` waits on LibreOffice: its launcher and soffice.bin are
    ended, and neither our scratch folders nor LibreOffice's own temporary files stay."""
    book, scratch = tmp_path / "v.xlsx", tmp_path / "scratch"
    scratch.mkdir()
    subprocess.run(COMMAND + ["generate", "mazur", "--steps", "3000", "-o", str(book)],
                   check=True, capture_output=True)
    process = subprocess.Popen(COMMAND + ["verify", str(book), "--libreoffice"],
                               env=dict(os.environ, TMPDIR=str(scratch)),
                               stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)

    def office() -> list[str]:  # LibreOffice's processes of this verify: their profile is ours
        found = []
        for command_line in Path("/proc").glob("[0-9]*/cmdline"):
            try:
                if str(scratch).encode() in command_line.read_bytes():
                    found.append(command_line.parent.name)
            except OSError:  # gone meanwhile
                pass
        return found
    deadline = time.monotonic() + 120
    while not office():
        assert process.poll() is None and time.monotonic() < deadline
        time.sleep(0.05)
    time.sleep(1.0)
    process.send_signal(signal.SIGTERM)
    _, err = process.communicate(timeout=60)
    assert process.returncode == 143 and err.strip() == "backprop-xl: terminated"
    assert office() == [] and os.listdir(scratch) == []


def test_a_link_into_a_folder_that_cannot_be_written_is_refused_in_one_line(tmp_path, capsys,
                                                                           monkeypatch):
    """The folder checked is the one the link leads into. Root may write anywhere and the tests
    run as root, so the folder's refusal is os.access's, made to say no for that folder alone."""
    closed = tmp_path / "closed"
    closed.mkdir(mode=0o555)
    (closed / "book.xlsx").write_bytes(b"old")
    link = tmp_path / "link.xlsx"
    link.symlink_to(closed / "book.xlsx")
    access = os.access
    monkeypatch.setattr(files.os, "access",
                        lambda path, mode: Path(path) != closed and access(path, mode))
    status, _, err = run(capsys, "generate", "seed", "-o", str(link), "--force")
    assert status == 2
    assert err.strip() == f"backprop-xl: {link}: folder {str(closed)!r} is not writable"
    assert (closed / "book.xlsx").read_bytes() == b"old" and link.is_symlink()


@pytest.fixture
def full_disk(tmp_path):
    """A folder on a filesystem of 64 KiB (a tmpfs mounted for the test): past that, every write
    fails with ENOSPC. Mounting needs root, as CI runs; elsewhere the test is skipped."""
    folder = tmp_path / "tiny"
    folder.mkdir()
    try:
        mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs",
                                  str(folder)], capture_output=True).returncode == 0
    except FileNotFoundError:  # no mount command
        mounted = False
    if not mounted:
        pytest.skip("cannot mount a small tmpfs here (mounting needs root)")
    try:
        yield folder
    finally:
        subprocess.run(["umount", str(folder)], check=True)


@pytest.mark.parametrize("command", [["generate", "mazur", "--steps", "500"],
                                     ["trace", "mazur", "--steps", "5000"]])
def test_a_full_disk_fails_in_one_line_and_keeps_the_old_file(full_disk, command):
    path = full_disk / "out"
    path.write_bytes(b"the old file")
    result = subprocess.run(COMMAND + command + ["-o", str(path), "--force"],
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 2
    assert result.stderr == f"backprop-xl: cannot write {path}: No space left on device\n"
    assert path.read_bytes() == b"the old file"
    assert os.listdir(full_disk) == ["out"]
