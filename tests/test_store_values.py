"""A corrupt value in the store is the store error (29), never a bare ValueError.

Each test writes a value the backend never writes into one of a session's
files, then makes the call that reads it through the facade: the answer must
be SessionStoreError (or, for a record, the session reclaimed), not a
ValueError, OverflowError or a silently wrong answer.
"""

from __future__ import annotations

import struct
import subprocess
import sys
from pathlib import Path

import pytest
from support import LINUX, child_env

import rstrtmgr
from rstrtmgr import FilterAction
from rstrtmgr._rstrtmgr import ffi

pytestmark = [
    pytest.mark.linux_backend,
    pytest.mark.skipif(not LINUX, reason="the store is the Linux backend's"),
]

FILTERS_MAGIC = "rstrtmgr-filters 1\n"
RECORD_MAGIC = "rstrtmgr-session 1\n"


def session_dir(store: Path, s: rstrtmgr.Session) -> Path:
    return store / "sessions" / s.key


def replace(path: Path, data: bytes) -> None:
    tmp = path.with_name(".test-" + path.name)
    tmp.write_bytes(data)
    tmp.chmod(0o600)
    tmp.replace(path)


@pytest.mark.parametrize(
    "line",
    [
        "f 7 2f746d702f78",  # an action that does not exist
        "f -1 2f746d702f78",
        "f 99999999999999999999 2f746d702f78",  # does not fit
        "p 1 -5 100",  # a negative pid
        "p 1 12 99999999999999999999999",  # ticks that do not fit
        "p 2 12",  # a field missing
        "f 1 7478",  # a relative path
        "f 1 2f746",  # odd hex
        "s 2 ",  # an empty service name
        "f 1 " + "41" * 70000,  # a path longer than any
        "f",  # cut short
    ],
)
def test_corrupt_filter_is_the_store_error(store: Path, line: str) -> None:
    with rstrtmgr.Session() as s:
        s.add_filter(FilterAction.NO_RESTART, path="/usr/bin/true")
        replace(
            session_dir(store, s) / "filters", (FILTERS_MAGIC + line + "\n").encode()
        )
        with pytest.raises(rstrtmgr.SessionStoreError) as e:
            s.filters()
        assert e.value.winerror == 29


@pytest.mark.parametrize(
    "line",
    [
        "p zz 12 34 1",  # not hexadecimal
        "p 0123456789abcdef -3 34 1",
        "p 0123456789abcdef 12 99999999999999999999999 1",
        "p 0123456789abcdef 12 34 7",  # primary is 0 or 1
        "p 0123456789abcdef 12",  # cut short
    ],
)
def test_corrupt_record_is_the_store_error_or_reclaimed(store: Path, line: str) -> None:
    s = rstrtmgr.Session()
    record = session_dir(store, s) / "record"
    replace(record, record.read_bytes() + (line + "\n").encode())
    with pytest.raises(rstrtmgr.RestartManagerError) as e:
        s.get_list()
    assert e.value.winerror in (29, 1219)
    with pytest.raises(rstrtmgr.SessionStoreError):
        s.close()  # the record is unreadable: the next start reclaims it
    rstrtmgr.Session().close()
    assert not (store / "sessions" / s.key).exists()


@pytest.mark.parametrize(
    "text", ["abc def\n", "-1 5\n", "99999999999 5\n", "5\n", "", "5 5 junk\n"]
)
def test_corrupt_timeouts_are_the_store_error(
    store: Path, tmp_path: Path, text: str
) -> None:
    held = tmp_path / "held"
    held.write_bytes(b"x")
    with rstrtmgr.Session() as s:
        s.register(files=[held])
        s.shutdown(timeout=1)
        replace(session_dir(store, s) / "timeouts", text.encode())
        with pytest.raises(rstrtmgr.SessionStoreError):
            s.shutdown(timeout=None)


