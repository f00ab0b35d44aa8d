"""The Restart Manager session: a thread-safe context manager over a raw handle."""

from __future__ import annotations

# _thread's lock is threading.Lock: threading (and the collections package
# and contextlib, for a generic alias and a decorator) would be half of
# what `from rstrtmgr import Session` costs.
import _thread
import os
import sys
import weakref

from . import _marshal
from ._closing import Closing
from ._errors import (
    BadArgumentsError,
    MoreDataError,
    ReentrantCallError,
    RestartFailedError,
    RestartManagerError,
    SessionClosedError,
    check,
    error_for,
)
from ._progress import Progress, in_callback_of, reporting
from ._types import (
    Filter,
    ListResult,
    ProcessInfo,
    RestartOutcome,
    UniqueProcess,
    iter_items,
    to_unique_process,
)

# The enumerations are imported where they are used: `enum` and building
# its classes are most of what `from rstrtmgr import Session` would cost.
TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Iterable, Sequence
    from types import TracebackType

    from ._enums import FilterAction

# ---- argument conversion ---------------------------------------------------

#: Resources per RmRegisterResources call: Windows fails near 100,000 in one.
_CHUNK = 50_000
#: The smallest array of a first RmGetList call: 256 RM_PROCESS_INFO are
#: 171 KB, cheap beside a scan, and fit most lists in one call.
_LIST_FIRST_SIZE = 256
#: RmGetList rounds before giving up on a list that keeps growing.
_LIST_RETRIES = 10
#: What a project extension returns where the backend has no such call.
_ERROR_CALL_NOT_IMPLEMENTED = 120


def _wide_path(value: object) -> str:
    """The str the WCHAR API takes for a file name, checked to be absolute.

    On Linux a name is bytes: those that are not UTF-8 travel as the lone
    surrogates U+DC80..U+DCFF (Python's surrogateescape), which the backend
    turns back into the very same bytes.
    """
    if type(value) is str and value.isascii() and sys.platform != "win32":
        # The usual case, checked without the round trip through bytes,
        # which gives back the very same str for ASCII.
        if "\0" in value:
            raise ValueError(f"file name {value!r} contains a NUL byte")
        if not value.startswith("/"):
            raise ValueError(f"file name {value!r} is not a full path")
        return value
    if value is None or not isinstance(value, (str, bytes, os.PathLike)):
        raise TypeError(
            f"a file is a str, bytes or path-like object, not {type(value).__name__}"
        )
    path = os.fspath(value)
    if sys.platform == "win32":  # pragma: no cover - Windows only
        text = os.fsdecode(path)
        if "\0" in text:
            raise ValueError(f"file name {text!r} contains a NUL character")
        import ntpath  # noqa: PLC0415 - Windows only

        if not ntpath.isabs(text):
            raise ValueError(f"file name {text!r} is not a full path")
        return text
    raw = os.fsencode(path)
    if b"\0" in raw:
        raise ValueError(f"file name {raw!r} contains a NUL byte")
    if not raw.startswith(b"/"):
        raise ValueError(f"file name {os.fsdecode(raw)!r} is not a full path")
    return raw.decode("utf-8", "surrogateescape")


#: Paths that _packed_paths joins and checks at a time: a chunk's str is
#: about 100 KiB, beside a million paths' 28 MB buffer.
_PACK_CHUNK = 4096


def _ascii_paths(chunk: Sequence[object]) -> str | None:
    """The chunk joined by NULs, or None unless each is a plain path.

    Plain: an ASCII str, a full path, without NUL; _wide_path sorts out
    anything else.
    """
    try:
        # A TypeError where an item is not a str.
        text = "\0".join(chunk)  # type: ignore[arg-type]
    except TypeError:
        return None
    seps = len(chunk) - 1
    if (
        text.isascii()  # a flag of the str: no scan
        and text.startswith("/")
        and text.count("\0") == seps  # none holds a NUL
        and text.count("\0/") == seps  # each is a full path
    ):
        return text
    return None


