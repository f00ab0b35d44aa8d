"""RmRestart verifies what it starts: a settle time, the outcome, the new pid.

Real processes: a holder registers the exact command to restart it with, the
session shuts it down and restarts it, and the restarted program either dies
at once (352, with its exit status and output) or survives (its new pid).
"""

from __future__ import annotations

import errno
import os
import signal
import sys
from pathlib import Path

import pytest
from holders import holder
from restarts import REGISTER_EXACTLY, kill_all, pids_in, spec
from support import LINUX, alive, wait_for

import rstrtmgr
from rstrtmgr import AppStatus
from rstrtmgr._rstrtmgr import ffi, lib

pytestmark = [pytest.mark.behaviour, pytest.mark.linux_backend]
if not LINUX:
    pytest.skip("these tests drive Linux processes", allow_module_level=True)

# Restarted programs. argv[1] is where to write its pid.
DIES_AT_ONCE = """
import sys
print("starting up", flush=True)
print("fatal: config file /etc/app.conf is missing", file=sys.stderr)
sys.exit(3)
"""
ABORTS = "import os, signal\nos.kill(os.getpid(), signal.SIGABRT)\n"
SURVIVES = """
import os, sys, time
with open(sys.argv[1], "w") as f:
    f.write(str(os.getpid()))
print("serving", flush=True)
time.sleep(600)
"""
# Writes `size` bytes numbered by line, then its pid, then sleeps.
FLOODS = """
import os, sys, time
out = sys.stdout
n = 0
while n * 16 < int(sys.argv[2]):
    out.write(f"line {n:09d}\\n")
    n += 1
out.write("last line\\n")
out.flush()
with open(sys.argv[1], "w") as f:
    f.write(str(os.getpid()))
time.sleep(600)
"""


@pytest.fixture
def target(tmp_path: Path) -> Path:
    path = tmp_path / "app.dat"
    path.write_bytes(b"old version")
    return path


def restart_spec(code: str, *args: str) -> str:
    return spec([sys.executable, "-c", code, *args])


def by_pid(processes: object) -> dict[int, rstrtmgr.ProcessInfo]:
    return {p.pid: p for p in processes}  # type: ignore[attr-defined]


def test_program_that_exits_at_once_is_352_with_its_status_and_output(
    target: Path, tmp_path: Path
) -> None:
    with (
        holder(REGISTER_EXACTLY, str(target), restart_spec(DIES_AT_ONCE)) as old,
        rstrtmgr.Session() as s,
    ):
        s.register(files=[target])
        s.shutdown(only_registered=True, timeout=20)
        with pytest.raises(rstrtmgr.RestartFailedError) as info:
            s.restart(settle_time=5)
    error = info.value
    assert error.winerror == 352
    [failure] = error.failures
    assert failure.process.pid == old.pid
    assert failure.exit_code == 3
    assert failure.signal is None
    assert failure.error is None
    assert failure.new_process is not None
    assert failure.new_process.pid != old.pid
    assert not failure.survived
    # Both streams, in the order written.
    assert "starting up" in failure.output
    assert "fatal: config file /etc/app.conf is missing" in failure.output
    assert failure.output.index("starting up") < failure.output.index("fatal")
    assert failure.describe() == "exited with status 3"
    # The message says what happened to whom.
    assert str(old.pid) in str(error)
    assert "status 3" in str(error)
    info_old = by_pid(error.processes)[old.pid]
    assert info_old.status == AppStatus.ERROR_ON_RESTART
    assert info_old.restart_outcome == failure
    assert info_old.restarted_pid == failure.new_process.pid


def test_program_killed_by_a_signal_is_352_with_the_signal(target: Path) -> None:
    with (
        holder(REGISTER_EXACTLY, str(target), restart_spec(ABORTS)) as old,
        rstrtmgr.Session() as s,
    ):
        s.register(files=[target])
        s.shutdown(only_registered=True, timeout=20)
        with pytest.raises(rstrtmgr.RestartFailedError) as info:
            s.restart(settle_time=5)
    [failure] = info.value.failures
    assert failure.process.pid == old.pid
    assert failure.signal == signal.SIGABRT
    assert failure.exit_code is None
    assert failure.describe() == "killed by SIGABRT"


