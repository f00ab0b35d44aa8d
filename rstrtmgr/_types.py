"""The Restart Manager's records in Python: processes, lists, filters."""

from __future__ import annotations

import os
import sys

# What collections.abc re-exports, without the collections package (about
# 2.5 ms of `from rstrtmgr import Session`); os has imported it already.
from _collections_abc import Iterable

from . import _marshal

# The records are plain classes, and datetime and typing are imported only
# where they are needed: dataclasses (through inspect) alone cost a third of
# `import rstrtmgr`.
TYPE_CHECKING = False
if TYPE_CHECKING:
    import datetime as _dt
    from collections.abc import Callable, Iterator, Sequence
    from typing import Any, Protocol, TypeVar

    from ._enums import AppStatus, AppType, FilterAction, FilterTrigger, RebootReason

    _R = TypeVar("_R", bound="_Record")

    class ProcessLike(Protocol):
        """What psutil.Process offers: a pid and its start time in Unix seconds."""

        @property
        def pid(self) -> int:
            """The process id."""

        def create_time(self) -> float:
            """The start time, seconds since the Unix epoch."""


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
_INFINITY = float("inf")  # not math.inf: math is one import more for one test
_ERROR_ACCESS_DENIED = 5
_LINUX = sys.platform.startswith("linux")

#: The members by value, for converting lists without an enum call each:
#: (types, statuses), made at the first list (the enumerations are imported
#: on first use, as they cost most of the facade's import).
_members: list[tuple[dict[int, AppType], dict[int, AppStatus]]] = []


def _member_tables() -> tuple[dict[int, AppType], dict[int, AppStatus]]:
    if not _members:
        from ._enums import AppStatus, AppType  # noqa: PLC0415

        _members.append(({int(t): t for t in AppType}, {int(s): s for s in AppStatus}))
    return _members[0]


_to_datetime: list[Callable[[int], _dt.datetime]] = []  # made on first use


