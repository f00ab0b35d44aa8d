"""The ``rstrtmgr`` command line: subcommands over the facade.

Exit codes of ``rstrtmgr list``, for scripts:

* 0 - no process uses the files, and every process could be looked into;
* 1 - some process uses the files (they are listed);
* 2 - wrong usage (argparse's own code);
* 3 - none was found, but some processes could not be looked into (another
  user's, when not root), so "not in use" cannot be promised;
* 4 - the Restart Manager call failed (the message says why).

An empty PATH is wrong usage (2). When the reader of the output goes away
(``| head -1``), the command ends as grep does: killed by SIGPIPE (141 in a
shell), with nothing on stderr.

``shutdown`` and ``replace`` use 3 when some processes could not be looked
into (nothing is shut down, COMMAND does not run; --ignore-uninspected goes
on), 5 when not all users could be shut down (or --only-registered met one
that is not registered; ``replace`` then restarts what stopped and does not
run its command), and 128 + N after signal N (130 Ctrl-C, 143 SIGTERM, 129
SIGHUP); ``replace`` and ``launch`` 6 (the command failed or could not be
started); ``replace`` 7 (some could not be restarted). ``replace``'s promise
and its signal handling are in ``_cli_installer``.
"""

from __future__ import annotations

import argparse
import os
import sys

from . import __version__
from ._cli_list import EXIT_ERROR, add_files_from, add_list_parser
from ._errors import RestartManagerError

TYPE_CHECKING = False
if TYPE_CHECKING:  # typing costs every command a few ms: for mypy only
    from collections.abc import Sequence
    from typing import Any

__all__ = ["main"]

#: Ctrl-C's exit status: 128 + SIGINT (2 on every platform), without the
#: signal module, which only the installer flow needs.
EXIT_CTRL_C = 130
#: A shell's status for a command killed by SIGPIPE (128 + 13).
EXIT_SIGPIPE = 141


def _installer_flow(args: argparse.Namespace) -> int:
    # Imported for shutdown, replace and launch alone: `list` runs without
    # the signal handling, progress display and restart registration.
    from ._cli_shutdown import run  # noqa: PLC0415 - see above

    return run(args)


def _read_paths(source: str, null: bool) -> list[str]:
    """The paths in ``source`` (a file, or '-' for stdin), as argv's str."""
    if source == "-":
        data = sys.stdin.buffer.read()
    else:
        with open(source, "rb") as f:
            data = f.read()
    sep = b"\0" if null else b"\n"
    if data.endswith(sep):
        data = data[: -len(sep)]
    return [os.fsdecode(name) for name in data.split(sep)] if data else []


def _add_shutdown_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("paths", nargs="*", metavar="PATH", help="a file")
    add_files_from(p)
    p.add_argument("--force", action="store_true", help="kill what does not exit")
    p.add_argument(
        "--only-registered",
        action="store_true",
        help="shut down nothing unless every user is registered for restart",
    )
    p.add_argument(
        "--timeout", type=float, metavar="SECONDS", help="wait per process (30)"
    )
    p.add_argument("--json", action="store_true", help="print JSON")
    p.add_argument(
        "--ignore-uninspected",
        action="store_true",
        help="go on when other users' processes could not be looked into",
    )


def _add_settle_time(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--settle-time",
        type=float,
        metavar="SECONDS",
        help="watch each restarted program this long before calling it back "
        "(2; 0: no check)",
    )


def _columns() -> int:
    """shutil.get_terminal_size().columns, without importing shutil.

    argparse imports shutil (and with it zlib, bz2 and lzma) for the first
    formatter it makes, which every add_argument() does: a few ms of each
    command's start-up, for the width alone.
    """
    try:
        columns = int(os.environ["COLUMNS"])
    except (KeyError, ValueError):
        columns = 0
    if columns <= 0:
        try:
            columns = os.get_terminal_size(sys.__stdout__.fileno()).columns  # type: ignore[union-attr]
        except (AttributeError, ValueError, OSError):
            columns = 0
    return columns or 80