def test_program_that_cannot_start_is_352_with_the_errno(
    target: Path, tmp_path: Path
) -> None:
    gone = str(tmp_path / "removed-by-the-installer")
    with (
        holder(REGISTER_EXACTLY, str(target), spec([gone, "--resume"])) as old,
        rstrtmgr.Session() as s,
    ):
        s.register(files=[target])
        s.shutdown(only_registered=True, timeout=20)
        with pytest.raises(rstrtmgr.RestartFailedError) as info:
            s.restart()
    [failure] = info.value.failures
    assert failure.process.pid == old.pid
    assert failure.error == errno.ENOENT
    assert failure.new_process is None
    assert by_pid(info.value.processes)[old.pid].restarted_pid is None
    assert "could not start" in failure.describe()


def test_program_that_survives_is_restarted_with_its_new_pid(
    target: Path, tmp_path: Path, store: Path
) -> None:
    pidfile = tmp_path / "new.pid"
    new_pid = None
    try:
        with (
            holder(
                REGISTER_EXACTLY, str(target), restart_spec(SURVIVES, str(pidfile))
            ) as old,
            rstrtmgr.Session() as s,
        ):
            s.register(files=[target])
            s.shutdown(only_registered=True, timeout=20)
            # A descriptor of the caller that a child would inherit.
            leak = os.open(str(target), os.O_RDONLY)
            os.set_inheritable(leak, True)
            try:
                result = s.restart(settle_time=0.5)
            finally:
                os.close(leak)
            info = by_pid(result.processes)[old.pid]
            assert info.status == AppStatus.RESTARTED
            assert wait_for(lambda: pidfile.exists() and pidfile.read_text())
            new_pid = int(pidfile.read_text())
            assert info.restarted_pid == new_pid
            outcome = info.restart_outcome
            assert outcome is not None
            assert outcome.survived
            assert outcome.new_process is not None
            assert outcome.new_process == rstrtmgr.UniqueProcess.of(new_pid)
            assert outcome.exit_code is None
            assert outcome.signal is None
            assert outcome.settle_time == pytest.approx(0.5)
            assert outcome.describe() == "running"
            assert alive(new_pid)
            # The next list shows the same (the outcome is in the store).
            again = by_pid(s.get_list().processes)[old.pid]
            assert again.restarted_pid == new_pid
            # Its output goes to a log in the store, never to /dev/null;
            # it has no descriptor of the caller's.
            fds = {int(fd) for fd in os.listdir(f"/proc/{new_pid}/fd")}
            assert fds == {0, 1, 2}
            assert os.readlink(f"/proc/{new_pid}/fd/0") == "/dev/null"
            log = os.readlink(f"/proc/{new_pid}/fd/1")
            assert log.startswith(str(store / "logs") + "/")
            assert os.readlink(f"/proc/{new_pid}/fd/2") == log
            assert "serving" in outcome.output
    finally:
        kill_all([new_pid])


def test_settle_time_zero_turns_the_check_off(target: Path) -> None:
    with (
        holder(REGISTER_EXACTLY, str(target), restart_spec(DIES_AT_ONCE)) as old,
        rstrtmgr.Session() as s,
    ):
        s.register(files=[target])
        s.shutdown(only_registered=True, timeout=20)
        result = s.restart(settle_time=0)
        info = by_pid(result.processes)[old.pid]
        # Unchecked: started is all it knows.
        assert info.status == AppStatus.RESTARTED
        assert info.restart_outcome is not None
        assert info.restart_outcome.settle_time == 0
        assert info.restart_outcome.survived


def test_settle_time_holds_for_the_session(target: Path) -> None:
    # Set once (raw API), used by the next restart without settle_time.
    with (
        holder(REGISTER_EXACTLY, str(target), restart_spec(DIES_AT_ONCE)),
        rstrtmgr.Session() as s,
    ):
        assert lib.rstrtmgr_set_restart_settle_time(s.handle, 0) == 0
        s.register(files=[target])
        s.shutdown(only_registered=True, timeout=20)
        s.restart()  # no check: no 352


