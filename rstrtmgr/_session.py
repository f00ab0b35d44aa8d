"""The Restart Manager session: a thread-safe context manager over a raw handle."""

from __future__ import annotations

import os
import re
import threading
import weakref
from collections.abc import Iterator
from contextlib import contextmanager
from types import TracebackType

from ._errors import BadArgumentsError, SessionClosedError, check
from ._rstrtmgr import ffi, lib

__all__ = ["NO_SESSION", "Session"]

#: The handle value that names no session (0 is a valid handle).
NO_SESSION = 0xFFFFFFFF

_KEY = re.compile(r"[0-9A-Fa-f]{32}")


def _end_abandoned(handle: int, pid: int) -> None:
    """End a session whose object was collected or left open at exit."""
    # A forked child inherits the object but not the session: never end the
    # parent's session from the child.
    if os.getpid() == pid:
        lib.RmEndSession(handle)


class Session:
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
        handle = ffi.new("DWORD *", NO_SESSION)
        # Windows does not always terminate the key: hand it a zeroed buffer.
        key = ffi.new("WCHAR[]", lib.CCH_RM_SESSION_KEY + 1)
        check(lib.RmStartSession(handle, 0, key), "RmStartSession")
        self._setup(handle[0], ffi.string(key), primary=True)

    @classmethod
    def join(cls, key: str) -> Session:
        """Join the session that another participant started, by its key."""
        if not isinstance(key, str):
            raise TypeError(f"a session key is a str, not {type(key).__name__}")
        if not _KEY.fullmatch(key):
            raise BadArgumentsError(
                160,
                f"RmJoinSession: {key!r} is not a session key; "
                "a key is the 32 hexadecimal digits of Session.key",
            )
        handle = ffi.new("DWORD *", NO_SESSION)
        check(lib.RmJoinSession(handle, key), "RmJoinSession")
        self = cls.__new__(cls)
        self._setup(handle[0], key, primary=False)
        return self

    def _setup(self, handle: int, key: str, *, primary: bool) -> None:
        self._handle = handle
        self._key = key
        self._primary = primary
        self._closed = False
        self._busy = 0
        self._cond = threading.Condition(threading.Lock())
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

    @contextmanager
    def _using(self) -> Iterator[int]:
        """Lend the handle to one call; :meth:`close` waits for such calls."""
        with self._cond:
            if self._closed:
                raise SessionClosedError(6)
            self._busy += 1
        try:
            yield self._handle
        finally:
            with self._cond:
                self._busy -= 1
                if self._busy == 0:
                    self._cond.notify_all()

    def close(self) -> None:
        """End this participant's handle; idempotent, safe from any thread."""
        with self._cond:
            if self._closed:
                return
            self._closed = True
            while self._busy:
                self._cond.wait()
        if self._finalizer.detach() is None:
            return  # the finalizer ended it already (interpreter exit)
        if os.getpid() != self._pid:
            return  # a forked child: the session is the parent's
        code = lib.RmEndSession(self._handle)
        if code != 0:
            # Still open: let the caller retry, and the finalizer clean up.
            self._finalizer = weakref.finalize(
                self, _end_abandoned, self._handle, self._pid
            )
            with self._cond:
                self._closed = False
            check(code, "RmEndSession")

    def __enter__(self) -> Session:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        state = "closed" if self._closed else f"handle={self._handle}"
        role = "primary" if self._primary else "joined"
        return f"<rstrtmgr.Session key={self._key} {role} {state}>"
