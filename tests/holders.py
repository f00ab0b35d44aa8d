"""Helpers of the list tests: child processes that hold files, and fuser."""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from support import kill_started, python, started_pids, wait_for


@contextmanager
def holder(code: str, *args: str) -> Iterator[subprocess.Popen[str]]:
    """A child Python that runs ``code``, prints "ready" and waits for stdin.

    ``code`` sees ``sys.argv[1:]`` as ``args``.
    """
    proc = python(
        "import sys\n" + code + "\nprint('ready', flush=True)\nsys.stdin.read()\n",
        *args,
    )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        if line.strip() != "ready":
            _, err = proc.communicate(timeout=30)
            raise AssertionError(f"holder failed: {line!r} {err}")
        yield proc
    finally:
        proc.kill()
        proc.communicate(timeout=30)


HOLD_FD = "f = open(sys.argv[1], 'rb')"
HOLD_MMAP = (
    "import mmap\n"
    "with open(sys.argv[1], 'rb') as f:\n"
    "    m = mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ)"
)
HOLD_LIB = "import ctypes\nlib = ctypes.CDLL(sys.argv[1])"

# Holds argv[1]; on SIGTERM waits argv[4] seconds (a slow exit, which the
# next shutdown group must wait for), appends its name argv[3] to the log
# argv[2] and exits. {setup} runs first (format() it, e.g. with "").
LOG_ON_TERM = """
import os, signal, sys, time
def stop(*_):
    time.sleep(float(sys.argv[4]))
    with open(sys.argv[2], "a") as log:
        log.write(sys.argv[3] + "\\n")
    os._exit(0)
signal.signal(signal.SIGTERM, stop)
f = open(sys.argv[1], "rb")
{setup}
print("ready", flush=True)
signal.pause()
"""


def fuser(*paths: str | bytes | Path) -> set[int] | None:
    """The pids fuser(1) reports for the paths; None when fuser is missing."""
    exe = shutil.which("fuser")
    if exe is None:
        return None
    out = subprocess.run(
        [exe, *map(str, paths)]
        if all(not isinstance(p, bytes) for p in paths)
        else [
            exe.encode(),
            *(p if isinstance(p, bytes) else str(p).encode() for p in paths),
        ],
        capture_output=True,
        check=False,
    ).stdout
    return {int(tok.rstrip(b"cemrf")) for tok in out.split()}


# Holds argv[1] open, appends its pid to argv[2] at each start, then sleeps:
# a restarted copy has no stdin to wait on. {register} runs first.
RESTARTABLE = """
import os, sys, time
import rstrtmgr
{register}
f = open(sys.argv[1], "rb")
with open(sys.argv[2], "a") as log:
    log.write(f"{{os.getpid()}}\\n")
time.sleep(600)
"""


@contextmanager
def restartable(
    target: Path,
    log: Path,
    *,
    register: str = "rstrtmgr.register_application_restart()",
) -> Iterator[subprocess.Popen[str]]:
    """A holder registered for restart; kills every copy of it at the end."""
    code = RESTARTABLE.format(register=register)
    proc = python(code, str(target), str(log))
    try:
        assert wait_for(lambda: started_pids(log)), proc.stderr
        yield proc
    finally:
        kill_started(log)
        proc.kill()
        proc.communicate(timeout=30)
