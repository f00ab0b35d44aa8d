"""Contract tests of RmStartSession, RmJoinSession and RmEndSession, raw and facade."""

from __future__ import annotations

import gc
import os
import re
import signal
import sys
import threading
from collections.abc import Callable
from pathlib import Path

import pytest
from support import (
    LINUX,
    OTHER_UID,
    ROOT,
    python,
    run_python,
    sessions_in,
)

import rstrtmgr
from rstrtmgr._rstrtmgr import ffi, lib

pytestmark = pytest.mark.behaviour

KEY = re.compile(r"[0-9a-f]{32}")


def raw_start() -> tuple[int, int, str]:
    """RmStartSession as a C programmer calls it: (code, handle, key)."""
    handle = ffi.new("DWORD *", lib.RSTRTMGR_NO_SESSION)
    key = ffi.new("WCHAR[]", lib.CCH_RM_SESSION_KEY + 1)
    code = lib.RmStartSession(handle, 0, key)
    return code, handle[0], ffi.string(key)


def raw_join(key: str) -> tuple[int, int]:
    handle = ffi.new("DWORD *", lib.RSTRTMGR_NO_SESSION)
    return lib.RmJoinSession(handle, key), handle[0]


def detail() -> str:
    buf = ffi.new("char[]", 1024)
    lib.rstrtmgr_error_detail(buf, len(buf))
    return bytes(ffi.string(buf)).decode()


# -- the raw layer ----------------------------------------------------------


@pytest.mark.joins
def test_raw_start_join_end() -> None:
    code, handle, key = raw_start()
    assert code == 0
    assert KEY.fullmatch(key)
    code, joined = raw_join(key)
    assert code == 0
    assert joined != handle
    assert lib.RmEndSession(joined) == 0
    assert lib.RmEndSession(handle) == 0
    # Ended by every participant: the session is gone.
    assert raw_join(key)[0] == 1219


def test_raw_keys_are_random() -> None:
    started = [raw_start() for _ in range(16)]
    try:
        assert all(code == 0 for code, _, _ in started)
        keys = {key for _, _, key in started}
        assert len(keys) == 16
        # 128 bits from a CSPRNG: every hex digit shows up across 16 keys.
        assert set("".join(keys)) == set("0123456789abcdef")
    finally:
        for _, handle, _ in started:
            lib.RmEndSession(handle)


@pytest.mark.linux_backend
def test_raw_first_handle_of_a_process_is_zero() -> None:
    out = run_python(
        """
        from rstrtmgr._rstrtmgr import ffi, lib
        h = ffi.new("DWORD *", lib.RSTRTMGR_NO_SESSION)
        k = ffi.new("WCHAR[33]")
        assert lib.RmStartSession(h, 0, k) == 0
        first = h[0]
        assert lib.RmEndSession(first) == 0
        assert lib.RmEndSession(first) == 6
        print(first)
        """
    )
    assert out.split() == ["0"]


def test_raw_null_pointers_and_reserved_flags() -> None:
    handle = ffi.new("DWORD *")
    key = ffi.new("WCHAR[33]")
    assert lib.RmStartSession(ffi.NULL, 0, key) == 160
    assert lib.RmStartSession(handle, 0, ffi.NULL) == 160
    assert lib.RmStartSession(handle, 1, key) == 160
    assert lib.RmStartSession(handle, 0x80000000, key) == 160
    assert lib.RmJoinSession(ffi.NULL, "0" * 32) == 160
    assert lib.RmJoinSession(handle, ffi.NULL) == 160


@pytest.mark.linux_backend
@pytest.mark.parametrize(
    "key",
    ["", "0" * 31, "0" * 33, "g" * 32, " " + "0" * 31, "0" * 31 + "\u00e9", "-" * 32],
)
def test_raw_malformed_key_is_bad_arguments(key: str) -> None:
    assert raw_join(key)[0] == 160
    assert "32 hexadecimal digits" in detail()


@pytest.mark.joins
def test_raw_unknown_key() -> None:
    assert raw_join("0123456789abcdef0123456789abcdef")[0] == 1219