def test_several_restarts_settle_at_once(target: Path, tmp_path: Path) -> None:
    # Each restarted program notes when it started (CLOCK_MONOTONIC is the
    # machine's): watched one after another, each would start a settle
    # time after the previous one.
    n, settle = 4, 1.5
    code = (
        "import os, sys, time\n"
        "t = time.monotonic()\n"
        "open(sys.argv[1] + '.t', 'w').write(repr(t))\n"
        "open(sys.argv[1] + '.pid', 'w').write(str(os.getpid()))\n"
        "time.sleep(600)\n"
    )
    holders = [
        holder(
            REGISTER_EXACTLY, str(target), restart_spec(code, str(tmp_path / f"p{i}"))
        )
        for i in range(n)
    ]
    olds = [h.__enter__() for h in holders]
    try:
        with rstrtmgr.Session() as s:
            s.register(files=[target])
            s.shutdown(only_registered=True, timeout=20)
            result = s.restart(settle_time=settle)
            statuses = by_pid(result.processes)
            assert all(statuses[p.pid].status == AppStatus.RESTARTED for p in olds)
            assert all(
                statuses[p.pid].restart_outcome.settle_time == settle  # type: ignore[union-attr]
                for p in olds
            )
        starts = [float(p.read_text()) for p in sorted(tmp_path.glob("p*.t"))]
        assert len(starts) == n
        assert max(starts) - min(starts) < settle
    finally:
        kill_all(pids_in(tmp_path))
        for h in holders:
            h.__exit__(None, None, None)


def test_log_of_a_restarted_program_is_bounded_and_keeps_the_tail(
    target: Path, tmp_path: Path, store: Path
) -> None:
    pidfile = tmp_path / "new.pid"
    new_pid = None
    try:
        with (
            holder(
                REGISTER_EXACTLY,
                str(target),
                restart_spec(FLOODS, str(pidfile), str(1 << 20)),
            ) as old,
            rstrtmgr.Session() as s,
        ):
            s.register(files=[target])
            s.shutdown(only_registered=True, timeout=20)
            result = s.restart(settle_time=1)
            outcome = by_pid(result.processes)[old.pid].restart_outcome
            assert outcome is not None
            assert outcome.survived
            assert wait_for(lambda: pidfile.exists() and pidfile.read_text())
            new_pid = int(pidfile.read_text())
            # The last bytes, not the first.
            assert outcome.output.endswith("last line\n")
            assert "line 000000000" not in outcome.output
            assert len(outcome.output) <= 4096
            logs = list((store / "logs").iterdir())
            assert len(logs) == 1
            assert logs[0].stat().st_size <= 64 * 1024
            assert logs[0].read_bytes().endswith(b"last line\n")
    finally:
        kill_all([new_pid])


def test_progress_has_intermediate_percentages(target: Path, tmp_path: Path) -> None:
    code = (
        "import os, sys, time\n"
        "open(sys.argv[1], 'w').write(str(os.getpid()))\n"
        "time.sleep(600)\n"
    )
    holders = [
        holder(
            REGISTER_EXACTLY,
            str(target),
            restart_spec(code, str(tmp_path / f"{i}.pid")),
        )
        for i in range(3)
    ]
    for h in holders:
        h.__enter__()
    stopping: list[int] = []
    starting: list[int] = []
    try:
        with rstrtmgr.Session() as s:
            s.register(files=[target])
            s.shutdown(only_registered=True, timeout=20, progress=stopping.append)
            s.restart(settle_time=0.3, progress=starting.append)
    finally:
        kill_all(pids_in(tmp_path))
        for h in holders:
            h.__exit__(None, None, None)
    for seen in (stopping, starting):
        assert seen[0] == 0
        assert seen[-1] == 100
        assert seen == sorted(seen)
        # One step per process at least: more than just 0 and 100.
        assert len([p for p in seen if 0 < p < 100]) >= 2, seen


