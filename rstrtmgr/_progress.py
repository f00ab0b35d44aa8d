"""Progress callbacks of RmShutdown and RmRestart, and Ctrl-C while they wait."""

from __future__ import annotations

import threading
from collections.abc import Callable
from contextlib import contextmanager

from . import _marshal

TYPE_CHECKING = False
if TYPE_CHECKING:  # typing costs `import rstrtmgr` a few ms: for mypy only
    from collections.abc import Iterator
    from typing import Any

__all__ = ["Progress", "reporting"]

#: A progress callback: called with the percentage done, 0 to 100.
Progress = Callable[[int], object]

# RM_WRITE_STATUS_CALLBACK carries no context. The Linux backend calls it
# from the calling thread, so the callable is found per thread; should a
# backend call it from a thread of its own, the one call in progress is used.
_calls = threading.local()
_active: set[_ProgressCall] = set()
_active_lock = threading.Lock()


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


@contextmanager
def reporting(handle: int, callback: Progress | None) -> Iterator[Any]:
    """Yield the C callback for ``callback``; re-raise what it raised.

    There is a callback even without ``callback``: through it an exception
    raised by a signal handler (KeyboardInterrupt) cancels the operation.
    """
    if callback is not None and not callable(callback):
        raise TypeError(f"progress must be callable, not {type(callback).__name__}")
    call = _ProgressCall(handle, callback)
    outer = getattr(_calls, "current", None)
    _calls.current = call
    with _active_lock:
        _active.add(call)
    try:
        yield _marshal.PROGRESS_CALLBACK
    finally:
        _calls.current = outer
        with _active_lock:
            _active.discard(call)
    if call.error is not None:
        raise call.error
