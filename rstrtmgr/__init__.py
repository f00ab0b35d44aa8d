"""Find, close and restart the processes that use the files an installer replaces.

The Windows Restart Manager's API on Windows (Rstrtmgr.dll) and on Linux (the
project's own backend): ``rstrtmgr._rstrtmgr`` is the raw C API through cffi,
and this package is the Pythonic facade over it.
"""

from __future__ import annotations

import os

from ._enums import (
    AppStatus,
    AppType,
    FilterAction,
    FilterTrigger,
    RebootReason,
    ShutdownType,
)
from ._errors import (
    BadArgumentsError,
    CancelledError,
    InvalidHandleError,
    LockTimeoutError,
    MaxSessionsReachedError,
    MoreDataError,
    NotImplementedOnPlatformError,
    OutOfMemoryError,
    OutOfSequenceError,
    RebootRequiredError,
    ReentrantCallError,
    RestartFailedError,
    RestartManagerError,
    SessionClosedError,
    SessionConflictError,
    SessionStoreError,
    ShutdownFailedError,
)
from ._installer import shut_down
from ._restart import register_application_restart, unregister_application_restart
from ._session import NO_SESSION, Session
from ._types import Filter, ListResult, ProcessInfo, RestartOutcome, UniqueProcess

__version__ = "0.1.0"


def who_uses(
    *paths: str | bytes | os.PathLike[str] | os.PathLike[bytes],
) -> ListResult:
    """The processes that use any of ``paths`` now: a one-call RmGetList."""
    with Session() as session:
        session.register(files=paths)
        return session.get_list()


__all__ = [
    "NO_SESSION",
    "AppStatus",
    "AppType",
    "BadArgumentsError",
    "CancelledError",
    "Filter",
    "FilterAction",
    "FilterTrigger",
    "InvalidHandleError",
    "ListResult",
    "LockTimeoutError",
    "MaxSessionsReachedError",
    "MoreDataError",
    "NotImplementedOnPlatformError",
    "OutOfMemoryError",
    "OutOfSequenceError",
    "ProcessInfo",
    "RebootReason",
    "RebootRequiredError",
    "ReentrantCallError",
    "RestartFailedError",
    "RestartManagerError",
    "RestartOutcome",
    "Session",
    "SessionClosedError",
    "SessionConflictError",
    "SessionStoreError",
    "ShutdownFailedError",
    "ShutdownType",
    "UniqueProcess",
    "register_application_restart",
    "shut_down",
    "unregister_application_restart",
    "who_uses",
]
