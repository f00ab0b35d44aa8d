"""The bindings: every call into ``_rstrtmgr`` and every conversion of its C data.

The only module besides ``_errors`` that touches ``ffi`` and ``lib``. It
speaks in plain Python values (ints, str, bytes, tuples) and return codes;
what they mean, and what to raise, is decided by the modules above it.
"""

from __future__ import annotations

import codecs
import struct
import sys

from ._rstrtmgr import ffi, lib

TYPE_CHECKING = False
if TYPE_CHECKING:  # typing costs `import rstrtmgr` a few ms: for mypy only
    from collections.abc import Callable, Sequence
    from types import TracebackType
    from typing import Any

#: The handle value that names no session (0 is a valid handle).
NO_SESSION = int(lib.RSTRTMGR_NO_SESSION)
#: TSSessionId of a process outside any login session.
INVALID_TS_SESSION = int(ffi.cast("DWORD", lib.RM_INVALID_TS_SESSION))


def constant(name: str) -> int:
    """The value of the C enumerator or #define ``name``, as the module has it."""
    return int(getattr(lib, name))


# ---- C data ---------------------------------------------------------------


def filetime(ft: Any) -> int:
    """A FILETIME as one 64-bit int (100 ns units since 1601)."""
    return (int(ft.dwHighDateTime) << 32) | int(ft.dwLowDateTime)


def fill_unique(c: Any, pid: int, start_time: int) -> None:
    """Fill an RM_UNIQUE_PROCESS from a pid and a FILETIME."""
    c.dwProcessId = pid
    c.ProcessStartTime.dwLowDateTime = start_time & 0xFFFFFFFF
    c.ProcessStartTime.dwHighDateTime = start_time >> 32


def wide_string(buf: Any) -> str:
    """A WCHAR array as str, keeping lone surrogates (non-UTF-8 names)."""
    raw = bytes(ffi.buffer(buf))
    text = raw.decode("utf-16-le", "surrogatepass")
    return text.split("\0", 1)[0]


class _Values:
    """Compared and shown by its fields, as the named tuples these were."""

    __slots__: tuple[str, ...] = ()

    def __eq__(self, other: object) -> bool:
        return type(other) is type(self) and all(
            getattr(self, n) == getattr(other, n) for n in type(self).__slots__
        )

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        fields = ", ".join(f"{n}={getattr(self, n)!r}" for n in type(self).__slots__)
        return f"{type(self).__name__}({fields})"


class CProcessInfo(_Values):
    """The fields of one RM_PROCESS_INFO, as Python values."""

    __slots__ = (
        "app_name",
        "app_type",
        "pid",
        "restartable",
        "service_name",
        "start_time",
        "status",
        "ts_session_id",
    )

    def __init__(  # noqa: PLR0917 - the fields of RM_PROCESS_INFO
        self,
        pid: int,
        start_time: int,
        app_name: str,
        service_name: str,
        app_type: int,
        status: int,
        ts_session_id: int,
        restartable: bool,
    ) -> None:
        self.pid = pid
        self.start_time = start_time
        self.app_name = app_name
        self.service_name = service_name
        self.app_type = app_type
        self.status = status
        self.ts_session_id = ts_session_id
        self.restartable = restartable


def _process_info(info: Any) -> CProcessInfo:
    # The names are UTF-16 that may carry lone surrogates standing for
    # bytes that are not UTF-8 (see native/linux/internal.h).
    return CProcessInfo(
        pid=int(info.Process.dwProcessId),
        start_time=filetime(info.Process.ProcessStartTime),
        app_name=wide_string(info.strAppName),
        service_name=wide_string(info.strServiceShortName),
        app_type=int(info.ApplicationType),
        status=int(info.AppStatus),
        ts_session_id=int(info.TSSessionId),
        restartable=bool(info.bRestartable),
    )


#: RM_PROCESS_INFO as bytes: the pid, the FILETIME (low, high), the two
#: names (UTF-16), ApplicationType, AppStatus, TSSessionId, bRestartable.
_PROCESS_INFO = struct.Struct("=III512s128siIIi")
_utf16_le_decode = codecs.utf_16_le_decode


