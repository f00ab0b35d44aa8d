"""RmGetList with real processes: fds, mappings, executables, replaced files."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
from holders import HOLD_FD, HOLD_LIB, HOLD_MMAP, fuser, holder
from support import LINUX, ROOT, run_python

import rstrtmgr
from rstrtmgr import AppStatus, AppType, RebootReason, UniqueProcess
from rstrtmgr._rstrtmgr import ffi, lib
from rstrtmgr._session import _LIST_FIRST_SIZE

pytestmark = [pytest.mark.behaviour, pytest.mark.linux_backend]
if not LINUX:
    pytest.skip("these tests drive Linux processes", allow_module_level=True)

LIBZ = "/usr/lib/x86_64-linux-gnu/libz.so.1"


@pytest.fixture
def target(tmp_path: Path) -> Path:
    path = tmp_path / "target.bin"
    path.write_bytes(b"x" * 8192)
    return path


def listed(*paths: str | bytes | Path) -> set[int]:
    return rstrtmgr.who_uses(*paths).pids()


def check_against_fuser(path: str | bytes | Path, ours: set[int]) -> None:
    theirs = fuser(path)
    if theirs is not None:
        assert ours == theirs


def test_fd_holder_is_listed_and_described(target: Path) -> None:
    with holder(HOLD_FD, str(target)) as child:
        result = rstrtmgr.who_uses(target)
        assert result.pids() == {child.pid}
        info = result.processes[0]
        assert info.app_name.startswith("python")
        assert info.status == AppStatus.RUNNING
        assert info.app_type in (AppType.UNKNOWN, AppType.CONSOLE)
        assert info.unique_process == UniqueProcess.of(child.pid)
        assert info.start_time == info.unique_process.started
        assert not info.restartable
        assert result.reboot_reasons == RebootReason.NONE
        check_against_fuser(target, result.pids())
    assert listed(target) == set()


def test_mmap_holder_without_fd(target: Path) -> None:
    with holder(HOLD_MMAP, str(target)) as child:
        ours = listed(target)
        assert ours == {child.pid}
        check_against_fuser(target, ours)


def test_running_copied_executable(tmp_path: Path) -> None:
    exe = tmp_path / "mysleep"
    shutil.copy2("/bin/sleep", exe)
    child = subprocess.Popen([str(exe), "600"])
    try:
        # exec has happened once /proc/PID/exe names the copy.
        for _ in range(1000):
            if os.path.realpath(f"/proc/{child.pid}/exe") == str(exe):
                break
            os.sched_yield()
        result = rstrtmgr.who_uses(exe)
        assert result.pids() == {child.pid}
        assert result.processes[0].app_name == "mysleep"
        check_against_fuser(exe, result.pids())
    finally:
        child.kill()
        child.wait()


@pytest.mark.skipif(not os.path.exists(LIBZ), reason="no libz to copy")
def test_loaded_shared_library(tmp_path: Path) -> None:
    so = tmp_path / "libcopy.so.1"
    shutil.copy2(LIBZ, so)
    with holder(HOLD_LIB, str(so)) as child:
        ours = listed(so)
        assert ours == {child.pid}
        check_against_fuser(so, ours)


def test_file_replaced_after_registration_still_finds_old_holders(
    target: Path, tmp_path: Path
) -> None:
    with (
        holder(HOLD_FD, str(target)) as by_fd,
        holder(HOLD_MMAP, str(target)) as by_map,
        rstrtmgr.Session() as session,
    ):
        session.register(files=[target])
        new = tmp_path / "new.bin"
        new.write_bytes(b"new")
        os.replace(new, target)  # what installers do
        assert session.get_list().pids() == {by_fd.pid, by_map.pid}
        # fuser, looking the path up now, finds the new file's users: none.
        assert fuser(target) in (None, set())


def test_file_replaced_before_registration_found_as_deleted(
    target: Path, tmp_path: Path
) -> None:
    with (
        holder(HOLD_FD, str(target)) as by_fd,
        holder(HOLD_MMAP, str(target)) as by_map,
    ):
        new = tmp_path / "new.bin"
        new.write_bytes(b"new")
        os.replace(new, target)
        assert listed(target) == {by_fd.pid, by_map.pid}
        target.unlink()  # deleted altogether: registered by path still
        assert listed(target) == {by_fd.pid, by_map.pid}


def test_non_utf8_file_name(tmp_path: Path) -> None:
    raw = os.fsencode(tmp_path) + b"/caf\xe9-\xff.bin"
    with open(raw, "wb") as f:
        f.write(b"data")
    as_str = os.fsdecode(raw)  # lone surrogates U+DCE9, U+DCFF
    code = "f = open(sys.argv[1].encode('utf-8', 'surrogateescape'), 'rb')"
    with holder(code, as_str) as child:
        assert listed(raw) == {child.pid}
        assert listed(as_str) == {child.pid}
        check_against_fuser(raw, {child.pid})
    # A name that differs only in the raw byte is another file.
    assert listed(raw[:-5] + b"\xfe.bin") == set()


def test_process_name_that_is_not_utf8(tmp_path: Path) -> None:
    exe = tmp_path / "sl\udce9ep"
    shutil.copy2("/bin/sleep", os.fsencode(exe))
    child = subprocess.Popen([os.fsencode(exe), b"600"])
    try:
        for _ in range(1000):
            if os.readlink(f"/proc/{child.pid}/exe").encode(
                "utf-8", "surrogateescape"
            ) == os.fsencode(exe):
                break
            os.sched_yield()
        (info,) = rstrtmgr.who_uses(exe).processes
        assert info.app_name == "sl\udce9ep"
    finally:
        child.kill()
        child.wait()


def test_registered_process_listed_while_alive(target: Path) -> None:
    with rstrtmgr.Session() as session:
        child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"])
        try:
            session.register(processes=[child.pid])
            assert session.get_list().pids() == {child.pid}
        finally:
            child.kill()
            child.wait()
        assert session.get_list().pids() == set()


def test_wrong_start_time_never_matches() -> None:
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"])
    try:
        real = UniqueProcess.of(child.pid)
        tick = 10_000_000 // os.sysconf("SC_CLK_TCK")
        with rstrtmgr.Session() as session:
            session.register(
                processes=[
                    UniqueProcess(child.pid, real.start_time + tick),
                    UniqueProcess(child.pid, real.start_time - tick),
                    UniqueProcess(child.pid, real.start_time + 1),
                ]
            )
            assert session.get_list().pids() == set()
            session.register(processes=[real])
            assert session.get_list().pids() == {child.pid}
    finally:
        child.kill()
        child.wait()


def test_joined_participants_registrations_visible_to_primary(target: Path) -> None:
    with holder(HOLD_FD, str(target)) as child, rstrtmgr.Session() as session:
        assert session.get_list().pids() == set()
        run_python(
            """
            import sys, rstrtmgr
            with rstrtmgr.Session.join(sys.argv[1]) as s:
                s.register(files=[sys.argv[2]])
            """,
            session.key,
            str(target),
        )
        assert session.get_list().pids() == {child.pid}


def test_detected_self(target: Path) -> None:
    with open(target, "rb"):
        result = rstrtmgr.who_uses(target)
    assert os.getpid() in result.pids()
    assert RebootReason.DETECTED_SELF in result.reboot_reasons


def test_the_callers_own_descriptors_are_read_as_they_are_now(
    target: Path, tmp_path: Path
) -> None:
    """The caller's table is read by number, each list afresh, with every
    kind of descriptor: behind the directories its lists keep, at a high
    number, as an O_PATH one, and gone once closed."""
    other = tmp_path / "other.dat"
    other.write_bytes(b"x")
    with holder(HOLD_FD, str(other)) as child, rstrtmgr.Session() as s:
        s.register(files=[target, other])
        assert s.get_list().pids() == {child.pid}  # keeps child's directory
        fd = os.open(target, os.O_RDONLY)
        high = os.dup2(fd, 900)
        os.close(fd)
        try:
            assert s.get_list().pids() == {child.pid, os.getpid()}
        finally:
            os.close(high)
        assert s.get_list().pids() == {child.pid}
        path_only = os.open(target, os.O_PATH)
        try:
            assert os.getpid() in s.get_list().pids()
        finally:
            os.close(path_only)
        assert s.get_list().pids() == {child.pid}


def test_nothing_registered_lists_nothing() -> None:
    with rstrtmgr.Session() as session:
        result = session.get_list()
    assert result.processes == []
    assert result.reboot_reasons == RebootReason.NONE
    assert not result.in_use


# -- the raw protocol -------------------------------------------------------


def raw_session_with(path: Path) -> int:
    handle = ffi.new("DWORD *")
    key = ffi.new("WCHAR[33]")
    assert lib.RmStartSession(handle, 0, key) == 0
    names = [ffi.new("WCHAR[]", str(path))]
    assert (
        lib.RmRegisterResources(
            handle[0], 1, ffi.new("LPCWSTR[]", names), 0, ffi.NULL, 0, ffi.NULL
        )
        == 0
    )
    return int(handle[0])


def test_raw_more_data_protocol(target: Path) -> None:
    with holder(HOLD_FD, str(target)) as a, holder(HOLD_MMAP, str(target)) as b:
        h = raw_session_with(target)
        needed = ffi.new("UINT *", 12345)
        count = ffi.new("UINT *", 0)
        reasons = ffi.new("DWORD *", 777)
        # The cheap probe: count 0, no array.
        assert lib.RmGetList(h, needed, count, ffi.NULL, reasons) == 234
        assert needed[0] == 2
        assert count[0] == 0
        assert reasons[0] == 0
        infos = ffi.new("RM_PROCESS_INFO[]", 3)
        count[0] = 1
        assert lib.RmGetList(h, needed, count, infos, reasons) == 234
        assert needed[0] == 2
        count[0] = 3
        assert lib.RmGetList(h, needed, count, infos, reasons) == 0
        assert count[0] == 2
        assert needed[0] == 2
        assert {infos[0].Process.dwProcessId, infos[1].Process.dwProcessId} == {
            a.pid,
            b.pid,
        }
        assert infos[0].AppStatus == lib.RmStatusRunning
        assert lib.RmEndSession(h) == 0


def test_raw_getlist_bad_arguments(target: Path) -> None:
    h = raw_session_with(target)
    n = ffi.new("UINT *", 0)
    r = ffi.new("DWORD *")
    assert lib.RmGetList(h, ffi.NULL, n, ffi.NULL, r) == 160
    assert lib.RmGetList(h, n, ffi.NULL, ffi.NULL, r) == 160
    assert lib.RmGetList(h, n, n, ffi.NULL, ffi.NULL) == 160
    n[0] = 5
    assert lib.RmGetList(h, ffi.new("UINT *"), n, ffi.NULL, r) == 160
    assert lib.RmEndSession(h) == 0
    n[0] = 0
    assert lib.RmGetList(h, ffi.new("UINT *"), n, ffi.NULL, r) == 6
    assert lib.RmGetList(0xFFFFFFFF, ffi.new("UINT *"), n, ffi.NULL, r) == 6


# -- other users ------------------------------------------------------------


def test_other_users_processes_are_counted_not_hidden(
    run_as_other_user: Callable[..., str], shared_tmp: Path
) -> None:
    path = shared_tmp / "shared.bin"
    path.write_bytes(b"x")
    path.chmod(0o644)
    with holder(HOLD_FD, str(path)) as child:
        assert listed(path) == {child.pid}  # root sees it
        out = run_as_other_user(
            """
            import sys, rstrtmgr
            r = rstrtmgr.who_uses(sys.argv[1])
            print(sorted(r.pids()), r.uninspected)
            """,
            str(path),
        ).split()
    # Not in the list, but not silently "not in use" either.
    assert out[0] == "[]"
    assert int(out[1]) >= 1


@pytest.mark.skipif(ROOT, reason="as root every process can be looked into")
def test_uninspected_counted_for_ordinary_user(target: Path) -> None:
    others = [
        p
        for p in os.listdir("/proc")
        if p.isdigit() and os.stat(f"/proc/{p}").st_uid != os.geteuid()
    ]
    if not others:
        pytest.skip("no process of another user is visible")
    assert rstrtmgr.who_uses(target).uninspected >= 1


def test_registered_process_of_another_user_permission_denied(
    run_as_other_user: Callable[..., str],
) -> None:
    out = run_as_other_user(
        """
        import sys, rstrtmgr
        with rstrtmgr.Session() as s:
            s.register(processes=[int(sys.argv[1])])
            r = s.get_list()
        print(sorted(r.pids()), int(r.reboot_reasons))
        """,
        str(os.getpid()),
    ).split()
    assert out[0] == f"[{os.getpid()}]"
    assert int(out[1]) & RebootReason.PERMISSION_DENIED


def test_killed_holder_disappears(target: Path) -> None:
    with holder(HOLD_FD, str(target)) as child:
        assert listed(target) == {child.pid}
        os.kill(child.pid, signal.SIGKILL)
        child.wait()
        assert listed(target) == set()


def test_facade_lists_more_holders_than_its_first_array(target: Path) -> None:
    # More holders (each sleep's stdin is the file) than the facade asks for
    # first, so it must follow ERROR_MORE_DATA and grow its array.
    with open(target, "rb") as f:
        sleepers = [
            subprocess.Popen(["sleep", "600"], stdin=f, start_new_session=True)
            for _ in range(_LIST_FIRST_SIZE + 20)
        ]
    try:
        with rstrtmgr.Session() as s:
            s.register(files=[target])
            assert s.get_list().pids() == {p.pid for p in sleepers}
    finally:
        for p in sleepers:
            p.kill()
            p.wait()
