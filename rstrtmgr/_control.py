"""Shutdown and restart support: progress callbacks, filters, restart registration."""

from __future__ import annotations

import ctypes
import os
import shutil
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from types import TracebackType
from typing import Any

from ._enums import FilterAction, FilterTrigger
from ._errors import check
from ._processes import UniqueProcess
from ._rstrtmgr import ffi, lib

__all__ = [
    "Filter",
    "Progress",
    "register_application_restart",
    "unregister_application_restart",
]

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


def _progress_failed(
    exc_type: type[BaseException], exc: BaseException, tb: TracebackType | None
) -> None:
    """Stop the operation; the caller sees the exception, never lost.

    cffi calls this for anything the callback raised, including what a signal
    handler raised before the callback's first line (Ctrl-C).
    """
    call = _current_call()
    if call is not None and call.error is None:
        call.error = exc
        lib.RmCancelCurrentTask(call.handle)


@ffi.def_extern(onerror=_progress_failed)  # type: ignore[untyped-decorator]
def _rstrtmgr_progress(percent: int) -> None:
    call = _current_call()
    if call is not None and call.error is None:
        call.report(int(percent))


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
        yield lib._rstrtmgr_progress
    finally:
        _calls.current = outer
        with _active_lock:
            _active.discard(call)
    if call.error is not None:
        raise call.error


@dataclass(frozen=True)
class Filter:
    """One entry of RmGetFilterList: what a filter applies to and prevents."""

    action: FilterAction
    trigger: FilterTrigger
    path: str | None = None
    process: UniqueProcess | None = None
    service: str | None = None


def parse_filter_list(buf: Any, size: int) -> list[Filter]:
    """Read the RM_FILTER_INFO records chained by cbNextOffset in ``buf``."""
    filters: list[Filter] = []
    offset = 0
    while size:
        info = ffi.cast("RM_FILTER_INFO *", buf + offset)
        trigger = FilterTrigger(int(info.FilterTrigger))
        action = FilterAction(int(info.FilterAction))
        if trigger == FilterTrigger.PROCESS:
            ft = info.Process.ProcessStartTime
            filetime = (int(ft.dwHighDateTime) << 32) | int(ft.dwLowDateTime)
            unique = UniqueProcess(int(info.Process.dwProcessId), filetime)
            filters.append(Filter(action, trigger, process=unique))
        elif trigger == FilterTrigger.FILE:
            filters.append(Filter(action, trigger, path=ffi.string(info.strFilename)))
        else:
            name = ffi.string(info.strServiceShortName)
            filters.append(Filter(action, trigger, service=name))
        if not info.cbNextOffset:
            break
        offset += int(info.cbNextOffset)
    return filters


# ---- restart registration ---------------------------------------------------


def _own_argv() -> list[bytes]:
    """This process's command line as it was started (Linux)."""
    with open("/proc/self/cmdline", "rb") as f:
        data = f.read()
    # Each argument ends with a NUL; an empty last argument is still one.
    return data[:-1].split(b"\0") if data.endswith(b"\0") else data.split(b"\0")


def _resolve_program(program: bytes) -> bytes:
    """An absolute path for argv[0], so the restart does not depend on PATH."""
    if b"/" not in program:
        found = shutil.which(os.fsdecode(program))
        return os.fsencode(found) if found else program
    return os.path.abspath(program)


def _as_bytes(arg: object, what: str) -> bytes:
    if isinstance(arg, bytes):
        value = arg
    elif isinstance(arg, str | os.PathLike):
        value = os.fsencode(arg)
    else:
        raise TypeError(f"{what} must be str, bytes or path-like, not {arg!r}")
    if b"\0" in value:
        raise ValueError(f"{what} contains a NUL byte: {arg!r}")
    return value


def register_argv(argv: Sequence[bytes]) -> None:
    """Record the full command line ``argv`` to restart this process (Linux)."""
    if not argv:
        raise ValueError("a restart command line has at least the program")
    keep = [ffi.new("char[]", a) for a in argv]
    env = [k + b"=" + v for k, v in os.environb.items()]
    keep_env = [ffi.new("char[]", e) for e in env]
    check(
        lib.rstrtmgr_register_restart(
            ffi.new("char *[]", keep),
            len(keep),
            os.fsencode(os.getcwd()),
            ffi.new("char *[]", keep_env),
            len(keep_env),
        ),
        "rstrtmgr_register_restart",
    )


def register_application_restart(args: Sequence[str | bytes] | None = None) -> None:
    """Register this process to be restarted by RmRestart after RmShutdown.

    ``args`` are the arguments to restart with, after the program (as on
    Windows, whose RegisterApplicationRestart adds the program itself); by
    default the arguments this process was started with. On Linux the
    working directory and environment are recorded too.
    """
    if isinstance(args, str | bytes):
        raise TypeError("args is a sequence of arguments, not one string")
    if sys.platform == "win32":  # pragma: no cover - exercised on Windows
        _windows_register(args)
        return
    argv = _own_argv()
    rest = argv[1:] if args is None else [_as_bytes(a, "an argument") for a in args]
    register_argv([_resolve_program(argv[0]), *rest])


def unregister_application_restart() -> None:
    """Undo :func:`register_application_restart` for this process."""
    if sys.platform == "win32":  # pragma: no cover - exercised on Windows
        _windows_check(ctypes.windll.kernel32.UnregisterApplicationRestart())
        return
    check(lib.rstrtmgr_unregister_restart(), "rstrtmgr_unregister_restart")


if sys.platform == "win32":  # pragma: no cover - exercised on Windows

    def _windows_check(hresult: int) -> None:
        if hresult != 0:
            raise OSError(None, f"kernel32 failed: HRESULT {hresult & 0xFFFFFFFF:#x}")

    def _windows_register(args: Sequence[str | bytes] | None) -> None:
        rest = (
            sys.orig_argv[1:]
            if args is None
            else [os.fsdecode(_as_bytes(a, "an argument")) for a in args]
        )
        line = subprocess.list2cmdline(rest)
        if len(line) >= 1024:  # RESTART_MAX_CMD_LINE
            raise ValueError("the restart command line is over 1023 characters")
        _windows_check(ctypes.windll.kernel32.RegisterApplicationRestart(line, 0))