def _utf16z(raw: bytes) -> str:
    """The text of a NUL-terminated UTF-16LE field, lone surrogates kept."""
    if not raw[0] and not raw[1]:  # most service names: empty
        return ""
    # The whole field through the codec's C function (bytes.decode goes
    # through encodings' Python wrapper: 2.3 against 0.8 us a name), then
    # cut at the first NUL code unit: every even-length field decodes.
    return _utf16_le_decode(raw, "surrogatepass", True)[0].partition("\0")[0]


def _process_infos(infos: Any, count: int) -> list[CProcessInfo]:
    """The first ``count`` entries of an RM_PROCESS_INFO array.

    One pass over the array's bytes: reading each field through cffi cost
    several times as much, for 200 entries a tenth of a whole RmGetList.
    """
    if ffi.sizeof("RM_PROCESS_INFO") != _PROCESS_INFO.size:  # pragma: no cover
        return [_process_info(infos[i]) for i in range(count)]
    return [
        CProcessInfo(
            pid,
            high << 32 | low,
            _utf16z(app),
            _utf16z(svc),
            kind,
            status,
            session,
            restartable != 0,
        )
        for pid, low, high, app, svc, kind, status, session, restartable in (
            _PROCESS_INFO.iter_unpack(ffi.buffer(infos, count * _PROCESS_INFO.size))
        )
    ]


class CFilter(_Values):
    """One RM_FILTER_INFO record: its action, trigger and the one target it names."""

    __slots__ = ("action", "path", "process", "service", "trigger")

    def __init__(
        self,
        action: int,
        trigger: int,
        path: str | None = None,
        process: tuple[int, int] | None = None,  # (pid, FILETIME)
        service: str | None = None,
    ) -> None:
        self.action = action
        self.trigger = trigger
        self.path = path
        self.process = process
        self.service = service


def _filter_list(buf: Any, size: int) -> list[CFilter]:
    """Read the RM_FILTER_INFO records chained by cbNextOffset in ``buf``."""
    filters: list[CFilter] = []
    offset = 0
    while size:
        info = ffi.cast("RM_FILTER_INFO *", buf + offset)
        trigger = int(info.FilterTrigger)
        action = int(info.FilterAction)
        if trigger == lib.RmFilterTriggerProcess:
            unique = (
                int(info.Process.dwProcessId),
                filetime(info.Process.ProcessStartTime),
            )
            filters.append(CFilter(action, trigger, process=unique))
        elif trigger == lib.RmFilterTriggerFile:
            filters.append(CFilter(action, trigger, path=ffi.string(info.strFilename)))
        else:
            name = ffi.string(info.strServiceShortName)
            filters.append(CFilter(action, trigger, service=name))
        if not info.cbNextOffset:
            break
        offset += int(info.cbNextOffset)
    return filters


# ---- process identity and restart registration ----------------------------


def process_start_time(pid: int) -> tuple[int, int]:
    """rstrtmgr_process_start_time: (code, FILETIME of ``pid``'s start)."""
    ft = ffi.new("FILETIME *")
    code = int(lib.rstrtmgr_process_start_time(pid, ft))
    return code, filetime(ft[0]) if code == 0 else 0


def register_restart(
    argv: Sequence[bytes],
    cwd: bytes,
    env: Sequence[bytes],
    *,
    bootloader: bool = False,
    launch: bool = False,
) -> int:
    """rstrtmgr_register_restart with NUL-free bytes; its return code.

    ``bootloader``: rstrtmgr_register_restart_bootloader, for the parent;
    ``launch``: rstrtmgr_register_launch.
    """
    keep = [ffi.new("char[]", a) for a in argv]
    keep_env = [ffi.new("char[]", e) for e in env]
    call = lib.rstrtmgr_register_restart
    if bootloader:
        call = lib.rstrtmgr_register_restart_bootloader
    elif launch:
        call = lib.rstrtmgr_register_launch
    return int(
        call(
            ffi.new("char *[]", keep),
            len(keep),
            cwd,
            ffi.new("char *[]", keep_env),
            len(keep_env),
        )
    )


def unregister_restart() -> int:
    """rstrtmgr_unregister_restart's return code."""
    return int(lib.rstrtmgr_unregister_restart())


