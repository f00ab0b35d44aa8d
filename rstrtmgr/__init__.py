"""Find, close and restart the processes that use the files an installer replaces.

The Windows Restart Manager's API on Windows (Rstrtmgr.dll) and on Linux (the
project's own backend): ``rstrtmgr._rstrtmgr`` is the raw C API through cffi,
and this package is the Pythonic facade over it.
"""

from __future__ import annotations

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
    RestartFailedError,
    RestartManagerError,
    SessionClosedError,
    SessionConflictError,
    SessionStoreError,
    ShutdownFailedError,
)
from ._session import NO_SESSION, Session

__version__ = "0.1.0"

__all__ = [
    "NO_SESSION",
    "AppStatus",
    "AppType",
    "BadArgumentsError",
    "CancelledError",
    "FilterAction",
    "FilterTrigger",
    "InvalidHandleError",
    "LockTimeoutError",
    "MaxSessionsReachedError",
    "MoreDataError",
    "NotImplementedOnPlatformError",
    "OutOfMemoryError",
    "OutOfSequenceError",
    "RebootReason",
    "RebootRequiredError",
    "RestartFailedError",
    "RestartManagerError",
    "Session",
    "SessionClosedError",
    "SessionConflictError",
    "SessionStoreError",
    "ShutdownFailedError",
    "ShutdownType",
]
