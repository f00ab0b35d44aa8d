"""RmShutdown, RmRestart, RmCancelCurrentTask and filters, with real processes."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from holders import HOLD_FD, LOG_ON_TERM, RESTARTABLE, holder, restartable
from support import (
    LINUX,
    PACKAGE_ROOT,
    alive,
    by_pid,
    child_env,
    kill_started,
    python,
    started_pids,
    wait_for,
)

import rstrtmgr
from rstrtmgr import AppStatus, FilterAction, FilterTrigger, RebootReason
from rstrtmgr._rstrtmgr import ffi, lib

pytestmark = [pytest.mark.behaviour, pytest.mark.linux_backend]
if not LINUX:
    pytest.skip("these tests drive Linux processes", allow_module_level=True)

IGNORE_TERM = "import signal\nsignal.signal(signal.SIGTERM, signal.SIG_IGN)\n"

REGISTER = "rstrtmgr.register_application_restart()"


@pytest.fixture
def target(tmp_path: Path) -> Path:
    path = tmp_path / "app.dat"
    path.write_bytes(b"old version")
    return path


# -- RmShutdown --------------------------------------------------------------


def test_holder_that_exits_on_sigterm(target: Path) -> None:
    with holder(HOLD_FD, str(target)) as child, rstrtmgr.Session() as s:
        s.register(files=[target])
        result = s.shutdown(timeout=20)
        assert child.wait(timeout=30) == -signal.SIGTERM
        assert by_pid(result)[child.pid].status == AppStatus.STOPPED
        # As on Windows, the next list still shows what was shut down.
        assert by_pid(s.get_list())[child.pid].status == AppStatus.STOPPED


def test_holder_that_ignores_sigterm_fails_then_is_killed_with_force(
    target: Path,
) -> None:
    with holder(IGNORE_TERM + HOLD_FD, str(target)) as child, rstrtmgr.Session() as s:
        s.register(files=[target])
        with pytest.raises(rstrtmgr.ShutdownFailedError) as info:
            s.shutdown(timeout=0.3)
        assert info.value.winerror == 351
        assert by_pid_list(info.value.processes)[child.pid] == AppStatus.ERROR_ON_STOP
        assert child.poll() is None  # still running: not killed without force
        result = s.shutdown(force=True, timeout=0.3)
        assert child.wait(timeout=30) == -signal.SIGKILL
        assert by_pid(result)[child.pid].status == AppStatus.STOPPED


def by_pid_list(processes: tuple[rstrtmgr.ProcessInfo, ...]) -> dict[int, AppStatus]:
    return {p.pid: p.status for p in processes}


def test_only_registered_with_an_unregistered_holder_touches_nothing(
    target: Path, tmp_path: Path
) -> None:
    log = tmp_path / "starts"
    with (
        restartable(target, log) as registered,
        holder(HOLD_FD, str(target)) as plain,
        rstrtmgr.Session() as s,
    ):
        s.register(files=[target])
        listed = by_pid(s.get_list())
        first = started_pids(log)[0]
        assert listed[first].restartable
        assert not listed[plain.pid].restartable
        with pytest.raises(rstrtmgr.RebootRequiredError) as info:
            s.shutdown(only_registered=True, timeout=5)
        assert info.value.winerror == 350
        assert alive(first)
        assert plain.poll() is None
        assert registered.poll() is None


def test_a_registration_made_after_a_list_shows_in_the_next(
    target: Path, tmp_path: Path
) -> None:
    """Each list reads the restart records afresh: none is kept between two."""
    log = tmp_path / "starts"
    with holder(HOLD_FD, str(target)) as plain, rstrtmgr.Session() as s:
        s.register(files=[target])
        assert not by_pid(s.get_list())[plain.pid].restartable
        with restartable(target, log):
            [first] = started_pids(log)
            listed = by_pid(s.get_list())
            assert listed[first].restartable
            assert not listed[plain.pid].restartable


def test_a_registration_among_more_records_than_one_listing_is_found(
    target: Path, tmp_path: Path, store: Path
) -> None:
    """Past 4,096 records a list asks the directory holder by holder."""
    log = tmp_path / "starts"
    with restartable(target, log), rstrtmgr.Session() as s:
        [first] = started_pids(log)
        s.register(files=[target])
        assert by_pid(s.get_list())[first].restartable
        [records] = {p.parent for p in store.rglob(f"{first}-*")}
        # Records of processes that do not exist (pid_max is at most 2**22).
        for i in range(4100):
            (records / f"{2**23 + i}-1").write_bytes(b"")
        listed = by_pid(s.get_list())
        assert listed[first].restartable
        assert len(list(records.iterdir())) > 4096


def test_registered_holder_is_shut_down_and_restarted(
    target: Path, tmp_path: Path
) -> None:
    log = tmp_path / "starts"
    with restartable(target, log), rstrtmgr.Session() as s:
        [first] = started_pids(log)
        s.register(files=[target])
        assert by_pid(s.get_list())[first].restartable
        s.shutdown(only_registered=True, timeout=20)
        assert wait_for(lambda: not alive(first))
        # The installer replaces the file while nobody holds it.
        target.write_bytes(b"new version")
        result = s.restart()
        assert by_pid(result)[first].status == AppStatus.RESTARTED
        assert wait_for(lambda: len(started_pids(log)) == 2)
        second = started_pids(log)[1]
        assert second != first
        # The new process, with the same command line, holds the file again.
        with rstrtmgr.Session() as again:
            again.register(files=[target])
            assert wait_for(lambda: second in again.get_list().pids())


def test_program_started_through_launch_is_restarted(
    target: Path, tmp_path: Path
) -> None:
    log = tmp_path / "starts"
    code = RESTARTABLE.format(register="")
    launcher = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "rstrtmgr",
            "launch",
            "--",
            sys.executable,
            "-c",
            code,
            str(target),
            str(log),
        ],
        env=child_env(),
        cwd=PACKAGE_ROOT,
        stdin=subprocess.DEVNULL,
    )
    try:
        assert wait_for(lambda: started_pids(log))
        [first] = started_pids(log)
        assert first == launcher.pid  # launch execs: same process
        with rstrtmgr.Session() as s:
            s.register(files=[target])
            assert by_pid(s.get_list())[first].restartable
            s.shutdown(only_registered=True, timeout=20)
            assert launcher.wait(timeout=30) == -signal.SIGTERM
            s.restart()
            assert wait_for(lambda: len(started_pids(log)) == 2)
            second = started_pids(log)[1]
            # Launched again, so registered again.
            again = rstrtmgr.Session()
            again.register(files=[target])
            assert wait_for(
                lambda: (
                    (p := by_pid(again.get_list()).get(second)) is not None
                    and p.restartable
                )
            )
            again.close()
    finally:
        kill_started(log)
        launcher.kill()
        launcher.wait(timeout=30)


def test_restart_before_shutdown_is_out_of_sequence(target: Path) -> None:
    with rstrtmgr.Session() as s:
        s.register(files=[target])
        with pytest.raises(rstrtmgr.OutOfSequenceError) as info:
            s.restart()
        assert info.value.winerror == 776
        assert lib.RmRestart(s.handle, 0, ffi.NULL) == 776


def test_cancel_from_another_thread_stops_a_long_shutdown(target: Path) -> None:
    with holder(IGNORE_TERM + HOLD_FD, str(target)) as child, rstrtmgr.Session() as s:
        s.register(files=[target])
        waiting = threading.Event()  # set once the shutdown reports progress

        def cancel_when_waiting() -> None:
            assert waiting.wait(timeout=60)
            s.cancel()

        canceller = threading.Thread(target=cancel_when_waiting)
        canceller.start()
        began = time.monotonic()
        with pytest.raises(rstrtmgr.CancelledError) as info:
            s.shutdown(timeout=60, progress=lambda _: waiting.set())
        elapsed = time.monotonic() - began
        canceller.join()
        assert info.value.winerror == 1223
        # Not the 60 s timeout: the cancellation ended the wait.
        assert elapsed < 30
        assert child.poll() is None


def test_caller_is_never_shut_down(target: Path) -> None:
    mine = open(target, "rb")  # noqa: SIM115 - held across the shutdown
    try:
        with holder(HOLD_FD, str(target)) as child, rstrtmgr.Session() as s:
            s.register(files=[target])
            before = s.get_list()
            assert before.reboot_reasons & RebootReason.DETECTED_SELF
            result = s.shutdown(timeout=20)
            assert child.wait(timeout=30) == -signal.SIGTERM
            assert by_pid(result)[os.getpid()].status == AppStatus.RUNNING
    finally:
        mine.close()


def test_nothing_outside_the_list_is_signalled(target: Path, tmp_path: Path) -> None:
    other = tmp_path / "other"
    other.write_bytes(b"x")
    with (
        holder(HOLD_FD, str(other)) as bystander,
        holder(HOLD_FD, str(target)) as child,
        rstrtmgr.Session() as s,
    ):
        s.register(files=[target])
        # A registered identity with the bystander's pid but another start
        # time names a process that is gone: never the bystander.
        wrong = rstrtmgr.UniqueProcess.of(bystander.pid)
        s.register(processes=[rstrtmgr.UniqueProcess(wrong.pid, wrong.start_time + 1)])
        assert s.get_list().pids() == {child.pid}
        s.shutdown(force=True, timeout=0.5)
        assert child.wait(timeout=30) == -signal.SIGTERM
        assert bystander.poll() is None


def test_progress_is_monotonic_from_0_to_100(target: Path) -> None:
    seen: list[int] = []
    with (
        holder(HOLD_FD, str(target)),
        holder(HOLD_FD, str(target)),
        holder(HOLD_FD, str(target)),
        rstrtmgr.Session() as s,
    ):
        s.register(files=[target])
        s.shutdown(timeout=20, progress=seen.append)
    assert seen[0] == 0
    assert seen[-1] == 100
    assert seen == sorted(seen)
    assert all(0 <= p <= 100 for p in seen)
    assert len(seen) >= 3


def test_exception_in_progress_cancels_and_is_reraised(target: Path) -> None:
    class Stop(Exception):
        pass

    def progress(percent: int) -> None:
        raise Stop(percent)

    with holder(IGNORE_TERM + HOLD_FD, str(target)) as child, rstrtmgr.Session() as s:
        s.register(files=[target])
        began = time.monotonic()
        with pytest.raises(Stop) as info:
            s.shutdown(timeout=60, progress=progress)
        assert info.value.args == (0,)
        assert time.monotonic() - began < 30  # cancelled, not timed out
        assert child.poll() is None


# -- filters -------------------------------------------------------------------


def test_no_shutdown_filter_by_process_masks_it(target: Path) -> None:
    with (
        holder(HOLD_FD, str(target)) as kept,
        holder(HOLD_FD, str(target)) as stopped,
        rstrtmgr.Session() as s,
    ):
        s.register(files=[target])
        s.add_filter(FilterAction.NO_SHUTDOWN, process=kept.pid)
        result = s.shutdown(timeout=20)
        assert stopped.wait(timeout=30) == -signal.SIGTERM
        assert kept.poll() is None
        statuses = by_pid(result)
        assert statuses[kept.pid].status == AppStatus.SHUTDOWN_MASKED
        assert statuses[stopped.pid].status == AppStatus.STOPPED


def test_no_shutdown_filter_by_program_path(target: Path) -> None:
    with holder(HOLD_FD, str(target)) as kept, rstrtmgr.Session() as s:
        s.register(files=[target])
        s.add_filter(FilterAction.NO_SHUTDOWN, path=os.path.realpath(sys.executable))
        result = s.shutdown(timeout=20)
        assert kept.poll() is None
        assert by_pid(result)[kept.pid].status == AppStatus.SHUTDOWN_MASKED


def test_no_restart_filter_by_identity(target: Path, tmp_path: Path) -> None:
    log = tmp_path / "starts"
    with restartable(target, log), rstrtmgr.Session() as s:
        [first] = started_pids(log)
        identity = rstrtmgr.UniqueProcess.of(first)
        s.register(files=[target])
        s.add_filter(FilterAction.NO_RESTART, process=identity)
        s.shutdown(timeout=20)
        result = s.restart()
        assert by_pid(result)[first].status == AppStatus.RESTART_MASKED
        time.sleep(0.5)
        assert started_pids(log) == [first]


def test_filter_list_latest_wins_and_removal(target: Path) -> None:
    with holder(HOLD_FD, str(target)) as child, rstrtmgr.Session() as s:
        me = rstrtmgr.UniqueProcess.of(child.pid)
        s.add_filter(FilterAction.NO_RESTART, path=str(target))
        s.add_filter(FilterAction.NO_SHUTDOWN, process=me)
        s.add_filter(FilterAction.NO_RESTART, service="example")
        s.add_filter(FilterAction.NO_SHUTDOWN, path=str(target))  # replaces
        filters = s.filters()
        assert len(filters) == 3
        by_trigger = {f.trigger: f for f in filters}
        assert by_trigger[FilterTrigger.FILE].path == str(target)
        assert by_trigger[FilterTrigger.FILE].action == FilterAction.NO_SHUTDOWN
        assert by_trigger[FilterTrigger.PROCESS].process == me
        assert by_trigger[FilterTrigger.SERVICE].service == "example.service"
        s.remove_filter(process=me)
        assert {f.trigger for f in s.filters()} == {
            FilterTrigger.FILE,
            FilterTrigger.SERVICE,
        }
        with pytest.raises(rstrtmgr.BadArgumentsError):
            s.remove_filter(process=me)


def test_filter_arguments_are_checked(target: Path) -> None:
    with rstrtmgr.Session() as s:
        with pytest.raises(TypeError, match="exactly one"):
            s.add_filter(FilterAction.NO_SHUTDOWN)
        with pytest.raises(TypeError, match="exactly one"):
            s.add_filter(FilterAction.NO_SHUTDOWN, path=str(target), service="x")
        with pytest.raises(ValueError, match="NO_RESTART or NO_SHUTDOWN"):
            s.add_filter(FilterAction.INVALID, path=str(target))
        with pytest.raises(ValueError, match="full path"):
            s.add_filter(FilterAction.NO_SHUTDOWN, path="relative/prog")
        with pytest.raises(TypeError):
            s.add_filter("no", path=str(target))  # type: ignore[arg-type]
        assert s.filters() == []
        h = s.handle
        name = ffi.new("WCHAR[]", str(target))
        proc = ffi.new("RM_UNIQUE_PROCESS *")
        assert lib.RmAddFilter(h, ffi.NULL, ffi.NULL, ffi.NULL, 1) == 160
        assert lib.RmAddFilter(h, name, proc, ffi.NULL, 1) == 160
        assert lib.RmAddFilter(h, name, ffi.NULL, ffi.NULL, 0) == 160
        assert lib.RmAddFilter(h, name, ffi.NULL, ffi.NULL, 3) == 160
        assert lib.RmRemoveFilter(h, ffi.NULL, ffi.NULL, ffi.NULL) == 160


def test_raw_filter_list_buffer_protocol(target: Path) -> None:
    with rstrtmgr.Session() as s:
        h = s.handle
        needed = ffi.new("DWORD *")
        assert lib.RmGetFilterList(h, ffi.NULL, 0, needed) == 0
        assert needed[0] == 0
        names = [ffi.new("WCHAR[]", str(target)), ffi.new("WCHAR[]", "svc")]
        assert lib.RmAddFilter(h, names[0], ffi.NULL, ffi.NULL, 2) == 0
        assert lib.RmAddFilter(h, ffi.NULL, ffi.NULL, names[1], 1) == 0
        assert lib.RmGetFilterList(h, ffi.NULL, 0, needed) == 234
        size = needed[0]
        assert size >= 2 * ffi.sizeof("RM_FILTER_INFO")
        small = ffi.new("BYTE[]", size - 1)
        assert lib.RmGetFilterList(h, small, size - 1, needed) == 234
        assert needed[0] == size
        buf = ffi.new("BYTE[]", size)
        assert lib.RmGetFilterList(h, buf, size, needed) == 0
        first = ffi.cast("RM_FILTER_INFO *", buf)
        assert first.FilterAction == lib.RmNoShutdown
        assert first.FilterTrigger == lib.RmFilterTriggerFile
        assert ffi.string(first.strFilename) == str(target)
        assert first.cbNextOffset > 0
        second = ffi.cast("RM_FILTER_INFO *", buf + first.cbNextOffset)
        assert second.FilterTrigger == lib.RmFilterTriggerService
        assert ffi.string(second.strServiceShortName) == "svc.service"
        assert second.cbNextOffset == 0
        # The strings live inside the caller's buffer.
        base = int(ffi.cast("uintptr_t", buf))
        assert base <= int(ffi.cast("uintptr_t", first.strFilename)) < base + size
        assert lib.RmGetFilterList(h, buf, size, ffi.NULL) == 160


def test_joined_handle_may_not_shut_down_restart_cancel_or_filter(
    target: Path,
) -> None:
    with rstrtmgr.Session() as s, rstrtmgr.Session.join(s.key) as j:
        j.register(files=[target])  # allowed to a secondary
        j.get_list()
        for call in (
            j.shutdown,
            j.restart,
            j.cancel,
            j.filters,
            lambda: j.add_filter(FilterAction.NO_SHUTDOWN, path=str(target)),
        ):
            with pytest.raises(rstrtmgr.SessionConflictError) as info:
                call()
            assert info.value.winerror == 1219
        buf = ffi.new("BYTE[]", 64)
        needed = ffi.new("DWORD *")
        assert lib.RmGetFilterList(j.handle, buf, 64, needed) == 1219
        assert lib.RmShutdown(j.handle, 0, ffi.NULL) == 1219


def test_bad_shutdown_arguments(target: Path) -> None:
    with rstrtmgr.Session() as s:
        assert lib.RmShutdown(s.handle, 0x4, ffi.NULL) == 160
        assert lib.RmRestart(s.handle, 1, ffi.NULL) == 160
        assert lib.RmShutdown(rstrtmgr.NO_SESSION, 0, ffi.NULL) == 6
        assert lib.RmCancelCurrentTask(rstrtmgr.NO_SESSION) == 6
        with pytest.raises(TypeError):
            s.shutdown(timeout="soon")  # type: ignore[arg-type]
        with pytest.raises(ValueError, match="timeout"):
            s.shutdown(timeout=-1)
        with pytest.raises(TypeError, match="callable"):
            s.shutdown(progress=3)  # type: ignore[arg-type]
        # An empty list shuts nothing down and may then be "restarted".
        assert s.shutdown().processes == []
        assert s.restart().processes == []


def test_restart_of_a_vanished_program_is_352(target: Path, tmp_path: Path) -> None:
    gone = tmp_path / "removed-by-the-installer"
    register = (
        "from rstrtmgr._restart import register_argv\n"
        f"register_argv([{str(gone).encode()!r}, b'--resume'])"
    )
    log = tmp_path / "starts"
    with restartable(target, log, register=register), rstrtmgr.Session() as s:
        [first] = started_pids(log)
        s.register(files=[target])
        s.shutdown(only_registered=True, timeout=20)
        with pytest.raises(rstrtmgr.RestartFailedError) as info:
            s.restart()
        assert info.value.winerror == 352
        assert by_pid_list(info.value.processes)[first] == AppStatus.ERROR_ON_RESTART


CONSOLE = """
import fcntl, termios
master, slave = os.openpty()
fcntl.ioctl(slave, termios.TIOCSCTTY, 0)  # a session leader takes a terminal
"""


def test_applications_go_before_consoles(target: Path, tmp_path: Path) -> None:
    log = tmp_path / "order"
    children = [
        python(
            LOG_ON_TERM.format(setup=setup),
            str(target),
            str(log),
            name,
            delay,
            start_new_session=True,  # no controlling terminal of ours
        )
        for name, setup, delay in (("console", CONSOLE, "0"), ("app", "", "0.5"))
    ]
    try:
        for c in children:
            assert c.stdout is not None
            assert c.stdout.readline().strip() == "ready"
        console, app = children
        with rstrtmgr.Session() as s:
            s.register(files=[target])
            types = {p.pid: p.app_type for p in s.get_list().processes}
            assert types[console.pid] == rstrtmgr.AppType.CONSOLE
            assert types[app.pid] == rstrtmgr.AppType.UNKNOWN
            s.shutdown(timeout=20)
        assert log.read_text().split() == ["app", "console"]
    finally:
        for c in children:
            c.kill()
            c.communicate(timeout=30)


# A process that calls itself what a system cannot lose (comm, as prctl sets
# it) and runs as root from the system's interpreter stands for one; a real
# one (pid 1) must never be put at risk by a test. A name alone is not
# critical (tests/test_critical.py).
CRITICAL_NAME = """
with open("/proc/self/comm", "w") as comm:
    comm.write("systemd-logind")
