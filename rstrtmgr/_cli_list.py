"""``rstrtmgr list``: who uses files, trees, or what an upgrade left behind."""

from __future__ import annotations

import argparse
import os
import sys
import time
from stat import S_ISDIR

from ._enums import RebootReason
from ._errors import RestartManagerError
from ._json import display, error_json, flag_names, paths_json
from ._session import Session
from ._types import _EPOCH_AS_FILETIME, _FILETIME_UNITS, ListResult, ProcessInfo

# json and typing are imported where used: a command's start-up is most of
# `rstrtmgr list`'s time.
TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

__all__ = [
    "Looked",
    "add_files_from",
    "add_list_parser",
    "cmd_list",
    "full_paths",
    "look_up",
    "table",
    "without_self",
]

EXIT_FREE = 0
EXIT_IN_USE = 1
EXIT_UNKNOWN = 3
EXIT_ERROR = 4


def add_list_parser(sub: Any) -> None:
    """Add the ``list`` subcommand to the subparsers ``sub``."""
    p = sub.add_parser(
        "list",
        usage="%(prog)s [options] [--] PATH...",
        help="list the processes that use the files",
        description="List the processes that use PATH... (open, mapped, "
        "executed, or as working directory): a directory means every file "
        "under it. With --stale, the processes that use files deleted or "
        "replaced since they opened them (an upgrade's leftovers) under "
        "PATH..., or anywhere without PATH. '--' ends the options. Exit "
        "status: 0 none, 1 in use, 3 none found but some processes could "
        "not be looked into, 4 error.",
    )
    p.add_argument("paths", nargs="*", metavar="PATH", help="a file or directory")
    add_files_from(p)
    p.add_argument("--json", action="store_true", help="print JSON (schema 2)")
    p.add_argument(
        "-t", "--pids", action="store_true", help="print only the pids, one a line"
    )
    p.add_argument(
        "-v", "--verbose", action="store_true", help="show files and command lines"
    )
    p.add_argument(
        "--no-recursive",
        action="store_true",
        help="refuse a directory instead of searching the files under it",
    )
    p.add_argument(
        "--stale",
        action="store_true",
        help="processes using deleted or replaced files (under PATH...)",
    )
    p.set_defaults(func=cmd_list)


def add_files_from(p: argparse.ArgumentParser) -> None:
    """--files-from FILE and -0: paths read from a file or standard input."""
    p.add_argument(
        "--files-from",
        metavar="FILE",
        help="read more paths from FILE, one a line ('-': standard input)",
    )
    p.add_argument(
        "-0",
        "--null",
        action="store_true",
        help="with --files-from: paths end with NUL, as find -print0 writes",
    )


def without_self(result: ListResult) -> ListResult:
    """The result without this command's own process, which is no user's."""
    others = [p for p in result.processes if p.pid != os.getpid()]
    if len(others) == len(result.processes):
        return result
    reasons = result.reboot_reasons & ~RebootReason.DETECTED_SELF
    return ListResult(others, RebootReason(reasons), result.uninspected)


def full_paths(paths: list[str]) -> list[str]:
    """The command line's paths made absolute, as str.

    str is argv's own type: names that are not UTF-8 carry surrogates, which
    the facade takes.
    """
    # A name that is already absolute and holds no "//", "/." or trailing
    # "/" is what abspath would give back: the usual case, kept as it is
    # (abspath costs a few microseconds a path in Python).
    return [
        p
        if p[:1] == "/" and "//" not in p and "/." not in p and p[-1:] != "/"
        else os.path.abspath(p)
        for p in paths
    ]


class Looked:
    """What a stat of each of the command line's paths told.

    ``dirs`` are directories, ``missing`` do not exist (ENOENT, ENOTDIR),
    ``denied`` could not be looked up (EACCES: a folder on the way that the
    caller cannot search), so whether they exist is not known.
    """

    __slots__ = ("denied", "dirs", "missing")

    def __init__(self) -> None:
        """Nothing looked up yet."""
        self.dirs: set[str] = set()
        self.missing: list[str] = []
        self.denied: list[str] = []


def look_up(command: str, paths: list[str]) -> Looked:
    """Stat each path once; warn on stderr of each missing or denied one."""
    looked = Looked()
    for p in paths:
        try:
            if S_ISDIR(os.stat(p).st_mode):
                looked.dirs.add(p)
        except PermissionError:
            looked.denied.append(p)
        except (OSError, ValueError):
            if not os.path.lexists(p):  # a dangling link exists
                looked.missing.append(p)
    for m in looked.missing:
        print(
            f"rstrtmgr {command}: warning: {display(m)} does not exist "
            "(searched anyway: a deleted file can still be held)",
            file=sys.stderr,
        )
    for d in looked.denied:
        print(
            f"rstrtmgr {command}: warning: {display(d)}: permission denied "
            "(a folder on the way cannot be searched: whether it exists is not "
            "known; searched anyway)",
            file=sys.stderr,
        )
    return looked


