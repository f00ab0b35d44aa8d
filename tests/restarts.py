"""Helpers of the restart tests: holders that register an exact restart command."""

from __future__ import annotations

import json
import os
import signal
from collections.abc import Iterable
from pathlib import Path

from support import alive

# Holds argv[1] open and registers the restart command given as JSON in
# argv[2] ({"argv": [...], "cwd": "...", "env": {...}}; cwd and env default
# to its own) through the raw extension, so that the test decides exactly
# what RmRestart runs. For holders.holder, which adds "ready" and the wait.
REGISTER_EXACTLY = """
import json, os, sys
from rstrtmgr._rstrtmgr import ffi, lib
f = open(sys.argv[1], "rb")
spec = json.loads(sys.argv[2])
env = spec.get("env")
env = [k + "=" + v for k, v in (os.environ if env is None else env).items()]
keep = [ffi.new("char[]", os.fsencode(a)) for a in spec["argv"]]
keep_env = [ffi.new("char[]", os.fsencode(e)) for e in env]
rc = lib.rstrtmgr_register_restart(
    ffi.new("char *[]", keep), len(keep),
    os.fsencode(spec.get("cwd", os.getcwd())),
    ffi.new("char *[]", keep_env), len(keep_env))
assert rc == 0, rc
"""


def spec(argv: list[str], **extra: object) -> str:
    """The JSON argument of REGISTER_EXACTLY."""
    return json.dumps({"argv": argv, **extra})


def kill_all(pids: Iterable[int | None]) -> None:
    """SIGKILL the processes this test restarted (by pid, each checked alive)."""
    for pid in pids:
        if pid and alive(pid):
            os.kill(pid, signal.SIGKILL)


def pids_in(directory: Path, suffix: str = ".pid") -> list[int]:
    """The pids that restarted programs wrote as ``*.pid`` files."""
    return [
        int(p.read_text())
        for p in sorted(directory.glob("*" + suffix))
        if p.read_text().strip()
    ]
