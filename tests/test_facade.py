"""The facade's own promises on every platform: errors, enums, layouts, validation."""

from __future__ import annotations

import errno
import os
import pickle
import subprocess
import sys
import threading

import psutil
import pytest
from support import LINUX, WINE_STUB, popen

import rstrtmgr
from rstrtmgr._errors import error_for
from rstrtmgr._restart import register_argv
from rstrtmgr._rstrtmgr import ffi, lib

CODES = {
    6: rstrtmgr.InvalidHandleError,
    14: rstrtmgr.OutOfMemoryError,
    29: rstrtmgr.SessionStoreError,
    120: rstrtmgr.NotImplementedOnPlatformError,
    121: rstrtmgr.LockTimeoutError,
    160: rstrtmgr.BadArgumentsError,
    234: rstrtmgr.MoreDataError,
    350: rstrtmgr.RebootRequiredError,
    351: rstrtmgr.ShutdownFailedError,
    352: rstrtmgr.RestartFailedError,
    353: rstrtmgr.MaxSessionsReachedError,
    776: rstrtmgr.OutOfSequenceError,
    1219: rstrtmgr.SessionConflictError,
    1223: rstrtmgr.CancelledError,
}


@pytest.mark.parametrize(("code", "cls"), sorted(CODES.items()))
def test_each_code_has_its_exception(code: int, cls: type) -> None:
    e = error_for(code, "RmSomething", detail="what happened")
    assert type(e) is cls
    assert isinstance(e, rstrtmgr.RestartManagerError)
    assert isinstance(e, OSError)
    assert e.winerror == code
    assert str(e).startswith(f"[WinError {code}] RmSomething: what happened")
    assert e.remedy in str(e)  # and what to do about it
    assert e.errno not in (None, 0)
    copy = pickle.loads(pickle.dumps(e))
    assert type(copy) is cls
    assert copy.winerror == code
    assert str(copy) == str(e)


def test_unknown_code_is_the_base_class() -> None:
    e = error_for(5, "RmStartSession", detail="access denied")
    assert type(e) is rstrtmgr.RestartManagerError
    assert "(error 5)" in str(e)


def test_one_code_two_meanings() -> None:
    # 1219 from RmJoinSession is an unknown key; from the rest, not the primary.
    join = error_for(1219, "RmJoinSession", detail="no session with key k")
    assert "check the key" in str(join)
    assert "primary" not in str(join)
    other = error_for(1219, "RmShutdown", detail="only the primary can shut down")
    assert "the process that started the session" in str(other)


def test_errno_values_make_sense() -> None:
    assert rstrtmgr.BadArgumentsError(160).errno == errno.EINVAL
    assert rstrtmgr.InvalidHandleError(6).errno == errno.EBADF
    assert isinstance(rstrtmgr.BadArgumentsError(160), ValueError)


ENUMS = [
    (rstrtmgr.AppType.UNKNOWN, "RmUnknownApp"),
    (rstrtmgr.AppType.MAIN_WINDOW, "RmMainWindow"),
    (rstrtmgr.AppType.OTHER_WINDOW, "RmOtherWindow"),
    (rstrtmgr.AppType.SERVICE, "RmService"),
    (rstrtmgr.AppType.EXPLORER, "RmExplorer"),
    (rstrtmgr.AppType.CONSOLE, "RmConsole"),
    (rstrtmgr.AppType.CRITICAL, "RmCritical"),
    (rstrtmgr.ShutdownType.FORCE, "RmForceShutdown"),
    (rstrtmgr.ShutdownType.ONLY_REGISTERED, "RmShutdownOnlyRegistered"),
    (rstrtmgr.AppStatus.UNKNOWN, "RmStatusUnknown"),
    (rstrtmgr.AppStatus.RUNNING, "RmStatusRunning"),
    (rstrtmgr.AppStatus.STOPPED, "RmStatusStopped"),
    (rstrtmgr.AppStatus.STOPPED_OTHER, "RmStatusStoppedOther"),
    (rstrtmgr.AppStatus.RESTARTED, "RmStatusRestarted"),
    (rstrtmgr.AppStatus.ERROR_ON_STOP, "RmStatusErrorOnStop"),
    (rstrtmgr.AppStatus.ERROR_ON_RESTART, "RmStatusErrorOnRestart"),
    (rstrtmgr.AppStatus.SHUTDOWN_MASKED, "RmStatusShutdownMasked"),
    (rstrtmgr.AppStatus.RESTART_MASKED, "RmStatusRestartMasked"),
    (rstrtmgr.RebootReason.NONE, "RmRebootReasonNone"),
    (rstrtmgr.RebootReason.PERMISSION_DENIED, "RmRebootReasonPermissionDenied"),
    (rstrtmgr.RebootReason.SESSION_MISMATCH, "RmRebootReasonSessionMismatch"),
    (rstrtmgr.RebootReason.CRITICAL_PROCESS, "RmRebootReasonCriticalProcess"),
    (rstrtmgr.RebootReason.CRITICAL_SERVICE, "RmRebootReasonCriticalService"),
    (rstrtmgr.RebootReason.DETECTED_SELF, "RmRebootReasonDetectedSelf"),
    (rstrtmgr.FilterTrigger.INVALID, "RmFilterTriggerInvalid"),
    (rstrtmgr.FilterTrigger.FILE, "RmFilterTriggerFile"),
    (rstrtmgr.FilterTrigger.PROCESS, "RmFilterTriggerProcess"),
    (rstrtmgr.FilterTrigger.SERVICE, "RmFilterTriggerService"),
    (rstrtmgr.FilterAction.INVALID, "RmInvalidFilterAction"),
    (rstrtmgr.FilterAction.NO_RESTART, "RmNoRestart"),
    (rstrtmgr.FilterAction.NO_SHUTDOWN, "RmNoShutdown"),
]


