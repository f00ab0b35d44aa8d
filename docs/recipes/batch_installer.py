"""Replace thousands of files used by many processes, with the shortest downtime.

Usage: python batch_installer.py [--timeout SECONDS] STAGING TARGET

First, while the applications still run, every new file is copied beside the
one it replaces (``.NAME.staged``). Then one session registers all the
files, closes every process that uses any of them (by force after the
timeout), renames the staged files over the old ones, and restarts what was
registered for restart: the downtime is the renames, not the copies. Prints
what each step did and how long it took. Exit status: 0 done; 1 nothing was
replaced (the staged files are removed); 2 wrong usage.

Where it runs: Linux (as root for other users' processes) and Windows.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import time
from pathlib import Path

import rstrtmgr


def staged_name(old: Path) -> Path:
    """Where the new version of ``old`` waits for the rename."""
    return old.with_name(f".{old.name}.staged")


def stage(staging: Path, target: Path) -> list[Path]:
    """Copy each new file beside its target; the targets, in order."""
    targets = []
    for new in sorted(staging.rglob("*")):
        if new.is_file():
            old = target / new.relative_to(staging)
            old.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(new, staged_name(old))
            targets.append(old)
    return targets


def main(argv: list[str]) -> int:
    """Stage, close, rename, restart; the exit status."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("staging", type=Path, metavar="STAGING")
    parser.add_argument("target", type=Path, metavar="TARGET")
    parser.add_argument("--timeout", type=float, default=10.0, metavar="SECONDS")
    args = parser.parse_args(argv)
    staging, target = args.staging.resolve(), args.target.resolve()
    clock = time.monotonic()
    targets = stage(staging, target)
    print(f"staged {len(targets)} files in {time.monotonic() - clock:.2f} s")
    with rstrtmgr.Session() as session:
        session.register(files=targets)
        users = session.get_list()
        print(f"{len(users)} processes use them")
        clock = time.monotonic()
        try:
            try:
                session.shutdown(timeout=args.timeout)
            except rstrtmgr.ShutdownFailedError:
                session.shutdown(force=True, timeout=args.timeout)
        except (rstrtmgr.ShutdownFailedError, rstrtmgr.RebootRequiredError) as e:
            print(f"nothing replaced: {e}")
            for old in targets:
                staged_name(old).unlink()
            if isinstance(e, rstrtmgr.ShutdownFailedError):
                session.restart()
            return 1
        for old in targets:
            os.replace(staged_name(old), old)
        print(f"closed and replaced in {time.monotonic() - clock:.2f} s")
        result = session.restart()
        back = sum(bool(p.status & rstrtmgr.AppStatus.RESTARTED) for p in result)
        print(f"restarted {back} processes")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
