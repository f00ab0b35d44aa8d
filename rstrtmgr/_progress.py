"""Progress callbacks of RmShutdown and RmRestart, and Ctrl-C while they wait."""

from __future__ import annotations

# _thread's lock and thread-local are what threading's Lock and local are,
# and _collections_abc is what collections.abc re-exports: threading,
# contextlib and the collections package would be half of what
# `from rstrtmgr import Session` costs.
import _thread
from _collections_abc import Callable

from . import _marshal

TYPE_CHECKING = False
if TYPE_CHECKING:  # typing costs `import rstrtmgr` a few ms: for mypy only
    from types import TracebackType
    from typing import Any

__all__ = ["Progress", "reporting"]

#: A progress callback: called with the percentage done, 0 to 100.
Progress = Callable[[int], object]

# RM_WRITE_STATUS_CALLBACK carries no context. The Linux backend calls it
# from the calling thread, so the callable is found per thread; should a
# backend call it from a thread of its own, the one call in progress is used.
_calls = _thread._local()
_active: set[_ProgressCall] = set()
_active_lock = _thread.allocate_lock()


class _ProgressCall:
    def __init__(self, handle: int, callback: Progress | None) -> None:
        self.handle = handle
        self.callback = callback
        self.last = -1
        self.error: BaseException | None = None

    def report(self, percent: int) -> None:
        # The Linux backend repeats the last value while it waits, so that
        # Python can run here (signal handlers: Ctrl-C cancels); the caller's
        # callable sees each value once.
        if self.callback is not None and percent != self.last:
            self.last = percent
            self.callback(percent)


def _current_call() -> _ProgressCall | None:
    call: _ProgressCall | None = getattr(_calls, "current", None)
    if call is None:
        with _active_lock:
            call = next(iter(_active)) if len(_active) == 1 else None
    return call


def _progress_failed(exc: BaseException) -> None:
    """Stop the operation; the caller sees the exception, never lost.

    Called for anything the callback raised, including what a signal handler
    raised before the callback's first line (Ctrl-C).
    """
    call = _current_call()
    if call is not None and call.error is None:
        call.error = exc
        _marshal.cancel_current_task(call.handle)


def _progress(percent: int) -> None:
    call = _current_call()
    if call is not None and call.error is None:
        # Marked on the thread that runs the callback, whichever it is, so
        # the session refuses what would wait for this very call.
        outer = getattr(_calls, "in_callback", None)
        _calls.in_callback = call.handle
        try:
            call.report(percent)
        finally:
            _calls.in_callback = outer


def in_callback_of(handle: int) -> bool:
    """True inside a progress callback of a call on session ``handle``."""
    return getattr(_calls, "in_callback", None) == handle


_marshal.route_progress(_progress, _progress_failed)


def reporting(handle: int, callback: Progress | None) -> _Reporting:
    """A ``with`` block whose value is the C callback for ``callback``.

    What ``callback`` raised is re-raised when the block ends. There is a
    callback even without ``callback``: through it an exception raised by a
    signal handler (KeyboardInterrupt) cancels the operation.
    """
    if callback is not None and not callable(callback):
        raise TypeError(f"progress must be callable, not {type(callback).__name__}")
    return _Reporting(_ProgressCall(handle, callback))


class _Reporting:
    """reporting()'s block (a class, not contextlib's: see the imports)."""

    __slots__ = ("_call", "_outer")

    def __init__(self, call: _ProgressCall) -> None:
        self._call = call
        self._outer: _ProgressCall | None = None

    def __enter__(self) -> Any:
        """Route this thread's progress to the call; the C callback."""
        self._outer = getattr(_calls, "current", None)
        _calls.current = self._call
        with _active_lock:
            _active.add(self._call)
        return _marshal.PROGRESS_CALLBACK

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        """Stop routing; re-raise what the callback raised."""
        _calls.current = self._outer
        with _active_lock:
            _active.discard(self._call)
        if exc_type is None and self._call.error is not None:
            # Unless the block raised: then that is what the caller sees.
            raise self._call.error