def _lookup(args: argparse.Namespace) -> tuple[ListResult, Looked]:
    paths = full_paths(args.paths)
    looked = look_up("list", paths)
    dirs = looked.dirs
    with Session() as session:
        if args.stale:
            session.register_stale(paths or None)
            if paths and sys.platform.startswith("linux"):
                from ._leftovers import register_leftovers  # noqa: PLC0415

                register_leftovers(session, paths)
        else:
            files = []
            for p in paths:
                if p in dirs:
                    if args.no_recursive:
                        raise IsADirectoryError(
                            f"{p} is a directory; directories are "
                            "not resources (leave out --no-recursive to search "
                            "the files under it)"
                        )
                    session.register_tree(p)
                else:
                    files.append(p)
            session.register(files=files)
        # The table shows each process's user, and its files and command
        # line only with --verbose: the details' second pass (each holder's
        # descriptors, mappings and command line again) only for those and
        # JSON; --pids prints neither.
        full = (args.json or args.verbose) and not args.pids
        result = session._get_list(details=full, users=not args.pids)
    return without_self(result), looked


def cmd_list(args: argparse.Namespace) -> int:
    """Run ``list``; the exit status."""
    if not args.paths and not args.stale:
        print("rstrtmgr list: give at least one PATH (or --stale)", file=sys.stderr)
        return 2
    try:
        result, looked = _lookup(args)
    except (RestartManagerError, ValueError, OSError) as e:
        if args.json:
            import json  # noqa: PLC0415 - see above

            print(json.dumps(error_json(e), indent=2))
        print(f"rstrtmgr list: {e}", file=sys.stderr)
        return EXIT_ERROR
    if args.pids:
        for p in result.processes:
            print(p.pid)
    elif args.json:
        import json  # noqa: PLC0415 - see above

        data = result.as_json()  # the records' public JSON form
        data.update(paths_json(looked.missing, looked.denied))
        print(json.dumps(data, indent=2))
    else:
        print(
            table(
                result,
                verbose=args.verbose,
                missing=looked.missing,
                denied=looked.denied,
            )
        )
    if result.processes:
        return EXIT_IN_USE
    return EXIT_UNKNOWN if result.uninspected else EXIT_FREE


def _uses_line(p: ProcessInfo) -> list[str]:
    lines = []
    if p.files is not None:
        for f in p.files:
            gone = " (deleted)" if f.deleted else ""
            lines.append(f"    {','.join(f.uses)} {display(f.path)}{gone}")
    elif sys.platform == "win32":  # pragma: no cover - Windows only
        lines.append("    files: not available (the Restart Manager does not say)")
    if p.command_line is not None:
        lines.append("    command: " + " ".join(display(a) for a in p.command_line))
    return lines


def _local_time(filetime: int) -> str:
    # What start_time.astimezone() would print, without a datetime a row.
    seconds = (filetime - _EPOCH_AS_FILETIME) // _FILETIME_UNITS
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(seconds))


def table(
    result: ListResult,
    *,
    verbose: bool = False,
    missing: list[str] | None = None,
    denied: list[str] | None = None,
) -> str:
    """The human table of a result."""
    head = ("PID", "USER", "NAME", "TYPE", "STATUS", "RESTART", "SERVICE", "STARTED")
    rows = [head]
    for p in result.processes:
        user = p.user or (str(p.uid) if p.uid is not None else "-")
        rows.append(
            (
                str(p.pid),
                user,
                display(p.app_name),
                p.app_type.name.lower(),
                ",".join(flag_names(p.status)) or "unknown",
                "yes" if p.restartable else "no",
                p.service_name or "-",
                _local_time(p.start_filetime),
            )
        )
    lines: list[str] = []
    if result.processes:
        widths = [max(len(r[i]) for r in rows) for i in range(len(head))]
        fmt = [
            "  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip()
            for r in rows
        ]
        lines.append(fmt[0])
        for line, p in zip(fmt[1:], result.processes, strict=True):
            lines.append(line)
            if verbose:
                lines += _uses_line(p)
    else:
        lines.append("no process uses these files")
    for m in missing or ():
        lines.append(f"not found: {display(m)}")
    for d in denied or ():
        lines.append(f"permission denied: {display(d)}")
    reasons = flag_names(result.reboot_reasons)
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