@pytest.mark.parametrize(("member", "name"), ENUMS, ids=[n for _, n in ENUMS])
def test_enums_have_the_compiled_values(member: int, name: str) -> None:
    # The C values come from the headers the module was compiled against.
    assert int(member) == getattr(lib, name)


def test_layouts_are_the_sdks() -> None:
    assert ffi.sizeof("WCHAR") == 2
    assert ffi.sizeof("DWORD") == 4
    assert ffi.sizeof("RM_UNIQUE_PROCESS") == 12
    assert ffi.sizeof("RM_PROCESS_INFO") == 668
    assert ffi.offsetof("RM_PROCESS_INFO", "strAppName") == 12
    assert ffi.offsetof("RM_PROCESS_INFO", "strServiceShortName") == 12 + 512
    assert ffi.offsetof("RM_PROCESS_INFO", "ApplicationType") == 652
    assert ffi.offsetof("RM_PROCESS_INFO", "bRestartable") == 664
    assert ffi.sizeof("RM_FILTER_INFO") == (32 if ffi.sizeof("void *") == 8 else 24)
    assert lib.CCH_RM_SESSION_KEY == 32
    assert lib.CCH_RM_MAX_APP_NAME == 255
    assert lib.CCH_RM_MAX_SVC_NAME == 63
    assert lib.RM_INVALID_TS_SESSION == -1
    assert lib.RSTRTMGR_NO_SESSION == rstrtmgr.NO_SESSION == 0xFFFFFFFF


def test_wchar_strings_are_utf16() -> None:
    text = "caf\u00e9 \U0001f600"
    buf = ffi.new("WCHAR[]", text)
    assert ffi.string(buf) == text
    assert bytes(ffi.buffer(buf))[:-2] == text.encode("utf-16-le")


@pytest.mark.parametrize("bad", [None, 123, b"0" * 32, ["0" * 32]])
def test_join_wrong_type(bad: object) -> None:
    with pytest.raises(TypeError, match="a session key is a str"):
        rstrtmgr.Session.join(bad)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "bad", ["", "xyz", "0" * 31, "0" * 33, "z" * 32, "0" * 32 + "\n", "\u0660" * 32]
)
def test_join_malformed_key(bad: str) -> None:
    with pytest.raises(rstrtmgr.BadArgumentsError) as info:
        rstrtmgr.Session.join(bad)
    assert isinstance(info.value, ValueError)
    assert info.value.winerror == 160
    assert "32 hexadecimal digits" in str(info.value)


def test_unique_process_checks_its_fields() -> None:
    with pytest.raises(TypeError):
        rstrtmgr.UniqueProcess("1", 0)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="DWORD"):
        rstrtmgr.UniqueProcess(-1, 0)
    with pytest.raises(ValueError, match="FILETIME"):
        rstrtmgr.UniqueProcess(1, 1 << 64)


