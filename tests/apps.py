"""Applications that come back: scripts registered for restart, and their starts.

Each start of an application appends one JSON line to its log: pid, parent
pid, argv, interpreter flags and the environment variables the tests look
at. A restarted copy is detached (no stdin, a session of its own), so every
copy is found through the log and killed by pid at the end.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from support import PACKAGE_ROOT, alive, child_env, wait_for

# argv[1] is held open, argv[2] is the log; {register} runs first. On SIGTERM
# the application waits REPLACE_TEST_TERM_DELAY seconds (a slow exit), after
# writing "term" to the log.
APP = """
import json, os, signal, sys, time
def stop(*_):
    with open(sys.argv[2], "a") as log:
        log.write(json.dumps({{"term": os.getpid()}}) + "\\n")
    time.sleep(float(os.environ.get("REPLACE_TEST_TERM_DELAY", "0")))
    os._exit(0)
signal.signal(signal.SIGTERM, stop)
held = open(sys.argv[1], "rb")
{register}
with open(sys.argv[2], "a") as log:
    log.write(json.dumps({{
        "pid": os.getpid(),
        "ppid": os.getppid(),
        "argv": sys.argv,
        "orig_argv": sys.orig_argv,
        "dev_mode": sys.flags.dev_mode,
        "cwd": os.getcwd(),
        "env": {{k: v for k, v in os.environ.items()
                if k.startswith(("_PYI", "_MEI", "LD_LIBRARY_PATH"))}},
    }}) + "\\n")
while True:
    time.sleep(600)
"""

REGISTER_SELF = "import rstrtmgr\nrstrtmgr.register_application_restart()"


def app_source(register: str = REGISTER_SELF) -> str:
    """The application's code, registering itself with ``register``."""
    return APP.format(register=register)


def starts(log: Path) -> list[dict[str, Any]]:
    """The starts an application logged, oldest first."""
    if not log.exists():
        return []
    lines = log.read_text().splitlines()
    return [e for e in map(json.loads, lines) if "pid" in e]


def terms(log: Path) -> list[int]:
    """The pids that logged receiving SIGTERM."""
    if not log.exists():
        return []
    lines = log.read_text().splitlines()
    return [e["term"] for e in map(json.loads, lines) if "term" in e]


def kill_started(log: Path) -> None:
    """SIGKILL every copy the log names (each one this test started)."""
    for entry in starts(log):
        for pid in (entry["pid"],):
            if alive(pid):
                os.kill(pid, signal.SIGKILL)


@contextmanager
def running_app(
    tmp_path: Path,
    held: Path,
    *,
    register: str = REGISTER_SELF,
    command: list[str] | None = None,
    env: dict[str, str] | None = None,
    cwd: str | Path = PACKAGE_ROOT,
) -> Iterator[tuple[subprocess.Popen[bytes], Path]]:
    """Start the application (or ``command``), wait for its first start."""
    log = tmp_path / f"starts-{time.monotonic_ns()}.jsonl"
    script = tmp_path / "app.py"
    script.write_text(app_source(register))
    argv = command or [sys.executable, str(script)]
    proc = subprocess.Popen(
        [*argv, str(held), str(log)],
        env=env if env is not None else child_env(),
        cwd=cwd,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        if not wait_for(lambda: starts(log) or proc.poll() is not None):
            raise AssertionError("the application did not start")
        if not starts(log):
            raise AssertionError(f"the application died: {proc.stderr.read()!r}")  # type: ignore[union-attr]
        yield proc, log
    finally:
        kill_started(log)
        proc.kill()
        proc.communicate(timeout=30)


def came_back(log: Path, count: int = 2, timeout: float = 30) -> dict[str, Any]:
    """Wait for the ``count``-th start and return it, still running."""
    assert wait_for(lambda: len(starts(log)) >= count, timeout), starts(log)
    entry = starts(log)[count - 1]
    assert wait_for(lambda: alive(entry["pid"]), 5)
    return entry


def cli(
    *args: str, env: dict[str, str] | None = None, **kwargs: Any
) -> subprocess.CompletedProcess[str]:
    """Run ``rstrtmgr ARGS`` to completion, as the console script does."""
    return subprocess.run(
        [sys.executable, "-m", "rstrtmgr", *args],
        capture_output=True,
        text=True,
        env=env if env is not None else child_env(),
        cwd=kwargs.pop("cwd", PACKAGE_ROOT),  # `-m` imports from the cwd first
        timeout=kwargs.pop("timeout", 120),
        check=False,
        **kwargs,
    )


def cli_process(*args: str, **kwargs: Any) -> subprocess.Popen[str]:
    """Start ``rstrtmgr ARGS`` in a process group of its own (for signals)."""
    return subprocess.Popen(
        [sys.executable, "-m", "rstrtmgr", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        stdin=subprocess.DEVNULL,
        text=True,
        env=kwargs.pop("env", None) or child_env(),
        cwd=kwargs.pop("cwd", PACKAGE_ROOT),
        start_new_session=True,
        **kwargs,
    )


def store_record(store: Path, pid: int) -> tuple[list[bytes], bytes, list[bytes]]:
    """The restart registration of ``pid`` in the Linux store: argv, cwd, env."""
    [path] = (store / "restart").glob(f"{pid}-*")
    fields = path.read_bytes().split(b"\0")
    argc = int(fields[1])
    argv = fields[2 : 2 + argc]
    cwd = fields[2 + argc]
    envc = int(fields[3 + argc])
    return argv, cwd, fields[4 + argc : 4 + argc + envc]
