"""A process is found when any of its threads holds the file."""

from __future__ import annotations

import contextlib
import os
import time
from pathlib import Path

import pytest
from holders import fuser, holder
from support import LINUX

import rstrtmgr

pytestmark = [pytest.mark.behaviour, pytest.mark.linux_backend]
if not LINUX:
    pytest.skip("these tests drive Linux processes", allow_module_level=True)

# The main thread opens the file, starts a thread that keeps the process
# alive, says ready and leaves with pthread_exit: the process's own
# /proc/PID/fd, exe and maps are then empty, the other thread's are not.
MAIN_THREAD_GONE = """
import ctypes, threading, time
f = open(sys.argv[1], "rb")
threading.Thread(target=time.sleep, args=(600,)).start()
print("ready", flush=True)
ctypes.CDLL(None).pthread_exit(None)
"""

# A thread that has its own file table (unshare(CLONE_FILES)) opens the
# file: only /proc/PID/task/TID/fd shows it.
OWN_FILE_TABLE = """
import ctypes, os, threading, time
CLONE_FILES = 0x400
libc = ctypes.CDLL(None, use_errno=True)
done = threading.Event()
def worker():
    if libc.unshare(CLONE_FILES) != 0:
        raise OSError(ctypes.get_errno(), "unshare")
    global f
    f = open(sys.argv[1], "rb")
    done.set()
    time.sleep(600)
threading.Thread(target=worker, daemon=True).start()
done.wait(30)
def links():
    for n in os.listdir("/proc/self/fd"):
        try:
            yield os.readlink("/proc/self/fd/" + n)
        except OSError:
            pass
assert os.path.realpath(sys.argv[1]) not in list(links())
"""


def wait_main_thread_gone(pid: int) -> None:
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        with open(f"/proc/{pid}/stat", "rb") as f:
            state = f.read().rsplit(b")", 1)[1].split()[0]
        if state == b"Z":
            return
        time.sleep(0.01)
    raise AssertionError("the main thread did not exit")


def test_found_after_the_main_thread_exited(tmp_path: Path) -> None:
    path = tmp_path / "held"
    path.write_bytes(b"x")
    with holder(MAIN_THREAD_GONE, str(path)) as child:
        wait_main_thread_gone(child.pid)
        # Its own table is gone (unreadable, when not root).
        with contextlib.suppress(PermissionError):
            assert os.listdir(f"/proc/{child.pid}/fd") == []
        with rstrtmgr.Session() as s:
            s.register(files=[path])
            result = s.get_list(details=True)
        assert child.pid in result.pids()
        [p] = [p for p in result.processes if p.pid == child.pid]
        assert [f.path for f in p.files] == [str(path)]
        # fuser and lsof look at the process's own table only (noted, not
        # required of them).
        print("fuser sees it:", child.pid in (fuser(path) or set()))


def test_found_when_a_thread_has_its_own_file_table(tmp_path: Path) -> None:
    path = tmp_path / "held"
    path.write_bytes(b"x")
    with holder(OWN_FILE_TABLE, str(path)) as child:
        with rstrtmgr.Session() as s:
            s.register(files=[path])
            result = s.get_list(details=True)
        assert child.pid in result.pids()
        [p] = [p for p in result.processes if p.pid == child.pid]
        assert [(f.path, f.uses) for f in p.files] == [(str(path), ("fd",))]
        print("fuser sees it:", child.pid in (fuser(path) or set()))


def test_threads_sharing_one_table_are_not_listed_twice(tmp_path: Path) -> None:
    path = tmp_path / "held"
    path.write_bytes(b"x")
    code = (
        "import threading, time\nf = open(sys.argv[1], 'rb')\n"
        "for _ in range(4):\n"
        "    threading.Thread(target=time.sleep, args=(600,), daemon=True).start()"
    )
    with holder(code, str(path)) as child:
        result = rstrtmgr.who_uses(path)
        assert [p.pid for p in result.processes].count(child.pid) == 1
