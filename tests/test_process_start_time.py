"""rstrtmgr_process_start_time: the start time RmGetList reports, for any pid."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest
from holders import HOLD_FD, holder
from support import popen

import rstrtmgr
from rstrtmgr._rstrtmgr import ffi, lib

pytestmark = [pytest.mark.behaviour]

ERROR_INVALID_PARAMETER = 87


def start_time(pid: int) -> tuple[int, int]:
    """(error code, FILETIME as an integer) of rstrtmgr_process_start_time."""
    ft = ffi.new("FILETIME *")
    rc = lib.rstrtmgr_process_start_time(pid, ft)
    return rc, (ft.dwHighDateTime << 32) | ft.dwLowDateTime


def test_same_as_rmgetlist_reports(tmp_path: Path) -> None:
    target = tmp_path / "held.bin"
    target.write_bytes(b"x")
    with holder(HOLD_FD, str(target)) as proc:
        [info] = [p for p in rstrtmgr.who_uses(target) if p.pid == proc.pid]
        rc, ft = start_time(proc.pid)
        same = rstrtmgr.UniqueProcess.of(proc.pid).start_time
    assert rc == 0
    assert ft == info.start_filetime == same


def test_this_process_is_the_same_each_time() -> None:
    first = start_time(os.getpid())
    assert first[0] == 0
    assert first[1] > 0
    assert start_time(os.getpid()) == first


def test_exited_and_zombie_processes_have_none() -> None:
    child = popen([sys.executable, "-c", "pass"])
    try:
        # Not reaped yet: a zombie once it has exited (Linux), or on Windows
        # an exited process whose handle Popen still holds open.
        if hasattr(os, "waitid"):
            os.waitid(os.P_PID, child.pid, os.WEXITED | os.WNOWAIT)
        else:
            child.wait()
        assert start_time(child.pid)[0] == ERROR_INVALID_PARAMETER
    finally:
        child.wait()
    assert start_time(child.pid)[0] == ERROR_INVALID_PARAMETER


def test_pid_zero_and_out_of_range_have_none() -> None:
    assert start_time(0)[0] == ERROR_INVALID_PARAMETER
    assert start_time(0xFFFFFFFF)[0] == ERROR_INVALID_PARAMETER