"""


@contextmanager
def system_holder(code: str, *args: str) -> Iterator[subprocess.Popen[str]]:
    """Like holder(), but running the root-owned /usr/bin/python3."""
    real = os.path.realpath("/usr/bin/python3")
    if os.geteuid() != 0 or not os.path.exists(real) or os.stat(real).st_uid:
        pytest.skip("needs root and a root-owned /usr/bin/python3")
    body = "import sys\n" + code + "\nprint('ready', flush=True)\nsys.stdin.read()\n"
    proc = subprocess.Popen(
        [real, "-S", "-c", body, *args],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        cwd="/",
    )
    try:
        assert proc.stdout is not None
        assert proc.stdout.readline().strip() == "ready"
        yield proc
    finally:
        proc.kill()
        proc.communicate(timeout=30)


def test_critical_holder_means_nothing_is_shut_down(target: Path) -> None:
    with (
        system_holder(CRITICAL_NAME + HOLD_FD, str(target)) as critical,
        holder(HOLD_FD, str(target)) as plain,
        rstrtmgr.Session() as s,
    ):
        s.register(files=[target])
        listed = s.get_list()
        assert by_pid(listed)[critical.pid].app_type == rstrtmgr.AppType.CRITICAL
        assert listed.reboot_reasons & RebootReason.CRITICAL_PROCESS
        with pytest.raises(rstrtmgr.RebootRequiredError) as info:
            s.shutdown(force=True, timeout=0.2)
        assert info.value.winerror == 350
        assert critical.poll() is None
        assert plain.poll() is None
        # Filtered out, it no longer stands in the way of the others.
        s.add_filter(FilterAction.NO_SHUTDOWN, process=critical.pid)
        result = s.shutdown(timeout=20)
        assert plain.wait(timeout=30) == -signal.SIGTERM
        assert critical.poll() is None
        assert by_pid(result)[critical.pid].status == AppStatus.SHUTDOWN_MASKED


def test_ctrl_c_cancels_a_long_shutdown(target: Path) -> None:
    with holder(IGNORE_TERM + HOLD_FD, str(target)) as stubborn:
        installer = python(
            """
            import signal, sys, time, rstrtmgr
            # A shell's background jobs inherit SIGINT ignored: restore Python's.
            signal.signal(signal.SIGINT, signal.default_int_handler)
            with rstrtmgr.Session() as s:
                s.register(files=[sys.argv[1]])
                began = time.monotonic()
                def under_way(percent):  # its first progress: it is waiting
                    print("shutting down", flush=True)
                try:
                    s.shutdown(timeout=60, progress=under_way)
                except KeyboardInterrupt:
                    print("interrupted after", time.monotonic() - began, flush=True)
            """,
            str(target),
        )
        assert installer.stdout is not None
        assert installer.stdout.readline().strip() == "shutting down"
        installer.send_signal(signal.SIGINT)
        out, err = installer.communicate(timeout=30)
        assert installer.returncode == 0, err
        words = out.split()
        assert words[:2] == ["interrupted", "after"], out
        assert float(words[2]) < 30  # not the 60 s timeout
        assert stubborn.poll() is None
