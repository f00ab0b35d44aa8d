"""The ``rstrtmgr`` command line: subcommands over the facade.

Exit codes of ``rstrtmgr list``, for scripts:

* 0 - no process uses the files, and every process could be looked into;
* 1 - some process uses the files (they are listed);
* 2 - wrong usage (argparse's own code);
* 3 - none was found, but some processes could not be looked into (another
  user's, when not root), so "not in use" cannot be promised;
* 4 - the Restart Manager call failed (the message says why).

``shutdown`` and ``replace`` also use 5 (not all users could be shut down;
``replace`` then restarts them and does not run its command) and ``replace``
and ``launch`` 6 (the command failed or could not be started).
"""

from __future__ import annotations

import argparse
import os
import sys

from . import __version__
from ._enums import RebootReason
from ._errors import RebootRequiredError, RestartManagerError, ShutdownFailedError
from ._restart import register_argv, unregister_application_restart
from ._session import Session
from ._types import ListResult

# json, subprocess and typing are imported where used: the start-up of a
# command is most of `rstrtmgr list`'s time.
TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Sequence
    from typing import Any

__all__ = ["main"]

EXIT_FREE = 0
EXIT_IN_USE = 1
EXIT_UNKNOWN = 3
EXIT_USAGE = 2
EXIT_ERROR = 4
EXIT_NOT_SHUT_DOWN = 5
EXIT_COMMAND_FAILED = 6


def _display(text: str) -> str:
    """Show a name that is not UTF-8 with its raw bytes escaped."""
    return text.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")


def _reason_names(result: ListResult) -> list[str]:
    flags = result.reboot_reasons
    return [str(r.name).lower() for r in type(flags) if r and r in flags]


def _list_json(result: ListResult) -> dict[str, Any]:
    return {
        "processes": [
            {
                "pid": p.pid,
                "start_time": p.start_time.isoformat(),
                "start_filetime": p.start_filetime,
                "app_name": _display(p.app_name),
                "service_name": p.service_name,
                "app_type": p.app_type.name.lower(),
                "status": str(p.status.name or int(p.status)).lower(),
                "ts_session_id": p.ts_session_id,
                "restartable": p.restartable,
            }
            for p in result.processes
        ],
        "reboot_reasons": _reason_names(result),
        "uninspected": result.uninspected,
    }


def _list_table(result: ListResult) -> str:
    rows = [("PID", "NAME", "TYPE", "STATUS", "RESTART", "SERVICE", "STARTED")]
    for p in result.processes:
        rows.append(
            (
                str(p.pid),
                _display(p.app_name),
                p.app_type.name.lower(),
                str(p.status.name or int(p.status)).lower(),
                "yes" if p.restartable else "no",
                p.service_name or "-",
                p.start_time.astimezone().strftime("%Y-%m-%d %H:%M:%S"),
            )
        )
    lines = []
    if result.processes:
        widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
        lines = [
            "  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip()
            for r in rows
        ]
    else:
        lines.append("no process uses these files")
    reasons = _reason_names(result)
    if reasons:
        lines.append("reboot reasons: " + ", ".join(reasons))
    if result.uninspected:
        why = (
            "access was refused even to root, as in some containers"
            if hasattr(os, "geteuid") and os.geteuid() == 0
            else "other users' processes: run as root to see them"
        )
        lines.append(
            f"{result.uninspected} process(es) could not be looked into ({why})"
        )
    return "\n".join(lines)


def _without_self(result: ListResult) -> ListResult:
    """The result without this command's own process, which is no user's."""
    others = [p for p in result.processes if p.pid != os.getpid()]
    if len(others) == len(result.processes):
        return result
    reasons = result.reboot_reasons & ~RebootReason.DETECTED_SELF
    return ListResult(others, RebootReason(reasons), result.uninspected)


def _cmd_list(args: argparse.Namespace) -> int:
    paths = [os.path.abspath(os.fsencode(p)) for p in args.paths]
    with Session() as session:
        session.register(files=paths)
        result = session.get_list()
    result = _without_self(result)
    _print_result(result, args.json)
    if result.processes:
        return EXIT_IN_USE
    return EXIT_UNKNOWN if result.uninspected else EXIT_FREE


def _print_result(result: ListResult, as_json: bool) -> None:
    result = _without_self(result)
    if as_json:
        import json  # noqa: PLC0415 - only for --json

        print(json.dumps(_list_json(result), indent=2))
    else:
        print(_list_table(result))