def is_wine() -> bool:
    """True when the module runs under Wine."""
    return bool(lib.rstrtmgr_is_wine())


# ---- sessions --------------------------------------------------------------


def start_session() -> tuple[int, int, str]:
    """RmStartSession: (code, handle, key)."""
    handle = ffi.new("DWORD *", NO_SESSION)
    # Windows does not always terminate the key: hand it a zeroed buffer.
    key = ffi.new("WCHAR[]", lib.CCH_RM_SESSION_KEY + 1)
    code = int(lib.RmStartSession(handle, 0, key))
    return code, int(handle[0]), ffi.string(key)


def join_session(key: str) -> tuple[int, int]:
    """RmJoinSession: (code, handle)."""
    handle = ffi.new("DWORD *", NO_SESSION)
    code = int(lib.RmJoinSession(handle, key))
    return code, int(handle[0])


def end_session(handle: int) -> int:
    """RmEndSession's return code."""
    return int(lib.RmEndSession(handle))


def register_resources(
    handle: int,
    paths: Sequence[str],
    procs: Sequence[tuple[int, int]],
    names: Sequence[str],
) -> int:
    """RmRegisterResources of files, (pid, FILETIME) processes and services."""
    keep = [ffi.new("WCHAR[]", p) for p in paths]
    files = ffi.new("LPCWSTR[]", keep) if keep else ffi.NULL
    apps = ffi.new("RM_UNIQUE_PROCESS[]", len(procs)) if procs else ffi.NULL
    for i, (pid, start_time) in enumerate(procs):
        fill_unique(apps[i], pid, start_time)
    keep_s = [ffi.new("WCHAR[]", n) for n in names]
    svcs = ffi.new("LPCWSTR[]", keep_s) if keep_s else ffi.NULL
    return int(
        lib.RmRegisterResources(
            handle, len(paths), files, len(procs), apps, len(names), svcs
        )
    )


def register_files(handle: int, data: bytearray, count: int) -> int:
    """rstrtmgr_register_files of ``count`` checked full paths in one buffer.

    ``data`` holds each path's bytes followed by a NUL (the last one's is the
    terminator the call wants); it is read in place, not copied.
    """
    if count == 0 or not data or data[-1] != 0:
        raise ValueError("register_files takes paths, each followed by a NUL")
    buf = ffi.from_buffer(data)
    return int(lib.rstrtmgr_register_files(handle, buf, len(data) - 1, count))


class CDetail(_Values):
    """Who one entry is: rstrtmgr_last_list_* (Linux), or Windows' own word."""

    __slots__ = ("command_line", "files", "uid", "user")

    def __init__(
        self,
        uid: int | None,
        command_line: tuple[str, ...],
        files: tuple[tuple[str, int], ...] | None,
        user: str | None = None,
    ) -> None:
        self.uid = uid
        self.command_line = command_line
        #: (path, RSTRTMGR_USES_* bits) of each registered file it uses; None
        #: where the backend cannot tell (Windows).
        self.files = files
        #: The user's name where the system gives it directly (Windows).
        self.user = user


class CList(_Values):
    """What one RmGetList call answered."""

    __slots__ = (
        "code",
        "details",
        "needed",
        "processes",
        "reboot_reasons",
        "uninspected",
    )

    def __init__(  # noqa: PLR0917 - what RmGetList answers
        self,
        code: int,
        needed: int,
        processes: list[CProcessInfo],
        reboot_reasons: int,
        uninspected: int,
        details: list[CDetail] | None = None,
    ) -> None:
        self.code = code
        self.needed = needed
        self.processes = processes
        self.reboot_reasons = reboot_reasons
        self.uninspected = uninspected
        #: With details, one per process; None where the backend has none.
        self.details = details


