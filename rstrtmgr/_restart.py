"""Restart registration: what RmRestart starts again after RmShutdown stopped it."""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping, Sequence

from . import _marshal
from ._errors import BadArgumentsError, check
from ._program import ProgramStart, restart_environment

__all__ = ["register_application_restart", "unregister_application_restart"]

_WINDOWS = sys.platform == "win32"
#: rstrtmgr_register_restart_bootloader's ERROR_INVALID_PARAMETER: the
#: parent process is not this program's bootloader.
_NOT_A_BOOTLOADER = 87


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


def register_argv(
    argv: Sequence[bytes], environ: Mapping[bytes, bytes] | None = None
) -> None:
    """Record the full command line ``argv`` to restart this process.

    On Linux the working directory and the environment (``environ``, by
    default this process's) are recorded with it; on Windows, whose
    RegisterApplicationRestart starts the program itself, only ``argv[1:]``,
    quoted into one command line of at most 1023 characters.
    """
    if not argv:
        raise ValueError("a restart command line has at least the program")
    if environ is None and not _WINDOWS:
        environ = os.environb
    # Windows keeps the environment itself (and has no os.environb).
    env = (
        []
        if _WINDOWS or environ is None
        else [k + b"=" + v for k, v in environ.items()]
    )
    code = _marshal.register_restart(argv, os.fsencode(os.getcwd()), env)
    if _WINDOWS and code == BadArgumentsError.code:  # pragma: no cover
        raise ValueError("the restart command line is over 1023 characters")
    check(code, "rstrtmgr_register_restart")


def register_application_restart(args: Sequence[str | bytes] | None = None) -> None:
    """Register this process to be restarted by RmRestart after RmShutdown.

    ``args`` replace the program's own arguments; by default it keeps those
    it was started with. The program itself stays: a Python script restarts
    as the same interpreter (``sys.executable``) with the same interpreter
    options (from ``sys.orig_argv``: ``-X``, ``-W``, ``-O``, ``-I`` ...)
    and the same script by its absolute path (or the same ``-m module`` or
    ``-c`` code), then ``args``; a frozen program (PyInstaller) restarts as
    its outer executable, then ``args``, without the environment its
    bootloader added (``_PYI_*``, ``_MEIPASS2``; ``LD_LIBRARY_PATH`` as the
    user had it). So ``register_application_restart(["--resumed"])`` in
    ``python -X dev app.py --serve`` restarts ``python -X dev /abs/app.py
    --resumed``. On Linux the working directory and the environment are
    recorded too; on Windows kernel32 gets the same command line without
    the program, which it adds itself.
    """
    if isinstance(args, str | bytes):
        raise TypeError("args is a sequence of arguments, not one string")
    own = None if args is None else [_as_bytes(a, "an argument") for a in args]
    start = ProgramStart.current()
    if start.orig_argv and start.executable:
        argv = [
            os.fsencode(a)
            for a in start.restart_argv(
                None if own is None else [os.fsdecode(a) for a in own]
            )
        ]
    else:  # an embedded interpreter: the process's own command line
        cmdline = _own_argv()
        argv = [_resolve_program(cmdline[0]), *(cmdline[1:] if own is None else own)]
    environ = (
        None if _WINDOWS else restart_environment(os.environb, frozen=start.frozen)
    )
    register_argv(argv, environ)
    if start.frozen and environ is not None and _one_file_child():
        # The bootloader is listed too when it holds the files (the
        # executable): registered the same way, it comes back once.
        env = [k + b"=" + v for k, v in environ.items()]
        code = _marshal.register_restart(
            argv, os.fsencode(os.getcwd()), env, bootloader=True
        )
        if code != _NOT_A_BOOTLOADER:  # else started by another program
            check(code, "rstrtmgr_register_restart_bootloader")


def _one_file_child() -> bool:
    """Whether this frozen process is a PyInstaller one-file bootloader's child.

    A one-file program runs from the folder its bootloader unpacked it into
    (``sys._MEIPASS``), away from its executable; a one-folder program next
    to it.
    """
    unpacked = getattr(sys, "_MEIPASS", None)
    if not isinstance(unpacked, str):
        return False
    home = os.path.dirname(os.path.realpath(sys.executable))
    inside = os.path.commonpath([os.path.realpath(unpacked), home]) == home
    return not inside


def resolve_program(name: str) -> bytes | None:
    """The absolute path that ``name`` runs (PATH lookup, as execvp); None if none."""
    if os.sep in name:
        return os.fsencode(os.path.abspath(name))
    import shutil  # noqa: PLC0415 - rarely needed, and dear to import

    found = shutil.which(name)
    return os.fsencode(os.path.abspath(found)) if found else None


def register_launch(argv: Sequence[bytes]) -> None:
    """Register this process, about to exec ``argv``, to restart as ``argv``.

    ``rstrtmgr launch``: ``argv[0]`` is the program's absolute path, and the
    program that a restart starts from this registration keeps it.
    """
    env = [k + b"=" + v for k, v in os.environb.items()]
    code = _marshal.register_restart(argv, os.fsencode(os.getcwd()), env, launch=True)
    check(code, "rstrtmgr_register_launch")


def unregister_application_restart() -> None:
    """Undo :func:`register_application_restart` for this process."""
    check(_marshal.unregister_restart(), "rstrtmgr_unregister_restart")