def _stopped_session(tmp_path: Path) -> tuple[rstrtmgr.Session, bytes]:
    """A session that shut down one (now gone) holder; its state's bytes."""
    held = tmp_path / "held"
    held.write_bytes(b"x")
    proc = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sys; f = open(sys.argv[1]); print('r', flush=True); "
            "sys.stdin.read()",
            str(held),
        ],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        env=child_env(),
    )
    assert proc.stdout is not None
    proc.stdout.readline()
    s = rstrtmgr.Session()
    s.register(files=[held])
    s.shutdown(timeout=10)
    proc.wait(timeout=10)
    return s, b""


# Offsets in a shutdown state record (native/linux/shutdown.c's disk_record):
# int32 pid, int32 group, uint64 start ticks, uint64 dev, uint64 ino, then
# RM_PROCESS_INFO.
_INFO = 32
_MAGIC_LEN = len(b"rstrtmgr-shutdown 1\n")


@pytest.mark.parametrize(
    ("offset", "fmt", "value"),
    [
        (8, "<Q", 1 << 63),  # start ticks: a FILETIME beyond any date
        (4, "<i", 77),  # a shutdown group that does not exist
        (_INFO + ffi.offsetof("RM_PROCESS_INFO", "ApplicationType"), "<I", 0x7777),
        (_INFO + ffi.offsetof("RM_PROCESS_INFO", "AppStatus"), "<I", 0x10000),
        (_INFO + ffi.offsetof("RM_PROCESS_INFO", "bRestartable"), "<i", 7),
        (0, "<i", -4),  # a negative pid
    ],
)
def test_corrupt_shutdown_state_is_the_store_error(
    store: Path, tmp_path: Path, offset: int, fmt: str, value: int
) -> None:
    s, _ = _stopped_session(tmp_path)
    with s:
        path = session_dir(store, s) / "shutdown"
        data = bytearray(path.read_bytes())
        assert len(data) > _MAGIC_LEN + 64, "the state records no process"
        struct.pack_into(fmt, data, _MAGIC_LEN + offset, value)
        replace(path, bytes(data))
        with pytest.raises(rstrtmgr.SessionStoreError):
            s.get_list()


def test_shutdown_state_names_without_terminator_are_the_store_error(
    store: Path, tmp_path: Path
) -> None:
    s, _ = _stopped_session(tmp_path)
    with s:
        path = session_dir(store, s) / "shutdown"
        data = bytearray(path.read_bytes())
        start = _MAGIC_LEN + _INFO + ffi.offsetof("RM_PROCESS_INFO", "strAppName")
        size = ffi.sizeof("WCHAR") * (rstrtmgr._rstrtmgr.lib.CCH_RM_MAX_APP_NAME + 1)
        data[start : start + size] = b"A\0" * (size // 2)  # no NUL left
        replace(path, bytes(data))
        with pytest.raises(rstrtmgr.SessionStoreError):
            s.get_list()


BATCH_MAGIC = b"rstrtmgr-batch 1\n"


@pytest.mark.parametrize(
    ("kind", "a", "text"),
    [
        (b"F", 0, b"relative/path"),  # a path is absolute
        (b"F", 0, b"/with\0nul"),
        (b"S", 0, b"x" * 300),  # longer than any unit name
        (b"P", 0, b""),  # pid 0
        (b"P", 1 << 40, b""),  # a pid Linux never gives
    ],
)
def test_corrupt_batch_is_the_store_error(
    store: Path, kind: bytes, a: int, text: bytes
) -> None:
    with rstrtmgr.Session() as s:
        s.register(files=["/usr/bin/true"])
        # rm_rec of native/linux/internal.h: kind, flags, reserved, len, a, b.
        record = struct.pack("=cBHIQQ", kind, 0, 0, len(text), a, 0) + text
        (session_dir(store, s) / "batch-0000000000000000").write_bytes(
            BATCH_MAGIC + record
        )
        with pytest.raises(rstrtmgr.SessionStoreError):
            s.get_list()