def test_raw_unknown_handles() -> None:
    code, handle, _ = raw_start()
    assert code == 0
    assert lib.RmEndSession(handle) == 0
    assert lib.RmEndSession(handle) == 6
    assert lib.RmEndSession(lib.RSTRTMGR_NO_SESSION) == 6
    assert lib.RmEndSession(handle + 1000) == 6


@pytest.mark.linux_backend
def test_raw_key_is_case_insensitive() -> None:
    code, handle, key = raw_start()
    assert code == 0
    code, joined = raw_join(key.upper())
    assert code == 0
    assert lib.RmEndSession(joined) == 0
    assert lib.RmEndSession(handle) == 0


# -- several processes ------------------------------------------------------


@pytest.mark.joins
def test_second_process_joins_by_key() -> None:
    with rstrtmgr.Session() as primary:
        child = python(
            """
            import sys, rstrtmgr
            s = rstrtmgr.Session.join(sys.argv[1])
            print(s.key, s.primary, flush=True)
            sys.stdin.readline()
            s.close()
            print("closed", flush=True)
            """,
            primary.key,
        )
        assert child.stdout is not None
        assert child.stdin is not None
        assert child.stdout.readline().split() == [primary.key, "False"]
        # The primary leaves; the joined participant keeps the session alive.
        primary.close()
        with rstrtmgr.Session.join(primary.key):
            pass
        child.stdin.write("\n")
        child.stdin.flush()
        assert child.stdout.readline().strip() == "closed"
        assert child.wait(timeout=30) == 0
    # Its last participant has ended it.
    with pytest.raises(rstrtmgr.SessionConflictError):
        rstrtmgr.Session.join(primary.key)


@pytest.mark.joins
def test_sixty_four_sessions_then_353_then_one_freed() -> None:
    sessions = [rstrtmgr.Session() for _ in range(64)]
    try:
        with pytest.raises(rstrtmgr.MaxSessionsReachedError) as info:
            rstrtmgr.Session()
        assert info.value.winerror == 353
        assert "64" in str(info.value)
        # A join is no new session: it does not count against the limit.
        rstrtmgr.Session.join(sessions[0].key).close()
        sessions.pop().close()
        sessions.append(rstrtmgr.Session())
        with pytest.raises(rstrtmgr.MaxSessionsReachedError):
            rstrtmgr.Session()
    finally:
        for s in sessions:
            s.close()


@pytest.mark.linux_backend
def test_killed_owner_sessions_are_reclaimed(store: Path) -> None:
    child = python(
        """
        import sys, rstrtmgr
        held = [rstrtmgr.Session() for _ in range(40)]
        print(" ".join(s.key for s in held), flush=True)
        sys.stdin.readline()
        """
    )
    assert child.stdout is not None
    keys = child.stdout.readline().split()
    assert len(keys) == 40
    assert sessions_in(store) == sorted(keys)
    # 40 held by the child: only 24 more fit while it lives.
    mine = [rstrtmgr.Session() for _ in range(24)]
    with pytest.raises(rstrtmgr.MaxSessionsReachedError):
        rstrtmgr.Session()
    os.kill(child.pid, signal.SIGKILL)
    child.wait(timeout=30)
    # Its 40 places come back, and its keys no longer join.
    mine += [rstrtmgr.Session() for _ in range(40)]
    for key in keys[:3]:
        with pytest.raises(rstrtmgr.SessionConflictError):
            rstrtmgr.Session.join(key)
    assert sorted(sessions_in(store)) == sorted(s.key for s in mine)
    for s in mine:
        s.close()
    assert sessions_in(store) == []


@pytest.mark.linux_backend
@pytest.mark.joins
def test_killed_joiner_leaves_session_to_the_others() -> None:
    with rstrtmgr.Session() as primary:
        child = python(
            """
            import sys, rstrtmgr
            s = rstrtmgr.Session.join(sys.argv[1])
            print("joined", flush=True)
            sys.stdin.readline()
            """,
            primary.key,
        )
        assert child.stdout is not None
        assert child.stdout.readline().strip() == "joined"
        os.kill(child.pid, signal.SIGKILL)
        child.wait(timeout=30)
        rstrtmgr.Session.join(primary.key).close()
        key = primary.key
    with pytest.raises(rstrtmgr.SessionConflictError):
        rstrtmgr.Session.join(key)


