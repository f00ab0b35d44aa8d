"""Measures the cost of a session start/end cycle and of a join, raw and facade.

Usage: python bench/sessions.py [DIRECTORY-FOR-THE-STORE]
"""

from __future__ import annotations

import os
import platform
import statistics
import sys
import tempfile
import time

import rstrtmgr
from rstrtmgr._rstrtmgr import ffi, lib

ROUNDS = 11
CYCLES = 500


def per_call_us(fn: object, n: int) -> float:
    """Median over ROUNDS of the mean microseconds per call of ``fn``."""
    samples = []
    for _ in range(ROUNDS):
        began = time.perf_counter()
        for _ in range(n):
            fn()  # type: ignore[operator]
        samples.append((time.perf_counter() - began) / n * 1e6)
    return statistics.median(samples)


def main() -> None:
    # Where the store would be: $XDG_RUNTIME_DIR (tmpfs) if given, else /tmp.
    base = sys.argv[1] if len(sys.argv) > 1 else None
    store = tempfile.mkdtemp(prefix="rstrtmgr-bench-", dir=base)
    os.environ["RSTRTMGR_STATE_DIR"] = os.path.join(store, "store")
    handle = ffi.new("DWORD *")
    key = ffi.new("WCHAR[33]")

    def raw_cycle() -> None:
        assert lib.RmStartSession(handle, 0, key) == 0
        assert lib.RmEndSession(handle[0]) == 0

    def facade_cycle() -> None:
        with rstrtmgr.Session():
            pass

    primary = rstrtmgr.Session()
    joined = ffi.new("DWORD *")

    def raw_join() -> None:
        assert lib.RmJoinSession(joined, primary.key) == 0
        assert lib.RmEndSession(joined[0]) == 0

    rows = [
        ("start + end, raw, 1 other session", per_call_us(raw_cycle, CYCLES)),
        ("join + end, raw", per_call_us(raw_join, CYCLES)),
    ]
    # A start reads every open session of the user to count and reclaim them.
    others = [rstrtmgr.Session() for _ in range(32)]
    rows += [
        ("start + end, raw, 33 other sessions", per_call_us(raw_cycle, CYCLES)),
        ("start + end, facade, 33 other sessions", per_call_us(facade_cycle, CYCLES)),
    ]
    for s in others:
        s.close()
    primary.close()
    print(f"# {platform.node()} {platform.machine()} Linux {platform.release()}, ")
    print(f"# {os.cpu_count()} CPUs, store {os.environ['RSTRTMGR_STATE_DIR']}")
    print("| operation | median us per call |")
    print("|---|---|")
    for name, us in rows:
        print(f"| {name} | {us:.1f} |")


if __name__ == "__main__":
    main()
