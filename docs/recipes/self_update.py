"""An application that updates itself, frozen with PyInstaller or run as a script.

Usage:
    self_update run STATE UPDATES        the application
    self_update apply APP UPDATES PID    its updater, which the application starts

The application registers itself for restart, appends its pid and version
(the file VERSION beside it) to the file STATE, and when the folder UPDATES
holds a newer VERSION, starts its updater and goes on working. The updater
runs from a temporary copy of the application, because the application's own
files are the ones it replaces (Windows refuses to replace a program that
runs). It closes the application through the Restart Manager, copies UPDATES
over the application's folder, and restarts it: the restarted application
runs the new version. The application stops when the file STATE.stop
appears (or after a minute: this is a demonstration).

Where it runs: Linux and Windows alike, frozen (``pyinstaller --onedir
self_update.py``: the application's folder is the executable's) or not (the
folder is this script's).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import rstrtmgr

FROZEN = getattr(sys, "frozen", False)
#: The folder of the application's files: the frozen executable's, or this script's.
APP = Path(sys.executable if FROZEN else __file__).resolve().parent
RUN_AT_MOST = 60.0  # seconds


def version_of(folder: Path) -> int:
    """The version a folder holds, 0 when it holds none."""
    try:
        return int((folder / "VERSION").read_text())
    except (FileNotFoundError, ValueError):
        return 0


def log(state: Path, line: str) -> None:
    """Append ``line`` to the state file, which the test (or a user) reads."""
    with state.open("a") as f:
        f.write(line + "\n")


def start_updater(updates: Path, state: Path) -> None:
    """Start the updater from a copy of the application, outside its folder."""
    copy = Path(tempfile.mkdtemp(prefix="self-update-")) / APP.name
    shutil.copytree(APP, copy)
    if FROZEN:
        command = [str(copy / Path(sys.executable).name)]
    else:
        command = [sys.executable, str(copy / Path(__file__).name)]
    command += ["apply", str(APP), str(updates), str(os.getpid()), str(state)]
    subprocess.Popen(
        command,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        # The updater outlives the application it closes.
        start_new_session=True,
        creationflags=getattr(subprocess, "CREATE_NEW_PROCESS_GROUP", 0),
    )


def run(state: Path, updates: Path) -> int:
    """The application: register for restart, report, update when there is news."""
    rstrtmgr.register_application_restart()  # the same command line, after a restart
    version = version_of(APP)
    log(state, f"running {os.getpid()} version {version}")
    if version_of(updates) > version:
        start_updater(updates, state)
    stop = state.with_name(state.name + ".stop")
    deadline = time.monotonic() + RUN_AT_MOST
    while not stop.exists() and time.monotonic() < deadline:
        time.sleep(0.1)  # the application's work
    rstrtmgr.unregister_application_restart()
    return 0


def apply(app: Path, updates: Path, pid: int, state: Path) -> int:
    """The updater: close the application, replace its files, restart it."""
    files = [
        (new, app / new.relative_to(updates))
        for new in sorted(updates.rglob("*"))
        if new.is_file()
    ]
    with rstrtmgr.Session() as session:
        # The application by its identity, and whatever else uses its files.
        session.register(files=[old for _, old in files], processes=[pid])
        session.shutdown(only_registered=True, timeout=20)
        for new, old in files:
            temporary = old.with_name(f".{old.name}.updating")
            shutil.copy2(new, temporary)
            os.replace(temporary, old)
        session.restart()
    log(state, f"updated {app} to version {version_of(app)}")
    return 0


def main(argv: list[str]) -> int:
    """Run as the application or as its updater."""
    if len(argv) == 3 and argv[0] == "run":
        return run(Path(argv[1]), Path(argv[2]))
    if len(argv) == 5 and argv[0] == "apply":
        return apply(Path(argv[1]), Path(argv[2]), int(argv[3]), Path(argv[4]))
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