def get_list(
    handle: int, size: int, details: bool = False, users: bool = False
) -> CList:
    """One RmGetList call with room for ``size`` entries (and their details).

    ``users`` without ``details``: each entry's user alone (Linux: its uid,
    without the details' second pass; Windows: its identity, as details).
    """
    needed = ffi.new("UINT *")
    count = ffi.new("UINT *", size)
    reasons = ffi.new("DWORD *")
    infos = ffi.new("RM_PROCESS_INFO[]", size) if size else ffi.NULL
    lib.rstrtmgr_set_list_details(details)
    lib.rstrtmgr_set_list_uids(users)
    try:
        code = int(lib.RmGetList(handle, needed, count, infos, reasons))
    finally:
        lib.rstrtmgr_set_list_details(False)
        lib.rstrtmgr_set_list_uids(False)
    if code != 0:
        return CList(code, int(needed[0]), [], 0, 0)
    uninspected = int(lib.rstrtmgr_last_uninspected())
    processes = _process_infos(infos, int(count[0]))
    wanted = details or users
    found = _last_details(len(processes), details) if wanted else None
    if wanted and found is None:
        found = [_identity(p.pid, p.start_time) for p in processes]
    return CList(code, int(needed[0]), processes, int(reasons[0]), uninspected, found)


def shutdown_list(handle: int, size: int) -> CList:
    """One rstrtmgr_shutdown_list call with room for ``size`` entries.

    The list this thread's last RmShutdown on ``handle`` ended with; 120 on
    Windows, 776 when none is kept.
    """
    needed = ffi.new("UINT *")
    count = ffi.new("UINT *", size)
    reasons = ffi.new("DWORD *")
    infos = ffi.new("RM_PROCESS_INFO[]", size) if size else ffi.NULL
    code = int(lib.rstrtmgr_shutdown_list(handle, needed, count, infos, reasons))
    if code != 0:
        return CList(code, int(needed[0]), [], 0, 0)
    uninspected = int(lib.rstrtmgr_last_uninspected())
    processes = _process_infos(infos, int(count[0]))
    return CList(code, int(needed[0]), processes, int(reasons[0]), uninspected)


_ERROR_CALL_NOT_IMPLEMENTED = 120


def _wide_strings(buf: Any, cch: int) -> tuple[str, ...]:
    """A double-NUL-terminated list of WCHAR strings."""
    if cch <= 1:  # no arguments: the terminating NUL alone
        return ()
    raw = ffi.buffer(buf, cch * 2)[:]
    text = _utf16_le_decode(raw, "surrogatepass", True)[0]
    return tuple(text.rstrip("\0").split("\0")) if text.strip("\0") else ()


def _last_details(count: int, files: bool = True) -> list[CDetail] | None:
    """The details of the entries of this thread's last RmGetList.

    Without ``files`` (a list that asked for the uids alone) each has its
    uid, no command line and None for its files.
    """
    uid = ffi.new("DWORD *")
    needed = ffi.new("UINT *")
    nfiles = ffi.new("UINT *")
    uses = ffi.new("DWORD *")
    size = 1024
    buf = ffi.new("WCHAR[]", size)  # one for every entry, grown when short
    path = ffi.NULL
    unknown = 0xFFFFFFFF
    out = []
    for i in range(count):
        for _ in range(3):
            code = int(
                lib.rstrtmgr_last_list_process(i, uid, buf, size, needed, nfiles)
            )
            if code != 234:  # ERROR_MORE_DATA
                break
            size = int(needed[0])
            buf = ffi.new("WCHAR[]", size)
        if code == _ERROR_CALL_NOT_IMPLEMENTED:
            return None
        if code != 0:
            out.append(CDetail(None, (), None))
            continue
        command_line = _wide_strings(buf, int(needed[0]))
        found = []
        for k in range(int(nfiles[0])):
            if path == ffi.NULL:
                path = ffi.new("WCHAR[]", 4100)
            if lib.rstrtmgr_last_list_file(i, k, uses, path, 4100, needed) == 0:
                found.append((wide_string(path), int(uses[0])))
        known = uid[0] != unknown
        out.append(
            CDetail(
                int(uid[0]) if known else None,
                command_line,
                tuple(found) if known and files else None,
            )
        )
    return out


