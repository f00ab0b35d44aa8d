"""get_list() again and again: the holders' /proc directories that the Linux
backend keeps open from one scan of a session to the next (and the descriptor
it tries first) never make a list stale, never answer for a process that has
taken a gone holder's pid, and never outlive their session, a fork or their
share of the descriptor limit."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path

import pytest
from holders import holder
from support import ROOT, by_pid, run_python

import rstrtmgr
from rstrtmgr import AppStatus, AppType

pytestmark = [pytest.mark.behaviour, pytest.mark.linux_backend]

# Holds argv[1] open at a new descriptor on each "reopen", closes it on
# "close", renames itself (its comm) on "name X" (/proc/self/comm) and
# "prctl X" (PR_SET_NAME), takes a pseudo-terminal as its controlling one on
# "ctty" and lets it go on "noctty", sets its audit login uid (so its
# sessionid) on "login", takes uid N on "setuid N", becomes
# `python PATH argv[1]` on "exec PATH";
# answers each with "ok" (after "login", "ok SESSIONID" or "no ERROR").
OBEDIENT = """
import os, sys
fds = [os.open(sys.argv[1], os.O_RDONLY)]
def obey():
    for line in sys.stdin:
        verb, _, arg = line.rstrip("\\n").partition(" ")
        answer = "ok"
        if verb == "reopen":
            fds.append(os.open(sys.argv[1], os.O_RDONLY))
            os.close(fds.pop(0))
        elif verb == "close":
            while fds:
                os.close(fds.pop())
        elif verb == "name":
            with open("/proc/self/comm", "w") as f:
                f.write(arg)
        elif verb == "prctl":
            import ctypes
            libc = ctypes.CDLL(None, use_errno=True)
            assert libc.prctl(15, arg.encode(), 0, 0, 0) == 0  # PR_SET_NAME
        elif verb == "ctty":
            import fcntl, signal, termios
            signal.signal(signal.SIGHUP, signal.SIG_IGN)  # at "noctty"
            os.setsid()
            tty = os.openpty()[1]
            fcntl.ioctl(tty, termios.TIOCSCTTY, 0)
            fds.append(tty)
        elif verb == "noctty":
            import fcntl, termios
            fcntl.ioctl(fds[-1], termios.TIOCNOTTY)
        elif verb == "login":
            try:
                with open("/proc/self/loginuid", "w") as f:
                    f.write(str(os.getuid()))
                with open("/proc/self/sessionid") as f:
                    answer = "ok " + f.read().strip()
            except OSError as e:
                answer = f"no {e}"
        elif verb == "setuid":
            os.setresuid(int(arg), int(arg), int(arg))
        elif verb == "exec":
            os.execv(sys.executable, [sys.executable, arg, sys.argv[1]])
        print(answer, flush=True)
"""


@contextmanager
def obedient(path: Path) -> Iterator[subprocess.Popen[str]]:
    code = OBEDIENT + "print('ready', flush=True)\nobey()\n"
    proc = subprocess.Popen(
        [sys.executable, "-c", code, str(path)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        assert proc.stdout.readline() == "ready\n"
        yield proc
    finally:
        proc.kill()
        proc.wait(timeout=30)


@contextmanager
def listed_holder(
    tmp_path: Path,
) -> Iterator[tuple[subprocess.Popen[str], rstrtmgr.Session]]:
    """An obedient holder of a file, and a session that has listed it once."""
    target = tmp_path / "held"
    target.write_bytes(b"x")
    with obedient(target) as proc, rstrtmgr.Session() as s:
        s.register(files=[target])
        assert proc.pid in s.get_list().pids()
        yield proc, s


def ask(proc: subprocess.Popen[str], line: str) -> str:
    assert proc.stdin is not None
    assert proc.stdout is not None
    proc.stdin.write(line + "\n")
    proc.stdin.flush()
    return proc.stdout.readline().rstrip("\n")


def tell(proc: subprocess.Popen[str], line: str) -> None:
    assert ask(proc, line) == "ok"


# Where this process's descriptors into /proc/PID (other pids) lead; the
# source, so that a child interpreter can run it too.
PROC_LINKS = """
import os, sys
def proc_links():
    own = f"/proc/{os.getpid()}/"
    links = []
    for fd in os.listdir("/proc/self/fd"):
        try:
            target = os.readlink(f"/proc/self/fd/{fd}")
        except OSError:
            continue  # the listing's own descriptor
        ours = target.startswith(own) or target == own.rstrip("/")
        if target.startswith("/proc/") and target[6:7].isdigit() and not ours:
            links.append(target)
    return links
