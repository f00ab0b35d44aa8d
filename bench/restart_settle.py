"""Measures what verifying restarts costs: RmRestart of N registered holders
with the settle check off (0) and at its default (2 s), in interleaved rounds.

Usage: python bench/restart_settle.py [--rounds N] [--counts 1,4,16]

Each holder is a Python child holding a file and registered (raw API) to be
restarted as ``/bin/sleep 600``; each round shuts them all down, then times
``Session.restart()``; the restarted sleeps are killed after each round. The
settle time is the floor of a checked restart: the question is how much more
than one settle time N restarts cost. A benchmark, not a test.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time

import rstrtmgr

HOLDER = """
import json, os, sys
from rstrtmgr._rstrtmgr import ffi, lib
f = open(sys.argv[1], "rb")
argv = [ffi.new("char[]", a.encode()) for a in json.loads(sys.argv[2])]
env = [ffi.new("char[]", f"{k}={v}".encode()) for k, v in os.environ.items()]
rc = lib.rstrtmgr_register_restart(
    ffi.new("char *[]", argv), len(argv), b"/", ffi.new("char *[]", env), len(env))
print("ready" if rc == 0 else f"error {rc}", flush=True)
sys.stdin.read()
"""
SLEEP = ["/bin/sleep", "600"]


def start_holders(target: str, n: int) -> list[subprocess.Popen[str]]:
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", HOLDER, target, json.dumps(SLEEP)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        for _ in range(n)
    ]
    for p in procs:
        assert p.stdout is not None
        line = p.stdout.readline().strip()
        if line != "ready":
            raise SystemExit(f"holder failed: {line!r}")
    return procs


def one_round(target: str, n: int, settle: float) -> float:
    holders = start_holders(target, n)
    try:
        with rstrtmgr.Session() as s:
            s.register(files=[target])
            s.shutdown(timeout=20)
            began = time.perf_counter()
            result = s.restart(settle_time=settle)
            took = time.perf_counter() - began
            new = [p.restarted_pid for p in result.processes if p.restarted_pid]
            if len(new) != n:
                raise SystemExit(f"{len(new)} of {n} restarted")
        for pid in new:
            os.kill(pid, signal.SIGKILL)
        return took
    finally:
        for p in holders:
            p.kill()
            p.wait()


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--counts", default="1,4,16")
    args = ap.parse_args()
    counts = [int(c) for c in args.counts.split(",")]
    work = tempfile.mkdtemp(prefix="rstrtmgr-bench-")
    os.environ["RSTRTMGR_STATE_DIR"] = os.path.join(work, "store")
    target = os.path.join(work, "app.dat")
    with open(target, "wb") as f:
        f.write(b"x")
    samples: dict[tuple[int, float], list[float]] = {}
    for _ in range(args.rounds):
        for n in counts:
            for settle in (0.0, 2.0):
                samples.setdefault((n, settle), []).append(one_round(target, n, settle))
    print("| restarts | settle 0 s, ms | settle 2 s, ms | 2 s check costs, ms |")
    print("|---|---|---|---|")
    for n in counts:
        off = statistics.median(samples[(n, 0.0)]) * 1000
        on = statistics.median(samples[(n, 2.0)]) * 1000
        print(f"| {n} | {off:.1f} | {on:.1f} | {on - off:.1f} |")


if __name__ == "__main__":
    main()
