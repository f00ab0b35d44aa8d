"""Memory stays flat over 100,000 mixed session operations.

A child runs the operations against a store on tmpfs when there is one
(/dev/shm), reading its resident set size after a warm-up and at the end.
The allowance is for the allocator's bookkeeping, far below what a leak of
even a few bytes per operation would add (100,000 operations).
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path

import pytest
from faults import report, scaled
from support import LINUX, child_env, run_python


def _under_asan() -> bool:
    try:
        with open("/proc/self/maps") as maps:
            return "libasan" in maps.read()
    except OSError:
        return False


pytestmark = [
    pytest.mark.linux_backend,
    pytest.mark.skipif(not LINUX, reason="reads VmRSS from /proc"),
    # ASan's allocator keeps freed memory in quarantine and maps it in large
    # steps: over the same 100,000 operations RSS moved by -1.2 to +0.9 MB
    # in six runs, of this code and of the code before it alike. The RSS is
    # a leak signal only in the plain builds (the root and uid 65534 runs).
    pytest.mark.skipif(
        _under_asan(), reason="under ASan RSS moves by +-1 MB: no leak signal"
    ),
]

OPERATIONS = 100_000
#: RSS growth allowed after the warm-up: 1 byte per operation would be 100 KB.
ALLOWED_GROWTH_KB = 96

CHILD = r"""
import json, os, sys
import rstrtmgr
from rstrtmgr import FilterAction, RestartManagerError
from rstrtmgr._rstrtmgr import ffi, lib

total, held = int(sys.argv[1]), sys.argv[2]

def rss_kb():
    for line in open("/proc/self/status"):
        if line.startswith("VmRSS:"):
            return int(line.split()[1])

def round_of_ops(primary):
    # 10 operations: start, register, add a filter, list filters, end (the
    # store), and five on error paths, which allocate too.
    o = rstrtmgr.Session()
    o.register(files=[held])
    o.add_filter(FilterAction.NO_RESTART, path=held)
    o.filters()
    o.close()
    h = ffi.new("DWORD *")
    lib.RmJoinSession(h, "0" * 32)
    for call in (o.filters, o.get_list, lambda: rstrtmgr.Session.join("1" * 32)):
        try:
            call()
        except RestartManagerError:
            pass
    rstrtmgr.UniqueProcess.of(os.getpid())

primary = rstrtmgr.Session()
primary.register(files=[held])
rounds = total // 10
warm = max(1, rounds // 10)
for _ in range(warm):
    round_of_ops(primary)
# The scan's threads each get an allocator arena on first use: let them
# settle before measuring (they are the allocator's, not leaks).
for _ in range(8):
    primary.get_list()
before = rss_kb()
for i in range(rounds - warm):
    round_of_ops(primary)
    if i % 100 == 0:  # a scan (threads of its own) every 1,000 operations
        primary.get_list()
after = rss_kb()
print(json.dumps({"operations": rounds * 10, "before_kb": before, "after_kb": after}))
"""


def test_rss_stays_flat_over_100000_operations(tmp_path: Path) -> None:
    shm = "/dev/shm"
    base = Path(tempfile.mkdtemp(dir=shm)) if os.access(shm, os.W_OK) else tmp_path
    try:
        held = base / "held"
        held.write_bytes(b"x")
        out = run_python(
            CHILD,
            str(scaled(OPERATIONS)),
            str(held),
            timeout=600,
            env=child_env(RSTRTMGR_STATE_DIR=str(base / "store")),
        )
    finally:
        if base != tmp_path:
            import shutil

            shutil.rmtree(base, ignore_errors=True)
    figures = json.loads(out.strip().splitlines()[-1])
    growth = figures["after_kb"] - figures["before_kb"]
    report("memory", **figures, growth_kb=growth)
    assert growth <= ALLOWED_GROWTH_KB, figures