@pytest.mark.joins
def test_concurrent_processes_leave_a_consistent_count(store: Path) -> None:
    workers = [
        python(
            """
            import rstrtmgr, sys
            for _ in range(25):
                with rstrtmgr.Session() as s:
                    rstrtmgr.Session.join(s.key).close()
            held = [rstrtmgr.Session() for _ in range(4)]
            print("ready", flush=True)
            sys.stdin.readline()
            for s in held:
                s.close()
            """
        )
        for _ in range(8)
    ]
    for w in workers:
        assert w.stdout is not None
        line = w.stdout.readline().strip()
        assert line == "ready", w.stderr.read() if w.stderr else ""
    # 8 x 4 sessions are open: exactly 32 more fit.
    mine = [rstrtmgr.Session() for _ in range(32)]
    with pytest.raises(rstrtmgr.MaxSessionsReachedError):
        rstrtmgr.Session()
    for s in mine:
        s.close()
    for w in workers:
        assert w.stdin is not None
        w.stdin.write("\n")
        w.stdin.flush()
    for w in workers:
        assert w.wait(timeout=60) == 0
    if LINUX:
        assert sessions_in(store) == []
    mine = [rstrtmgr.Session() for _ in range(64)]
    for s in mine:
        s.close()


# -- the store (Linux backend) ----------------------------------------------


@pytest.mark.linux_backend
def test_store_is_private_and_atomic(store: Path) -> None:
    with rstrtmgr.Session() as s:
        assert (store.stat().st_mode & 0o777) == 0o700
        assert store.stat().st_uid == os.geteuid()
        record = store / "sessions" / s.key / "record"
        assert record.exists()
        assert (record.stat().st_mode & 0o777) == 0o600
    assert not (store / "sessions" / s.key).exists()


@pytest.mark.linux_backend
def test_symlinked_store_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    real = tmp_path / "real"
    real.mkdir(mode=0o700)
    link = tmp_path / "link"
    link.symlink_to(real)
    monkeypatch.setenv("RSTRTMGR_STATE_DIR", str(link))
    with pytest.raises(rstrtmgr.SessionStoreError) as info:
        rstrtmgr.Session()
    assert info.value.winerror == 29
    assert "symbolic link" in str(info.value)
    assert list(real.iterdir()) == []


@pytest.mark.linux_backend
def test_open_store_is_refused(store: Path) -> None:
    store.mkdir(mode=0o700)
    store.chmod(0o755)
    with pytest.raises(rstrtmgr.SessionStoreError, match="mode 0755"):
        rstrtmgr.Session()
    assert list(store.iterdir()) == []