class _Formatter(argparse.HelpFormatter):
    """argparse's formatter, its width found as shutil finds it."""

    def __init__(
        self,
        prog: str,
        indent_increment: int = 2,
        max_help_position: int = 24,
        width: int | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(
            prog,
            indent_increment,
            max_help_position,
            _columns() - 2 if width is None else width,
            **kwargs,
        )


class _Parser(argparse.ArgumentParser):
    """An ArgumentParser whose formatters (its subparsers' too) are _Formatter."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("formatter_class", _Formatter)
        super().__init__(*args, **kwargs)


def _add_shutdown(sub: Any) -> None:
    p = sub.add_parser(
        "shutdown",
        help="close the processes that use the files",
        description="Shut down the processes that use PATH...: SIGTERM, then "
        "SIGKILL after the timeout with --force. Exit status: 0 all shut down, "
        "3 some processes could not be looked into (nothing shut down; see "
        "--ignore-uninspected), 5 some could not be (or nothing was: a "
        "critical user, or --only-registered), 4 error, 130 Ctrl-C.",
    )
    _add_shutdown_options(p)
    p.add_argument(
        "--hold",
        type=float,
        metavar="SECONDS",
        help="keep the session this long for `rstrtmgr restart` (600; 0: not)",
    )
    _add_settle_time(p)
    p.set_defaults(func=_installer_flow)


def _add_restart(sub: Any) -> None:
    p = sub.add_parser(
        "restart",
        help="restart what an earlier shutdown stopped",
        description="Ask the latest `rstrtmgr shutdown` of this user (or "
        "that of --session KEY) whose session is still held (--hold) to "
        "restart what it stopped that is registered for restart, then end "
        "its session. Exit status: 0 all came back, 7 not all, 4 error (no "
        "shutdown waits).",
    )
    p.add_argument(
        "--session",
        metavar="KEY",
        help="the session key the shutdown printed (default: the latest)",
    )
    p.set_defaults(func=_installer_flow)


def _add_replace(sub: Any) -> None:
    p = sub.add_parser(
        "replace",
        usage="%(prog)s [options] PATH... -- COMMAND...",
        help="close the users of the files, run a command, restart them",
        description="Shut down the processes that use PATH..., run COMMAND "
        "(the step that replaces the files), then restart those registered "
        "for restart, whatever happens once the shutdown began (COMMAND "
        "fails, Ctrl-C, SIGTERM, SIGHUP). Exit status: 0 done, 3 some "
        "processes could not be looked into (nothing done; see "
        "--ignore-uninspected), 5 not all could be shut down (COMMAND did not "
        "run), 6 COMMAND failed, 7 not all came back, 4 error, 128+N signal N "
        "(130 Ctrl-C, 143 SIGTERM, 129 SIGHUP).",
    )
    _add_shutdown_options(p)
    _add_settle_time(p)
    p.set_defaults(func=_installer_flow)


def _add_launch(sub: Any) -> None:
    p = sub.add_parser(
        "launch",
        usage="%(prog)s -- COMMAND...",
        help="run a command registered for restart",
        description="Register COMMAND for restart (its program found on PATH "
        "now, by its absolute path), then become it (same process), so that "
        "RmRestart starts it again after RmShutdown stopped it; the restarted "
        "program stays registered.",
    )
    p.set_defaults(func=_installer_flow)


#: Each command and what adds its subparser, in the order help lists them.
_COMMANDS = {
    "list": add_list_parser,
    "shutdown": _add_shutdown,
    "restart": _add_restart,
    "replace": _add_replace,
    "launch": _add_launch,
}


def build_parser(command: str | None = None) -> argparse.ArgumentParser:
    """The argument parser, one subparser per command; ``command``'s alone if given.

    ``main`` builds only the command it runs when the first argument names
    one: argparse makes a whole parser for each command (its formatter, its
    groups, their translated titles), which for ``list`` was twice the work
    of parsing its arguments. The commands' help needs them all.
    """
    parser = _Parser(
        prog="rstrtmgr",
        description="Find, close and restart the processes that use files.",
    )
    parser.add_argument(
        "--version", action="version", version=f"%(prog)s {__version__}"
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name, add in _COMMANDS.items():
        if command is None or name == command:
            add(sub)
    return parser


def _reader_left() -> int:
    """End as grep and lsof do under ``| head``: killed by SIGPIPE, silently.

    Raised only by the output, after the command's work (its session ended,
    what was shut down restarted): nothing is left half-done.
    """
    import signal  # noqa: PLC0415 - only when the reader left

    # The interpreter's last flush must not find the dead pipe again.
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())
    if hasattr(signal, "SIGPIPE"):
        signal.signal(signal.SIGPIPE, signal.SIG_DFL)
        os.kill(os.getpid(), signal.SIGPIPE)
    return EXIT_SIGPIPE  # where there is no SIGPIPE (Windows)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit status."""
    argv = list(sys.argv[1:] if argv is None else argv)
    # Everything after the first "--" is a command line, never our options;
    # for `list`, "--" ends the options and paths follow.
    split = argv.index("--") if "--" in argv else len(argv)
    if argv[:1] == ["list"]:
        split = len(argv)
    # A first argument that names a command is that command: argparse gives
    # it all that follows, so the other commands' parsers would go unused.
    parser = build_parser(argv[0] if argv[:1] and argv[0] in _COMMANDS else None)
    args = parser.parse_args(argv[:split])
    args.command_line = argv[split + 1 :]
    if getattr(args, "files_from", None) is not None:
        try:
            args.paths += _read_paths(args.files_from, args.null)
        except OSError as e:
            parser.error(
                f"{args.command}: --files-from {args.files_from}: {e.strerror}"
            )
    elif getattr(args, "null", False):
        parser.error(f"{args.command}: -0 goes with --files-from")
    if args.command in ("shutdown", "replace") and not args.paths:
        parser.error(f"{args.command}: give at least one PATH (or --files-from)")
    if "" in getattr(args, "paths", ()):
        # An unset "$F" in a script: never the working directory's answer.
        parser.error(f"{args.command}: an empty PATH names no file")
    try:
        code: int = args.func(args)
        sys.stdout.flush()  # a reader that left is seen here, not at exit
    except BrokenPipeError:
        return _reader_left()
    except (RestartManagerError, ValueError, OSError) as e:
        print(f"rstrtmgr {args.command}: {e}", file=sys.stderr)
        return EXIT_ERROR
    except KeyboardInterrupt:
        print(f"rstrtmgr {args.command}: interrupted by Ctrl-C", file=sys.stderr)
        return EXIT_CTRL_C
    return code