def _identity(pid: int, start_time: int) -> CDetail:
    """Windows: the user and command line of a listed process."""
    proc = ffi.new("RM_UNIQUE_PROCESS *")
    fill_unique(proc, pid, start_time)
    need_user = ffi.new("UINT *")
    need_line = ffi.new("UINT *")
    size_user, size_line = 256, 1024
    for _ in range(3):
        user = ffi.new("WCHAR[]", size_user)
        line = ffi.new("WCHAR[]", size_line)
        code = int(
            lib.rstrtmgr_process_identity(
                proc, user, size_user, need_user, line, size_line, need_line
            )
        )
        if code != 234:  # ERROR_MORE_DATA
            break
        size_user = max(size_user, int(need_user[0]))
        size_line = max(size_line, int(need_line[0]))
    if code != 0:
        return CDetail(None, (), None)
    name = wide_string(user) or None
    return CDetail(None, _wide_strings(line, size_line), None, name)


def register_tree(
    handle: int, root: str, include: Sequence[str], exclude: Sequence[str], flags: int
) -> int:
    """rstrtmgr_register_tree's return code (120 where the backend has none)."""
    keep_i = [ffi.new("WCHAR[]", p) for p in include]
    keep_e = [ffi.new("WCHAR[]", p) for p in exclude]
    inc = ffi.new("LPCWSTR[]", keep_i) if keep_i else ffi.NULL
    exc = ffi.new("LPCWSTR[]", keep_e) if keep_e else ffi.NULL
    return int(
        lib.rstrtmgr_register_tree(
            handle, root, inc, len(keep_i), exc, len(keep_e), flags
        )
    )


def register_stale(handle: int, paths: Sequence[str]) -> int:
    """rstrtmgr_register_stale's return code (120 where the backend has none)."""
    keep = [ffi.new("WCHAR[]", p) for p in paths]
    arr = ffi.new("LPCWSTR[]", keep) if keep else ffi.NULL
    return int(lib.rstrtmgr_register_stale(handle, arr, len(keep)))


def set_shutdown_timeouts(handle: int, app_ms: int, service_ms: int) -> int:
    """rstrtmgr_set_shutdown_timeouts' return code."""
    return int(lib.rstrtmgr_set_shutdown_timeouts(handle, app_ms, service_ms))


def shutdown(handle: int, flags: int, callback: Any) -> int:
    """RmShutdown's return code; ``callback`` is :data:`PROGRESS_CALLBACK`."""
    return int(lib.RmShutdown(handle, flags, callback))


def restart(handle: int, callback: Any) -> int:
    """RmRestart's return code; ``callback`` is :data:`PROGRESS_CALLBACK`."""
    return int(lib.RmRestart(handle, 0, callback))


def set_restart_settle_time(handle: int, settle_ms: int) -> int:
    """rstrtmgr_set_restart_settle_time's return code."""
    return int(lib.rstrtmgr_set_restart_settle_time(handle, settle_ms))


class CRestartOutcome(_Values):
    """One RSTRTMGR_RESTART_OUTCOME and its output, as Python values."""

    __slots__ = ("code", "new_process", "output", "process", "result", "settle_ms")

    def __init__(  # noqa: PLR0917 - the fields of RSTRTMGR_RESTART_OUTCOME
        self,
        process: tuple[int, int],
        new_process: tuple[int, int] | None,
        result: int,
        code: int,
        settle_ms: int,
        output: bytes,
    ) -> None:
        self.process = process
        #: (pid, FILETIME) of the process started in its place; None: none.
        self.new_process = new_process
        self.result = result  # RSTRTMGR_RESTART_*
        self.code = code
        self.settle_ms = settle_ms
        self.output = output


def restart_outcome(
    handle: int, pid: int, start_time: int
) -> tuple[int, CRestartOutcome | None]:
    """rstrtmgr_restart_outcome for one process: its code and the outcome."""
    process = ffi.new("RM_UNIQUE_PROCESS *")
    fill_unique(process, pid, start_time)
    outcome = ffi.new("RSTRTMGR_RESTART_OUTCOME *")
    size = int(lib.RSTRTMGR_OUTPUT_TAIL_MAX) + 1
    output = ffi.new("char[]", size)
    code = int(lib.rstrtmgr_restart_outcome(handle, process, outcome, output, size))
    if code != 0:
        return code, None
    new = outcome.NewProcess
    return code, CRestartOutcome(
        process=(
            int(outcome.Process.dwProcessId),
            filetime(outcome.Process.ProcessStartTime),
        ),
        new_process=(int(new.dwProcessId), filetime(new.ProcessStartTime))
        if new.dwProcessId
        else None,
        result=int(outcome.dwResult),
        code=int(outcome.dwCode),
        settle_ms=int(outcome.dwSettleMs),
        output=bytes(ffi.buffer(output, min(int(outcome.cbOutput), size - 1))),
    )


