"""Fault tests: processes killed at random instants and at every syscall.

The store's promise is that a process killed at any instant leaves a
consistent store: every record readable, the exact number of live sessions,
and (after the next call that takes the lock) no leftovers of the update it
was killed in. Bounded by count and time (tests/faults.py); scale them up
with RSTRTMGR_FAULT_SCALE for a soak run.
"""

from __future__ import annotations

import os
import random
import re
import selectors
import shutil
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
from faults import (
    SCALE,
    Deadline,
    check_store,
    leftovers,
    live_sessions,
    report,
    scaled,
)
from support import LINUX, PACKAGE_ROOT, child_env

import rstrtmgr
from rstrtmgr import FilterAction

pytestmark = [
    pytest.mark.linux_backend,
    pytest.mark.skipif(not LINUX, reason="the store is the Linux backend's"),
]

# ---- the kill storm -------------------------------------------------------

# Random session operations until killed (or argv[3] operations); one byte on
# stdout per operation done. Anything but a Restart Manager error that an
# operation may give here is a crash (exit status 3).
STORM_WORKER = r"""
import os, random, sys
import rstrtmgr
from rstrtmgr import FilterAction, RestartManagerError
from rstrtmgr._rstrtmgr import lib

keys = sys.argv[1].split(",")
files = sys.argv[2].split(",")
limit = int(sys.argv[3])
rng = random.Random(os.getpid())
mine = []
out = os.fdopen(1, "wb", buffering=0)
try:
    for _ in range(limit):
        op = rng.randrange(8)
        try:
            if op == 0 and len(mine) < 3:
                mine.append(rstrtmgr.Session())
            elif op == 1 and mine:
                mine.pop(rng.randrange(len(mine))).close()
            elif op == 2:
                with rstrtmgr.Session.join(rng.choice(keys)) as s:
                    s.register(files=rng.sample(files, 2))
            elif op == 3 and mine:
                rng.choice(mine).register(files=rng.sample(files, 3))
            elif op == 4 and mine:
                s = rng.choice(mine)
                s.add_filter(FilterAction.NO_RESTART, path=rng.choice(files))
                if rng.random() < 0.5:
                    s.remove_filter(path=rng.choice(files))
            elif op == 5 and mine:
                rng.choice(mine).filters()
            elif op == 6 and mine:
                lib.rstrtmgr_set_shutdown_timeouts(rng.choice(mine).handle, 500, 500)
            elif op == 7:
                rstrtmgr.Session().close()
        except RestartManagerError as e:
            # Full, a filter already removed, or a joined session gone.
            if e.winerror not in (353, 160, 1219):
                raise
        out.write(b".")
except BaseException as e:
    sys.stderr.write(f"{type(e).__name__}: {e}\n")
    sys.exit(3)
"""


