"""Restart registration: what RmRestart starts again after RmShutdown stopped it."""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence

from . import _marshal
from ._errors import BadArgumentsError, check

__all__ = ["register_application_restart", "unregister_application_restart"]

_WINDOWS = sys.platform == "win32"


def _own_argv() -> list[bytes]:
    """This process's command line as it was started."""
    if _WINDOWS:  # pragma: no cover - Windows only
        # Windows restarts the program itself: argv[0] is not registered.
        return [os.fsencode(a) for a in (sys.executable, *sys.orig_argv[1:])]
    with open("/proc/self/cmdline", "rb") as f:
        data = f.read()
    # Each argument ends with a NUL; an empty last argument is still one.
    return data[:-1].split(b"\0") if data.endswith(b"\0") else data.split(b"\0")


def _resolve_program(program: bytes) -> bytes:
    """An absolute path for argv[0], so the restart does not depend on PATH."""
    if _WINDOWS:  # pragma: no cover - Windows restarts its own image
        return program
    if b"/" not in program:
        import shutil  # noqa: PLC0415 - rarely needed, and dear to import

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
    """Record the full command line ``argv`` to restart this process.

    On Linux the working directory and environment are recorded with it; on
    Windows, whose RegisterApplicationRestart starts the program itself,
    only ``argv[1:]``, quoted into one command line of at most 1023
    characters.
    """
    if not argv:
        raise ValueError("a restart command line has at least the program")
    # Windows keeps the environment itself (and has no os.environb).
    env = [] if _WINDOWS else [k + b"=" + v for k, v in os.environb.items()]
    code = _marshal.register_restart(argv, os.fsencode(os.getcwd()), env)
    if _WINDOWS and code == BadArgumentsError.code:  # pragma: no cover
        raise ValueError("the restart command line is over 1023 characters")
    check(code, "rstrtmgr_register_restart")


def register_application_restart(args: Sequence[str | bytes] | None = None) -> None:
    """Register this process to be restarted by RmRestart after RmShutdown.

    ``args`` are the arguments to restart with, after the program (as on
    Windows, whose RegisterApplicationRestart adds the program itself); by
    default the arguments this process was started with. On Linux the
    working directory and environment are recorded too.
    """
    if isinstance(args, str | bytes):
        raise TypeError("args is a sequence of arguments, not one string")
    argv = _own_argv()
    rest = argv[1:] if args is None else [_as_bytes(a, "an argument") for a in args]
    register_argv([_resolve_program(argv[0]), *rest])


def unregister_application_restart() -> None:
    """Undo :func:`register_application_restart` for this process."""
    check(_marshal.unregister_restart(), "rstrtmgr_unregister_restart")