def test_restart_outcome_raw_api(target: Path) -> None:
    outcome = ffi.new("RSTRTMGR_RESTART_OUTCOME *")
    process = ffi.new("RM_UNIQUE_PROCESS *")
    process.dwProcessId = os.getpid()
    with rstrtmgr.Session() as s, rstrtmgr.Session.join(s.key) as joined:
        # Nothing restarted yet: no outcome for anyone.
        assert (
            lib.rstrtmgr_restart_outcome(s.handle, process, outcome, ffi.NULL, 0)
            == 1168
        )
        assert (
            lib.rstrtmgr_restart_outcome(s.handle, ffi.NULL, outcome, ffi.NULL, 0)
            == 160
        )
        # Only the primary sets how its restarts are checked.
        assert lib.rstrtmgr_set_restart_settle_time(joined.handle, 100) == 1219
        handle = s.handle
    assert lib.rstrtmgr_set_restart_settle_time(handle, 100) == 6
    assert lib.rstrtmgr_restart_outcome(handle, process, outcome, ffi.NULL, 0) == 6


def test_restart_settle_time_is_checked(target: Path) -> None:
    with rstrtmgr.Session() as s:
        for bad in (-1, float("nan"), "2"):
            with pytest.raises((ValueError, TypeError)):
                s.restart(settle_time=bad)  # type: ignore[arg-type]


def test_outcome_output_keeps_the_last_bytes_when_the_buffer_is_small(
    target: Path,
) -> None:
    with (
        holder(REGISTER_EXACTLY, str(target), restart_spec(DIES_AT_ONCE)) as old,
        rstrtmgr.Session() as s,
    ):
        s.register(files=[target])
        s.shutdown(only_registered=True, timeout=20)
        with pytest.raises(rstrtmgr.RestartFailedError):
            s.restart()
        process = ffi.new("RM_UNIQUE_PROCESS *")
        process.dwProcessId = old.pid
        ft = by_pid(s.get_list().processes)[old.pid].start_filetime
        process.ProcessStartTime.dwLowDateTime = ft & 0xFFFFFFFF
        process.ProcessStartTime.dwHighDateTime = ft >> 32
        outcome = ffi.new("RSTRTMGR_RESTART_OUTCOME *")
        buf = ffi.new("char[]", 9)
        assert lib.rstrtmgr_restart_outcome(s.handle, process, outcome, buf, 9) == 0
        assert outcome.dwResult == lib.RSTRTMGR_RESTART_EXITED
        assert outcome.dwCode == 3
        assert outcome.cbOutput > 8
        assert ffi.string(buf) == b"missing\n"  # the last 8 bytes, then NUL


def test_cancel_during_the_settle_time_leaves_the_program_running(
    target: Path, tmp_path: Path
) -> None:
    class Stop(Exception):
        pass

    pidfile = tmp_path / "new.pid"

    def progress(percent: int) -> None:
        # Its program has started: the restart would now wait 60 s.
        if percent > 0:
            raise Stop

    new_pid = None
    try:
        with (
            holder(
                REGISTER_EXACTLY, str(target), restart_spec(SURVIVES, str(pidfile))
            ) as old,
            rstrtmgr.Session() as s,
        ):
            s.register(files=[target])
            s.shutdown(only_registered=True, timeout=20)
            with pytest.raises(Stop):
                s.restart(settle_time=60, progress=progress)
            assert wait_for(lambda: pidfile.exists() and pidfile.read_text())
            new_pid = int(pidfile.read_text())
            # Cut short, not killed: started is all that is known of it.
            assert alive(new_pid)
            info = by_pid(s.get_list().processes)[old.pid]
            assert info.status == AppStatus.RESTARTED
            assert info.restarted_pid == new_pid
    finally:
        kill_all([new_pid])


def test_exit_status_is_known_when_the_caller_ignores_sigchld(target: Path) -> None:
    # SIGCHLD ignored makes the kernel reap children unasked: the watcher,
    # not the caller, must still learn how its program ended.
    with (
        holder(REGISTER_EXACTLY, str(target), restart_spec(DIES_AT_ONCE)),
        rstrtmgr.Session() as s,
    ):
        s.register(files=[target])
        s.shutdown(only_registered=True, timeout=20)
        previous = signal.signal(signal.SIGCHLD, signal.SIG_IGN)
        try:
            with pytest.raises(rstrtmgr.RestartFailedError) as info:
                s.restart(settle_time=5)
        finally:
            signal.signal(signal.SIGCHLD, previous)
    [failure] = info.value.failures
    assert failure.exit_code == 3
