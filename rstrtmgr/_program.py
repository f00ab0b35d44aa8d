"""How this program was started, and so how to start it again.

The rule of :func:`rstrtmgr.register_application_restart`: the restart runs
the same program the same way, and only the program's own arguments change.

* A Python script runs again as ``sys.executable``, the interpreter's own
  options (read back from ``sys.orig_argv``: ``-X dev``, ``-W error``,
  ``-O``, ``-I`` ...), the script by its absolute path (or the same
  ``-m module``, or the same ``-c`` code), then the new arguments.
* A frozen program (PyInstaller, one-file or one-folder) runs again as its
  outer executable, ``sys.executable``, then the new arguments; its
  environment loses what PyInstaller's bootloader added for its own use
  (``_PYI_*``, ``_MEIPASS2``, and ``LD_LIBRARY_PATH``, which gets back the
  value the bootloader saved in ``LD_LIBRARY_PATH_ORIG``, or goes).

On Windows kernel32 restarts the program image itself: the command line it
is given is this same argument list without its first element.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping, Sequence

from ._types import _Record

TYPE_CHECKING = False
if TYPE_CHECKING:  # typing costs `import rstrtmgr` a few ms: for mypy only
    from typing import TypeVar

    _AnyStr = TypeVar("_AnyStr", str, bytes)

__all__ = ["ProgramStart", "restart_environment"]

# CPython's options that take a value, as a separate argument or attached.
_VALUE_OPTIONS = frozenset("WX")
# Options after which the rest of the command line is the program's.
_PROGRAM_OPTIONS = frozenset("cm")
_LONG_VALUE_OPTIONS = frozenset({"--check-hash-based-pycs"})


def _interpreter_part(orig_argv: Sequence[str]) -> tuple[int, bool]:
    """How many leading elements of ``orig_argv`` start the program.

    The interpreter, its options, and the script (or ``-m module`` or
    ``-c code``): what follows is the program's own arguments. The flag
    says whether the last of them names a script file.
    """
    i = 1
    while i < len(orig_argv):
        arg = orig_argv[i]
        if arg == "--":
            i += 1  # then the script, whatever its name
            break
        if arg == "-" or not arg.startswith("-"):
            break
        if arg.startswith("--"):
            i += 2 if arg in _LONG_VALUE_OPTIONS else 1
            continue
        for k, letter in enumerate(arg[1:], start=1):
            attached = k + 1 < len(arg)
            if letter in _PROGRAM_OPTIONS:
                return min(i + (1 if attached else 2), len(orig_argv)), False
            if letter in _VALUE_OPTIONS:
                i += 0 if attached else 1
                break
        i += 1
    if i >= len(orig_argv):
        return len(orig_argv), False  # no script: the interactive interpreter
    return i + 1, orig_argv[i] != "-"


class ProgramStart(_Record):
    """The facts of how a program was started, from which its restart follows."""

    __match_args__ = ("executable", "orig_argv", "main_file", "frozen")
    __slots__ = _fields = __match_args__
    #: The program itself: the interpreter, or the frozen executable.
    executable: str
    #: The command line as the operating system started it (sys.orig_argv).
    orig_argv: Sequence[str]
    #: The main script's absolute path (``__main__.__file__``), if any.
    main_file: str | None
    #: True for a frozen program (PyInstaller sets ``sys.frozen``).
    frozen: bool

    def __init__(
        self,
        executable: str,
        orig_argv: Sequence[str],
        main_file: str | None,
        frozen: bool,
    ) -> None:
        """How a program was started."""
        self._set(
            executable=executable,
            orig_argv=orig_argv,
            main_file=main_file,
            frozen=frozen,
        )

    @classmethod
    def current(cls) -> ProgramStart:
        """This process."""
        main = sys.modules.get("__main__")
        main_file = getattr(main, "__file__", None)
        return cls(
            executable=sys.executable,
            orig_argv=list(getattr(sys, "orig_argv", sys.argv)),
            main_file=main_file if isinstance(main_file, str) else None,
            frozen=bool(getattr(sys, "frozen", False)),
        )

    def _program_and_arguments(self) -> tuple[list[str], list[str]]:
        if self.frozen:
            return [self.executable], list(self.orig_argv[1:])
        n, script = _interpreter_part(self.orig_argv)
        head = [self.executable, *self.orig_argv[1:n]]
        if script:
            head[-1] = self._absolute_script(head[-1])
        return head, list(self.orig_argv[n:])

    def _absolute_script(self, script: str) -> str:
        # Python made __main__.__file__ absolute when it started (3.9+); the
        # process may have changed its directory since.
        if os.path.isabs(script) or not self.main_file:
            return script
        relative = os.path.normpath(script)
        for candidate in (self.main_file, os.path.dirname(self.main_file)):
            if candidate.endswith(os.sep + relative):
                return candidate
        return script

    def restart_argv(self, args: Sequence[str] | None) -> list[str]:
        """The full command line that starts this program again with ``args``.

        ``None`` keeps the program's own arguments as they were.
        """
        head, own = self._program_and_arguments()
        return [*head, *(own if args is None else args)]


def restart_environment(
    environ: Mapping[_AnyStr, _AnyStr], *, frozen: bool
) -> dict[_AnyStr, _AnyStr]:
    """``environ`` as the program's user gave it: PyInstaller's additions out."""
    env = dict(environ)
    if not frozen:
        return env
    sample = next(iter(env), "")
    text = isinstance(sample, str)

    def key(name: str) -> _AnyStr:
        return name if text else os.fsencode(name)  # type: ignore[return-value]

    for name in list(env):
        plain = name if isinstance(name, str) else os.fsdecode(name)
        if plain.startswith("_PYI_") or plain == "_MEIPASS2":
            del env[name]
    original = env.pop(key("LD_LIBRARY_PATH_ORIG"), None)
    if original is not None:
        env[key("LD_LIBRARY_PATH")] = original
    else:
        env.pop(key("LD_LIBRARY_PATH"), None)
    return env
