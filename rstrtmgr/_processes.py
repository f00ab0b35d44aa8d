"""Processes in the Restart Manager's terms: identities, list entries, results."""

from __future__ import annotations

import datetime as _dt
import os
import sys
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

from ._enums import AppStatus, AppType, RebootReason

__all__ = ["ListResult", "ProcessInfo", "UniqueProcess"]

#: FILETIME of the Unix epoch: 100 ns intervals from 1601 to 1970.
_EPOCH_AS_FILETIME = 116_444_736_000_000_000
_FILETIME_UNITS = 10_000_000
_INVALID_TS_SESSION = 0xFFFFFFFF
_LINUX = sys.platform.startswith("linux")


def filetime_to_datetime(filetime: int) -> _dt.datetime:
    """An aware UTC datetime for a FILETIME (100 ns units since 1601)."""
    micros = (filetime - _EPOCH_AS_FILETIME) // 10
    return _dt.datetime(1970, 1, 1, tzinfo=_dt.timezone.utc) + _dt.timedelta(
        microseconds=micros
    )


def _boot_time() -> int:
    with open("/proc/stat", "rb") as f:
        for line in f:
            if line.startswith(b"btime "):
                return int(line.split()[1])
    raise OSError("/proc/stat has no btime")


def _clock_ticks() -> int:
    return os.sysconf("SC_CLK_TCK")


