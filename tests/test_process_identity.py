"""Who a listed process is, where the system itself tells (every platform)."""

from __future__ import annotations

import os
import sys

from support import WINE

import rstrtmgr
from rstrtmgr import _marshal


def test_identity_of_a_process_where_windows_tells_it() -> None:
    # Windows: the user and command line come from the process itself
    # (Rstrtmgr.dll does not say); Linux's come with the list instead.
    me = rstrtmgr.UniqueProcess.of(os.getpid())
    detail = _marshal._identity(me.pid, me.start_time)
    if sys.platform != "win32":
        assert detail == _marshal.CDetail(None, (), None)
        return
    assert detail.user
    assert "\\" in detail.user
    # Wine 8 lacks ProcessCommandLineInformation (Windows 8.1+ has it): the
    # command line is then unavailable, as for a process one may not read.
    if not WINE:
        assert detail.command_line
        assert detail.command_line[0].lower().endswith(("python.exe", "python"))
    # A start time that is not this process's names no process.
    assert _marshal._identity(me.pid, me.start_time + 1).user is None
