"""Restart Manager errors: one OSError subclass per meaningful winerror.h code."""

from __future__ import annotations

import errno
import sys

from ._rstrtmgr import ffi, lib

TYPE_CHECKING = False
if TYPE_CHECKING:  # typing costs `import rstrtmgr` a few ms: for mypy only
    from typing import Any, ClassVar

__all__ = [
    "BadArgumentsError",
    "CancelledError",
    "InvalidHandleError",
    "LockTimeoutError",
    "MaxSessionsReachedError",
    "MoreDataError",
    "NotImplementedOnPlatformError",
    "OutOfMemoryError",
    "OutOfSequenceError",
    "RebootRequiredError",
    "ReentrantCallError",
    "RestartFailedError",
    "RestartManagerError",
    "SessionClosedError",
    "SessionConflictError",
    "SessionStoreError",
    "ShutdownFailedError",
    "check",
    "error_for",
]


class RestartManagerError(OSError):
    """A Restart Manager call failed; ``winerror`` is its winerror.h code."""

    winerror: int
    #: The code this class stands for (0 on the base class: any other code).
    code: ClassVar[int] = 0
    #: What happened, when the backend gives no more precise account.
    summary: ClassVar[str] = "the Restart Manager call failed"
    #: What the caller can do about it.
    remedy: ClassVar[str] = ""
    #: The errno that best describes the failure, for code that only knows OSError.
    errno_value: ClassVar[int] = 0
    #: For a failed shutdown or restart: the session's processes (ProcessInfo)
    #: with their statuses at the time of the failure.
    processes: tuple[Any, ...] = ()

    def __init__(self, winerror: int, message: str | None = None) -> None:
        """Build the error for ``winerror`` with a message that says what to do."""
        text = message if message is not None else self.describe()
        if sys.platform == "win32":
            # OSError's winerror is read-only there: only its constructor sets it.
            super().__init__(self.errno_value, text, None, winerror)
        else:
            super().__init__(self.errno_value, text)
            self.winerror = winerror

    @classmethod
    def describe(cls, detail: str = "") -> str:
        """The message for this error: what happened (with detail), then the remedy."""
        what = detail or cls.summary
        return f"{what}; {cls.remedy}" if cls.remedy else what

    def __str__(self) -> str:
        return f"[WinError {self.winerror}] {self.strerror}"

    def __reduce__(self) -> tuple[Any, ...]:
        return (type(self), (self.winerror, self.strerror))


class InvalidHandleError(RestartManagerError):
    """ERROR_INVALID_HANDLE (6): no session with this handle in this process."""

    code = 6
    errno_value: ClassVar[int] = errno.EBADF
    summary = "no Restart Manager session has this handle in this process"
    remedy = "start a new session, or join one by its key"


class SessionClosedError(InvalidHandleError):
    """The session object was closed; its handle is no longer valid."""

    summary = "this session has been closed"
    remedy = "start a new session, or join one by its key"


class OutOfMemoryError(RestartManagerError):
    """ERROR_OUTOFMEMORY (14): the backend could not allocate memory."""

    code = 14
    errno_value: ClassVar[int] = errno.ENOMEM
    summary = "the Restart Manager ran out of memory"
    remedy = "free memory or register fewer resources per call"


class SessionStoreError(RestartManagerError):
    """ERROR_WRITE_FAULT (29): the session store could not be read or written."""

    code = 29
    errno_value: ClassVar[int] = errno.EIO
    summary = "the session store could not be read or written"
    remedy = "check the store directory (RSTRTMGR_STATE_DIR on Linux) and retry"


class NotImplementedOnPlatformError(RestartManagerError):
    """ERROR_CALL_NOT_IMPLEMENTED (120): this backend lacks the call."""

    code = 120
    errno_value: ClassVar[int] = errno.ENOSYS
    summary = "this call is not implemented by this platform's backend"
    remedy = "upgrade rstrtmgr, or use this call on Windows"


class LockTimeoutError(RestartManagerError):
    """ERROR_SEM_TIMEOUT (121): the session store's lock was not obtained in time."""

    code = 121
    errno_value: ClassVar[int] = errno.ETIMEDOUT
    summary = "the session store's lock was not obtained in time"
    remedy = "another process is holding it; try again"


class BadArgumentsError(RestartManagerError, ValueError):
    """ERROR_BAD_ARGUMENTS (160): an argument is missing, malformed or reserved."""

    code = 160
    errno_value: ClassVar[int] = errno.EINVAL
    summary = "an argument is missing or malformed"
    remedy = "check the arguments against the Restart Manager documentation"


class MoreDataError(RestartManagerError):
    """ERROR_MORE_DATA (234): the buffer was too small; the facade retries."""

    code = 234
    errno_value: ClassVar[int] = errno.EOVERFLOW
    summary = "the result kept growing faster than it could be read"
    remedy = "try again"