def _packed_paths(items: Sequence[object]) -> tuple[bytearray, int]:
    """The files as the Linux backend takes them (each path's bytes, a NUL).

    Returns the buffer and how many paths it holds.

    Checked as _wide_path checks each (the same exceptions, raised for the
    first bad item). A list of ASCII str, the usual case, is joined and
    checked a chunk at a time by str's own C loops and copied once into a
    buffer of the exact size: a million paths cost their bytes, not a str
    a path nor a second copy of them all.
    """
    try:
        # Exact when every item is an ASCII str; only a first guess else.
        size = sum(map(len, items)) + len(items)  # type: ignore[arg-type]
    except TypeError:
        size = 0
    buf = bytearray(size)
    end = count = 0  # what is written; buf[end:] is zeros
    for start in range(0, len(items), _PACK_CHUNK):
        chunk = items[start : start + _PACK_CHUNK]
        text = _ascii_paths(chunk)
        if text is None:
            text = "\0".join([_wide_path(f) for f in chunk])
        raw = text.encode("utf-8", "surrogateescape")
        stop = end + len(raw)
        buf[end:stop] = raw  # grows buf where the guess was short
        if stop == len(buf):
            buf.append(0)
        end = stop + 1  # buf[stop] is the path's NUL
        count += len(chunk)
    del buf[end:]
    return buf, count


def _list_result(answer: _marshal.CList) -> ListResult:
    from ._enums import RebootReason  # noqa: PLC0415 - built on first use

    details = list(answer.details) if answer.details else None
    return ListResult(
        ProcessInfo._many_from_c(answer.processes, details),
        RebootReason(answer.reboot_reasons),
        answer.uninspected,
    )


def _service_name(value: object) -> str:
    if not isinstance(value, str):
        raise TypeError(f"a service name is a str, not {type(value).__name__}")
    if not value or "\0" in value:
        raise ValueError(f"{value!r} is not a service name")
    return value


def _filter_target(
    path: object, process: object, service: object
) -> tuple[str | None, tuple[int, int] | None, str | None]:
    """The one target of RmAddFilter/RmRemoveFilter, checked."""
    if sum(x is not None for x in (path, process, service)) != 1:
        raise TypeError("a filter names exactly one of path=, process= or service=")
    if path is not None:
        return _wide_path(path), None, None
    if process is not None:
        unique = to_unique_process(process)
        return None, (unique.pid, unique.start_time), None
    return None, None, _service_name(service)


def _timeout_ms(timeout: float, what: str = "timeout") -> int:
    if isinstance(timeout, bool) or not isinstance(timeout, int | float):
        raise TypeError(f"{what} is a number of seconds, not {timeout!r}")
    if not 0 <= timeout <= 0xFFFFFFFF / 1000:
        raise ValueError(f"{what} must be from 0 to 4294967 seconds, not {timeout}")
    return round(timeout * 1000)


#: The statuses of processes that RmRestart acted on, which have an outcome
#: (AppStatus.RESTARTED and ERROR_ON_RESTART: the enumerations are imported
#: on first use, their values are the compiled module's).
_ERROR_ON_RESTART = _marshal.constant("RmStatusErrorOnRestart")
_RESTART_STATUSES = (_marshal.constant("RmStatusRestarted"), _ERROR_ON_RESTART)


__all__ = ["NO_SESSION", "Session"]

#: The handle value that names no session (0 is a valid handle).
NO_SESSION = _marshal.NO_SESSION

_HEX_DIGITS = frozenset("0123456789abcdefABCDEF")


class _Lease:
    """The handle lent to one call: ``with session._using() as handle``."""

    __slots__ = ("_session",)

    def __init__(self, session: Session) -> None:
        self._session = session

    def __enter__(self) -> int:
        session = self._session
        with session._lock:
            if session._closed:
                raise SessionClosedError(6)
            session._busy += 1
        return session._handle

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        session = self._session
        with session._lock:
            session._busy -= 1
            if session._busy == 0 and session._drained is not None:
                session._drained.release()  # close() waits no more
                session._drained = None