class _Storm:
    """Worker processes doing random session operations, killed at random."""

    def __init__(self, keys: str, files: list[str]) -> None:
        self.args = [
            sys.executable,
            "-c",
            textwrap.dedent(STORM_WORKER),
            keys,
            ",".join(files),
            "100000",
        ]
        self.sel = selectors.DefaultSelector()
        self.procs: dict[int, subprocess.Popen[bytes]] = {}
        self.crashes: list[str] = []
        self.figures = {
            "operations": 0,
            "kills": 0,
            "crashes": 0,
            "hangs": 0,
            "workers": 0,
        }

    def spawn(self) -> None:
        p = subprocess.Popen(
            self.args,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=child_env(),
            cwd=PACKAGE_ROOT,
        )
        assert p.stdout is not None
        os.set_blocking(p.stdout.fileno(), False)
        self.sel.register(p.stdout, selectors.EVENT_READ, p)
        self.procs[p.pid] = p
        self.figures["workers"] += 1

    def kill(self, p: subprocess.Popen[bytes]) -> None:
        if p.poll() is None:
            p.send_signal(signal.SIGKILL)
            self.figures["kills"] += 1
        assert p.stdout is not None
        assert p.stderr is not None
        self.sel.unregister(p.stdout)
        self.figures["operations"] += len(p.stdout.read() or b"")
        code = p.wait(timeout=30)
        if code not in (0, -signal.SIGKILL):
            self.figures["crashes"] += 1
            err = p.stderr.read().decode()
            self.crashes.append(f"pid {p.pid} exited {code}: {err[-500:]}")
        del self.procs[p.pid]

    def run(self, workers: int, seconds: float, rng: random.Random) -> None:
        for _ in range(workers):
            self.spawn()
        deadline = Deadline(seconds)
        try:
            while not deadline.expired():
                next_kill = time.monotonic() + rng.uniform(0.05, 0.25)
                while (left := next_kill - time.monotonic()) > 0:
                    for key, _ in self.sel.select(timeout=left):
                        data = key.fileobj.read() or b""  # type: ignore[union-attr]
                        self.figures["operations"] += len(data)
                self.kill(self.procs[rng.choice(list(self.procs))])
                self.spawn()
        finally:
            for p in list(self.procs.values()):
                self.kill(p)


def test_kill_storm_leaves_an_exact_consistent_store(
    store: Path, tmp_path: Path
) -> None:
    files = []
    for i in range(6):
        f = tmp_path / f"file{i}"
        f.write_bytes(b"x")
        files.append(str(f))
    survivors = [rstrtmgr.Session() for _ in range(3)]
    for s in survivors:
        s.register(files=files[:1])
        s.add_filter(FilterAction.NO_SHUTDOWN, path=files[0])
    storm = _Storm(",".join(s.key for s in survivors), files)
    storm.run(workers=4, seconds=scaled(5), rng=random.Random(9))

    problems = check_store(store)
    # The next start reclaims what the killed workers left: exactly the
    # survivors' sessions and the new one remain, with no leftovers.
    with rstrtmgr.Session() as fresh:
        assert set(live_sessions(store)) == {s.key for s in survivors} | {fresh.key}
        assert leftovers(store) == []
        for s in survivors:
            s.get_list()  # every batch readable
            assert [f.path for f in s.filters()] == [files[0]]
    for s in survivors:
        s.close()
    assert live_sessions(store) == []
    report("kill_storm", **storm.figures, corrupt=len(problems))
    assert not storm.crashes, "\n".join(storm.crashes)
    assert not problems, "\n".join(problems)
    assert storm.figures["operations"] > 0
    assert storm.figures["kills"] > 0


# ---- a kill at every syscall of an update ------------------------------------

UPDATE = r"""
import os, sys
import rstrtmgr
from rstrtmgr import FilterAction
from rstrtmgr._rstrtmgr import lib

key, held = sys.argv[1], sys.argv[2]
os.access("/rstrtmgr-fault-begin", os.F_OK)
s = rstrtmgr.Session.join(key)
s.register(files=[held])
s.close()
o = rstrtmgr.Session()
o.add_filter(FilterAction.NO_RESTART, path="/usr/bin/true")
lib.rstrtmgr_set_shutdown_timeouts(o.handle, 1000, 1000)
rstrtmgr.register_application_restart(["/bin/true"])
o.close()
rstrtmgr.unregister_application_restart()
os.access("/rstrtmgr-fault-end", os.F_OK)
"""

#: The syscalls that change the store, and the ones that take its lock: the
#: kill points every run covers. A soak run (RSTRTMGR_FAULT_SCALE >= 5)
#: covers every syscall of the update.
MUTATING = {
    "write",
    "renameat",
    "renameat2",
    "unlinkat",
    "mkdirat",
    "mkdir",
    "rmdir",
    "flock",
    "fchmod",
    "ftruncate",
}
_LINE = re.compile(r"^(?:\d+\s+)?(\w+)\((.*)")


