"""RmGetList on Windows: a process whose image or module is registered is listed."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from support import LANE_RM, popen

import rstrtmgr
from rstrtmgr._rstrtmgr import ffi, lib

pytestmark = [
    pytest.mark.behaviour,
    pytest.mark.skipif(
        sys.platform != "win32",
        reason="Windows images and modules (Linux's: test_getlist)",
    ),
]

psutil = pytest.importorskip("psutil")

ERROR_MORE_DATA = 234
WAIT = "import sys\nprint('ready', flush=True)\nsys.stdin.read()\n"


@contextmanager
def started(argv: list[str], **env: str) -> Iterator[subprocess.Popen[str]]:
    """A child that has printed "ready" and waits for its stdin to close."""
    proc = popen(
        argv,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, **env},
    )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline().strip()
        if line != "ready":
            raise AssertionError(f"child failed: {line!r} {proc.communicate()[1]}")
        yield proc
    finally:
        proc.kill()
        proc.communicate(timeout=30)


def python_copy(where: Path) -> Path:
    """A copy of this interpreter's python.exe and DLLs: an image no one else runs."""
    base = Path(sys.base_prefix)
    where.mkdir()
    for pattern in ("python.exe", "python3*.dll", "vcruntime*.dll"):
        for f in base.glob(pattern):
            shutil.copy2(f, where / f.name)
    return where / "python.exe"


def assert_listed(
    info: rstrtmgr.ProcessInfo, proc: subprocess.Popen[str], exe: str
) -> None:
    """Its pid, start time (GetProcessTimes' creation time) and name."""
    assert info.pid == proc.pid
    assert info.start_filetime == rstrtmgr.UniqueProcess.of(proc.pid).start_time
    started = info.unique_process.started.timestamp()
    assert abs(started - psutil.Process(proc.pid).create_time()) < 1
    assert info.status == rstrtmgr.AppStatus.RUNNING
    if LANE_RM:
        # The lane's RM names a process by its image's file name.
        assert info.app_name == exe
        assert info.app_type == rstrtmgr.AppType.CONSOLE
    else:
        # Windows shows a friendly name: the image's description, or its name.
        assert info.app_name


def test_a_running_image_is_listed(tmp_path: Path) -> None:
    exe = python_copy(tmp_path / "copy")
    with (
        started([str(exe), "-c", WAIT], PYTHONHOME=sys.base_prefix) as running,
        started([sys.executable, "-c", WAIT]) as other,
    ):
        result = rstrtmgr.who_uses(exe)
        listed = {p.pid: p for p in result}
        assert set(listed) == {running.pid}, "only the process whose image it is"
        assert other.pid not in listed
        assert_listed(listed[running.pid], running, "python.exe")
        assert result.reboot_reasons == rstrtmgr.RebootReason.NONE


def test_a_loaded_module_is_listed(tmp_path: Path) -> None:
    # A copy of python3.dll under a name of its own: loaded by no one else.
    module = tmp_path / "lane_module.dll"
    shutil.copy2(Path(sys.base_prefix) / "python3.dll", module)
    load = f"import ctypes\nctypes.WinDLL({str(module)!r})\n" + WAIT
    with (
        started([sys.executable, "-c", load]) as loading,
        started([sys.executable, "-c", WAIT]) as other,
    ):
        # Windows compares names case-insensitively.
        upper = module.parent / module.name.upper()
        listed = {p.pid: p for p in rstrtmgr.who_uses(upper)}
        assert set(listed) == {loading.pid}, "only the process that loaded it"
        assert other.pid not in listed
        assert_listed(listed[loading.pid], loading, Path(sys.executable).name)


def test_more_data_protocol(tmp_path: Path) -> None:
    module = tmp_path / "lane_module.dll"
    shutil.copy2(Path(sys.base_prefix) / "python3.dll", module)
    load = f"import ctypes\nctypes.WinDLL({str(module)!r})\n" + WAIT
    with started([sys.executable, "-c", load]), started([sys.executable, "-c", load]):
        handle = ffi.new("DWORD *")
        key = ffi.new("WCHAR[]", lib.CCH_RM_SESSION_KEY + 1)
        assert lib.RmStartSession(handle, 0, key) == 0
        try:
            name = ffi.new("WCHAR[]", str(module))
            files = ffi.new("LPCWSTR[]", [name])
            assert (
                lib.RmRegisterResources(handle[0], 1, files, 0, ffi.NULL, 0, ffi.NULL)
                == 0
            )
            needed = ffi.new("UINT *", 99)
            count = ffi.new("UINT *", 0)
            reasons = ffi.new("DWORD *", 99)
            # No array: the size needed comes back.
            assert (
                lib.RmGetList(handle[0], needed, count, ffi.NULL, reasons)
                == ERROR_MORE_DATA
            )
            assert needed[0] == 2
            infos = ffi.new("RM_PROCESS_INFO[]", 1)
            count[0] = 1
            assert (
                lib.RmGetList(handle[0], needed, count, infos, reasons)
                == ERROR_MORE_DATA
            )
            assert needed[0] == 2
            infos = ffi.new("RM_PROCESS_INFO[]", 3)
            count[0] = 3
            assert lib.RmGetList(handle[0], needed, count, infos, reasons) == 0
            assert (needed[0], count[0], reasons[0]) == (2, 2, 0)
        finally:
            assert lib.RmEndSession(handle[0]) == 0


def test_a_registered_process_is_listed_by_pid_and_start_time() -> None:
    with started([sys.executable, "-c", WAIT]) as child:
        me = rstrtmgr.UniqueProcess.of(child.pid)
        with rstrtmgr.Session() as s:
            s.register(processes=[me])
            [info] = s.get_list()
        assert_listed(info, child, Path(sys.executable).name)
        # The same pid with another start time is another process: none.
        with rstrtmgr.Session() as s:
            s.register(processes=[rstrtmgr.UniqueProcess(me.pid, me.start_time + 1)])
            assert list(s.get_list()) == []


def test_the_caller_is_listed_with_detected_self(tmp_path: Path) -> None:
    import ctypes

    module = tmp_path / "lane_self.dll"
    shutil.copy2(Path(sys.base_prefix) / "python3.dll", module)
    kernel32 = ctypes.WinDLL("kernel32", use_last_error=True)
    kernel32.FreeLibrary.argtypes = [ctypes.c_void_p]
    loaded = ctypes.WinDLL(str(module))
    try:
        result = rstrtmgr.who_uses(module)
        assert {p.pid for p in result} == {os.getpid()}
        assert rstrtmgr.RebootReason.DETECTED_SELF in result.reboot_reasons
    finally:
        assert kernel32.FreeLibrary(loaded._handle)