def _end_abandoned(handle: int, pid: int) -> None:
    """End a session whose object was collected or left open at exit."""
    # A forked child inherits the object but not the session: never end the
    # parent's session from the child.
    if os.getpid() == pid:
        _marshal.end_session(handle)


class Session(Closing):
    """A Restart Manager session.

    ``Session()`` starts a new session and ``Session.join(key)`` joins one that
    another process started. Use it as a context manager, or call
    :meth:`close`; a session that is garbage-collected or still open when the
    interpreter exits is ended too, since a user may hold only 64 at once.
    Every method may be called from any thread.
    """

    _handle: int
    _key: str
    _primary: bool

    def __init__(self) -> None:
        """Start a new session; this process becomes its primary."""
        code, handle, key = _marshal.start_session()
        check(code, "RmStartSession")
        self._setup(handle, key, primary=True)

    @classmethod
    def join(cls, key: str) -> Session:
        """Join the session that another participant started, by its key."""
        if not isinstance(key, str):
            raise TypeError(f"a session key is a str, not {type(key).__name__}")
        if len(key) != 32 or not _HEX_DIGITS.issuperset(key):
            raise BadArgumentsError(
                160,
                f"RmJoinSession: {key!r} is not a session key; "
                "a key is the 32 hexadecimal digits of Session.key",
            )
        code, handle = _marshal.join_session(key)
        check(code, "RmJoinSession")
        self = cls.__new__(cls)
        self._setup(handle, key, primary=False)
        return self

    def _setup(self, handle: int, key: str, *, primary: bool) -> None:
        self._handle = handle
        self._key = key
        self._primary = primary
        self._closed = False
        self._busy = 0
        self._last_count = 0  # the size of the last list, for the next call
        # What threading.Condition would do for the one thing it is needed
        # for, close() waiting for the calls in flight: the lock guards
        # _closed, _busy and _drained; _drained, when close() waits, is a
        # held lock that the last call to end releases.
        self._lock = _thread.allocate_lock()
        self._drained: _thread.LockType | None = None
        self._pid = os.getpid()
        self._finalizer = weakref.finalize(self, _end_abandoned, handle, self._pid)

    @property
    def key(self) -> str:
        """The session key: 32 hexadecimal digits that other processes join by."""
        return self._key

    @property
    def handle(self) -> int:
        """The raw session handle, valid in this process only (0 is valid)."""
        return self._handle

    @property
    def primary(self) -> bool:
        """True for the process that started the session, False for a joiner."""
        return self._primary

    @property
    def closed(self) -> bool:
        """True once :meth:`close` has ended this participant's handle."""
        return self._closed

    def _using(self) -> _Lease:
        """Lend the handle to one call; :meth:`close` waits for such calls."""
        return _Lease(self)

    def _not_from_own_callback(self, what: str) -> None:
        if in_callback_of(self._handle):
            raise ReentrantCallError(
                f"Session.{what}() was called from this session's own progress "
                "callback, where it would wait for itself; call it after the "
                "shutdown or restart returns (cancel() stops one)"
            )

    def close(self) -> None:
        """End this participant's handle; idempotent, safe from any thread.

        From the session's own progress callback it raises
        :class:`ReentrantCallError` rather than wait for itself.
        """
        self._not_from_own_callback("close")
        with self._lock:
            if self._closed:
                return
            self._closed = True
            drained = None
            if self._busy:
                # Only the first close() waits: the others returned above.
                drained = self._drained = _thread.allocate_lock()
                drained.acquire()
        if drained is not None:
            drained.acquire()  # until the last call in flight ends
        if self._finalizer.detach() is None:
            return  # the finalizer ended it already (interpreter exit)
        if os.getpid() != self._pid:
            return  # a forked child: the session is the parent's
        code = _marshal.end_session(self._handle)
        if code != 0:
            # Still open: let the caller retry, and the finalizer clean up.
            self._finalizer = weakref.finalize(
                self, _end_abandoned, self._handle, self._pid
            )
            with self._lock:
                self._closed = False
            check(code, "RmEndSession")

    # ---- resources and lists ----------------------------------------------

    def register(
        self,
        files: Iterable[str | bytes | os.PathLike[str] | os.PathLike[bytes]]
        | str
        | bytes
        | os.PathLike[str]
        | os.PathLike[bytes] = (),
        processes: Iterable[object] = (),
        services: Iterable[str] | str = (),
    ) -> None:
        """Register files, processes and services with the session.

        ``files`` are full paths (str, bytes or path-like; names that are not
        UTF-8 round-trip), ``processes`` are pids (their start time is read
        now), :class:`UniqueProcess` values or psutil-like objects, and
        ``services`` are service names (systemd units on Linux: ``"ssh"``
        means ``ssh.service``). Registrations accumulate and every
        participant sees them. Everything is checked before anything is
        registered: a wrong type raises TypeError, a relative path or a
        directory ValueError, and nothing of the call is registered.
        """
        items = iter_items(files, "files")
        packed = bytearray()
        count = 0
        if sys.platform == "win32":  # pragma: no cover - Windows only
            paths = [_wide_path(f) for f in items]
        else:
            # One buffer of bytes, not a C string a path: a million paths
            # cost their bytes, not a million objects.
            if type(items) is not list and type(items) is not tuple:
                items = list(items)
            paths: list[str] = []
            packed, count = _packed_paths(items)
        procs = [to_unique_process(p) for p in iter_items(processes, "processes")]
        names = [_service_name(s) for s in iter_items(services, "services")]
        # The Linux backend takes any number in one call, and checks every
        # path (stats it once) before it stores any.
        chunk = _CHUNK if sys.platform == "win32" else max(count, len(procs), 1)
        if len(paths) + len(procs) + len(names) > chunk:  # pragma: no cover
            # More than one call (Windows): the backend cannot check the
            # later chunks before the first is stored, so what it would
            # refuse is refused here first. (On Linux the files are one
            # call, the first, and `paths` is empty.)
            for text in paths:
                if os.path.isdir(text):
                    raise ValueError(
                        f"{text!r} is a directory; directories are not resources"
                    )
        with self._using() as handle:
            if count:
                check(
                    _marshal.register_files(handle, packed, count),
                    "RmRegisterResources",
                )
            for start in range(0, len(paths), chunk):
                self._register_chunk(handle, paths[start : start + chunk], [], [])
            for start in range(0, len(procs), chunk):
                self._register_chunk(handle, [], procs[start : start + chunk], [])
            if names:
                self._register_chunk(handle, [], [], names)

    @staticmethod
    def _register_chunk(
        handle: int, paths: list[str], procs: list[UniqueProcess], names: list[str]
    ) -> None:
        if not (paths or procs or names):
            return
        apps = [(p.pid, p.start_time) for p in procs]
        check(
            _marshal.register_resources(handle, paths, apps, names),
            "RmRegisterResources",
        )

    def register_tree(
        self,
        root: str | bytes | os.PathLike[str] | os.PathLike[bytes],
        *,
        include: Iterable[str] | str = (),
        exclude: Iterable[str] | str = (),
        one_file_system: bool = False,
    ) -> None:
        """Register the files of the directory tree at ``root``.

        ``include`` patterns (none: every file) select files, ``exclude``
        patterns drop files and whole directories; a pattern with a ``/``
        matches the path relative to ``root``, one without the name (see
        :mod:`rstrtmgr._trees`). Symbolic links are not followed;
        ``one_file_system`` keeps to root's file system. On Linux the
        backend walks the tree (and a working directory in it counts as a
        use); elsewhere the facade walks it and registers its files.
        Nothing is registered when the walk fails.
        """
        text = _wide_path(root)
        native: str | bytes = (
            text if sys.platform == "win32" else text.encode("utf-8", "surrogateescape")
        )
        if not os.path.lexists(native):
            raise FileNotFoundError(2, "no such directory", os.fsdecode(native))
        if not os.path.isdir(native):
            raise BadArgumentsError(
                BadArgumentsError.code,
                f"register_tree: {text!r} is not a directory; register a file "
                "with register(files=...)",
            )
        # The tree walk (and the typing it needs) only for those who walk.
        from ._trees import check_patterns, walk_tree  # noqa: PLC0415

        inc = check_patterns(include, "include")
        exc = check_patterns(exclude, "exclude")
        flags = (
            _marshal.constant("RSTRTMGR_TREE_ONE_FILE_SYSTEM") if one_file_system else 0
        )
        with self._using() as handle:
            code = _marshal.register_tree(handle, text, inc, exc, flags)
        if code == _ERROR_CALL_NOT_IMPLEMENTED:
            files = walk_tree(
                os.fsdecode(native), inc, exc, one_file_system=one_file_system
            )
            self.register(files=files)
            return
        check(code, "rstrtmgr_register_tree")

    def register_stale(
        self,
        paths: Iterable[str | bytes | os.PathLike[str] | os.PathLike[bytes]]
        | str
        | bytes
        | os.PathLike[str]
        | os.PathLike[bytes]
        | None = None,
    ) -> None:
        """List also the processes that use files deleted or replaced since.

        What an upgrade left behind (needrestart's question): processes
        that execute, map or hold open a file that was deleted or replaced
        under one of ``paths`` (files or directories); with None, those whose
        executable or mappings are such files anywhere. Linux only
        (NotImplementedOnPlatformError elsewhere).
        """
        texts = (
            [] if paths is None else [_wide_path(p) for p in iter_items(paths, "paths")]
        )
        if paths is not None and not texts:
            raise ValueError("register_stale: give paths, or None for anywhere")
        with self._using() as handle:
            check(_marshal.register_stale(handle, texts), "rstrtmgr_register_stale")

    def get_list(self, *, details: bool = False) -> ListResult:
        """The processes that use the registered resources, computed now.

        Also the session's reboot reasons and how many processes could not be
        looked into (another user's, when not root; always 0 on Windows).
        With ``details``, each process also tells which registered files it
        uses and how, its user and its command line, where the backend can
        (Linux): a second look at each listed process.
        """
        return self._get_list(details=details)

    def _get_list(self, *, details: bool = False, users: bool = False) -> ListResult:
        """get_list(), or with ``users`` each process's uid and user alone.

        Without the details' second look: ``rstrtmgr list``'s table.
        """
        # Room for the usual list at once: on Linux each call is a whole scan.
        size = max(_LIST_FIRST_SIZE, self._last_count + 16)
        with self._using() as handle:
            for _ in range(_LIST_RETRIES):
                answer = _marshal.get_list(handle, size, details, users)
                if answer.code == 0:
                    self._last_count = len(answer.processes)
                    break
                if answer.code != MoreDataError.code:
                    check(answer.code, "RmGetList")
                # The list can grow between calls: leave some room.
                size = answer.needed + 8
            else:
                raise MoreDataError(
                    MoreDataError.code,
                    f"RmGetList: the list kept growing over {_LIST_RETRIES} "
                    "rounds; try again",
                )
        return self._with_restart_outcomes(_list_result(answer))

    # ---- shutdown, restart, filters --------------------------------------

    def _fail(
        self, error: RestartManagerError, after: ListResult | None = None
    ) -> RestartManagerError:
        """The error of a failed shutdown or restart, with the statuses."""
        if after is not None:
            error.processes = tuple(after.processes)
            return error
        try:
            listed = self.get_list()
        except RestartManagerError:
            return error  # the statuses are a courtesy: the error is what matters
        error.processes = tuple(listed.processes)
        return error

    def _shutdown_list(self, handle: int) -> ListResult | None:
        """The list this thread's RmShutdown just ended with, without a scan.

        None where the backend keeps none (Windows): get_list() then.
        """
        size = max(_LIST_FIRST_SIZE, self._last_count + 16)
        for _ in range(2):  # the kept list does not grow: one MORE_DATA at most
            answer = _marshal.shutdown_list(handle, size)
            if answer.code == 0:
                return _list_result(answer)
            if answer.code != MoreDataError.code:
                return None
            size = answer.needed
        return None

    def shutdown(
        self,
        force: bool = False,
        only_registered: bool = False,
        timeout: float | None = None,
        progress: Progress | None = None,
    ) -> ListResult:
        """Shut down the processes that use the registered resources.

        Each gets a graceful request first (Linux: SIGTERM; a systemd service:
        a stop of its unit). One still running after ``timeout`` seconds
        (default 30 for applications, 20 for services; on Linux a timeout given
        here holds for the rest of the session) is killed only with
        ``force``; otherwise :class:`ShutdownFailedError` is raised.
        ``only_registered`` shuts down nothing unless every holder is
        registered for restart. The caller itself is never shut down.
        ``progress`` is called with the percentage done, 0 to 100; an
        exception it raises cancels the shutdown and is re-raised here, and
        so does Ctrl-C while the shutdown waits (Linux).
        Returns the list with each process's status, the one the shutdown
        acted on (Linux: without scanning again, so a process that began using
        the files meanwhile is in the next :meth:`get_list`); a failure raises
        the matching error with the statuses in its ``processes``.
        """
        self._not_from_own_callback("shutdown")
        from ._enums import ShutdownType  # noqa: PLC0415 - built on first use

        flags = (ShutdownType.FORCE if force else 0) | (
            ShutdownType.ONLY_REGISTERED if only_registered else 0
        )
        with self._using() as handle:
            if timeout is not None:
                ms = _timeout_ms(timeout)
                check(
                    _marshal.set_shutdown_timeouts(handle, ms, ms),
                    "rstrtmgr_set_shutdown_timeouts",
                )
            with reporting(handle, progress) as callback:
                code = _marshal.shutdown(handle, int(flags), callback)
            # The error first: it reads the detail of this thread's last call.
            error = error_for(code, "RmShutdown") if code else None
            after = self._shutdown_list(handle)
        if after is not None:
            after = self._with_restart_outcomes(after)
        if error is not None:
            raise self._fail(error, after)
        return after if after is not None else self.get_list()

    def _with_restart_outcomes(self, result: ListResult) -> ListResult:
        """The list, the processes RmRestart acted on with its outcome and new pid."""
        processes = result.processes
        if not any(p.status in _RESTART_STATUSES for p in processes):
            return result
        out = []
        with self._using() as handle:
            for p in processes:
                c = None
                if p.status in _RESTART_STATUSES:
                    _, c = _marshal.restart_outcome(handle, p.pid, p.start_filetime)
                if c is None:  # none kept (Windows keeps none)
                    out.append(p)
                    continue
                outcome = RestartOutcome._from_c(c)
                new = outcome.new_process
                out.append(
                    p._replace(
                        restarted_pid=new.pid if new is not None else None,
                        restart_outcome=outcome,
                    )
                )
        return ListResult(out, result.reboot_reasons, result.uninspected)

    def _restart_failed(self) -> RestartManagerError:
        """RestartFailedError with the statuses and each failure's outcome."""
        try:
            processes = tuple(self.get_list().processes)
        except RestartManagerError:
            return error_for(RestartFailedError.code, "RmRestart")
        failures = tuple(
            p.restart_outcome
            for p in processes
            if p.status == _ERROR_ON_RESTART and p.restart_outcome
        )
        detail = ""
        if failures:
            first = failures[0]
            detail = f"pid {first.process.pid} {first.describe()}"
            if first.exit_code is not None or first.signal is not None:
                detail += f" within {first.settle_time:g} s of its restart"
            if len(failures) > 1:
                detail += f" (and {len(failures) - 1} more)"
        error = error_for(RestartFailedError.code, "RmRestart", detail)
        error.processes = processes
        if isinstance(error, RestartFailedError):
            error.failures = failures
        return error

    def restart(
        self, progress: Progress | None = None, *, settle_time: float | None = None
    ) -> ListResult:
        """Restart what :meth:`shutdown` stopped that is registered for restart.

        Each started program is watched for ``settle_time`` seconds (default
        2; 0: not at all; Linux only, and like ``shutdown``'s timeout it holds
        for the rest of the session), all at once: one that exits within it
        is not restarted. Raises :class:`OutOfSequenceError` before any
        shutdown and :class:`RestartFailedError` when some could not be
        restarted, with the statuses and, in its ``failures``, how each
        ended and its last output. Each restarted process's ``ProcessInfo``
        has the new pid (``restarted_pid``) and ``restart_outcome``.
        ``progress`` is as for :meth:`shutdown`.
        """
        self._not_from_own_callback("restart")
        with self._using() as handle:
            if settle_time is not None:
                check(
                    _marshal.set_restart_settle_time(
                        handle, _timeout_ms(settle_time, "settle_time")
                    ),
                    "rstrtmgr_set_restart_settle_time",
                )
            with reporting(handle, progress) as callback:
                code = _marshal.restart(handle, callback)
        if code == RestartFailedError.code:
            raise self._restart_failed()
        if code:
            raise self._fail(error_for(code, "RmRestart"))
        return self.get_list()

    def cancel(self) -> None:
        """Make a shutdown or restart running in another thread stop (1223)."""
        with self._using() as handle:
            check(_marshal.cancel_current_task(handle), "RmCancelCurrentTask")

    def add_filter(
        self,
        action: FilterAction,
        *,
        path: str | bytes | os.PathLike[str] | os.PathLike[bytes] | None = None,
        process: object = None,
        service: str | None = None,
    ) -> None:
        """Keep a program, a process or a service from shutdown or restart.

        ``action`` is ``FilterAction.NO_SHUTDOWN`` or ``NO_RESTART``; the
        target is a program by its ``path``, a ``process`` (pid,
        UniqueProcess or psutil-like) or a ``service``. The latest filter for
        a target replaces an earlier one.
        """
        from ._enums import FilterAction  # noqa: PLC0415 - built on first use

        if not isinstance(action, int) or isinstance(action, bool):
            raise TypeError(f"action is a FilterAction, not {action!r}")
        action = FilterAction(action)
        if action == FilterAction.INVALID:
            raise ValueError("action is NO_RESTART or NO_SHUTDOWN")
        target = _filter_target(path, process, service)
        with self._using() as handle:
            check(_marshal.add_filter(handle, action, *target), "RmAddFilter")

    def remove_filter(
        self,
        *,
        path: str | bytes | os.PathLike[str] | os.PathLike[bytes] | None = None,
        process: object = None,
        service: str | None = None,
    ) -> None:
        """Remove the filter of a program, a process or a service."""
        target = _filter_target(path, process, service)
        with self._using() as handle:
            check(_marshal.remove_filter(handle, *target), "RmRemoveFilter")

    def filters(self) -> list[Filter]:
        """The session's filters (RmGetFilterList)."""
        size = 0
        with self._using() as handle:
            for _ in range(_LIST_RETRIES):
                code, needed, records = _marshal.get_filter_list(handle, size)
                if code == 0:
                    return [Filter._from_c(record) for record in records]
                if code != MoreDataError.code:
                    check(code, "RmGetFilterList")
                size = needed
        raise MoreDataError(MoreDataError.code, "RmGetFilterList: try again")

    def __repr__(self) -> str:
        state = "closed" if self._closed else f"handle={self._handle}"
        role = "primary" if self._primary else "joined"
        return f"<rstrtmgr.Session key={self._key} {role} {state}>"