def _shutdown(session: Session, args: argparse.Namespace) -> ListResult:
    paths = [os.path.abspath(os.fsencode(p)) for p in args.paths]
    session.register(files=paths)
    return session.shutdown(
        force=args.force, only_registered=args.only_registered, timeout=args.timeout
    )


def _cmd_shutdown(args: argparse.Namespace) -> int:
    with Session() as session:
        try:
            result = _shutdown(session, args)
        except (ShutdownFailedError, RebootRequiredError) as e:
            print(f"rstrtmgr shutdown: {e}", file=sys.stderr)
            _print_result(session.get_list(), args.json)
            return EXIT_NOT_SHUT_DOWN
    _print_result(result, args.json)
    return EXIT_FREE


def _cmd_replace(args: argparse.Namespace) -> int:
    if not args.command_line:
        print("rstrtmgr replace: give the command to run after --", file=sys.stderr)
        return EXIT_USAGE
    with Session() as session:
        try:
            _shutdown(session, args)
        except (ShutdownFailedError, RebootRequiredError) as e:
            # Restart what was stopped; the files stay as they were.
            print(f"rstrtmgr replace: {e}", file=sys.stderr)
            session.restart()
            return EXIT_NOT_SHUT_DOWN
        import subprocess  # noqa: PLC0415 - only for replace

        status = subprocess.run(args.command_line, check=False).returncode
        result = session.restart()
    _print_result(result, args.json)
    return status and EXIT_COMMAND_FAILED


def _cmd_launch(args: argparse.Namespace) -> int:
    command = args.command_line
    if not command:
        print("rstrtmgr launch: give the command to run after --", file=sys.stderr)
        return EXIT_USAGE
    # Register the launcher itself, so the restarted program is launched (and
    # so registered) again; exec keeps this process's pid and start time.
    register_argv(
        [os.fsencode(sys.executable), b"-m", b"rstrtmgr", b"launch", b"--"]
        + [os.fsencode(c) for c in command]
    )
    try:
        os.execvp(command[0], command)
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


def build_parser() -> argparse.ArgumentParser:
    """The argument parser, one subparser per command."""
    parser = argparse.ArgumentParser(
        prog="rstrtmgr",
        description="Find, close and restart the processes that use files.",
    )
    parser.add_argument(
        "--version", action="version", version=f"%(prog)s {__version__}"
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    p = sub.add_parser(
        "list",
        help="list the processes that use the files",
        description="List the processes that use PATH... (open, mapped, "
        "executed). Exit status: 0 none, 1 in use, 3 none found but some "
        "processes could not be looked into, 4 error.",
    )
    p.add_argument("paths", nargs="+", metavar="PATH", help="a file")
    p.add_argument("--json", action="store_true", help="print JSON")
    p.set_defaults(func=_cmd_list)
    p = sub.add_parser(
        "shutdown",
        help="close the processes that use the files",
        description="Shut down the processes that use PATH...: SIGTERM, then "
        "SIGKILL after the timeout with --force. Exit status: 0 all shut down, "
        "5 some could not be (or nothing was: a critical user), 4 error.",
    )
    _add_shutdown_options(p)
    p.set_defaults(func=_cmd_shutdown)
    p = sub.add_parser(
        "replace",
        usage="%(prog)s [options] PATH... -- COMMAND...",
        help="close the users of the files, run a command, restart them",
        description="Shut down the processes that use PATH..., run COMMAND "
        "(the step that replaces the files), then restart those registered "
        "for restart. Exit status: 0 done, 5 not all could be shut down (the "
        "command did not run), 6 the command failed, 4 error.",
    )
    _add_shutdown_options(p)
    p.set_defaults(func=_cmd_replace)
    p = sub.add_parser(
        "launch",
        usage="%(prog)s -- COMMAND...",
        help="run a command registered for restart",
        description="Register for restart, then become COMMAND (same process), "
        "so that RmRestart starts it again after RmShutdown stopped it.",
    )
    p.set_defaults(func=_cmd_launch)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit status."""
    argv = list(sys.argv[1:] if argv is None else argv)
    # Everything after the first "--" is a command line, never our options.
    split = argv.index("--") if "--" in argv else len(argv)
    args = build_parser().parse_args(argv[:split])
    args.command_line = argv[split + 1 :]
    try:
        code: int = args.func(args)
    except (RestartManagerError, ValueError, OSError) as e:
        print(f"rstrtmgr {args.command}: {e}", file=sys.stderr)
        return EXIT_ERROR
    return code