"""
_space: dict[str, object] = {}
exec(PROC_LINKS, _space)
proc_links: Callable[[], list[str]] = _space["proc_links"]  # type: ignore[assignment]


def test_each_list_reads_the_holders_afresh(tmp_path: Path) -> None:
    with listed_holder(tmp_path) as (proc, s):
        for name in ("renamed", "again"):
            tell(proc, f"name {name}")
            assert by_pid(s.get_list())[proc.pid].app_name == name
        # The descriptor that matched last time is gone; another holds it.
        tell(proc, "reopen")
        assert proc.pid in s.get_list().pids()
        tell(proc, "close")
        assert proc.pid not in s.get_list().pids()


# What a kept holder's entry is made of, each read again at every list
# (docs/linux-backend.md, "What a list reads again"): a change between two
# lists of one session shows in the second.


def test_a_name_set_by_prctl_shows_in_the_next_list(tmp_path: Path) -> None:
    with listed_holder(tmp_path) as (proc, s):
        tell(proc, "prctl by-prctl")
        assert by_pid(s.get_list())[proc.pid].app_name == "by-prctl"


def test_a_stopped_holder_is_listed_with_its_new_name(tmp_path: Path) -> None:
    """Stopped (SIGSTOP) is a state of the process, not an RM_APP_STATUS:
    Windows lists a suspended process as running too."""
    with listed_holder(tmp_path) as (proc, s):
        tell(proc, "name before-stop")
        os.kill(proc.pid, signal.SIGSTOP)
        try:
            info = by_pid(s.get_list())[proc.pid]
            assert info.app_name == "before-stop"
            assert info.status == AppStatus.RUNNING
        finally:
            os.kill(proc.pid, signal.SIGCONT)
        tell(proc, "name after-stop")
        assert by_pid(s.get_list())[proc.pid].app_name == "after-stop"


def test_a_new_program_in_the_same_process_is_named_anew(tmp_path: Path) -> None:
    """exec(2) keeps the pid, the start time and the /proc directory; the
    interpreter's name (comm) stays, its script (cmdline) is the new one."""
    script = tmp_path / "second_program.py"
    script.write_text(OBEDIENT + "print('ok', flush=True)\nobey()\n")
    with listed_holder(tmp_path) as (proc, s):
        before = by_pid(s.get_list())[proc.pid]
        assert before.app_name != script.name
        tell(proc, f"exec {script}")
        after = by_pid(s.get_list())[proc.pid]
        assert after.app_name == script.name
        assert after.start_time == before.start_time


def test_a_holder_that_loses_its_terminal_is_no_console(tmp_path: Path) -> None:
    with listed_holder(tmp_path) as (proc, s):
        tell(proc, "ctty")
        assert by_pid(s.get_list())[proc.pid].app_type == AppType.CONSOLE
        tell(proc, "noctty")
        assert by_pid(s.get_list())[proc.pid].app_type == AppType.UNKNOWN


def test_a_new_login_session_shows_in_the_next_list(tmp_path: Path) -> None:
    """A process sets its audit login uid once freely (again with
    CAP_AUDIT_CONTROL), and the kernel then gives it a new sessionid."""
    with listed_holder(tmp_path) as (proc, s):
        before = by_pid(s.get_list())[proc.pid].ts_session_id
        answer = ask(proc, "login")
        if not answer.startswith("ok "):
            pytest.skip(f"this process may not set its login uid: {answer}")
        session = int(answer.split()[1])
        assert session != before
        assert by_pid(s.get_list())[proc.pid].ts_session_id == session


@pytest.mark.skipif(not ROOT, reason="changing a process's uid takes root")
def test_a_holder_that_changes_its_uid_shows_the_new_one(tmp_path: Path) -> None:
    with listed_holder(tmp_path) as (proc, s):
        assert by_pid(s.get_list(details=True))[proc.pid].uid == 0
        tell(proc, "setuid 65534")
        assert by_pid(s.get_list(details=True))[proc.pid].uid == 65534


def test_a_gone_holder_is_never_answered_for(tmp_path: Path) -> None:
    target = tmp_path / "held"
    target.write_bytes(b"x")
    with rstrtmgr.Session() as s:
        s.register(files=[target])
        with ExitStack() as stack:
            procs = [stack.enter_context(obedient(target)) for _ in range(3)]
            assert s.get_list().pids() >= {p.pid for p in procs}
            procs[0].kill()
            procs[0].wait(timeout=30)
            listed = s.get_list().pids()
            assert procs[0].pid not in listed
            assert {p.pid for p in procs[1:]} <= listed
        assert not s.get_list().pids() & {p.pid for p in procs}


