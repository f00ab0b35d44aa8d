"""The ``rstrtmgr`` command line: subcommands over the facade.

Exit codes of ``rstrtmgr list``, for scripts:

* 0 - no process uses the files, and every process could be looked into;
* 1 - some process uses the files (they are listed);
* 2 - wrong usage (argparse's own code);
* 3 - none was found, but some processes could not be looked into (another
  user's, when not root), so "not in use" cannot be promised;
* 4 - the Restart Manager call failed (the message says why).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Sequence
from typing import Any

from ._errors import RestartManagerError
from ._processes import ListResult
from ._session import Session

__all__ = ["main"]

EXIT_FREE = 0
EXIT_IN_USE = 1
EXIT_UNKNOWN = 3
EXIT_ERROR = 4


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
    rows = [("PID", "NAME", "TYPE", "SERVICE", "SESSION", "STARTED")]
    for p in result.processes:
        rows.append(
            (
                str(p.pid),
                _display(p.app_name),
                p.app_type.name.lower(),
                p.service_name or "-",
                "-" if p.ts_session_id is None else str(p.ts_session_id),
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
        lines.append(
            f"{result.uninspected} process(es) could not be looked into "
            "(another user's: run as root to see them)"
        )
    return "\n".join(lines)


def _cmd_list(args: argparse.Namespace) -> int:
    paths = [os.path.abspath(os.fsencode(p)) for p in args.paths]
    with Session() as session:
        session.register(files=paths)
        result = session.get_list()
    if args.json:
        print(json.dumps(_list_json(result), indent=2))
    else:
        print(_list_table(result))
    if result.processes:
        return EXIT_IN_USE
    return EXIT_UNKNOWN if result.uninspected else EXIT_FREE


def build_parser() -> argparse.ArgumentParser:
    """The argument parser, one subparser per command."""
    parser = argparse.ArgumentParser(
        prog="rstrtmgr",
        description="Find (and later close and restart) the processes that use files.",
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
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit status."""
    args = build_parser().parse_args(argv)
    try:
        code: int = args.func(args)
    except (RestartManagerError, ValueError, OSError) as e:
        print(f"rstrtmgr {args.command}: {e}", file=sys.stderr)
        return EXIT_ERROR
    return code
