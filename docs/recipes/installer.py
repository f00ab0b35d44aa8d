"""Replace an application's files while its processes use them.

Usage: python installer.py [--timeout SECONDS] STAGING TARGET

STAGING holds the new files under the same relative names as in TARGET. The
installer closes the processes that use the files it replaces (politely,
then by force after the timeout, 10 s), replaces the files, and restarts
what was registered for restart. Exit status: 0 done; 1 nothing was
replaced (a critical process, or one that could not be closed, uses the
files); 2 wrong usage.

Where it runs: on Linux as root it closes any user's processes (an ordinary
user closes their own; the others are counted as not looked into); on
Windows it is the same program, run elevated to close other users'
processes.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
from pathlib import Path

import rstrtmgr


def plan(staging: Path, target: Path) -> list[tuple[Path, Path]]:
    """Each new file with the file it replaces."""
    return [
        (new, target / new.relative_to(staging))
        for new in sorted(staging.rglob("*"))
        if new.is_file()
    ]


def replace(new: Path, old: Path) -> None:
    """Copy ``new`` over ``old`` in one rename: no process sees half a file."""
    old.parent.mkdir(parents=True, exist_ok=True)
    temporary = old.with_name(f".{old.name}.installing")
    shutil.copy2(new, temporary)
    os.replace(temporary, old)


def stopped_by_error(error: rstrtmgr.RestartManagerError, status: int) -> list[int]:
    """The pids of the failure's processes that carry ``status``."""
    return [p.pid for p in error.processes if p.status & status]


def install(staging: Path, target: Path, timeout: float) -> int:
    """Close the users of the files, replace the files, restart; the exit status."""
    pairs = plan(staging, target)
    with rstrtmgr.Session() as session:
        session.register(files=[old for _, old in pairs])
        users = session.get_list()
        for p in users:
            print(f"in use by {p.pid} {p.app_name} ({p.app_type.name.lower()})")
        if users.uninspected:
            print(
                f"{users.uninspected} processes could not be looked into; "
                "run as root (Windows: elevated) to close them too"
            )
        try:
            try:
                session.shutdown(timeout=timeout)
            except rstrtmgr.ShutdownFailedError as e:
                stuck = stopped_by_error(e, rstrtmgr.AppStatus.ERROR_ON_STOP)
                print(f"still running after {timeout} s: {stuck}; closing by force")
                session.shutdown(force=True, timeout=timeout)
        except (rstrtmgr.ShutdownFailedError, rstrtmgr.RebootRequiredError) as e:
            print(f"nothing replaced: {e}")
            if isinstance(e, rstrtmgr.ShutdownFailedError):
                session.restart()  # bring back what was closed
            return 1
        for new, old in pairs:
            replace(new, old)
        print(f"replaced {len(pairs)} files")
        try:
            restarted = session.restart()
        except rstrtmgr.RestartFailedError as e:
            failed = stopped_by_error(e, rstrtmgr.AppStatus.ERROR_ON_RESTART)
            print(f"the files are replaced, but {failed} could not be restarted")
            for outcome in e.failures:  # Linux: how each ended, its last output
                print(f"  {outcome.process.pid}: {outcome.describe()}")
            return 0
        back = [p.pid for p in restarted if p.status & rstrtmgr.AppStatus.RESTARTED]
        print(f"restarted {len(back)} processes")
    return 0


def main(argv: list[str]) -> int:
    """Run the installer with its command-line arguments."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("staging", type=Path, metavar="STAGING")
    parser.add_argument("target", type=Path, metavar="TARGET")
    parser.add_argument("--timeout", type=float, default=10.0, metavar="SECONDS")
    args = parser.parse_args(argv)
    return install(args.staging.resolve(), args.target.resolve(), args.timeout)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