def _syscalls(log: str) -> list[tuple[str, str]]:
    out = []
    for line in log.splitlines():
        m = _LINE.match(line)
        if m and "resumed>" not in line:
            out.append((m.group(1), m.group(2)))
    return out


def _kill_points(calls: list[tuple[str, str]]) -> list[tuple[str, int]]:
    """(syscall, its invocation number) of each syscall in the update."""
    seen: dict[str, int] = {}
    points, inside = [], False
    for name, args in calls:
        seen[name] = seen.get(name, 0) + 1
        if "/rstrtmgr-fault-begin" in args:
            inside = True
            continue
        if "/rstrtmgr-fault-end" in args:
            break
        creating = name == "openat" and "O_CREAT" in args
        if inside and (SCALE >= 5 or name in MUTATING or creating):
            points.append((name, seen[name]))
    return points


def test_kill_at_every_syscall_of_an_update(store: Path, tmp_path: Path) -> None:
    strace = shutil.which("strace")
    if strace is None:
        pytest.skip("strace is missing")
    held = tmp_path / "held"
    held.write_bytes(b"x")
    primary = rstrtmgr.Session()
    primary.register(files=[held])
    primary.add_filter(FilterAction.NO_SHUTDOWN, path=str(held))
    env = child_env(PYTHONHASHSEED="0")
    cmd = [sys.executable, "-c", textwrap.dedent(UPDATE), primary.key, str(held)]
    log = tmp_path / "strace.log"
    done = subprocess.run(
        [strace, "-f", "-qq", "-o", str(log), *cmd],
        env=env,
        cwd=PACKAGE_ROOT,
        capture_output=True,
        timeout=120,
        check=False,
    )
    if done.returncode != 0 and b"ptrace" in done.stderr:
        pytest.skip(f"strace cannot trace here: {done.stderr[-200:]!r}")
    assert done.returncode == 0, done.stderr[-2000:]
    points = _kill_points(_syscalls(log.read_text()))
    assert len(points) > 10
    figures = {
        "kill_points": len(points),
        "kills": 0,
        "outside": 0,
        "corrupt": 0,
        "leftovers_after_next_call": 0,
        "hangs": 0,
    }
    problems = []
    deadline = Deadline(scaled(15))
    for name, nth in points:
        if deadline.expired():
            break
        run = subprocess.run(
            [
                strace,
                "-f",
                "-qq",
                "-o",
                str(log),
                "-e",
                f"trace={name},access",
                "-e",
                f"inject={name}:signal=KILL:when={nth}",
                *cmd,
            ],
            env=env,
            cwd=PACKAGE_ROOT,
            capture_output=True,
            timeout=60,
            check=False,
        )
        text = log.read_text()
        if run.returncode not in (-signal.SIGKILL, 128 + signal.SIGKILL):
            # The update ran through: counts differ from the recording run.
            figures["outside"] += 1
            continue
        if "/rstrtmgr-fault-begin" not in text:
            figures["outside"] += 1
            continue
        figures["kills"] += 1
        bad = check_store(store)
        try:
            primary.get_list()
            assert [f.path for f in primary.filters()] == [str(held)]
        except (rstrtmgr.RestartManagerError, AssertionError) as e:
            bad.append(f"the primary's session after a kill at {name}#{nth}: {e!r}")
        with rstrtmgr.Session():
            left = leftovers(store)
        if left:
            figures["leftovers_after_next_call"] += 1
            bad.append(
                f"after a kill at {name}#{nth}: leftovers "
                f"{sorted(str(p.relative_to(store)) for p in left)}"
            )
        if set(live_sessions(store)) != {primary.key}:
            bad.append(f"after a kill at {name}#{nth}: sessions {live_sessions(store)}")
        figures["corrupt"] += bool(bad)
        problems += bad
    primary.close()
    report("kill_at_every_syscall", **figures)
    assert figures["kills"] >= len(points) * 0.8 or deadline.expired(), figures
    assert not problems, "\n".join(problems[:20])
