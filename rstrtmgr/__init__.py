"""Find, close and restart the processes that use the files an installer replaces.

The Windows Restart Manager's API on Windows (Rstrtmgr.dll) and on Linux (the
project's own backend): ``rstrtmgr._rstrtmgr`` is the raw C API through cffi,
and this package is the Pythonic facade over it.
"""

from __future__ import annotations

import os
import sys

# The facade's names are imported on first use (PEP 562): an installer that
# imports rstrtmgr in case a file is busy, or uses only the raw layer
# (rstrtmgr._rstrtmgr) or rsm, does not pay for the facade's modules (their
# enums, threading, contextlib) at start-up. Type checkers read the imports.
TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Iterable

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
    from ._types import (
        FileUse,
        Filter,
        ListResult,
        ProcessInfo,
        RestartOutcome,
        UniqueProcess,
    )

__version__ = "0.1.0"

#: The facade's modules, in the order __getattr__ looks for a name in their
#: __all__: each needs those before it, but for _restart (last, as it needs
#: neither Session nor the installer flow, and is the rarest).
_MODULES = ("_enums", "_errors", "_types", "_session", "_installer", "_restart")


def who_uses(
    *paths: str | bytes | os.PathLike[str] | os.PathLike[bytes],
    details: bool = True,
) -> ListResult:
    """The processes that use any of ``paths`` now: a one-call RmGetList.

    Each path is a str, bytes or path-like object, given as its own argument
    (``who_uses(*paths)``); a relative path is made absolute against the
    working directory, as the command line does. A directory stands for every
    file under it (``Session.register_tree``). With ``details`` (the default)
    each process says which of the files it uses and how, its user and its
    command line, where the backend can. A wrong type raises TypeError, an
    empty path ValueError, and a path in a folder the caller cannot search
    PermissionError (whether it is in use cannot be told), before any
    session starts; a path that does not exist is still searched.
    """
    full = []
    for i, p in enumerate(paths):
        if not isinstance(p, (str, bytes, os.PathLike)):
            hint = (
                " (pass each path as its own argument: who_uses(*paths))"
                if isinstance(p, (list, tuple, set, frozenset))
                else ""
            )
            raise TypeError(
                f"who_uses: paths[{i}] is a str, bytes or path-like object, "
                f"not {type(p).__name__}{hint}"
            )
        path = os.fspath(p)
        if not path:
            raise ValueError(f"who_uses: paths[{i}] is empty, which names no file")
        path = os.path.abspath(path)
        try:
            os.stat(path)
        except PermissionError as e:
            # Not "missing" (a deleted file can still be held): unknowable.
            raise PermissionError(
                e.errno,
                f"who_uses: paths[{i}] cannot be looked up (a folder on the "
                "way cannot be searched), so whether it is in use cannot be told",
                os.fsdecode(path),
            ) from None
        except (OSError, ValueError):
            pass  # missing: still searched, a deleted file can be held
        full.append(path)
    from ._session import Session

    with Session() as session:
        files = []
        for p in full:
            if os.path.isdir(p):
                session.register_tree(p)
            else:
                files.append(p)
        session.register(files=files)
        return session.get_list(details=details)


def who_uses_stale(
    paths: Iterable[str | bytes | os.PathLike[str] | os.PathLike[bytes]] | None = None,
    *,
    details: bool = True,
) -> ListResult:
    """The processes that still use files an upgrade deleted or replaced.

    Under ``paths`` (files or directories: a venv, ``/usr/lib``), any use
    (executable, mapping, open file) counts; with None, executables and
    mappings anywhere (needrestart's question). Under ``paths``, also what
    pip's upgrades hide: a process that maps a module pip moved to its
    ``pip-uninstall-*`` stash, and a Python interpreter using a path that
    started before a ``.py`` file under it last changed (a heuristic, see
    docs/cli.md). Linux only.
    """
    from ._session import Session

    with Session() as session:
        listed = None if paths is None else list(paths)
        session.register_stale(listed)
        if listed:
            from ._leftovers import register_leftovers

            register_leftovers(
                session, [os.path.abspath(os.fsdecode(os.fspath(p))) for p in listed]
            )
        return session.get_list(details=details)


__all__ = [
    "NO_SESSION",
    "AppStatus",
    "AppType",
    "BadArgumentsError",
    "CancelledError",
    "FileUse",
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
    "who_uses_stale",
]


def __getattr__(name: str) -> object:
    """A public name of the facade, its module imported on first use."""
    # Frozen programs carry the modules: the PyInstaller hook names them.
    if name in __all__:
        for module in _MODULES:
            __import__(f"{__name__}.{module}")
            found = sys.modules[f"{__name__}.{module}"]
            if name in found.__all__:
                value = getattr(found, name)
                globals()[name] = value  # found here from now on
                return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})
