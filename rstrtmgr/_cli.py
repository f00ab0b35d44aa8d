"""The ``rstrtmgr`` command line: subcommands over the facade.

Exit codes of ``rstrtmgr list``, for scripts:

* 0 - no process uses the files, and every process could be looked into;
* 1 - some process uses the files (they are listed);
* 2 - wrong usage (argparse's own code);
* 3 - none was found, but some processes could not be looked into (another
  user's, when not root), so "not in use" cannot be promised;
* 4 - the Restart Manager call failed (the message says why).

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
import signal
import sys
from collections.abc import Sequence

from . import __version__
from ._cli_display import ProgressDisplay
from ._cli_installer import (
    Interrupted,
    SignalGuard,
    blind_spot,
    restart_lines,
    say,
    shutdown_failure,
    signal_name,
)
from ._cli_list import add_list_parser, full_paths, table, without_self
from ._errors import (
    RebootRequiredError,
    RestartFailedError,
    RestartManagerError,
    ShutdownFailedError,
)
from ._installer import restart_what_stopped
from ._json import result_json
from ._restart import (
    register_launch,
    resolve_program,
    unregister_application_restart,
)
from ._session import Session
from ._types import ListResult

TYPE_CHECKING = False
if TYPE_CHECKING:  # typing costs every command a few ms: for mypy only
    from typing import Any

__all__ = ["main"]

EXIT_FREE = 0
EXIT_IN_USE = 1
EXIT_UNKNOWN = 3
EXIT_USAGE = 2
EXIT_ERROR = 4
EXIT_NOT_SHUT_DOWN = 5
EXIT_COMMAND_FAILED = 6
EXIT_NOT_RESTARTED = 7
#: The seconds RmShutdown waits for each application unless --timeout says.
DEFAULT_TIMEOUT = 30.0
#: The seconds RmRestart watches each restarted program unless --settle-time says.
DEFAULT_SETTLE_TIME = 2.0


def _print_result(result: ListResult, as_json: bool) -> None:
    result = without_self(result)
    if as_json:
        import json  # noqa: PLC0415 - only for --json

        print(json.dumps(result_json(result), indent=2))
    else:
        print(table(result))


def _registered_list(session: Session, args: argparse.Namespace) -> ListResult:
    """Register PATH... with the session; the list before anything is shut down."""
    paths = full_paths(args.paths)
    session.register(files=paths)
    return without_self(session.get_list())


def _blind(command: str, before: ListResult, args: argparse.Namespace) -> bool:
    """Say what could not be looked into; True when that forbids going on."""
    stop, note = blind_spot(before, ignore=args.ignore_uninspected)
    if stop and command == "replace":
        note = note.replace(
            "nothing was shut down", "nothing was shut down, COMMAND did not run"
        )
    if note:
        say(command, note)
    return stop


def _shutdown_with_display(
    session: Session, before: ListResult, args: argparse.Namespace
) -> ListResult:
    display = ProgressDisplay.for_terminal(as_json=args.json)
    timeout = DEFAULT_TIMEOUT if args.timeout is None else args.timeout
    with display.shutting_down(before.processes, timeout):
        return session.shutdown(
            force=args.force,
            only_registered=args.only_registered,
            timeout=args.timeout,
            progress=display.percent,
        )


def _failure(error: Exception, before: ListResult, args: argparse.Namespace) -> str:
    timeout = DEFAULT_TIMEOUT if args.timeout is None else args.timeout
    return shutdown_failure(
        error, before, only_registered=args.only_registered, timeout=timeout
    )


def _cmd_shutdown(args: argparse.Namespace) -> int:
    with Session() as session, SignalGuard(defer=False):
        before = _registered_list(session, args)
        if _blind("shutdown", before, args):
            return EXIT_UNKNOWN
        try:
            result = _shutdown_with_display(session, before, args)
        except (ShutdownFailedError, RebootRequiredError) as e:
            say("shutdown", _failure(e, before, args))
            _print_result(session.get_list(), args.json)
            return EXIT_NOT_SHUT_DOWN
        except Interrupted as e:
            say(
                "shutdown",
                f"interrupted by {signal_name(e.signum)}; what was shut down "
                "stays shut down",
            )
            return 128 + e.signum
    _print_result(result, args.json)
    return EXIT_FREE


def _cmd_replace(args: argparse.Namespace) -> int:
    if not args.command_line:
        print("rstrtmgr replace: give the command to run after --", file=sys.stderr)
        return EXIT_USAGE
    with Session() as session, SignalGuard(defer=True) as guard:
        before = _registered_list(session, args)
        if _blind("replace", before, args):
            return EXIT_UNKNOWN
        display = ProgressDisplay.for_terminal(as_json=args.json)
        guard.on_signal = lambda signum: display.note(
            f"{signal_name(signum)}: restarting what was shut down, then exiting"
        )
        failure: Exception | None = None
        command: tuple[int, str] | None = None
        try:
            if guard.received is None:
                _shutdown_with_display(session, before, args)
                if guard.received is None:
                    command = guard.run(args.command_line)
        except (ShutdownFailedError, RebootRequiredError) as e:
            failure = e
        finally:
            # Whatever happened since the shutdown began: restart what stopped.
            restarted = _restart_with_display(
                session, before, display, args.settle_time
            )
    return _replace_outcome(
        args,
        before=before,
        guard=guard,
        failure=failure,
        command=command,
        restarted=restarted,
    )


def _restart_with_display(
    session: Session,
    before: ListResult,
    display: ProgressDisplay,
    settle_time: float | None,
) -> ListResult | RestartFailedError | None:
    coming_back = [p for p in before.processes if p.restartable]
    watched = DEFAULT_SETTLE_TIME if settle_time is None else settle_time
    with display.restarting(coming_back, watched):
        try:
            return restart_what_stopped(session, display.percent, settle_time)
        except RestartFailedError as e:
            return e


def _replace_outcome(
    args: argparse.Namespace,
    *,
    before: ListResult,
    guard: SignalGuard,
    failure: Exception | None,
    command: tuple[int, str] | None,
    restarted: ListResult | RestartFailedError | None,
) -> int:
    """Say what ``replace`` did; its exit status."""
    not_restarted = isinstance(restarted, RestartFailedError)
    statuses = (
        ListResult(list(restarted.processes))
        if isinstance(restarted, RestartFailedError)
        else restarted
    )
    back, failed = restart_lines(statuses) if statuses is not None else ([], [])
    for line in failed:
        print(
            line if line.startswith(" ") else f"rstrtmgr replace: {line}",
            file=sys.stderr,
        )
    if guard.received is not None:
        ran = (
            "COMMAND did not run"
            if command is None
            else (command[1] or "COMMAND had finished")
        )
        if statuses is None and not not_restarted:
            after = "nothing was shut down"
        elif not_restarted:
            after = "what was shut down could not all be restarted"
        else:
            after = "what was shut down was restarted"
        say("replace", f"interrupted by {signal_name(guard.received)}; {ran}; {after}")
        return guard.status
    if failure is not None:
        say(
            "replace",
            _failure(failure, before, args)
            + "; COMMAND did not run, what had stopped was restarted",
        )
    elif command is not None and command[0] != 0:
        say("replace", f"{command[1]}; what was shut down was restarted")
    if statuses is not None:
        _print_result(statuses, args.json)
        if not args.json:
            for line in back:
                print(line)
    if not_restarted:
        return EXIT_NOT_RESTARTED
    if failure is not None:
        return EXIT_NOT_SHUT_DOWN
    return EXIT_COMMAND_FAILED if command is not None and command[0] else EXIT_FREE


def _cmd_launch(args: argparse.Namespace) -> int:
    command = args.command_line
    if not command:
        print("rstrtmgr launch: give the command to run after --", file=sys.stderr)
        return EXIT_USAGE
    # The program itself is registered, found on PATH now: the restart runs
    # it directly, with nothing in between that could import code from the
    # working directory. exec keeps this process's pid and start time.
    program = resolve_program(command[0])
    if program is None:
        print(f"rstrtmgr launch: {command[0]}: not found on PATH", file=sys.stderr)
        return EXIT_COMMAND_FAILED
    register_launch([program, *(os.fsencode(c) for c in command[1:])])
    try:
        os.execv(program, command)
    except OSError as e:
        unregister_application_restart()
        print(f"rstrtmgr launch: {command[0]}: {e.strerror}", file=sys.stderr)
        return EXIT_COMMAND_FAILED
    return EXIT_ERROR  # not reached: exec replaced this program


def _add_shutdown_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("paths", nargs="+", metavar="PATH", help="a file")
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


def build_parser() -> argparse.ArgumentParser:
    """The argument parser, one subparser per command."""
    parser = _Parser(
        prog="rstrtmgr",
        description="Find, close and restart the processes that use files.",
    )
    parser.add_argument(
        "--version", action="version", version=f"%(prog)s {__version__}"
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    add_list_parser(sub)
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
    p.set_defaults(func=_cmd_shutdown)
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
    p.add_argument(
        "--settle-time",
        type=float,
        metavar="SECONDS",
        help="watch each restarted program this long before calling it back "
        "(2; 0: no check)",
    )
    p.set_defaults(func=_cmd_replace)
    p = sub.add_parser(
        "launch",
        usage="%(prog)s -- COMMAND...",
        help="run a command registered for restart",
        description="Register COMMAND for restart (its program found on PATH "
        "now, by its absolute path), then become it (same process), so that "
        "RmRestart starts it again after RmShutdown stopped it; the restarted "
        "program stays registered.",
    )
    p.set_defaults(func=_cmd_launch)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit status."""
    argv = list(sys.argv[1:] if argv is None else argv)
    # Everything after the first "--" is a command line, never our options;
    # for `list`, "--" ends the options and paths follow.
    split = argv.index("--") if "--" in argv else len(argv)
    if argv[:1] == ["list"]:
        split = len(argv)
    args = build_parser().parse_args(argv[:split])
    args.command_line = argv[split + 1 :]
    try:
        code: int = args.func(args)
    except (RestartManagerError, ValueError, OSError) as e:
        print(f"rstrtmgr {args.command}: {e}", file=sys.stderr)
        return EXIT_ERROR
    except (Interrupted, KeyboardInterrupt) as e:
        # Before anything was shut down (or by a command that stops at once).
        signum = e.signum if isinstance(e, Interrupted) else signal.SIGINT
        say(args.command, f"interrupted by {signal_name(signum)}")
        return 128 + signum
    return code