def _linux_start_ticks(pid: int) -> int:
    """Field 22 of /proc/PID/stat; ProcessLookupError for no live process."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            text = f.read()
    except (FileNotFoundError, ProcessLookupError):
        raise ProcessLookupError(f"no process with pid {pid}") from None
    # comm may hold spaces and parentheses: the fields follow the last ")".
    fields = text[text.rindex(b")") + 2 :].split()
    if fields[0] in (b"Z", b"X", b"x"):
        raise ProcessLookupError(f"process {pid} has exited (zombie)")
    return int(fields[19])


def _linux_filetime(ticks: int) -> int:
    # The same arithmetic as native/linux/procid.c, so the values are equal.
    hz = _clock_ticks()
    return (
        _EPOCH_AS_FILETIME
        + _boot_time() * _FILETIME_UNITS
        + ticks * (_FILETIME_UNITS // hz)
    )


def _windows_filetime(pid: int) -> int:  # pragma: no cover - Windows only
    import ctypes  # noqa: PLC0415 - Windows only
    from ctypes import wintypes  # noqa: PLC0415

    kernel32 = ctypes.WinDLL("kernel32", use_last_error=True)  # type: ignore[attr-defined,unused-ignore]
    open_process = kernel32.OpenProcess
    open_process.restype = wintypes.HANDLE
    open_process.argtypes = [wintypes.DWORD, wintypes.BOOL, wintypes.DWORD]
    get_times = kernel32.GetProcessTimes
    get_times.argtypes = [wintypes.HANDLE] + [ctypes.POINTER(wintypes.FILETIME)] * 4
    process_query_limited_information = 0x1000
    handle = open_process(process_query_limited_information, False, pid)
    if not handle:
        raise ProcessLookupError(f"no process with pid {pid} can be opened")
    try:
        times = [wintypes.FILETIME() for _ in range(4)]
        if not get_times(handle, *(ctypes.byref(t) for t in times)):
            raise ProcessLookupError(f"cannot read the start time of pid {pid}")
        return (times[0].dwHighDateTime << 32) | times[0].dwLowDateTime
    finally:
        kernel32.CloseHandle(handle)


def _start_filetime(pid: int) -> int:
    if _LINUX:
        return _linux_filetime(_linux_start_ticks(pid))
    return _windows_filetime(pid)  # pragma: no cover - Windows only


@runtime_checkable
class ProcessLike(Protocol):
    """What psutil.Process offers: a pid and its start time in Unix seconds."""

    @property
    def pid(self) -> int:
        """The process id."""

    def create_time(self) -> float:
        """The start time, seconds since the Unix epoch."""


@dataclass(frozen=True, order=True)
class UniqueProcess:
    """RM_UNIQUE_PROCESS: a pid and its start time, so a reused pid never matches.

    ``start_time`` is a FILETIME (100 ns intervals since 1601, UTC) exactly as
    the backend reports it; on Linux it is the boot time plus the start time
    of ``/proc/PID/stat`` in clock ticks.
    """

    pid: int
    start_time: int

    def __post_init__(self) -> None:
        """Check the fields fit RM_UNIQUE_PROCESS."""
        for name in ("pid", "start_time"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool):
                raise TypeError(f"UniqueProcess.{name} must be an int, not {value!r}")
        if not 0 <= self.pid <= 0xFFFFFFFF:
            raise ValueError(f"pid {self.pid} does not fit a DWORD")
        if not 0 <= self.start_time < 1 << 64:
            raise ValueError(f"start time {self.start_time} is not a FILETIME")

    @classmethod
    def of(cls, pid: int) -> UniqueProcess:
        """The running process ``pid``; ProcessLookupError when there is none."""
        if not isinstance(pid, int) or isinstance(pid, bool):
            raise TypeError(f"a pid is an int, not {type(pid).__name__}")
        if pid <= 0:
            raise ValueError(f"{pid} is not a process id")
        return cls(pid, _start_filetime(pid))

    @classmethod
    def from_process(cls, process: ProcessLike) -> UniqueProcess:
        """The process behind a psutil-like object (``.pid``, ``.create_time()``).

        The start time is read again by pid and kept when it agrees with
        ``create_time()`` to within a clock tick; otherwise that pid now names
        another process (or none), and the object's own start time is kept,
        which never matches a running process.
        """
        pid = process.pid
        created = float(process.create_time())
        claimed = round(created * _FILETIME_UNITS) + _EPOCH_AS_FILETIME
        try:
            now = cls.of(pid)
        except ProcessLookupError:
            return cls(pid, claimed)
        tick = _FILETIME_UNITS // _clock_ticks() if _LINUX else 10_000
        # One tick of rounding, plus the float's own precision near 2^31 s.
        if abs(now.start_time - claimed) <= tick + 10:
            return now
        return cls(pid, claimed)

    @property
    def started(self) -> _dt.datetime:
        """The start time as an aware UTC datetime (to the microsecond)."""
        return filetime_to_datetime(self.start_time)

    def is_running(self) -> bool:
        """True while this very process (same pid and start time) runs."""
        try:
            return UniqueProcess.of(self.pid) == self
        except (ProcessLookupError, PermissionError, ValueError):
            return False


def to_unique_process(value: object) -> UniqueProcess:
    """Accept a pid, a UniqueProcess or a psutil-like process object."""
    if isinstance(value, UniqueProcess):
        return value
    if isinstance(value, bool) or value is None:
        raise TypeError(f"{value!r} is not a process")
    if isinstance(value, int):
        return UniqueProcess.of(value)
    if isinstance(value, ProcessLike):
        return UniqueProcess.from_process(value)
    raise TypeError(
        "a process is a pid (int), a UniqueProcess, or an object with .pid and "
        f".create_time() such as psutil.Process, not {type(value).__name__}"
    )


@dataclass(frozen=True)
class ProcessInfo:
    """RM_PROCESS_INFO: one process that uses the session's resources."""

    pid: int
    start_time: _dt.datetime
    start_filetime: int
    app_name: str
    service_name: str
    app_type: AppType
    status: AppStatus
    #: The login session (Windows: the Terminal Services session), or None.
    ts_session_id: int | None
    restartable: bool

    @property
    def unique_process(self) -> UniqueProcess:
        """The identity to register, filter, or compare this process by."""
        return UniqueProcess(self.pid, self.start_filetime)

    @classmethod
    def _from_c(cls, info: Any, string: Any) -> ProcessInfo:
        proc = info.Process
        filetime = (
            proc.ProcessStartTime.dwHighDateTime << 32
        ) | proc.ProcessStartTime.dwLowDateTime
        # The names are UTF-16 that may carry lone surrogates standing for
        # bytes that are not UTF-8 (see native/linux/internal.h).
        session = int(info.TSSessionId)
        try:
            app_type = AppType(info.ApplicationType)
        except ValueError:
            app_type = AppType.UNKNOWN
        return cls(
            pid=int(proc.dwProcessId),
            start_time=filetime_to_datetime(filetime),
            start_filetime=filetime,
            app_name=string(info.strAppName),
            service_name=string(info.strServiceShortName),
            app_type=app_type,
            status=AppStatus(int(info.AppStatus)),
            ts_session_id=None if session == _INVALID_TS_SESSION else session,
            restartable=bool(info.bRestartable),
        )


@dataclass(frozen=True)
class ListResult:
    """What RmGetList answered: the processes, the reboot reasons, the blind spots."""

    processes: list[ProcessInfo] = field(default_factory=list)
    reboot_reasons: RebootReason = RebootReason.NONE
    #: Live processes whose files could not be looked into (another user's,
    #: when not root): they may use the files too. 0 where all are visible.
    uninspected: int = 0

    @property
    def in_use(self) -> bool:
        """True when any process is known to use the resources."""
        return bool(self.processes)

    def __len__(self) -> int:
        return len(self.processes)

    def __iter__(self) -> Iterator[ProcessInfo]:
        return iter(self.processes)

    def pids(self) -> set[int]:
        """The pids of the listed processes."""
        return {p.pid for p in self.processes}


def iter_items(value: object, what: str) -> Iterable[object]:
    """An iterable of items, taking one str/bytes/path alone as a single item."""
    if value is None:
        raise TypeError(f"{what} must be an iterable, not None")
    if isinstance(value, (str, bytes, os.PathLike)):
        return (value,)
    if not isinstance(value, Iterable):
        raise TypeError(f"{what} must be an iterable, not {type(value).__name__}")
    return value
