"""The Restart Manager's records in Python: processes, lists, filters."""

from __future__ import annotations

import datetime as _dt
import math as _math
import os
import signal as _signal
import sys
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

from . import _marshal
from ._enums import AppStatus, AppType, FilterAction, FilterTrigger, RebootReason

__all__ = [
    "FileUse",
    "Filter",
    "ListResult",
    "ProcessInfo",
    "RestartOutcome",
    "UniqueProcess",
]

#: FILETIME of the Unix epoch: 100 ns intervals from 1601 to 1970.
_EPOCH_AS_FILETIME = 116_444_736_000_000_000
_FILETIME_UNITS = 10_000_000
_ERROR_ACCESS_DENIED = 5
_LINUX = sys.platform.startswith("linux")


def filetime_to_datetime(filetime: int) -> _dt.datetime:
    """An aware UTC datetime for a FILETIME (100 ns units since 1601)."""
    micros = (filetime - _EPOCH_AS_FILETIME) // 10
    return _dt.datetime(1970, 1, 1, tzinfo=_dt.timezone.utc) + _dt.timedelta(
        microseconds=micros
    )


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
        which never matches a running process. A ``create_time()`` that is
        not a number raises TypeError; one no FILETIME can hold (infinite,
        NaN, before 1601 or after the year 60056) raises ValueError.
        """
        pid = process.pid
        created = process.create_time()
        if isinstance(created, bool) or not isinstance(created, int | float):
            raise TypeError(f"create_time() gave {created!r}, not seconds")
        units = created * _FILETIME_UNITS
        if not _math.isfinite(units):
            raise ValueError(f"create_time() gave {created}, which is no start time")
        claimed = round(units) + _EPOCH_AS_FILETIME
        if not 0 <= claimed < 1 << 64:
            raise ValueError(
                f"create_time() gave {created}, a start time no FILETIME holds"
            )
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


_RESTART_EXITED = _marshal.constant("RSTRTMGR_RESTART_EXITED")
_RESTART_KILLED = _marshal.constant("RSTRTMGR_RESTART_KILLED")
_RESTART_NOT_STARTED = _marshal.constant("RSTRTMGR_RESTART_NOT_STARTED")


@dataclass(frozen=True)
class RestartOutcome:
    """What RmRestart did to one process it had shut down (Linux backend).

    A started program is watched for the session's settle time: one that
    exits within it has ``exit_code`` or ``signal`` set and counts as not
    restarted. ``output`` is the last of what it wrote to stdout and stderr
    (at most 4096 bytes, in the order written).
    """

    #: The process as it was shut down.
    process: UniqueProcess
    #: The process started in its place; None when none started.
    new_process: UniqueProcess | None
    #: Its exit status, when it exited within the settle time.
    exit_code: int | None = None
    #: The signal that ended it within the settle time.
    signal: int | None = None
    #: The errno of a start that failed before the program ran (its
    #: credentials, its directory, the exec); 0 when a service did not start.
    error: int | None = None
    output: str = ""
    #: How long it was watched, in seconds (0: not checked).
    settle_time: float = 0.0

    @property
    def survived(self) -> bool:
        """True when it started and was still running after the settle time."""
        return self.error is None and self.exit_code is None and self.signal is None

    def describe(self) -> str:
        """One line: how it ended, or "running"."""
        if self.error is not None:
            why = (
                f": {OSError(self.error, os.strerror(self.error))}"
                if self.error
                else ""
            )
            return "could not start" + why
        if self.exit_code is not None:
            return f"exited with status {self.exit_code}"
        if self.signal is not None:
            try:
                name = _signal.Signals(self.signal).name
            except ValueError:
                name = f"signal {self.signal}"
            return f"killed by {name}"
        return "running"

    @classmethod
    def _from_c(cls, c: _marshal.CRestartOutcome) -> RestartOutcome:
        new = UniqueProcess(*c.new_process) if c.new_process is not None else None
        return cls(
            process=UniqueProcess(*c.process),
            new_process=new,
            exit_code=c.code if c.result == _RESTART_EXITED else None,
            signal=c.code if c.result == _RESTART_KILLED else None,
            error=c.code if c.result == _RESTART_NOT_STARTED else None,
            output=c.output.decode("utf-8", "replace"),
            settle_time=c.settle_ms / 1000,
        )


@dataclass(frozen=True)
class ProcessInfo:
    """RM_PROCESS_INFO: one process that uses the session's resources.

    ``uid``, ``user``, ``command_line`` and ``files`` are filled by
    ``get_list(details=True)`` where the system can tell: all of them on
    Linux; ``user`` and ``command_line`` on Windows, whose Restart Manager
    does not say which file a process uses. None otherwise.
    """

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
    #: The pid of the process RmRestart started in this one's place (Linux:
    #: ``OLD -> NEW``); None when it was not restarted.
    restarted_pid: int | None = None
    #: What RmRestart did to it (Linux); None when it did nothing.
    restart_outcome: RestartOutcome | None = None
    #: Its real user id, and that user's name (None when it has none).
    uid: int | None = None
    user: str | None = None
    #: Its arguments, argv[0] first.
    command_line: tuple[str, ...] | None = None
    #: The registered files (those of registered trees included) it uses.
    files: tuple[FileUse, ...] | None = None

    @property
    def unique_process(self) -> UniqueProcess:
        """The identity to register, filter, or compare this process by."""
        return UniqueProcess(self.pid, self.start_filetime)

    @classmethod
    def _from_c(
        cls, info: _marshal.CProcessInfo, detail: _marshal.CDetail | None = None
    ) -> ProcessInfo:
        try:
            app_type = AppType(info.app_type)
        except ValueError:
            app_type = AppType.UNKNOWN
        session = info.ts_session_id
        extra: dict[str, object] = {}
        if detail is not None:
            uid = detail.uid
            extra = {
                "uid": uid,
                "user": detail.user or (None if uid is None else _user_name(uid)),
                "command_line": detail.command_line or None,
                "files": None
                if detail.files is None
                else tuple(FileUse._from_c(p, how) for p, how in detail.files),
            }
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
            **extra,  # type: ignore[arg-type]
        )


def _user_name(uid: int) -> str | None:
    try:
        import pwd  # noqa: PLC0415 - POSIX only

        return pwd.getpwuid(uid).pw_name
    except (ImportError, KeyError):
        return None


#: RSTRTMGR_USES_* bits and their names, in the order they are listed.
_USES = (
    ("fd", "RSTRTMGR_USES_FD"),
    ("mapping", "RSTRTMGR_USES_MAPPING"),
    ("executable", "RSTRTMGR_USES_EXE"),
    ("cwd", "RSTRTMGR_USES_CWD"),
)


@dataclass(frozen=True)
class FileUse:
    """How a listed process uses one file."""

    #: The file's path as the system names it (without " (deleted)").
    path: str
    #: How: any of "fd", "mapping", "executable", "cwd".
    uses: tuple[str, ...]
    #: Deleted or replaced since the process opened it.
    deleted: bool = False

    @classmethod
    def _from_c(cls, path: str, how: int) -> FileUse:
        names = tuple(n for n, c in _USES if how & _marshal.constant(c))
        deleted = bool(how & _marshal.constant("RSTRTMGR_USES_DELETED"))
        return cls(path, names, deleted)


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