def _datetime_of() -> Callable[[int], _dt.datetime]:
    """FILETIME -> aware UTC datetime (datetime is imported on first use)."""
    if not _to_datetime:
        import datetime  # noqa: PLC0415 - not every importer needs it

        epoch = datetime.datetime(1970, 1, 1, tzinfo=datetime.timezone.utc)
        delta = datetime.timedelta
        _to_datetime.append(
            lambda ft: epoch + delta(microseconds=(ft - _EPOCH_AS_FILETIME) // 10)
        )
    return _to_datetime[0]


def filetime_to_datetime(filetime: int) -> _dt.datetime:
    """An aware UTC datetime for a FILETIME (100 ns units since 1601)."""
    return _datetime_of()(filetime)


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


class _Record:
    """A frozen record, compared, hashed, shown and pickled by its fields.

    What ``@dataclass(frozen=True)`` gave, for the fields ``_fields`` names
    in order (a subclass's ``__slots__``).
    """

    __slots__ = ()
    _fields: tuple[str, ...] = ()

    def _values(self) -> tuple[object, ...]:
        return tuple(getattr(self, name) for name in self._fields)

    def _set(self, **values: object) -> None:
        for name, value in values.items():
            object.__setattr__(self, name, value)

    def __eq__(self, other: object) -> bool:
        if other.__class__ is not self.__class__ or not isinstance(other, _Record):
            return NotImplemented
        return self._values() == other._values()

    def __hash__(self) -> int:
        return hash(self._values())

    def __repr__(self) -> str:
        fields = ", ".join(f"{n}={getattr(self, n)!r}" for n in self._fields)
        return f"{type(self).__name__}({fields})"

    def __setattr__(self, name: str, value: object) -> None:
        raise AttributeError(f"cannot assign to field {name!r}")

    def __delattr__(self, name: str) -> None:
        raise AttributeError(f"cannot delete field {name!r}")

    def __reduce__(self) -> tuple[object, ...]:
        return (type(self), self._values())

    def as_dict(self) -> dict[str, Any]:
        """The fields by name, as psutil's ``as_dict()``: a new dict.

        Nested records (a process's files, its restart outcome, a filter's
        process) become dicts too, and tuples of them lists; the values
        stay what the fields hold (enums, datetimes). For JSON, see
        :meth:`ListResult.as_json`.
        """
        return {name: _plain(getattr(self, name)) for name in self._fields}

    def _replace(self: _R, **changes: object) -> _R:
        """A copy with some fields changed (dataclasses.replace)."""
        copy = object.__new__(type(self))
        for name in self._fields:
            object.__setattr__(copy, name, changes.pop(name, getattr(self, name)))
        if changes:
            raise TypeError(
                f"{type(self).__name__} has no field {next(iter(changes))!r}"
            )
        return copy


def _plain(value: object) -> object:
    if isinstance(value, _Record):
        return value.as_dict()
    if isinstance(value, (list, tuple)) and value and isinstance(value[0], _Record):
        return [_plain(v) for v in value]
    return value


class UniqueProcess(_Record):
    """RM_UNIQUE_PROCESS: a pid and its start time, so a reused pid never matches.

    ``start_time`` is a FILETIME (100 ns intervals since 1601, UTC) exactly as
    the backend reports it; on Linux it is the boot time plus the start time
    of ``/proc/PID/stat`` in clock ticks. Ordered by pid, then start time.
    """

    __match_args__ = ("pid", "start_time")
    __slots__ = _fields = __match_args__
    pid: int
    start_time: int

    def __init__(self, pid: int, start_time: int) -> None:
        """Check the fields fit RM_UNIQUE_PROCESS."""
        for name, value in (("pid", pid), ("start_time", start_time)):
            if not isinstance(value, int) or isinstance(value, bool):
                raise TypeError(f"UniqueProcess.{name} must be an int, not {value!r}")
        if not 0 <= pid <= 0xFFFFFFFF:
            raise ValueError(f"pid {pid} does not fit a DWORD")
        if not 0 <= start_time < 1 << 64:
            raise ValueError(f"start time {start_time} is not a FILETIME")
        self._set(pid=pid, start_time=start_time)

    def _order(self, other: object) -> tuple[tuple[int, int], tuple[int, int]] | None:
        if other.__class__ is not self.__class__ or not isinstance(
            other, UniqueProcess
        ):
            return None
        return (self.pid, self.start_time), (other.pid, other.start_time)

    def __lt__(self, other: object) -> bool:
        keys = self._order(other)
        return NotImplemented if keys is None else keys[0] < keys[1]

    def __le__(self, other: object) -> bool:
        keys = self._order(other)
        return NotImplemented if keys is None else keys[0] <= keys[1]

    def __gt__(self, other: object) -> bool:
        keys = self._order(other)
        return NotImplemented if keys is None else keys[0] > keys[1]

    def __ge__(self, other: object) -> bool:
        keys = self._order(other)
        return NotImplemented if keys is None else keys[0] >= keys[1]

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
        if not -_INFINITY < units < _INFINITY:  # infinite or NaN (math.isfinite)
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
    if hasattr(value, "pid") and callable(getattr(value, "create_time", None)):
        return UniqueProcess.from_process(value)  # type: ignore[arg-type]
    raise TypeError(
        "a process is a pid (int), a UniqueProcess, or an object with .pid and "
        f".create_time() such as psutil.Process, not {type(value).__name__}"
    )


_RESTART_EXITED = _marshal.constant("RSTRTMGR_RESTART_EXITED")
_RESTART_KILLED = _marshal.constant("RSTRTMGR_RESTART_KILLED")
_RESTART_NOT_STARTED = _marshal.constant("RSTRTMGR_RESTART_NOT_STARTED")


class RestartOutcome(_Record):
    """What RmRestart did to one process it had shut down (Linux backend).

    A started program is watched for the session's settle time: one that
    exits within it has ``exit_code`` or ``signal`` set and counts as not
    restarted. ``output`` is the last of what it wrote to stdout and stderr
    (at most 4096 bytes, in the order written).
    """

    __match_args__ = (
        "process",
        "new_process",
        "exit_code",
        "signal",
        "error",
        "output",
        "settle_time",
    )
    __slots__ = _fields = __match_args__
    #: The process as it was shut down.
    process: UniqueProcess
    #: The process started in its place; None when none started.
    new_process: UniqueProcess | None
    #: Its exit status, when it exited within the settle time.
    exit_code: int | None
    #: The signal that ended it within the settle time.
    signal: int | None
    #: The errno of a start that failed before the program ran (its
    #: credentials, its directory, the exec); 0 when a service did not start.
    error: int | None
    output: str
    #: How long it was watched, in seconds (0: not checked).
    settle_time: float

    def __init__(  # noqa: PLR0917 - the fields of RSTRTMGR_RESTART_OUTCOME
        self,
        process: UniqueProcess,
        new_process: UniqueProcess | None,
        exit_code: int | None = None,
        signal: int | None = None,
        error: int | None = None,
        output: str = "",
        settle_time: float = 0.0,
    ) -> None:
        """One process's restart and how it ended."""
        self._set(
            process=process,
            new_process=new_process,
            exit_code=exit_code,
            signal=signal,
            error=error,
            output=output,
            settle_time=settle_time,
        )

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
            import signal  # noqa: PLC0415 - only to name a signal

            try:
                name = signal.Signals(self.signal).name
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


class ProcessInfo(_Record):
    """RM_PROCESS_INFO: one process that uses the session's resources.

    ``uid``, ``user``, ``command_line`` and ``files`` are filled by
    ``get_list(details=True)`` where the system can tell: all of them on
    Linux; ``user`` and ``command_line`` on Windows, whose Restart Manager
    does not say which file a process uses. None otherwise.
    """

    __match_args__ = (
        "pid",
        "start_time",
        "start_filetime",
        "app_name",
        "service_name",
        "app_type",
        "status",
        "ts_session_id",
        "restartable",
        "restarted_pid",
        "restart_outcome",
        "uid",
        "user",
        "command_line",
        "files",
    )
    _fields = __match_args__
    # The fields are one tuple, read through properties (set below the
    # class): a list builds hundreds of these, and one tuple is a fifth of
    # the cost of fifteen slots. start_time is derived from start_filetime
    # when it is first read, unless given.
    __slots__ = ("_v",)
    _v: tuple[Any, ...]
    pid: int
    start_time: _dt.datetime
    start_filetime: int
    app_name: str
    service_name: str
    app_type: AppType
    status: AppStatus
    ts_session_id: int | None
    restartable: bool
    restarted_pid: int | None
    restart_outcome: RestartOutcome | None
    uid: int | None
    user: str | None
    command_line: tuple[str, ...] | None
    files: tuple[FileUse, ...] | None

    def __init__(  # noqa: PLR0917 - the fields of RM_PROCESS_INFO
        self,
        pid: int,
        start_time: _dt.datetime,
        start_filetime: int,
        app_name: str,
        service_name: str,
        app_type: AppType,
        status: AppStatus,
        ts_session_id: int | None,
        restartable: bool,
        restarted_pid: int | None = None,
        restart_outcome: RestartOutcome | None = None,
        uid: int | None = None,
        user: str | None = None,
        command_line: tuple[str, ...] | None = None,
        files: tuple[FileUse, ...] | None = None,
    ) -> None:
        """A process as RmGetList lists it."""
        _set_values(
            self,
            (
                pid,
                start_time,
                start_filetime,
                app_name,
                service_name,
                app_type,
                status,
                ts_session_id,
                restartable,
                restarted_pid,
                restart_outcome,
                uid,
                user,
                command_line,
                files,
            ),
        )

    def _values(self) -> tuple[object, ...]:
        v = self._v
        return v if v[1] is not None else (v[0], self.start_time, *v[2:])

    def _replace(self, **changes: object) -> ProcessInfo:
        """A copy with some fields changed (dataclasses.replace)."""
        values = list(self._v)
        for name, value in changes.items():
            index = _PROCESS_FIELDS.get(name)
            if index is None:
                raise TypeError(f"ProcessInfo has no field {name!r}")
            values[index] = value
        copy = object.__new__(ProcessInfo)
        _set_values(copy, tuple(values))
        return copy

    def as_json(self) -> dict[str, Any]:
        """The process as ``--json`` prints it: JSON-ready, schema version 2.

        Names that are not UTF-8 are kept losslessly (docs/json-schema.md).
        """
        from ._json import process_json  # noqa: PLC0415 - JSON's users only

        return process_json(self)

    @property
    def unique_process(self) -> UniqueProcess:
        """The identity to register, filter, or compare this process by."""
        return UniqueProcess(self.pid, self.start_filetime)

    @classmethod
    def _many_from_c(
        cls,
        infos: list[_marshal.CProcessInfo],
        details: Sequence[_marshal.CDetail | None] | None = None,
    ) -> list[ProcessInfo]:
        """The entries of a list, with their details when given.

        The enum members are looked up in a table, not called for, and no
        __init__ runs: each record is its tuple of values.
        """
        invalid = _marshal.INVALID_TS_SESSION
        new = object.__new__
        set_values = _set_values
        from ._enums import AppStatus, AppType  # noqa: PLC0415

        types, statuses = _member_tables()
        unknown = AppType.UNKNOWN
        names: dict[int, str | None] = {}  # one passwd look-up per user
        wanted = details or ()
        out = []
        for i, info in enumerate(infos):
            detail = wanted[i] if i < len(wanted) else None
            uid = user = command_line = files = None
            if detail is not None:
                uid = detail.uid
                if uid is not None and uid not in names:
                    names[uid] = _user_name(uid)
                user = detail.user or (None if uid is None else names[uid])
                command_line = detail.command_line or None
                if detail.files is not None:
                    files = tuple(FileUse._from_c(p, how) for p, how in detail.files)
            record = new(cls)
            status = info.status
            session = info.ts_session_id
            set_values(
                record,
                (
                    info.pid,
                    None,  # start_time: from the FILETIME, when read
                    info.start_time,
                    info.app_name,
                    info.service_name,
                    types.get(info.app_type, unknown),
                    statuses.get(status) or AppStatus(status),
                    None if session == invalid else session,
                    info.restartable,
                    None,
                    None,
                    uid,
                    user,
                    command_line,
                    files,
                ),
            )
            out.append(record)
        return out

    @classmethod
    def _from_c(
        cls, info: _marshal.CProcessInfo, detail: _marshal.CDetail | None = None
    ) -> ProcessInfo:
        return cls._many_from_c([info], [detail])[0]


#: What each field of ProcessInfo says, for its property's docstring.
_PROCESS_FIELD_DOCS = {
    "pid": "The process id.",
    "start_time": "When it started: an aware UTC datetime.",
    "start_filetime": "When it started: a FILETIME, exactly as the backend says.",
    "app_name": "Its name, as RmGetList gives it.",
    "service_name": "The short name of its service, or an empty string.",
    "app_type": "What kind of application it is.",
    "status": "What the session did to it.",
    "ts_session_id": (
        "The login session (Windows: the Terminal Services session), or None."
    ),
    "restartable": "Whether RmRestart can start it again.",
    "restarted_pid": (
        "The pid of the process RmRestart started in this one's place (Linux: "
        "``OLD -> NEW``); None when it was not restarted."
    ),
    "restart_outcome": "What RmRestart did to it (Linux); None when it did nothing.",
    "uid": "Its real user id (None when it has none).",
    "user": "That user's name (None when it has none).",
    "command_line": "Its arguments, argv[0] first.",
    "files": "The registered files (those of registered trees included) it uses.",
}
_PROCESS_FIELDS = {name: i for i, name in enumerate(ProcessInfo._fields)}
_set_values = ProcessInfo.__dict__["_v"].__set__


def _start_time(self: ProcessInfo) -> _dt.datetime:
    value: _dt.datetime | None = self._v[1]
    return value if value is not None else _datetime_of()(self._v[2])


def _field(index: int) -> Callable[[ProcessInfo], object]:
    def get(self: ProcessInfo) -> object:
        return self._v[index]

    return get


for _name, _index in _PROCESS_FIELDS.items():
    setattr(
        ProcessInfo,
        _name,
        property(
            _start_time if _name == "start_time" else _field(_index),
            doc=_PROCESS_FIELD_DOCS[_name],
        ),
    )
del _name, _index


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
#: The same with their values, read once: a list converts thousands.
_USES_BITS = tuple((name, _marshal.constant(c)) for name, c in _USES)
_USES_DELETED = _marshal.constant("RSTRTMGR_USES_DELETED")


class FileUse(_Record):
    """How a listed process uses one file."""

    __match_args__ = ("path", "uses", "deleted")
    __slots__ = _fields = __match_args__
    #: The file's path as the system names it (without " (deleted)").
    path: str
    #: How: any of "fd", "mapping", "executable", "cwd".
    uses: tuple[str, ...]
    #: Deleted or replaced since the process opened it.
    deleted: bool

    def __init__(self, path: str, uses: tuple[str, ...], deleted: bool = False) -> None:
        """One file and how it is used."""
        self._set(path=path, uses=uses, deleted=deleted)

    @classmethod
    def _from_c(cls, path: str, how: int) -> FileUse:
        names = tuple(n for n, bit in _USES_BITS if how & bit)
        deleted = bool(how & _USES_DELETED)
        return cls(path, names, deleted)


class ListResult(_Record):
    """What RmGetList answered: the processes, the reboot reasons, the blind spots."""

    __match_args__ = ("processes", "reboot_reasons", "uninspected")
    __slots__ = _fields = __match_args__
    processes: list[ProcessInfo]
    reboot_reasons: RebootReason
    #: Live processes whose files could not be looked into (another user's,
    #: when not root): they may use the files too. 0 where all are visible.
    uninspected: int

    def __init__(
        self,
        processes: list[ProcessInfo] | None = None,
        reboot_reasons: RebootReason | None = None,
        uninspected: int = 0,
    ) -> None:
        """A list, its reboot reasons (None: none) and its blind spots."""
        if reboot_reasons is None:
            from ._enums import RebootReason  # noqa: PLC0415

            reboot_reasons = RebootReason.NONE
        self._set(
            processes=[] if processes is None else processes,
            reboot_reasons=reboot_reasons,
            uninspected=uninspected,
        )

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

    def as_json(self) -> dict[str, Any]:
        """The result as ``rstrtmgr list --json`` prints it (schema version 2).

        A dict of JSON types only: ``json.dumps(result.as_json())``. Its
        schema ships as ``list-output.schema.json`` (docs/json-schema.md).
        """
        from ._json import result_json  # noqa: PLC0415 - JSON's users only

        return result_json(self)


class Filter(_Record):
    """One entry of RmGetFilterList: what a filter applies to and prevents."""

    __match_args__ = ("action", "trigger", "path", "process", "service")
    __slots__ = _fields = __match_args__
    action: FilterAction
    trigger: FilterTrigger
    path: str | None
    process: UniqueProcess | None
    service: str | None

    def __init__(
        self,
        action: FilterAction,
        trigger: FilterTrigger,
        path: str | None = None,
        process: UniqueProcess | None = None,
        service: str | None = None,
    ) -> None:
        """A filter's action and its one target."""
        self._set(
            action=action, trigger=trigger, path=path, process=process, service=service
        )

    @classmethod
    def _from_c(cls, record: _marshal.CFilter) -> Filter:
        from ._enums import FilterAction, FilterTrigger  # noqa: PLC0415

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