@pytest.mark.skipif(
    not ROOT, reason="handing out a chosen pid (ns_last_pid) takes root"
)
def test_a_process_with_a_gone_holders_pid_is_itself(tmp_path: Path) -> None:
    """The kept files belong to the process, not to its pid: a newcomer at
    the same pid is named and dated as itself."""
    target = tmp_path / "held"
    target.write_bytes(b"x")
    with rstrtmgr.Session() as s:
        s.register(files=[target])
        with obedient(target) as first:
            tell(first, "name first")
            before = by_pid(s.get_list())[first.pid]
            assert before.app_name == "first"
            pid = first.pid
        # Other processes of the machine may take the pid first: try again.
        for _ in range(20):
            with open("/proc/sys/kernel/ns_last_pid", "w") as f:
                f.write(str(pid - 1))
            with obedient(target) as second:
                if second.pid != pid:
                    continue
                tell(second, "name second")
                after = by_pid(s.get_list())[pid]
                assert after.app_name == "second"
                assert after.start_time > before.start_time
                return
        pytest.skip(f"pid {pid} went to another process 20 times")


def test_each_sessions_directories_close_with_it(tmp_path: Path) -> None:
    """In a process of its own, whose sessions are the test's alone."""
    target = tmp_path / "held"
    target.write_bytes(b"x")
    code = (
        PROC_LINKS
        + """
import rstrtmgr
pid = int(sys.argv[2])
def kept():
    return proc_links().count(f"/proc/{pid}")
print(kept())
first = rstrtmgr.Session()
first.register(files=[sys.argv[1]])
second = rstrtmgr.Session()
second.register(files=[sys.argv[1]])
print(pid in first.get_list().pids(), kept())
print(pid in second.get_list().pids(), kept())
second.close()
print(pid in first.get_list().pids(), kept())
first.close()
print(kept())
"""
    )
    with obedient(target) as proc:
        out = run_python(code, str(target), str(proc.pid))
    assert out.split() == ["0", "True", "1", "True", "2", "True", "1", "0"]


def test_a_forked_child_keeps_nothing(tmp_path: Path) -> None:
    with listed_holder(tmp_path) as (proc, s):
        assert proc_links() != []
        read, write = os.pipe()
        child = os.fork()
        if child == 0:  # the child: reports what it still has open
            try:
                os.write(write, repr(proc_links()).encode())
            finally:
                os._exit(0)
        os.close(write)
        with os.fdopen(read) as f:
            reported = f.read()
        os.waitpid(child, 0)
        assert reported == "[]"
        assert proc.pid in s.get_list().pids()


def test_kept_files_stay_within_their_share_of_the_limit(tmp_path: Path) -> None:
    """With a soft limit of 64 descriptors a process keeps at most 8 holders'
    directories; every list still names all 10 holders."""
    target = tmp_path / "held"
    target.write_bytes(b"x")
    code = (
        PROC_LINKS
        + """
import resource, rstrtmgr
hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
resource.setrlimit(resource.RLIMIT_NOFILE, (64, hard))
with rstrtmgr.Session() as s:
    s.register(files=[sys.argv[1]])
    for _ in range(3):
        pids = sorted(s.get_list().pids() & set(map(int, sys.argv[2:])))
        print(len(pids), len(proc_links()))
"""
    )
    with ExitStack() as stack:
        procs = [
            stack.enter_context(holder("f = open(sys.argv[1])", str(target)))
            for _ in range(10)
        ]
        out = run_python(code, str(target), *(str(p.pid) for p in procs))
    for line in out.splitlines():
        listed, kept = map(int, line.split())
        assert listed == 10
        assert kept <= 8
    assert kept == 8  # after the first list: the share is used, not more


def test_a_list_while_another_thread_lists_is_whole(tmp_path: Path) -> None:
    """Threads listing one session at once: one keeps the directories, the
    others scan without them; each sees every holder every time."""
    from concurrent.futures import ThreadPoolExecutor

    target = tmp_path / "held"
    target.write_bytes(b"x")
    with ExitStack() as stack:
        procs = [stack.enter_context(obedient(target)) for _ in range(4)]
        want = {p.pid for p in procs}
        with rstrtmgr.Session() as s:
            s.register(files=[target])

            def missed(_: int) -> list[set[int]]:
                lists = (s.get_list().pids() & want for _ in range(15))
                return [got for got in lists if got != want]

            with ThreadPoolExecutor(3) as pool:
                assert list(pool.map(missed, range(3))) == [[], [], []]