class RebootRequiredError(RestartManagerError):
    """ERROR_FAIL_NOACTION_REBOOT (350): nothing was shut down."""

    code = 350
    errno_value: ClassVar[int] = errno.EPERM
    summary = (
        "nothing was shut down: a critical process or service uses the files, "
        "or (with only_registered) a holder is not registered for restart"
    )
    remedy = "replace the files at the next reboot, or filter those processes out"


class ShutdownFailedError(RestartManagerError):
    """ERROR_FAIL_SHUTDOWN (351): some processes could not be shut down."""

    code = 351
    errno_value: ClassVar[int] = errno.EBUSY
    summary = "some processes could not be shut down"
    remedy = "close them by hand, retry with force=True, or replace at reboot"


class RestartFailedError(RestartManagerError):
    """ERROR_FAIL_RESTART (352): some processes could not be restarted."""

    code = 352
    errno_value: ClassVar[int] = errno.ECHILD
    summary = "some processes could not be restarted"
    remedy = "start them by hand; their statuses say which"
    #: RestartOutcome of each process that is ERROR_ON_RESTART (Linux): how
    #: it ended (exit status, signal, errno) and its last output.
    failures: tuple[Any, ...] = ()


class MaxSessionsReachedError(RestartManagerError):
    """ERROR_MAX_SESSIONS_REACHED (353): 64 sessions are open for this user."""

    code = 353
    errno_value: ClassVar[int] = errno.EMFILE
    summary = "64 Restart Manager sessions are already open for this user"
    remedy = "close sessions you no longer need (Session.close()) and try again"


class OutOfSequenceError(RestartManagerError):
    """ERROR_REQUEST_OUT_OF_SEQUENCE (776): restart asked for before a shutdown."""

    code = 776
    errno_value: ClassVar[int] = errno.EINVAL
    summary = "restart was requested before any shutdown in this session"
    remedy = "call shutdown() first"


class SessionConflictError(RestartManagerError):
    """ERROR_SESSION_CREDENTIAL_CONFLICT (1219): unknown key, or not the primary."""

    code = 1219
    errno_value: ClassVar[int] = errno.ENOENT
    summary = "this call is reserved to the session's primary"
    remedy = "make it from the process that started the session, not a joined one"


class CancelledError(RestartManagerError):
    """ERROR_CANCELLED (1223): the running shutdown or restart was cancelled."""

    code = 1223
    errno_value: ClassVar[int] = errno.ECANCELED
    summary = "the operation was cancelled"
    remedy = "call it again to resume"


_BY_CODE: dict[int, type[RestartManagerError]] = {
    cls.code: cls
    for cls in (
        InvalidHandleError,
        OutOfMemoryError,
        SessionStoreError,
        NotImplementedOnPlatformError,
        LockTimeoutError,
        BadArgumentsError,
        MoreDataError,
        RebootRequiredError,
        ShutdownFailedError,
        RestartFailedError,
        MaxSessionsReachedError,
        OutOfSequenceError,
        SessionConflictError,
        CancelledError,
    )
}


# Where one code means different things for different calls.
_FOR_CALL: dict[tuple[int, str], tuple[str, str]] = {
    (1219, "RmJoinSession"): (
        "no session with this key is open for this user",
        "check the key: the session may have ended, or belong to another user",
    ),
}


def _backend_detail() -> str:
    """This thread's account of the last failure from the Linux backend."""
    buf = ffi.new("char[]", 1024)
    lib.rstrtmgr_error_detail(buf, len(buf))
    return bytes(ffi.string(buf)).decode("utf-8", "replace")


def error_for(code: int, call: str, detail: str = "") -> RestartManagerError:
    """The exception for ``code`` returned by ``call``, with a helpful message."""
    cls = _BY_CODE.get(code, RestartManagerError)
    summary, remedy = _FOR_CALL.get((code, call), (cls.summary, cls.remedy))
    what = detail or _backend_detail() or summary
    if cls is RestartManagerError:
        what = f"{what} (error {code})"
    message = f"{what}; {remedy}" if remedy else what
    return cls(code, f"{call}: {message}")


def check(code: int, call: str) -> None:
    """Raise the matching exception unless ``code`` is ERROR_SUCCESS."""
    if code != 0:
        raise error_for(code, call)


class ReentrantCallError(RuntimeError):
    """A session call made from that session's own progress callback.

    ``close()``, ``shutdown()`` and ``restart()`` would wait for the very call
    whose callback is running; they raise this instead (not a Restart Manager
    code: nothing reaches the backend). Raised in the callback, it cancels
    the shutdown or restart, which raises it in turn.
    """