def cancel_current_task(handle: int) -> int:
    """RmCancelCurrentTask's return code."""
    return int(lib.RmCancelCurrentTask(handle))


def _filter_target(
    path: str | None, process: tuple[int, int] | None, service: str | None
) -> tuple[Any, Any, Any]:
    module = proc = svc = ffi.NULL
    if path is not None:
        module = ffi.new("WCHAR[]", path)
    elif process is not None:
        proc = ffi.new("RM_UNIQUE_PROCESS *")
        fill_unique(proc, *process)
    else:
        svc = ffi.new("WCHAR[]", service)
    return module, proc, svc


def add_filter(
    handle: int,
    action: int,
    path: str | None,
    process: tuple[int, int] | None,
    service: str | None,
) -> int:
    """RmAddFilter for the one target given; its return code."""
    module, proc, svc = _filter_target(path, process, service)
    return int(lib.RmAddFilter(handle, module, proc, svc, action))


def remove_filter(
    handle: int,
    path: str | None,
    process: tuple[int, int] | None,
    service: str | None,
) -> int:
    """RmRemoveFilter for the one target given; its return code."""
    module, proc, svc = _filter_target(path, process, service)
    return int(lib.RmRemoveFilter(handle, module, proc, svc))


def get_filter_list(handle: int, size: int) -> tuple[int, int, list[CFilter]]:
    """One RmGetFilterList call with a ``size``-byte buffer: (code, needed, filters)."""
    needed = ffi.new("DWORD *")
    buf = ffi.new("BYTE[]", size) if size else ffi.NULL
    code = int(lib.RmGetFilterList(handle, buf, size, needed))
    filters = _filter_list(buf, int(needed[0])) if code == 0 else []
    return code, int(needed[0]), filters


# ---- the progress callback -------------------------------------------------

# RM_WRITE_STATUS_CALLBACK carries no context: what it calls is set once by
# _progress, which finds the operation in progress.
_on_progress: Callable[[int], None] | None = None
_on_error: Callable[[BaseException], None] | None = None


def route_progress(
    on_progress: Callable[[int], None], on_error: Callable[[BaseException], None]
) -> None:
    """Send what the C progress callback reports, and what it raised, to these."""
    global _on_progress, _on_error  # one C callback, set once
    _on_progress, _on_error = on_progress, on_error


def _progress_failed(
    exc_type: type[BaseException], exc: BaseException, tb: TracebackType | None
) -> None:
    # cffi calls this for anything the callback raised, including what a
    # signal handler raised before the callback's first line (Ctrl-C).
    if _on_error is not None:
        _on_error(exc)


@ffi.def_extern(onerror=_progress_failed)  # type: ignore[untyped-decorator]
def _rstrtmgr_progress(percent: int) -> None:
    if _on_progress is not None:
        _on_progress(int(percent))


#: The RM_WRITE_STATUS_CALLBACK that reaches :func:`route_progress`'s handlers.
PROGRESS_CALLBACK: Any = lib._rstrtmgr_progress


# ---- RSM -------------------------------------------------------------------


def _last_error() -> int:
    """The error of the last C call on this thread, as GetLastError() reads it."""
    if sys.platform == "win32":
        return int(ffi.getwinerror()[0])
    return int(ffi.errno)  # the Linux backend stores the winerror.h code there


def open_ntms_session(
    server: str | None, application: str | None, options: int
) -> tuple[Any, int]:
    """OpenNtmsSessionW: (the HANDLE cdata or None, the error when None)."""
    handle = lib.OpenNtmsSessionW(
        ffi.NULL if server is None else server,
        ffi.NULL if application is None else application,
        options,
    )
    error = _last_error()  # before anything else can make a C call
    if handle == lib.INVALID_HANDLE_VALUE:
        return None, error
    return handle, 0


def close_ntms_session(handle: Any) -> int:
    """CloseNtmsSession's return code."""
    return int(lib.CloseNtmsSession(handle))