def test_register_application_restart_arguments() -> None:
    # Linux: the per-user store; Windows (and Wine): kernel32.
    with pytest.raises(TypeError):
        rstrtmgr.register_application_restart("one string")  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        rstrtmgr.register_application_restart([1])  # type: ignore[list-item]
    with pytest.raises(ValueError, match="NUL"):
        rstrtmgr.register_application_restart(["a\0b"])
    rstrtmgr.register_application_restart(["--resume"])
    rstrtmgr.unregister_application_restart()
    rstrtmgr.unregister_application_restart()  # idempotent


@pytest.mark.skipif(sys.platform != "win32", reason="kernel32's limit")
def test_restart_command_line_fits_kernel32() -> None:
    # At most 1023 characters once argv[1:] is quoted as the MS C runtime
    # parses it. register_application_restart() puts the interpreter's own
    # arguments (the script) first; register_argv() is the whole command.
    def register(args: list[str]) -> None:
        register_argv([os.fsencode(a) for a in (sys.executable, *args)])

    register(["x" * 1023])
    register([" " * 1021])  # 1023 with its quotes
    register(['"' * 511])  # each " as \": 1022
    # Quoted, a last backslash is doubled: 1 + 1019 + 2 + 1 characters.
    register([" " * 1019 + "\\"])
    too_long = (
        ["x" * 1024],
        [" " * 1022],
        ["x" * 512, "y" * 511],
        ['"' * 512],
        [" " * 1020 + "\\"],
    )
    for args in too_long:
        with pytest.raises(ValueError, match="1023"):
            register(args)
    rstrtmgr.unregister_application_restart()


def test_start_time_is_read_for_live_processes_only() -> None:
    child = popen(
        [sys.executable, "-c", "import sys; sys.stdin.read()"], stdin=subprocess.PIPE
    )
    try:
        live = rstrtmgr.UniqueProcess.of(child.pid)
        assert live.is_running()
        created = psutil.Process(child.pid).create_time()
        assert abs(live.started.timestamp() - created) < 1
        assert child.stdin is not None
        child.stdin.close()
        # Exited, not yet waited for: a zombie on Linux; on Windows a process
        # whose handle Popen still holds. Neither is a live process.
        if LINUX:
            os.waitid(os.P_PID, child.pid, os.WEXITED | os.WNOWAIT)
        else:
            psutil.Process(child.pid).wait(timeout=30)
        with pytest.raises(ProcessLookupError):
            rstrtmgr.UniqueProcess.of(child.pid)
        assert not live.is_running()
    finally:
        child.kill()
        child.wait(timeout=30)


@pytest.mark.skipif(not WINE_STUB, reason="Wine's stub Rstrtmgr.dll only")
def test_handle_and_key_marshalling_under_wine() -> None:
    # The stub answers RmStartSession with handle 0xDEADBEEF and leaves the key
    # buffer as given: zeroed by the facade, so an empty, terminated key.
    s = rstrtmgr.Session()
    assert s.handle == 0xDEADBEEF
    assert s.key == ""
    s.close()
    s.close()
    assert s.closed
    with pytest.raises(rstrtmgr.SessionClosedError), s._using():
        pass


def test_progress_reaches_the_caller_from_another_thread() -> None:
    # RM_WRITE_STATUS_CALLBACK has no context: a backend that reported from a
    # thread of its own must still reach the one call in progress.
    from rstrtmgr._progress import reporting

    seen: list[int] = []
    with reporting(rstrtmgr.NO_SESSION, seen.append) as callback:
        callback(0)
        worker = threading.Thread(target=callback, args=(42,))
        worker.start()
        worker.join()
        callback(100)
    assert seen == [0, 42, 100]


def test_restart_settle_time_and_outcome_exist_on_every_platform() -> None:
    # One cdef everywhere: Windows answers 120 (its Restart Manager neither
    # checks a restart nor keeps an outcome); the Linux backend checks its
    # arguments first.
    no_session = int(lib.RSTRTMGR_NO_SESSION)
    outcome = ffi.new("RSTRTMGR_RESTART_OUTCOME *")
    process = ffi.new("RM_UNIQUE_PROCESS *")
    settle = lib.rstrtmgr_set_restart_settle_time(no_session, 1000)
    asked = lib.rstrtmgr_restart_outcome(no_session, process, outcome, ffi.NULL, 0)
    if sys.platform == "win32":
        assert (settle, asked) == (120, 120)
    else:
        assert (settle, asked) == (6, 6)
        assert (
            lib.rstrtmgr_restart_outcome(no_session, ffi.NULL, outcome, ffi.NULL, 0)
            == 160
        )
    assert ffi.sizeof("RSTRTMGR_RESTART_OUTCOME") == 2 * 12 + 4 * 4
