"""Session.shutdown() answers with the list the shutdown ended with, taken from
the backend without another scan: it must list what get_list() lists right
after, with the same statuses and reasons, for a plain, a masked and a failed
shutdown alike."""

from __future__ import annotations

from contextlib import ExitStack
from pathlib import Path

import pytest
from holders import HOLD_FD, holder
from support import LINUX

import rstrtmgr
from rstrtmgr import FilterAction
from rstrtmgr._rstrtmgr import ffi, lib

pytestmark = [pytest.mark.behaviour]

IGNORE_TERM = "import signal\nsignal.signal(signal.SIGTERM, signal.SIG_IGN)\n"
OUT_OF_SEQUENCE = 776


def kept_uid(pid: int) -> int:
    """The real uid of a live process (Linux)."""
    with open(f"/proc/{pid}/status") as f:
        return int(next(x for x in f if x.startswith("Uid:")).split()[1])


@pytest.fixture
def target(tmp_path: Path) -> Path:
    path = tmp_path / "target.bin"
    path.write_bytes(b"x")
    return path


def test_shutdown_answers_what_get_list_gives_after(target: Path) -> None:
    with ExitStack() as stack:
        polite = [stack.enter_context(holder(HOLD_FD, str(target))) for _ in range(3)]
        kept = stack.enter_context(holder(HOLD_FD, str(target)))
        s = stack.enter_context(rstrtmgr.Session())
        s.register(files=[target])
        s.add_filter(FilterAction.NO_SHUTDOWN, process=kept.pid)
        # Windows applies its own timeouts: shutdown(timeout=) is Linux's.
        result = s.shutdown(timeout=20 if LINUX else None)
        after = s.get_list()
        # `uninspected` is the count of the shutdown's own scan: other users'
        # processes come and go meanwhile.
        assert result.processes == after.processes
        assert result.reboot_reasons == after.reboot_reasons
        assert {p.pid for p in result} == {kept.pid, *(h.pid for h in polite)}
        for h in polite:
            assert h.wait(timeout=10) is not None
        if LINUX:
            # The processes carried from the shutdown's record (gone since)
            # have no user; the live one has its own.
            users = {p.pid: p.uid for p in s._get_list(users=True)}
            assert users == {kept.pid: kept_uid(kept.pid)} | {
                h.pid: None for h in polite
            }


def test_failed_shutdown_carries_what_get_list_gives_after(target: Path) -> None:
    with (
        holder(HOLD_FD, str(target)),
        holder(IGNORE_TERM + HOLD_FD, str(target)) as stubborn,
        rstrtmgr.Session() as s,
    ):
        s.register(files=[target])
        if not LINUX:
            # Windows has no timeout to set (its policy's WaitToKillAppTimeout
            # holds): the call says so before anything is shut down.
            with pytest.raises(rstrtmgr.NotImplementedOnPlatformError) as refused:
                s.shutdown(timeout=0.2)
            assert refused.value.winerror == 120
            assert "rstrtmgr_set_shutdown_timeouts" in str(refused.value)
            assert stubborn.pid in s.get_list().pids()
            return
        with pytest.raises(rstrtmgr.ShutdownFailedError) as info:
            s.shutdown(timeout=0.2)
        assert "still running after the timeout" in str(info.value)
        after = s.get_list()
        assert info.value.processes == tuple(after.processes)
        assert stubborn.pid in after.pids()


@pytest.mark.linux_backend
@pytest.mark.skipif(not LINUX, reason="Windows keeps no list: 120")
def test_raw_shutdown_list_is_taken_once_by_its_handle(target: Path) -> None:
    needed = ffi.new("UINT *")
    count = ffi.new("UINT *")
    reasons = ffi.new("DWORD *")
    infos = ffi.new("RM_PROCESS_INFO[]", 8)

    def take(handle: int, room: int) -> int:
        count[0] = room
        return int(lib.rstrtmgr_shutdown_list(handle, needed, count, infos, reasons))

    with (
        holder(HOLD_FD, str(target)) as h,
        rstrtmgr.Session() as s,
        rstrtmgr.Session() as other,
    ):
        s.register(files=[target])
        with s._using() as handle, other._using() as other_handle:
            assert take(handle, 8) == OUT_OF_SEQUENCE  # no shutdown yet
            assert lib.RmShutdown(handle, 0, ffi.NULL) == 0
            assert take(other_handle, 8) == OUT_OF_SEQUENCE
            assert take(handle, 0) == 234  # ERROR_MORE_DATA, and kept
            assert needed[0] == 1
            assert take(handle, 8) == 0
            assert count[0] == 1
            assert infos[0].Process.dwProcessId == h.pid
            assert infos[0].AppStatus == lib.RmStatusStopped
            assert take(handle, 8) == OUT_OF_SEQUENCE  # taken
            count[0] = 8
            assert (
                lib.rstrtmgr_shutdown_list(handle, ffi.NULL, count, infos, reasons)
                == 160
            )


@pytest.mark.linux_backend
@pytest.mark.skipif(not LINUX, reason="Windows keeps no list: 120")
def test_a_failed_shutdown_leaves_no_earlier_list(target: Path) -> None:
    needed = ffi.new("UINT *")
    count = ffi.new("UINT *", 8)
    reasons = ffi.new("DWORD *")
    infos = ffi.new("RM_PROCESS_INFO[]", 8)
    with holder(HOLD_FD, str(target)), rstrtmgr.Session() as s:
        s.register(files=[target])
        with s._using() as handle:
            assert lib.RmShutdown(handle, 0, ffi.NULL) == 0  # kept, not taken
            assert lib.RmShutdown(handle, 0x100, ffi.NULL) == 160  # bad flags
            code = lib.rstrtmgr_shutdown_list(handle, needed, count, infos, reasons)
            assert code == OUT_OF_SEQUENCE
