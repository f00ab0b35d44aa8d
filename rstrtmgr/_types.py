"""The Restart Manager's records in Python: processes, lists, filters."""

from __future__ import annotations

import datetime as _dt
import os
import sys
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

from . import _marshal
from ._enums import AppStatus, AppType, FilterAction, FilterTrigger, RebootReason

__all__ = ["Filter", "ListResult", "ProcessInfo", "UniqueProcess"]

#: FILETIME of the Unix epoch: 100 ns intervals from 1601 to 1970.
_EPOCH_AS_FILETIME = 116_444_736_000_000_000
_FILETIME_UNITS = 10_000_000
_ERROR_ACCESS_DENIED = 5
_LINUX = sys.platform.startswith("linux")


_UNIX_EPOCH = _dt.datetime(1970, 1, 1, tzinfo=_dt.timezone.utc)
#: The members by value, for converting lists without an enum call each.
_APP_TYPES = {int(t): t for t in AppType}
_APP_STATUSES = {int(s): s for s in AppStatus}


def filetime_to_datetime(filetime: int) -> _dt.datetime:
    """An aware UTC datetime for a FILETIME (100 ns units since 1601)."""
    micros = (filetime - _EPOCH_AS_FILETIME) // 10
    return _UNIX_EPOCH + _dt.timedelta(microseconds=micros)


def _clock_ticks() -> int:
    return os.sysconf("SC_CLK_TCK")


def _start_filetime(pid: int) -> int:
    """The start time of live process ``pid`` as the backend reports it."""
    if pid > 0xFFFFFFFF:
        raise ProcessLookupError(f"no process with pid {pid}")
    code, filetime = _marshal.process_start_time(pid)
    if code == _ERROR_ACCESS_DENIED:
        raise PermissionError(f"cannot read the start time of pid {pid}")
    if code != 0:
        raise ProcessLookupError(f"no live process with pid {pid}")
    return filetime


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
    def _many_from_c(cls, infos: list[_marshal.CProcessInfo]) -> list[ProcessInfo]:
        """The entries of a list, as :meth:`_from_c` converts each, faster."""
        invalid = _marshal.INVALID_TS_SESSION
        delta = _dt.timedelta
        return [
            cls(
                info.pid,
                _UNIX_EPOCH
                + delta(microseconds=(info.start_time - _EPOCH_AS_FILETIME) // 10),
                info.start_time,
                info.app_name,
                info.service_name,
                _APP_TYPES.get(info.app_type, AppType.UNKNOWN),
                _APP_STATUSES.get(info.status) or AppStatus(info.status),
                None if info.ts_session_id == invalid else info.ts_session_id,
                info.restartable,
            )
            for info in infos
        ]

    @classmethod
    def _from_c(cls, info: _marshal.CProcessInfo) -> ProcessInfo:
        try:
            app_type = AppType(info.app_type)
        except ValueError:
            app_type = AppType.UNKNOWN
        session = info.ts_session_id
        return cls(
            pid=info.pid,
            start_time=filetime_to_datetime(info.start_time),
            start_filetime=info.start_time,
            app_name=info.app_name,
            service_name=info.service_name,
            app_type=app_type,
            status=AppStatus(info.status),
            ts_session_id=None if session == _marshal.INVALID_TS_SESSION else session,
            restartable=info.restartable,
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


@dataclass(frozen=True)
class Filter:
    """One entry of RmGetFilterList: what a filter applies to and prevents."""

    action: FilterAction
    trigger: FilterTrigger
    path: str | None = None
    process: UniqueProcess | None = None
    service: str | None = None

    @classmethod
    def _from_c(cls, record: _marshal.CFilter) -> Filter:
        action = FilterAction(record.action)
        trigger = FilterTrigger(record.trigger)
        if record.process is not None:
            return cls(action, trigger, process=UniqueProcess(*record.process))
        return cls(action, trigger, path=record.path, service=record.service)


def iter_items(value: object, what: str) -> Iterable[object]:
    """An iterable of items, taking one str/bytes/path alone as a single item."""
    if value is None:
        raise TypeError(f"{what} must be an iterable, not None")
    if isinstance(value, (str, bytes, os.PathLike)):
        return (value,)
    if not isinstance(value, Iterable):
        raise TypeError(f"{what} must be an iterable, not {type(value).__name__}")
    return value