@pytest.mark.linux_backend
def test_store_of_another_owner_is_refused(
    store: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    if ROOT:
        store.mkdir(mode=0o700)
        os.chown(store, OTHER_UID, OTHER_UID)
    else:
        store = Path("/")  # root's, whoever we are
        monkeypatch.setenv("RSTRTMGR_STATE_DIR", "/")
    with pytest.raises(rstrtmgr.SessionStoreError, match="belongs to uid"):
        rstrtmgr.Session()
    if ROOT:
        assert list(store.iterdir()) == []


@pytest.mark.linux_backend
def test_store_that_is_a_file_is_refused(store: Path) -> None:
    store.write_text("not a directory")
    with pytest.raises(rstrtmgr.SessionStoreError, match="not a directory"):
        rstrtmgr.Session()
    assert store.read_text() == "not a directory"


@pytest.mark.linux_backend
def test_relative_store_path_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RSTRTMGR_STATE_DIR", "relative/store")
    with pytest.raises(rstrtmgr.SessionStoreError, match="not absolute"):
        rstrtmgr.Session()


@pytest.mark.linux_backend
def test_default_store_locations(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("RSTRTMGR_STATE_DIR")
    runtime = tmp_path / "runtime"
    runtime.mkdir(mode=0o700)
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(runtime))
    with rstrtmgr.Session() as s:
        assert (runtime / "rstrtmgr" / "sessions" / s.key / "record").exists()
    monkeypatch.delenv("XDG_RUNTIME_DIR")
    with rstrtmgr.Session() as s:
        fallback = Path(f"/tmp/rstrtmgr-{os.geteuid()}")
        assert (fallback / "sessions" / s.key / "record").exists()


@pytest.mark.linux_backend
def test_lock_held_too_long_is_121(
    store: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    rstrtmgr.Session().close()  # creates the store and its lock file
    holder = python(
        """
        import fcntl, sys
        f = open(sys.argv[1], "r+")
        fcntl.flock(f, fcntl.LOCK_EX)
        print("locked", flush=True)
        sys.stdin.readline()
        """,
        str(store / "lock"),
    )
    assert holder.stdout is not None
    assert holder.stdin is not None
    assert holder.stdout.readline().strip() == "locked"
    monkeypatch.setenv("RSTRTMGR_LOCK_TIMEOUT_MS", "300")
    with pytest.raises(rstrtmgr.LockTimeoutError) as info:
        rstrtmgr.Session()
    assert info.value.winerror == 121
    assert "try again" in str(info.value)
    holder.stdin.write("\n")
    holder.stdin.flush()
    assert holder.wait(timeout=30) == 0
    rstrtmgr.Session().close()


@pytest.mark.linux_backend
def test_corrupt_record_is_reclaimed_not_fatal(store: Path) -> None:
    with rstrtmgr.Session() as s:
        pass
    bogus = store / "sessions" / ("ab" * 16)
    bogus.mkdir(mode=0o700)
    (bogus / "record").write_text("garbage")
    with rstrtmgr.Session() as s:
        assert sessions_in(store) == [s.key]


# -- other users --------------------------------------------------------------


@pytest.mark.linux_backend
def test_other_user_cannot_join_or_use_roots_store(
    run_as_other_user: Callable[..., str],
    shared_tmp: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    roots = shared_tmp / "root-store"
    monkeypatch.setenv("RSTRTMGR_STATE_DIR", str(roots))
    code = """
        import os, sys, rstrtmgr
        try:
            rstrtmgr.Session.join(sys.argv[1])
        except rstrtmgr.RestartManagerError as e:
            print("join", e.winerror)
        os.environ["RSTRTMGR_STATE_DIR"] = sys.argv[2]
        try:
            rstrtmgr.Session()
        except rstrtmgr.RestartManagerError as e:
            print("store", e.winerror, e)
        """
    with rstrtmgr.Session() as s:
        out = run_as_other_user(code, s.key, str(roots)).splitlines()
        assert out[0] == "join 1219"
        assert out[1].startswith("store 29 ")
        assert "belongs to uid 0" in out[1]
        # Root's session is untouched by the attempt.
        rstrtmgr.Session.join(s.key).close()
    assert sorted(p.name for p in roots.iterdir()) == ["lock", "sessions"]


# -- the facade -----------------------------------------------------------------


@pytest.mark.joins
def test_facade_context_manager_ends_the_session() -> None:
    with rstrtmgr.Session() as s:
        assert KEY.fullmatch(s.key)
        assert s.primary
        assert not s.closed
        assert isinstance(s.handle, int)
    assert s.closed
    with pytest.raises(rstrtmgr.SessionConflictError) as info:
        rstrtmgr.Session.join(s.key)
    assert "is open for this user" in str(info.value)


def test_facade_close_is_idempotent_and_closed_session_refuses() -> None:
    s = rstrtmgr.Session()
    s.close()
    s.close()
    assert s.closed
    with pytest.raises(rstrtmgr.SessionClosedError) as info, s._using():
        pass
    assert info.value.winerror == 6
    assert isinstance(info.value, rstrtmgr.InvalidHandleError)
    assert "closed" in str(info.value)


@pytest.mark.joins
def test_facade_join_is_secondary() -> None:
    with rstrtmgr.Session() as s, rstrtmgr.Session.join(s.key) as j:
        assert j.key == s.key
        assert not j.primary
        assert j.handle != s.handle
        assert "joined" in repr(j)


@pytest.mark.linux_backend
def test_facade_collected_session_is_ended(store: Path) -> None:
    s = rstrtmgr.Session()
    key = s.key
    assert sessions_in(store) == [key]
    del s
    gc.collect()
    assert sessions_in(store) == []


@pytest.mark.linux_backend
def test_facade_session_left_open_at_exit_is_ended(store: Path) -> None:
    # The child exits normally without closing: its finalizer must end the
    # session (the store no longer holds it, before any reclaim could run).
    out = run_python(
        """
        import rstrtmgr
        keep = rstrtmgr.Session()
        print(keep.key)
        """
    )
    assert KEY.fullmatch(out.strip())
    assert sessions_in(store) == []


@pytest.mark.linux_backend
def test_forked_child_never_ends_the_parents_session(store: Path) -> None:
    with rstrtmgr.Session() as s:
        pid = os.fork()
        if pid == 0:  # the child: closing must not touch the parent's session
            try:
                s.close()
                os._exit(0 if s.closed else 1)
            except BaseException:
                os._exit(2)
        _, status = os.waitpid(pid, 0)
        assert os.waitstatus_to_exitcode(status) == 0
        assert sessions_in(store) == [s.key]
        rstrtmgr.Session.join(s.key).close()


@pytest.mark.joins
def test_facade_threads_share_a_session_and_race_to_close() -> None:
    s = rstrtmgr.Session()
    errors: list[BaseException] = []
    joined, closing = threading.Barrier(8), threading.Barrier(8)

    def work() -> None:
        try:
            joined.wait()
            for _ in range(10):
                rstrtmgr.Session.join(s.key).close()
            closing.wait()
            s.close()
        except BaseException as e:
            errors.append(e)

    threads = [threading.Thread(target=work) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert s.closed
    with pytest.raises(rstrtmgr.SessionConflictError):
        rstrtmgr.Session.join(s.key)


@pytest.mark.linux_backend
def test_close_from_another_thread_waits_for_the_call_in_flight(
    store: Path, tmp_path: Path
) -> None:
    # close() refuses new calls at once, and ends the session only once the
    # call in flight (a shutdown held in its progress callback) has ended.
    target = tmp_path / "file"
    target.write_bytes(b"x")
    s = rstrtmgr.Session()
    s.register(files=[str(target)])
    entered, release = threading.Event(), threading.Event()
    ended_calls: list[str] = []
    seen_by_close: list[list[str]] = []
    errors: list[BaseException] = []

    def progress(percent: int) -> None:
        if percent == 0:
            entered.set()
            release.wait(60)
            ended_calls.append("shutdown's callback")

    def shut_down() -> None:
        try:
            s.shutdown(progress=progress)
        except BaseException as e:
            errors.append(e)

    def close() -> None:
        s.close()
        seen_by_close.append(list(ended_calls))

    worker = threading.Thread(target=shut_down)
    worker.start()
    assert entered.wait(60)
    closer = threading.Thread(target=close)
    closer.start()
    closer.join(0.5)
    try:
        assert closer.is_alive(), "close() did not wait for the shutdown"
        assert s.closed
        with pytest.raises(rstrtmgr.SessionClosedError):
            s.get_list()
        assert sessions_in(store) == [s.key]
    finally:
        release.set()
        worker.join(60)
        closer.join(60)
    assert errors == []
    assert seen_by_close == [["shutdown's callback"]]
    assert sessions_in(store) == []
    s.close()  # idempotent once ended


def test_facade_threads_start_sessions_concurrently() -> None:
    keys: list[str] = []
    lock = threading.Lock()

    def work() -> None:
        for _ in range(10):
            with rstrtmgr.Session() as s, lock:
                keys.append(s.key)

    threads = [threading.Thread(target=work) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(set(keys)) == 80


def test_session_handles_survive_in_other_threads() -> None:
    # A handle is per process, not per thread.
    with rstrtmgr.Session() as s:
        result: list[int] = []
        t = threading.Thread(target=lambda: result.append(lib.RmEndSession(s.handle)))
        t.start()
        t.join()
        assert result == [0]
        with pytest.raises(rstrtmgr.InvalidHandleError):
            s.close()
        s._closed = True  # ended behind the facade's back, above


def test_no_session_sentinel() -> None:
    assert rstrtmgr.NO_SESSION == lib.RSTRTMGR_NO_SESSION == 0xFFFFFFFF
    assert lib.RmEndSession(rstrtmgr.NO_SESSION) == 6


if sys.platform == "win32":  # pragma: no cover - exercised on Windows runners

    def test_windows_key_buffer_is_terminated() -> None:
        code, handle, key = raw_start()
        assert code == 0
        assert len(key) == 32
        assert lib.RmEndSession(handle) == 0
